//! The hub sheds new work with 503/2003 while the callbacks it owes are at their limit, and
//! still takes answers (`PUT`), which finish work.

#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

use bytes::Bytes;
use hub::{Hub, HubConfig};
use perfbed_http::{ClientOptions, HttpClient};

async fn call(client: &HttpClient, method: http::Method, url: &str, body: &str) -> (u16, String) {
    let mut b = http::Request::builder()
        .method(method.clone())
        .uri(url)
        .header("fspiop-source", "perffsp1")
        .header("fspiop-destination", "perffsp5")
        .header("date", "Thu, 26 Nov 2026 10:00:00 GMT");
    b = if method == http::Method::GET {
        b.header(
            "accept",
            "application/vnd.interoperability.parties+json;version=1.1",
        )
        .header(
            "content-type",
            "application/vnd.interoperability.parties+json;version=1.1",
        )
    } else {
        b.header(
            "accept",
            "application/vnd.interoperability.transfers+json;version=1.1",
        )
        .header(
            "content-type",
            "application/vnd.interoperability.transfers+json;version=1.1",
        )
    };
    let resp = client
        .send(
            b.body(http_body_util::Full::new(Bytes::from(body.to_owned())))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, String::from_utf8_lossy(resp.body()).into_owned())
}

async fn statuses(max_callbacks_in_flight: usize) -> (Vec<(u16, String)>, u64) {
    let hub = hub::start(
        Hub::new(
            HubConfig {
                max_callbacks_in_flight,
                ..HubConfig::default()
            },
            None,
        ),
        "127.0.0.1:0".parse().unwrap(),
        None,
    )
    .await
    .unwrap();
    let base = format!("http://{}", hub.addr);
    let c = HttpClient::new(ClientOptions::default());
    let id = "b51ec534-ee48-4575-b6a9-ead2955b8069";
    let out = vec![
        call(
            &c,
            http::Method::GET,
            &format!("{base}/parties/MSISDN/254705000001"),
            "",
        )
        .await,
        call(&c, http::Method::POST, &format!("{base}/transfers"), "{}").await,
        call(
            &c,
            http::Method::PUT,
            &format!("{base}/transfers/{id}"),
            "{}",
        )
        .await,
    ];
    let shed = hub.hub().stats.shed.get();
    hub.shutdown(std::time::Duration::from_secs(1)).await;
    (out, shed)
}

#[tokio::test]
async fn new_work_is_shed_with_503_2003_at_the_callback_limit_and_answers_pass() {
    // No room for a single callback: GET and POST start work that owes one, so both are shed.
    let (got, shed) = statuses(0).await;
    for (status, body) in &got[..2] {
        assert_eq!(*status, 503, "{body}");
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["errorInformation"]["errorCode"], "2003", "{body}");
    }
    assert_eq!(shed, 2);
    // A PUT answers work already under way: handled as usual (here refused for its bad body
    // or unknown transfer, but not shed).
    assert_ne!(got[2].0, 503, "{:?}", got[2]);

    // With room, the same requests are handled, not shed.
    let (got, shed) = statuses(10_000).await;
    assert_eq!(shed, 0);
    for (status, body) in &got {
        assert_ne!(*status, 503, "{body}");
    }
}
