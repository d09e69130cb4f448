//! Outbound messages: endpoint templates, the headers of forwarded and own messages, and
//! callbacks sent in the background (counted; an undelivered one is sent again as
//! [`perfbed_http::Retry`] allows), plus the expiry sweep's errors.

use axum::body::Bytes;
use fspiop::error::ErrorCode;
use fspiop::headers;
use fspiop::json::to_canonical_vec;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use http_body_util::Full;
use std::sync::Arc;

use crate::Hub;

const SOURCE_HEADER: HeaderName = HeaderName::from_static("fspiop-source");
const DESTINATION_HEADER: HeaderName = HeaderName::from_static("fspiop-destination");

/// Renders an endpoint template as the hub does (Mustache, reference §7.2): each `{{name}}` is
/// replaced by its value in `vars`, or by nothing when it has none, as Mustache renders a
/// missing variable; an unclosed `{{` stays as written. One pass, one allocation.
fn render_template(template: &str, vars: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len() + 48);
    let mut rest = template;
    // A `char` search is a memchr; a `&str` pattern builds a two-way searcher per call.
    while let Some(open) = find_pair(rest, b'{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        match find_pair(after, b'}') {
            Some(close) => {
                let name = &after[..close];
                if let Some((_, v)) = vars.iter().find(|(k, _)| *k == name.trim()) {
                    out.push_str(v);
                }
                rest = &after[close + 2..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Where `cc` (e.g. `{{`) first occurs in `s`.
fn find_pair(s: &str, c: u8) -> Option<usize> {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(i) = s[from..].find(c as char) {
        let at = from + i;
        if b.get(at + 1) == Some(&c) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Whether the ALS sends callbacks of this endpoint type (participants and parties).
fn is_als_endpoint(kind: &str) -> bool {
    kind.contains("PARTICIPANT") || kind.contains("PARTIES")
}

/// An outgoing callback: to whom, which endpoint, what.
pub(crate) struct Callback {
    pub(crate) to: String,
    pub(crate) endpoint: &'static str,
    pub(crate) vars: Vec<(&'static str, String)>,
    pub(crate) suffix: String,
    pub(crate) method: Method,
    /// Headers to send (forwarded ones, or the hub's own).
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Hub {
    /// Renders a participant's endpoint template as the hub does (`{{transferId}}`, …).
    pub(crate) fn endpoint_url(
        &self,
        fsp: &str,
        kind: &str,
        vars: &[(&str, String)],
    ) -> Option<String> {
        let template = if self.config.als_endpoint_cache.is_zero() || !is_als_endpoint(kind) {
            self.ledger.participant(fsp)?.endpoint(kind)?
        } else {
            self.als_endpoint(fsp, kind)?
        };
        Some(render_template(&template, vars))
    }

    /// A participant's endpoint as the ALS sees it: all of the FSP's endpoints are read at
    /// once (as account-lookup-service fetches them), then kept for
    /// [`HubConfig::als_endpoint_cache`](crate::HubConfig::als_endpoint_cache).
    fn als_endpoint(&self, fsp: &str, kind: &str) -> Option<String> {
        let mut cache = self.als_endpoints.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, all)) = cache.get(fsp) {
            if at.elapsed() < self.config.als_endpoint_cache {
                return all.iter().find(|(k, _)| k == kind).map(|(_, v)| v.clone());
            }
        }
        let all = self
            .ledger
            .participant(fsp)
            .map(|p| p.endpoints())
            .unwrap_or_default();
        let t = all.iter().find(|(k, _)| k == kind).map(|(_, v)| v.clone());
        cache.insert(fsp.to_owned(), (std::time::Instant::now(), all));
        t
    }

    /// Headers of a message the hub itself sends.
    pub(crate) fn own_headers(&self, resource: &str, destination: &str) -> HeaderMap {
        let mut h = HeaderMap::with_capacity(8);
        let content_type = match self.own_content_types.iter().find(|(r, _)| *r == resource) {
            Some((_, v)) => Some(v.clone()),
            None => {
                HeaderValue::from_str(&headers::content_type(resource, self.config.version)).ok()
            }
        };
        if let Some(v) = content_type {
            h.insert(http::header::CONTENT_TYPE, v);
        }
        h.insert(http::header::DATE, perfbed_http::fspiop::date_now());
        h.insert(SOURCE_HEADER, self.own_source.clone());
        if let Ok(v) = HeaderValue::from_str(destination) {
            h.insert(DESTINATION_HEADER, v);
        }
        h
    }

    /// Headers kept when forwarding a DFSP's message (its body and signature stay intact).
    pub(crate) fn forwarded_headers(
        h: &HeaderMap,
        method: &Method,
        destination: Option<&str>,
    ) -> HeaderMap {
        // One pass over what came in (a handful of headers) instead of a hashed lookup per name
        // kept; the first value of a repeated header wins, as `HeaderMap::get` would give it.
        let strip_accept = method == Method::PUT || method == Method::PATCH;
        let mut out = HeaderMap::with_capacity(16);
        for (name, value) in h {
            let keep = match name.as_str() {
                // The hub strips Accept when forwarding callbacks.
                "accept" => !strip_accept,
                "content-type" | "date" | "fspiop-source" | "fspiop-destination"
                | "fspiop-signature" | "fspiop-uri" | "fspiop-http-method"
                | "fspiop-encryption" | "traceparent" | "tracestate" => true,
                _ => false,
            };
            if keep {
                out.entry(name).or_insert_with(|| value.clone());
            }
        }
        if let Some(d) = destination.and_then(|d| HeaderValue::from_str(d).ok()) {
            out.insert(DESTINATION_HEADER, d);
        }
        out
    }

    /// An error message from the hub itself (unsigned, `FSPIOP-Source: Hub`).
    #[allow(clippy::too_many_arguments)] // one flat call per error path reads best
    pub(crate) fn error_callback(
        self: &Arc<Self>,
        to: &str,
        endpoint: &'static str,
        vars: Vec<(&'static str, String)>,
        suffix: String,
        resource: &str,
        code: ErrorCode,
        detail: &str,
    ) {
        let body = self.own_error_body(resource, to, code, detail);
        self.send(Callback {
            to: to.to_owned(),
            endpoint,
            vars,
            suffix,
            method: Method::PUT,
            headers: self.own_headers(resource, to),
            body,
        });
    }

    /// A message from the hub itself with its body already encoded (ISO or FSPIOP).
    pub(crate) fn notify_bytes(
        self: &Arc<Self>,
        to: &str,
        endpoint: &'static str,
        vars: Vec<(&'static str, String)>,
        method: Method,
        resource: &str,
        body: Bytes,
    ) {
        self.send(Callback {
            to: to.to_owned(),
            endpoint,
            vars,
            suffix: String::new(),
            method,
            headers: self.own_headers(resource, to),
            body,
        });
    }

    /// A message from the hub itself (not an error): confirmations, lookups answered by ALS,
    /// state answers.
    pub(crate) fn notify<T: fspiop::json::Canonical>(
        self: &Arc<Self>,
        to: &str,
        endpoint: &'static str,
        vars: Vec<(&'static str, String)>,
        method: Method,
        resource: &str,
        body: &T,
    ) {
        let body = Bytes::from(to_canonical_vec(body));
        self.notify_bytes(to, endpoint, vars, method, resource, body);
    }

    /// Sends a callback in the background. A missing endpoint or a delivery that failed after
    /// its retries is counted (`callbacks_failed`), as are the retries.
    pub(crate) fn send(self: &Arc<Self>, cb: Callback) {
        match self.callback_url(&cb) {
            Some(url) => self.send_to(url, cb),
            None => {
                tracing::debug!(to = %cb.to, endpoint = cb.endpoint, "no endpoint registered");
                self.stats.callbacks_failed.inc();
            }
        }
    }

    /// Where a callback goes: the recipient's endpoint template, rendered, plus the suffix.
    pub(crate) fn callback_url(&self, cb: &Callback) -> Option<String> {
        let base = self.endpoint_url(&cb.to, cb.endpoint, &cb.vars)?;
        Some(if cb.suffix.is_empty() {
            base
        } else {
            base + &cb.suffix
        })
    }

    /// Sends a callback to `url` in the background (see [`Hub::send`]).
    pub(crate) fn send_to(self: &Arc<Self>, url: String, cb: Callback) {
        if self.config.drop_callbacks > 0.0 && rand::random::<f64>() < self.config.drop_callbacks {
            self.stats.callbacks_dropped.inc();
            return;
        }
        let delay = self
            .config
            .latency
            .for_endpoint(cb.endpoint)
            .sample(&mut rand::rng());
        let mut req = http::Request::builder().method(cb.method).uri(&url);
        if let Some(h) = req.headers_mut() {
            *h = cb.headers;
        }
        let Ok(req) = req.body(Full::new(cb.body)) else {
            self.stats.callbacks_failed.inc();
            return;
        };
        self.stats.callbacks_in_flight.inc();
        let counted = InFlight(self.clone());
        self.tracker.spawn(async move {
            let hub = &counted.0;
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let delivery = hub.client.deliver(req, hub.config.callback_retry).await;
            if delivery.attempts > 1 {
                hub.stats
                    .callbacks_retried
                    .inc_by(u64::from(delivery.attempts - 1));
            }
            let ok = delivery.ok();
            let counter = if ok {
                &hub.stats.callbacks_ok
            } else {
                &hub.stats.callbacks_failed
            };
            counter.inc();
            if !ok {
                tracing::debug!(%url, attempts = delivery.attempts, result = ?delivery.result.as_ref().map(|r| r.status()), "callback failed");
            }
        });
    }

    /// The expiry sweep: expired reserved transfers get 3303 to payer and payee.
    pub fn sweep(self: &Arc<Self>) -> usize {
        let expired = self.ledger.sweep();
        for (id, t) in &expired {
            for to in [&t.payer, &t.payee] {
                self.error_callback(
                    to,
                    "FSPIOP_CALLBACK_URL_TRANSFER_ERROR",
                    vec![("transferId", id.clone())],
                    String::new(),
                    "transfers",
                    ErrorCode::TransferExpired,
                    "",
                );
            }
        }
        expired.len()
    }
}

/// Counts a callback in flight until dropped (sent, failed, or cancelled by shutdown).
struct InFlight(Arc<Hub>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.stats.callbacks_in_flight.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::{render_template, Hub};
    use http::{HeaderMap, HeaderName, HeaderValue, Method};

    #[test]
    fn forwarding_keeps_the_fspiop_headers_and_strips_the_rest() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("host", "hub:3000"),
            ("content-length", "12"),
            (
                "content-type",
                "application/vnd.interoperability.transfers+json;version=1.1",
            ),
            (
                "accept",
                "application/vnd.interoperability.transfers+json;version=1",
            ),
            ("date", "Mon, 23 Nov 2026 18:00:00 GMT"),
            ("fspiop-source", "perffsp5"),
            ("fspiop-destination", "perffsp1"),
            ("fspiop-signature", "{\"signature\":\"x\"}"),
            ("traceparent", "00-first-01"),
            ("traceparent", "00-second-01"),
            ("x-forwarded-for", "10.0.0.1"),
        ] {
            h.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        let put = Hub::forwarded_headers(&h, &Method::PUT, Some("perffsp2"));
        let names: Vec<&str> = put.keys().map(HeaderName::as_str).collect();
        assert_eq!(put.len(), 6, "{names:?}");
        for gone in ["host", "content-length", "accept", "x-forwarded-for"] {
            assert!(!put.contains_key(gone), "{gone} forwarded");
        }
        assert_eq!(put["fspiop-destination"], "perffsp2");
        assert_eq!(put["fspiop-signature"], "{\"signature\":\"x\"}");
        assert_eq!(put.get_all("traceparent").iter().count(), 1);
        assert_eq!(put["traceparent"], "00-first-01");
        let post = Hub::forwarded_headers(&h, &Method::POST, None);
        assert!(post.contains_key("accept"), "Accept stays on requests");
        assert_eq!(post["fspiop-destination"], "perffsp1");
    }

    #[test]
    fn templates_render_like_mustache() {
        let vars = [
            ("partyIdType", "MSISDN".to_owned()),
            ("partyIdentifier", "2551000".to_owned()),
        ];
        assert_eq!(
            render_template(
                "http://s/parties/{{partyIdType}}/{{partyIdentifier}}/error",
                &vars
            ),
            "http://s/parties/MSISDN/2551000/error"
        );
        // A name without a value renders as nothing, as in Mustache; spaces inside are allowed.
        assert_eq!(
            render_template("http://s/transfers/{{transferId}}/x", &vars),
            "http://s/transfers//x"
        );
        assert_eq!(render_template("{{ partyIdType }}", &vars), "MSISDN");
        assert_eq!(render_template("http://s/a{{b", &vars), "http://s/a{{b");
        assert_eq!(render_template("", &vars), "");
        // Single braces are text; the first `}}` closes.
        assert_eq!(
            render_template("http://s/{x}/{{partyIdType}}}/{", &vars),
            "http://s/{x}/MSISDN}/{"
        );
        assert_eq!(
            render_template("{{partyIdType}}{{partyIdType}}", &vars),
            "MSISDNMSISDN"
        );
    }
}
