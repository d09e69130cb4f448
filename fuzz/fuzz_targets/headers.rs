//! FSPIOP header parsing and header-set validation never panic on any header values.
#![no_main]
use fspiop::headers;
use http::{HeaderMap, HeaderValue, Method};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = headers::parse_content_type(&text, "transfers");
    if let Some(list) = headers::parse_accept(&text, "parties") {
        let _ = headers::negotiate(&list);
    }
    let _ = headers::parse_date(&text);
    let _ = headers::resource_of(&text);
    let _ = fspiop::jws::fspiop_uri(&text);

    // Split the input into up to five header values.
    let names = ["content-type", "accept", "date", "fspiop-source", "fspiop-destination"];
    let mut map = HeaderMap::new();
    for (name, part) in names.iter().zip(data.split(|b| *b == b'\n')) {
        if let Ok(v) = HeaderValue::from_bytes(part) {
            map.insert(*name, v);
        }
    }
    for m in [Method::GET, Method::POST, Method::PUT, Method::PATCH] {
        if let Err(e) = headers::validate(&m, "transfers", &map) {
            let _ = e.to_error_information();
        }
    }
});
