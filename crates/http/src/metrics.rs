//! `/metrics` for every perfbed server: one Prometheus library (`prometheus-client`), one
//! exposition format (OpenMetrics text) and one content type.
//!
//! Each server keeps its own [`Registry`] of typed metrics (counters are an atomic add on the
//! hot path) and answers a scrape with [`response`].

use axum::response::{IntoResponse, Response};
use http::StatusCode;
pub use prometheus_client::registry::Registry;

/// The content type of [`encode`]'s output (what Prometheus asks for first).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The registry in the OpenMetrics text format (`# HELP`, `# TYPE`, samples, `# EOF`).
pub fn encode(registry: &Registry) -> String {
    let mut out = String::with_capacity(4096);
    // Writing into a `String` cannot fail; an encoder error would be a bug in a metric.
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, registry) {
        tracing::warn!(error = %e, "metrics encoding failed");
    }
    out
}

/// A scrape's answer: 200, [`CONTENT_TYPE`], [`encode`]'s text.
pub fn response(registry: &Registry) -> Response {
    (
        StatusCode::OK,
        [(http::header::CONTENT_TYPE, CONTENT_TYPE)],
        encode(registry),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::{encode, Registry};
    use prometheus_client::metrics::counter::Counter;

    #[test]
    fn counters_get_the_total_suffix_and_the_text_ends_with_eof() {
        let mut r = Registry::with_prefix("perfbed_x");
        let c = Counter::<u64>::default();
        r.register("things", "Things seen", c.clone());
        c.inc_by(3);
        let text = encode(&r);
        assert!(text.contains("# TYPE perfbed_x_things counter\n"), "{text}");
        assert!(text.contains("\nperfbed_x_things_total 3\n"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
