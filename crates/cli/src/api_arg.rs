//! `--api`: FSPIOP or ISO 20022 mode, shared by the commands that speak to a hub.

use fspiop::iso::Api;

/// Which API a component speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ApiArg {
    /// FSPIOP JSON bodies, `application/vnd.interoperability.{res}+json`.
    Fspiop,
    /// ISO 20022 JSON bodies (acmt.024, pacs.081/082/008/002),
    /// `application/vnd.interoperability.iso20022.{res}+json;version=2.0`, ULID ids, ILP v4 —
    /// what a switch runs with `API_TYPE=iso20022`. Every component of a run must use the same.
    Iso20022,
}

impl From<ApiArg> for Api {
    fn from(a: ApiArg) -> Api {
        match a {
            ApiArg::Fspiop => Api::Fspiop,
            ApiArg::Iso20022 => Api::Iso20022,
        }
    }
}

/// The API of a run: `--api` when given, else the scenario's `api`, else FSPIOP.
pub(crate) fn effective(arg: Option<ApiArg>, scenario: Option<Api>) -> Api {
    arg.map(Api::from).or(scenario).unwrap_or_default()
}
