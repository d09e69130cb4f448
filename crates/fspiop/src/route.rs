//! Which FSPIOP resource a method and path ask for: one pure parser for every server perfbed
//! runs (the simulator's payee and payer side, the hub emulator).
//!
//! [`parse`] borrows from the path and allocates nothing on success. A path is read as the
//! services read it: leading and trailing `/` are ignored, segments are split on `/` (an empty
//! segment is a segment). Its answer covers every FSPIOP route any of our servers serves;
//! a server that does not serve one answers [`RouteError::method_not_allowed`], as it does for
//! a known resource with a method the API does not define.
//!
//! Errors (what Mojaloop's services answer): an unknown resource is `3002` (Unknown URI), a
//! known resource with a method or shape the API does not define is `3000` (Generic client
//! error).

use crate::error::ErrorCode;
use http::Method;

/// A party's path segments: `{Type}/{ID}[/{SubId}]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartyPath<'a> {
    /// `{Type}` (e.g. `MSISDN`).
    pub id_type: &'a str,
    /// `{ID}`.
    pub id: &'a str,
    /// `{SubId}`, if the path has one.
    pub sub_id: Option<&'a str>,
    /// `{Type}/{ID}[/{SubId}]` as one slice of the path (keys flows by it without a copy).
    pub id_path: &'a str,
}

/// An FSPIOP route: resource, method, ids, and whether it is an `/error` callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// `GET /parties/{Type}/{ID}[/{SubId}]`.
    PartiesGet(PartyPath<'a>),
    /// `PUT /parties/{Type}/{ID}[/{SubId}]`.
    PartiesPut(PartyPath<'a>),
    /// `PUT /parties/{Type}/{ID}[/{SubId}]/error`.
    PartiesError(PartyPath<'a>),
    /// `GET /participants/{Type}/{ID}`.
    ParticipantsGet {
        /// `{Type}`.
        id_type: &'a str,
        /// `{ID}`.
        id: &'a str,
    },
    /// `POST /participants/{Type}/{ID}`.
    ParticipantsPost {
        /// `{Type}`.
        id_type: &'a str,
        /// `{ID}`.
        id: &'a str,
    },
    /// `POST /participants` (bulk registration).
    ParticipantsBulk,
    /// `PUT /participants/…` (any callback about participants, `/error` included).
    ParticipantsPut,
    /// `POST /quotes`.
    QuotesPost,
    /// `PUT /quotes/{ID}`.
    QuotesPut {
        /// `{ID}`.
        id: &'a str,
    },
    /// `PUT /quotes/{ID}/error`.
    QuotesError {
        /// `{ID}`.
        id: &'a str,
    },
    /// `POST /transfers`.
    TransfersPost,
    /// `GET /transfers/{ID}`.
    TransfersGet {
        /// `{ID}`.
        id: &'a str,
    },
    /// `PUT /transfers/{ID}`.
    TransfersPut {
        /// `{ID}`.
        id: &'a str,
    },
    /// `PATCH /transfers/{ID}` (the hub's commit notification to the payee).
    TransfersPatch {
        /// `{ID}`.
        id: &'a str,
    },
    /// `PUT /transfers/{ID}/error`.
    TransfersError {
        /// `{ID}`.
        id: &'a str,
    },
}

impl Route<'_> {
    /// A short, fixed name for metrics labels (`parties_get`, `transfers_error`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Route::PartiesGet(_) => "parties_get",
            Route::PartiesPut(_) => "parties_put",
            Route::PartiesError(_) => "parties_error",
            Route::ParticipantsGet { .. } => "participants_get",
            Route::ParticipantsPost { .. } => "participants_post",
            Route::ParticipantsBulk => "participants_bulk",
            Route::ParticipantsPut => "participants_put",
            Route::QuotesPost => "quotes_post",
            Route::QuotesPut { .. } => "quotes_put",
            Route::QuotesError { .. } => "quotes_error",
            Route::TransfersPost => "transfers_post",
            Route::TransfersGet { .. } => "transfers_get",
            Route::TransfersPut { .. } => "transfers_put",
            Route::TransfersPatch { .. } => "transfers_patch",
            Route::TransfersError { .. } => "transfers_error",
        }
    }
}

/// Why a path is not a route. Carries the request's method and path for the message; its
/// [`code`](RouteError::code) is the FSPIOP error to answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteError<'a> {
    kind: RouteErrorKind,
    method: &'a Method,
    path: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RouteErrorKind {
    UnknownUri,
    MethodNotAllowed,
}

impl<'a> RouteError<'a> {
    /// A known resource asked for with a method (or shape) that is not served: `3000`.
    pub fn method_not_allowed(method: &'a Method, path: &'a str) -> RouteError<'a> {
        RouteError {
            kind: RouteErrorKind::MethodNotAllowed,
            method,
            path,
        }
    }

    /// The FSPIOP error code to answer with: `3002` for an unknown resource, `3000` for a
    /// method not allowed on a known one.
    pub fn code(&self) -> ErrorCode {
        match self.kind {
            RouteErrorKind::UnknownUri => ErrorCode::UnknownUri,
            RouteErrorKind::MethodNotAllowed => ErrorCode::GenericClientError,
        }
    }
}

impl std::fmt::Display for RouteError<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            RouteErrorKind::UnknownUri => write!(f, "{} {}", self.method, self.path),
            RouteErrorKind::MethodNotAllowed => {
                write!(f, "method {} not allowed on {}", self.method, self.path)
            }
        }
    }
}

impl std::error::Error for RouteError<'_> {}

/// The most segments any route has (`parties/{Type}/{ID}/{SubId}/error`).
const MAX_SEGMENTS: usize = 5;

/// Parses an FSPIOP method and path (no query string) into a [`Route`].
pub fn parse<'a>(method: &'a Method, path: &'a str) -> Result<Route<'a>, RouteError<'a>> {
    let trimmed = path.trim_matches('/');
    let mut segs = [""; MAX_SEGMENTS];
    let mut n = 0;
    for s in trimmed.split('/') {
        if n == MAX_SEGMENTS {
            // Longer than any route: only `PUT /participants/…` takes any length.
            n += 1;
            break;
        }
        segs[n] = s;
        n += 1;
    }
    let s = &segs[..n.min(MAX_SEGMENTS)];
    let too_long = n > MAX_SEGMENTS;
    // `{Type}/{ID}[/{SubId}]` as it stands in the path, after `parties/`.
    let party = |t: &'a str, id: &'a str, sub: Option<&'a str>| {
        let start = "parties/".len();
        let len = t.len() + 1 + id.len() + sub.map_or(0, |s| s.len() + 1);
        PartyPath {
            id_type: t,
            id,
            sub_id: sub,
            id_path: &trimmed[start..start + len],
        }
    };
    let route = match (method, s) {
        (&Method::PUT, ["participants", ..]) => Route::ParticipantsPut,
        _ if too_long => return Err(not_a_route(method, path, s)),
        (&Method::GET, ["parties", t, id]) => Route::PartiesGet(party(t, id, None)),
        (&Method::GET, ["parties", t, id, sub]) => Route::PartiesGet(party(t, id, Some(sub))),
        (&Method::PUT, ["parties", t, id, "error"]) => Route::PartiesError(party(t, id, None)),
        (&Method::PUT, ["parties", t, id, sub, "error"]) => {
            Route::PartiesError(party(t, id, Some(sub)))
        }
        (&Method::PUT, ["parties", t, id]) => Route::PartiesPut(party(t, id, None)),
        (&Method::PUT, ["parties", t, id, sub]) => Route::PartiesPut(party(t, id, Some(sub))),
        (&Method::GET, ["participants", t, id]) => Route::ParticipantsGet { id_type: t, id },
        (&Method::POST, ["participants", t, id]) => Route::ParticipantsPost { id_type: t, id },
        (&Method::POST, ["participants"]) => Route::ParticipantsBulk,
        (&Method::POST, ["quotes"]) => Route::QuotesPost,
        (&Method::PUT, ["quotes", id]) => Route::QuotesPut { id },
        (&Method::PUT, ["quotes", id, "error"]) => Route::QuotesError { id },
        (&Method::POST, ["transfers"]) => Route::TransfersPost,
        (&Method::GET, ["transfers", id]) => Route::TransfersGet { id },
        (&Method::PUT, ["transfers", id]) => Route::TransfersPut { id },
        (&Method::PATCH, ["transfers", id]) => Route::TransfersPatch { id },
        (&Method::PUT, ["transfers", id, "error"]) => Route::TransfersError { id },
        _ => return Err(not_a_route(method, path, s)),
    };
    Ok(route)
}

fn not_a_route<'a>(method: &'a Method, path: &'a str, segs: &[&str]) -> RouteError<'a> {
    let kind = match segs.first() {
        Some(&("parties" | "participants" | "quotes" | "transfers")) => {
            RouteErrorKind::MethodNotAllowed
        }
        _ => RouteErrorKind::UnknownUri,
    };
    RouteError { kind, method, path }
}

#[cfg(test)]
mod tests {
    use super::{parse, PartyPath, Route, RouteError};
    use crate::error::ErrorCode;
    use http::Method;

    fn ok<'a>(m: &'a Method, p: &'a str) -> Route<'a> {
        parse(m, p).unwrap_or_else(|e| panic!("{m} {p}: {e}"))
    }

    #[test]
    fn parties_with_and_without_sub_id_and_error() {
        let (get, put) = (Method::GET, Method::PUT);
        assert_eq!(
            ok(&get, "/parties/MSISDN/2551000"),
            Route::PartiesGet(PartyPath {
                id_type: "MSISDN",
                id: "2551000",
                sub_id: None,
                id_path: "MSISDN/2551000",
            })
        );
        assert_eq!(
            ok(&put, "/parties/MSISDN/2551000/7/error"),
            Route::PartiesError(PartyPath {
                id_type: "MSISDN",
                id: "2551000",
                sub_id: Some("7"),
                id_path: "MSISDN/2551000/7",
            })
        );
        let Route::PartiesPut(p) = ok(&put, "/parties/MSISDN/2551000/7/") else {
            panic!("not a parties PUT");
        };
        assert_eq!((p.sub_id, p.id_path), (Some("7"), "MSISDN/2551000/7"));
        let Route::PartiesError(p) = ok(&put, "/parties/MSISDN/1/error") else {
            panic!("not a parties error");
        };
        assert_eq!((p.id, p.sub_id, p.id_path), ("1", None, "MSISDN/1"));
        // `GET …/error` is a lookup of sub-id "error", as the services route it.
        let Route::PartiesGet(p) = ok(&get, "/parties/MSISDN/1/error") else {
            panic!("not a lookup");
        };
        assert_eq!(p.sub_id, Some("error"));
    }

    #[test]
    fn every_other_route() {
        let cases = [
            (Method::GET, "/participants/MSISDN/1", "participants_get"),
            (Method::POST, "/participants/MSISDN/1", "participants_post"),
            (Method::POST, "/participants", "participants_bulk"),
            (Method::PUT, "/participants/MSISDN/1", "participants_put"),
            (
                Method::PUT,
                "/participants/MSISDN/1/error",
                "participants_put",
            ),
            (
                Method::PUT,
                "/participants/a/b/c/d/e/f/g",
                "participants_put",
            ),
            (Method::PUT, "/participants", "participants_put"),
            (Method::POST, "/quotes", "quotes_post"),
            (Method::PUT, "/quotes/q1", "quotes_put"),
            (Method::PUT, "/quotes/q1/error", "quotes_error"),
            (Method::POST, "/transfers/", "transfers_post"),
            (Method::GET, "/transfers/t1", "transfers_get"),
            (Method::PUT, "/transfers/t1", "transfers_put"),
            (Method::PATCH, "/transfers/t1", "transfers_patch"),
            (Method::PUT, "/transfers/t1/error", "transfers_error"),
        ];
        for (m, p, name) in &cases {
            assert_eq!(ok(m, p).name(), *name, "{m} {p}");
        }
        assert_eq!(
            ok(&Method::PUT, "/transfers/t1/error"),
            Route::TransfersError { id: "t1" }
        );
        assert_eq!(
            ok(&Method::POST, "/participants/IBAN/DE1"),
            Route::ParticipantsPost {
                id_type: "IBAN",
                id: "DE1"
            }
        );
    }

    #[test]
    fn bad_paths_get_3002_or_3000() {
        let unknown = [
            (Method::GET, "/"),
            (Method::GET, ""),
            (Method::POST, "/transferz"),
            (Method::GET, "/health/x"),
            (Method::PUT, "/a/b/c/d/e/f/g/h"),
        ];
        for (m, p) in &unknown {
            let e = parse(m, p).expect_err("not a route");
            assert_eq!(e.code(), ErrorCode::UnknownUri, "{m} {p}");
            assert_eq!(e.to_string(), format!("{m} {p}"));
        }
        let not_allowed = [
            (Method::DELETE, "/transfers/t1"),
            (Method::GET, "/transfers"),
            (Method::POST, "/transfers/t1"),
            (Method::PATCH, "/transfers/t1/error"),
            (Method::PUT, "/transfers/t1/x"),
            (Method::PUT, "/transfers/t1/error/x"),
            (Method::GET, "/parties/MSISDN"),
            (Method::GET, "/parties/a/b/c/d/e/f"),
            (Method::PUT, "/parties/a/b/c/d/e"),
            (Method::GET, "/quotes/q1"),
            (Method::POST, "/participants/MSISDN"),
            (Method::GET, "/participants"),
        ];
        for (m, p) in &not_allowed {
            let e = parse(m, p).expect_err("not a route");
            assert_eq!(e.code(), ErrorCode::GenericClientError, "{m} {p}");
            assert_eq!(e.to_string(), format!("method {m} not allowed on {p}"));
        }
        let e = RouteError::method_not_allowed(&Method::GET, "/parties/a/b");
        assert_eq!(e.code(), ErrorCode::GenericClientError);
        assert_eq!(e.to_string(), "method GET not allowed on /parties/a/b");
    }

    #[test]
    fn ids_may_be_empty_and_slashes_at_the_ends_are_ignored() {
        assert_eq!(
            ok(&Method::PUT, "//transfers/t1//"),
            Route::TransfersPut { id: "t1" }
        );
        let e = parse(&Method::PUT, "//transfers//").expect_err("no id");
        assert_eq!(e.code(), ErrorCode::GenericClientError);
        let Route::PartiesGet(p) = ok(&Method::GET, "/parties//x") else {
            panic!("not a lookup");
        };
        assert_eq!((p.id_type, p.id, p.id_path), ("", "x", "/x"));
    }
}
