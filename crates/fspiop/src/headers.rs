//! FSPIOP HTTP headers (reference §2): versioned media types, the IMF-fixdate `Date`, the
//! `FSPIOP-*` headers, and validation of a request's header set with the hub's error codes
//! (3001 unsupported version, 3101 malformed, 3102 missing).
//!
//! Works on `http` types only; the server and client crates call it.

use http::{HeaderMap, HeaderValue, Method};
use std::fmt;
use std::time::SystemTime;

use crate::error::{ErrorCode, ErrorInformation};
use crate::iso::Api;

/// `FSPIOP-Source`.
pub const FSPIOP_SOURCE: &str = "fspiop-source";
/// `FSPIOP-Destination`.
pub const FSPIOP_DESTINATION: &str = "fspiop-destination";
/// `FSPIOP-Signature`.
pub const FSPIOP_SIGNATURE: &str = "fspiop-signature";
/// `FSPIOP-URI`.
pub const FSPIOP_URI: &str = "fspiop-uri";
/// `FSPIOP-HTTP-Method`.
pub const FSPIOP_HTTP_METHOD: &str = "fspiop-http-method";
/// `FSPIOP-Encryption` (unused in practice).
pub const FSPIOP_ENCRYPTION: &str = "fspiop-encryption";

/// An FSPIOP API version `major.minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version {
    /// Major version.
    pub major: u8,
    /// Minor version.
    pub minor: u8,
}

impl Version {
    /// 1.0
    pub const V1_0: Version = Version { major: 1, minor: 0 };
    /// 1.1
    pub const V1_1: Version = Version { major: 1, minor: 1 };
    /// 2.0
    pub const V2_0: Version = Version { major: 2, minor: 0 };
    /// The versions the hub accepts.
    pub const SUPPORTED: [Version; 3] = [Version::V1_0, Version::V1_1, Version::V2_0];

    /// Whether the hub accepts it.
    pub fn is_supported(self) -> bool {
        Version::SUPPORTED.contains(&self)
    }

    fn parse(s: &str) -> Option<Version> {
        let (major, minor) = s.split_once('.')?;
        Some(Version {
            major: parse_small(major)?,
            minor: parse_small(minor)?,
        })
    }
}

fn parse_small(s: &str) -> Option<u8> {
    if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// `application/vnd.interoperability.{resource}+json;version={major}.{minor}`.
pub fn content_type(resource: &str, version: Version) -> String {
    format!("application/vnd.interoperability.{resource}+json;version={version}")
}

/// `Accept` for a request: `application/vnd.interoperability.{resource}+json;version={major}`
/// (major only, as the SDK sends it; any minor of that major is acceptable).
pub fn accept(resource: &str, major: u8) -> String {
    format!("application/vnd.interoperability.{resource}+json;version={major}")
}

/// The resource of a path: its first segment (`/transfers/abc/error` → `transfers`).
pub fn resource_of(path: &str) -> &str {
    path.trim_start_matches('/')
        .split(['/', '?'])
        .next()
        .unwrap_or("")
}

/// Splits `application/vnd.interoperability.{resource}+json` and the parameter part after it,
/// allowing at most one space on each side of the `;` (the hub's `\s{0,1};\s{0,1}`).
/// ISO 20022 media types carry `iso20022.` before the resource.
fn split_media_api<'a>(s: &'a str, resource: &str, api: Api) -> Option<&'a str> {
    let rest = s.strip_prefix("application/vnd.interoperability.")?;
    let rest = match api {
        Api::Fspiop => rest,
        Api::Iso20022 => rest.strip_prefix("iso20022.")?,
    };
    let rest = rest.strip_prefix(resource)?;
    let rest = rest.strip_prefix("+json")?;
    if rest.is_empty() {
        return Some("");
    }
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let rest = rest.strip_prefix(';')?;
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let v = rest.strip_prefix("version=")?;
    if v.is_empty() {
        return None;
    }
    Some(v)
}

/// Parses a `Content-Type` for `resource` by the hub's rule: the `version=major.minor`
/// parameter is mandatory. Returns the version (supported or not).
pub fn parse_content_type(s: &str, resource: &str) -> Option<Version> {
    parse_content_type_api(s, resource, Api::Fspiop)
}

/// [`parse_content_type`] for either API (ISO 20022: the switch's
/// `^application/vnd\.interoperability\.iso20022\.{res}\+json\s?;\s?version=(\d+\.\d+)$`).
pub fn parse_content_type_api(s: &str, resource: &str, api: Api) -> Option<Version> {
    match split_media_api(s, resource, api)? {
        "" => None,
        v => Version::parse(v),
    }
}

/// One acceptable version from an `Accept` header: any version, a major, or `major.minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acceptable {
    /// No version parameter.
    Any,
    /// `version=1`.
    Major(u8),
    /// `version=1.1`.
    Exact(Version),
}

impl Acceptable {
    fn allows(self, v: Version) -> bool {
        match self {
            Acceptable::Any => true,
            Acceptable::Major(m) => m == v.major,
            Acceptable::Exact(e) => e == v,
        }
    }
}

/// Parses an `Accept` header for `resource`: one or more media types separated by commas
/// **without spaces** (as the hub's regex requires).
pub fn parse_accept(s: &str, resource: &str) -> Option<Vec<Acceptable>> {
    parse_accept_api(s, resource, Api::Fspiop)
}

/// [`parse_accept`] for either API.
pub fn parse_accept_api(s: &str, resource: &str, api: Api) -> Option<Vec<Acceptable>> {
    s.split(',')
        .map(|item| match split_media_api(item, resource, api)? {
            "" => Some(Acceptable::Any),
            v if v.contains('.') => Version::parse(v).map(Acceptable::Exact),
            v => parse_small(v).map(Acceptable::Major),
        })
        .collect()
}

/// The newest supported version an `Accept` list allows.
pub fn negotiate(accept: &[Acceptable]) -> Option<Version> {
    Version::SUPPORTED
        .iter()
        .rev()
        .copied()
        .find(|v| accept.iter().any(|a| a.allows(*v)))
}

/// Formats an instant as an IMF-fixdate (`Tue, 15 Nov 1994 08:12:31 GMT`).
pub fn fmt_date(t: SystemTime) -> String {
    httpdate::fmt_http_date(t)
}

/// `Date: <now>` as a header value, for the time the caller read (this crate reads no clock),
/// formatted once per second per thread: every FSPIOP message carries one, and the date has
/// one-second resolution anyway.
pub fn date_header(now: SystemTime) -> HeaderValue {
    thread_local! {
        static CACHE: std::cell::RefCell<(u64, HeaderValue)> =
            const { std::cell::RefCell::new((u64::MAX, HeaderValue::from_static(""))) };
    }
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != secs {
            let v = HeaderValue::from_str(&fmt_date(now))
                .unwrap_or_else(|_| HeaderValue::from_static(""));
            *c = (secs, v);
        }
        c.1.clone()
    })
}

/// Parses an IMF-fixdate, the only form the hub accepts (`ddd, DD MMM YYYY HH:mm:ss GMT`).
pub fn parse_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    let shape = b.len() == 29
        && b[3] == b','
        && b[4] == b' '
        && b[7] == b' '
        && b[11] == b' '
        && b[16] == b' '
        && b[19] == b':'
        && b[22] == b':'
        && s.ends_with(" GMT");
    if !shape {
        return None;
    }
    httpdate::parse_http_date(s).ok()
}

/// A header problem, with the code the hub answers it with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {header} {reason}")]
pub struct HeaderError {
    /// 3001, 3101 or 3102.
    pub code: ErrorCode,
    /// Which header.
    pub header: &'static str,
    /// What is wrong.
    pub reason: &'static str,
}

impl HeaderError {
    fn missing(header: &'static str) -> Self {
        HeaderError {
            code: ErrorCode::MissingMandatoryElement,
            header,
            reason: "is missing",
        }
    }

    fn malformed(header: &'static str, reason: &'static str) -> Self {
        HeaderError {
            code: ErrorCode::MalformedSyntax,
            header,
            reason,
        }
    }

    fn version(header: &'static str) -> Self {
        HeaderError {
            code: ErrorCode::UnacceptableVersion,
            header,
            reason: "asks for an unsupported version",
        }
    }

    /// The `errorInformation` the hub sends for it; 3001 lists the supported versions in
    /// `extensionList` (key = major, value = minor).
    pub fn to_error_information(&self) -> ErrorInformation {
        let detail = format!("{} {}", self.header, self.reason);
        let mut info = ErrorInformation::new(self.code, Some(&detail));
        if self.code == ErrorCode::UnacceptableVersion {
            for v in Version::SUPPORTED {
                info = info.with_extension(&v.major.to_string(), &v.minor.to_string());
            }
        }
        info
    }
}

/// What a valid header set tells the receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeaders<'a> {
    /// Version of the body, from `Content-Type`.
    pub version: Version,
    /// `FSPIOP-Source`.
    pub source: &'a str,
    /// `FSPIOP-Destination`, if present and not empty.
    pub destination: Option<&'a str>,
    /// `Date` as sent.
    pub date: &'a str,
    /// `FSPIOP-Signature`, if present.
    pub signature: Option<&'a str>,
}

fn header<'a>(h: &'a HeaderMap, name: &'static str) -> Result<Option<&'a str>, HeaderError> {
    match h.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(|s| Some(s.trim()))
            .map_err(|_| HeaderError::malformed(name, "is not visible ASCII")),
    }
}

/// Validates the header set of an FSPIOP request the way the hub does.
///
/// * `Content-Type`: required, `…{resource}+json;version=x.y`, a supported version.
/// * `Accept`: required on GET/POST/DELETE, validated when present on PUT/PATCH.
/// * `Date`: required, IMF-fixdate (no freshness check, like the hub).
/// * `FSPIOP-Source`: required, 1–32 characters; `FSPIOP-Destination` ≤ 32 characters.
pub fn validate<'a>(
    method: &Method,
    resource: &str,
    h: &'a HeaderMap,
) -> Result<RequestHeaders<'a>, HeaderError> {
    validate_api(method, resource, h, Api::Fspiop)
}

/// [`validate`] for either API: in ISO 20022 mode `Content-Type` and `Accept` must be the
/// `application/vnd.interoperability.iso20022.{resource}+json` media types (an FSPIOP media type
/// is malformed, 3101, as the ISO-mode switch answers), with the same version rules.
pub fn validate_api<'a>(
    method: &Method,
    resource: &str,
    h: &'a HeaderMap,
    api: Api,
) -> Result<RequestHeaders<'a>, HeaderError> {
    let media = match api {
        Api::Fspiop => "is not a valid FSPIOP media type",
        Api::Iso20022 => {
            "is not a valid ISO 20022 media type \
             (application/vnd.interoperability.iso20022.{resource}+json;version=2.0)"
        }
    };
    let accept_required = matches!(*method, Method::GET | Method::POST | Method::DELETE);
    match header(h, "accept")? {
        None if accept_required => return Err(HeaderError::missing("Accept")),
        None => {}
        Some(a) => {
            let list = parse_accept_api(a, resource, api)
                .ok_or(HeaderError::malformed("Accept", media))?;
            if negotiate(&list).is_none() {
                return Err(HeaderError::version("Accept"));
            }
        }
    }
    let ct = header(h, "content-type")?.ok_or(HeaderError::missing("Content-Type"))?;
    let version = parse_content_type_api(ct, resource, api)
        .ok_or(HeaderError::malformed("Content-Type", media))?;
    if !version.is_supported() {
        return Err(HeaderError::version("Content-Type"));
    }
    let date = header(h, "date")?.ok_or(HeaderError::missing("Date"))?;
    if parse_date(date).is_none() {
        return Err(HeaderError::malformed("Date", "is not an IMF-fixdate"));
    }
    let source = header(h, FSPIOP_SOURCE)?
        .filter(|s| !s.is_empty())
        .ok_or(HeaderError::missing("FSPIOP-Source"))?;
    if source.chars().count() > 32 {
        return Err(HeaderError::malformed(
            "FSPIOP-Source",
            "is longer than 32 characters",
        ));
    }
    let destination = header(h, FSPIOP_DESTINATION)?.filter(|s| !s.is_empty());
    if destination.is_some_and(|d| d.chars().count() > 32) {
        return Err(HeaderError::malformed(
            "FSPIOP-Destination",
            "is longer than 32 characters",
        ));
    }
    Ok(RequestHeaders {
        version,
        source,
        destination,
        date,
        signature: header(h, FSPIOP_SIGNATURE)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn media_types() {
        let r = "transfers";
        assert_eq!(
            content_type(r, Version::V1_1),
            "application/vnd.interoperability.transfers+json;version=1.1"
        );
        for (s, v) in [
            (
                "application/vnd.interoperability.transfers+json;version=1.1",
                Some(Version::V1_1),
            ),
            (
                "application/vnd.interoperability.transfers+json ; version=2.0",
                Some(Version::V2_0),
            ),
            (
                "application/vnd.interoperability.transfers+json;version=1.9",
                Some(Version { major: 1, minor: 9 }),
            ),
            (
                "application/vnd.interoperability.transfers+json;version=1",
                None,
            ),
            ("application/vnd.interoperability.transfers+json", None),
            (
                "application/vnd.interoperability.transfers+json  ;version=1.1",
                None,
            ),
            (
                "application/vnd.interoperability.quotes+json;version=1.1",
                None,
            ),
            ("application/json", None),
        ] {
            assert_eq!(parse_content_type(s, r), v, "{s}");
        }
        let a = parse_accept(
            "application/vnd.interoperability.parties+json;version=1,application/vnd.interoperability.parties+json;version=2.0",
            "parties",
        )
        .unwrap();
        assert_eq!(
            a,
            vec![Acceptable::Major(1), Acceptable::Exact(Version::V2_0)]
        );
        assert_eq!(negotiate(&a), Some(Version::V2_0));
        assert_eq!(negotiate(&[Acceptable::Major(1)]), Some(Version::V1_1));
        assert_eq!(negotiate(&[Acceptable::Major(3)]), None);
        assert_eq!(
            parse_accept("application/vnd.interoperability.parties+json", "parties"),
            Some(vec![Acceptable::Any])
        );
        assert!(parse_accept(
            "application/vnd.interoperability.parties+json;version=1, application/vnd.interoperability.parties+json",
            "parties"
        )
        .is_none());
        assert_eq!(resource_of("/transfers/abc/error"), "transfers");
        assert_eq!(resource_of("parties/MSISDN/1"), "parties");
        assert_eq!(resource_of("/quotes?x=1"), "quotes");
    }

    #[test]
    fn dates() {
        let t = parse_date("Tue, 15 Nov 1994 08:12:31 GMT").unwrap();
        assert_eq!(fmt_date(t), "Tue, 15 Nov 1994 08:12:31 GMT");
        assert!(parse_date("Tuesday, 15-Nov-94 08:12:31 GMT").is_none());
        assert!(parse_date("Tue Nov 15 08:12:31 1994").is_none());
        assert!(parse_date("Tue, 15 Nov 1994 08:12:31 UTC").is_none());
        assert!(parse_date("Tue, 31 Feb 1994 08:12:31 GMT").is_none());
        // The cached value is the time given, to the second, on every call; a new second
        // (or an earlier one) gets its own.
        let at = |s: u64| SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(s);
        for (ms, text) in [
            (784_887_151_000, "Tue, 15 Nov 1994 08:12:31 GMT"),
            (784_887_151_999, "Tue, 15 Nov 1994 08:12:31 GMT"),
            (784_887_152_000, "Tue, 15 Nov 1994 08:12:32 GMT"),
            (784_887_151_500, "Tue, 15 Nov 1994 08:12:31 GMT"),
        ] {
            assert_eq!(date_header(at(ms)), text);
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    const CT: &str = "application/vnd.interoperability.transfers+json;version=1.1";
    const DATE: &str = "Tue, 01 Jul 2025 10:00:00 GMT";

    #[test]
    fn header_sets_get_the_hubs_codes() {
        let ok = headers(&[
            ("content-type", CT),
            (
                "accept",
                "application/vnd.interoperability.transfers+json;version=1",
            ),
            ("date", DATE),
            ("fspiop-source", "perffsp1"),
            ("fspiop-destination", "perffsp5"),
        ]);
        let v = validate(&Method::POST, "transfers", &ok).unwrap();
        assert_eq!(v.source, "perffsp1");
        assert_eq!(v.destination, Some("perffsp5"));
        assert_eq!(v.version, Version::V1_1);

        let code = |m: Method, pairs: &[(&'static str, &str)]| {
            validate(&m, "transfers", &headers(pairs))
                .unwrap_err()
                .code
                .code()
        };
        // PUT needs no Accept.
        let put = [("content-type", CT), ("date", DATE), ("fspiop-source", "p")];
        assert!(validate(&Method::PUT, "transfers", &headers(&put)).is_ok());
        assert_eq!(code(Method::POST, &put), 3102);
        assert_eq!(
            code(Method::PUT, &[("date", DATE), ("fspiop-source", "p")]),
            3102
        );
        assert_eq!(
            code(Method::PUT, &[("content-type", CT), ("fspiop-source", "p")]),
            3102
        );
        assert_eq!(
            code(Method::PUT, &[("content-type", CT), ("date", DATE)]),
            3102
        );
        assert_eq!(
            code(
                Method::PUT,
                &[
                    ("content-type", CT),
                    ("date", "yesterday"),
                    ("fspiop-source", "p")
                ]
            ),
            3101
        );
        assert_eq!(
            code(
                Method::PUT,
                &[
                    ("content-type", "application/json"),
                    ("date", DATE),
                    ("fspiop-source", "p")
                ]
            ),
            3101
        );
        let v3 = "application/vnd.interoperability.transfers+json;version=3.0";
        assert_eq!(
            code(
                Method::PUT,
                &[("content-type", v3), ("date", DATE), ("fspiop-source", "p")]
            ),
            3001
        );
        let acc3 = "application/vnd.interoperability.transfers+json;version=3";
        assert_eq!(
            code(
                Method::POST,
                &[
                    ("accept", acc3),
                    ("content-type", CT),
                    ("date", DATE),
                    ("fspiop-source", "p")
                ]
            ),
            3001
        );
        let err = validate(
            &Method::PUT,
            "transfers",
            &headers(&[("content-type", v3), ("date", DATE), ("fspiop-source", "p")]),
        )
        .unwrap_err();
        let info = err.to_error_information();
        assert_eq!(info.error_code, "3001");
        assert_eq!(info.extension_list.unwrap().extension.len(), 3);
    }
}
