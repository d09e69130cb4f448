//! Canonical JSON: compact, object keys sorted recursively — the bytes the Mojaloop reference
//! validator rebuilds from a parsed body (`safe-stable-stringify`) before it checks a signature.
//!
//! Two ways in:
//! * [`to_canonical_vec`] for our own models ([`Canonical`] types). Their fields are declared in
//!   sorted order, so plain serde output is already canonical and costs nothing extra; a test per
//!   model checks this against [`canonicalize`].
//! * [`canonicalize`] / [`write_canonical`] for arbitrary JSON. The sort is explicit and never
//!   relies on the map type: `josekit` turns on `serde_json/preserve_order` for the whole build,
//!   which makes `serde_json::Map` keep insertion order.
//!
//! Keys are compared by UTF-16 code units and strings escaped the way JavaScript's
//! `JSON.stringify` does (serde_json's escaping matches it); numbers are written the way
//! JavaScript prints them (`1.0` → `1`, `1e21` → `1e+21`). FSPIOP bodies carry no numbers.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Serialize;
use serde_json::{Number, Value};
use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

/// Marker for types whose serde output is already canonical JSON: fields declared in sorted
/// order, optional fields skipped when absent, no maps.
pub trait Canonical: Serialize {}

/// Serializes a [`Canonical`] value. Cannot fail for our models (strings, structs, vectors).
pub fn to_canonical_vec<T: Canonical + ?Sized>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("FSPIOP models serialize infallibly")
}

/// Parses JSON text and re-serializes it canonically, as the reference validator does.
///
/// The same result as parsing into a [`Value`] and [`write_canonical`], without building one:
/// strings without escapes stay borrowed from `bytes` and objects are flat vectors, so a body
/// costs a few allocations instead of one per string and map node (the hub does this for
/// every signed message in strict mode, the payee for every ILP packet).
pub fn canonicalize(bytes: &[u8]) -> Result<Vec<u8>, serde_json::Error> {
    let value: Borrowed<'_> = serde_json::from_slice(bytes)?;
    let mut out = Vec::with_capacity(bytes.len());
    value.write(&mut out);
    Ok(out)
}

/// A parsed JSON value whose unescaped strings borrow from the input.
enum Borrowed<'a> {
    Null,
    Bool(bool),
    Number(Number),
    Str(Cow<'a, str>),
    Array(Vec<Borrowed<'a>>),
    Object(Vec<(Cow<'a, str>, Borrowed<'a>)>),
}

impl Borrowed<'_> {
    fn write(self, out: &mut Vec<u8>) {
        match self {
            Borrowed::Null => out.extend_from_slice(b"null"),
            Borrowed::Bool(true) => out.extend_from_slice(b"true"),
            Borrowed::Bool(false) => out.extend_from_slice(b"false"),
            Borrowed::Number(n) => write_js_number(&n, out),
            Borrowed::Str(s) => write_cow(s, out),
            Borrowed::Array(items) => {
                out.push(b'[');
                for (i, item) in items.into_iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    item.write(out);
                }
                out.push(b']');
            }
            Borrowed::Object(mut entries) => {
                // Stable: of repeated keys the last stays last, and it wins (as in a map).
                entries.sort_by(|a, b| utf16_cmp(&a.0, &b.0));
                out.push(b'{');
                let mut first = true;
                let mut iter = entries.into_iter().peekable();
                while let Some((k, v)) = iter.next() {
                    if iter.peek().is_some_and(|(next, _)| *next == k) {
                        continue;
                    }
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    write_cow(k, out);
                    out.push(b':');
                    v.write(out);
                }
                out.push(b'}');
            }
        }
    }
}

/// A borrowed string had no escape in valid JSON text, so it holds no `"`, `\` or control
/// character: it is written as it came. An unescaped (owned) one is escaped again.
fn write_cow(s: Cow<'_, str>, out: &mut Vec<u8>) {
    match s {
        Cow::Borrowed(b) => {
            out.push(b'"');
            out.extend_from_slice(b.as_bytes());
            out.push(b'"');
        }
        Cow::Owned(o) => write_string(&o, out),
    }
}

/// A string, borrowed when the parser could.
struct Str<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for Borrowed<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(BorrowedVisitor)
    }
}

struct BorrowedVisitor;

// The same mapping as `serde_json::Value`'s own visitor (a non-finite float is null).
impl<'de> Visitor<'de> for BorrowedVisitor {
    type Value = Borrowed<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Borrowed<'de>, E> {
        Ok(Borrowed::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Borrowed<'de>, E> {
        Ok(Borrowed::Number(n.into()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Borrowed<'de>, E> {
        Ok(Borrowed::Number(n.into()))
    }
    fn visit_f64<E>(self, f: f64) -> Result<Borrowed<'de>, E> {
        Ok(Number::from_f64(f).map_or(Borrowed::Null, Borrowed::Number))
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Borrowed<'de>, E> {
        Ok(Borrowed::Str(Cow::Borrowed(s)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Borrowed<'de>, E> {
        Ok(Borrowed::Str(Cow::Owned(s.to_owned())))
    }
    fn visit_string<E>(self, s: String) -> Result<Borrowed<'de>, E> {
        Ok(Borrowed::Str(Cow::Owned(s)))
    }
    fn visit_unit<E>(self) -> Result<Borrowed<'de>, E> {
        Ok(Borrowed::Null)
    }
    fn visit_none<E>(self) -> Result<Borrowed<'de>, E> {
        Ok(Borrowed::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Borrowed<'de>, D::Error> {
        Deserialize::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Borrowed<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Borrowed::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Borrowed<'de>, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(Str(k)) = map.next_key()? {
            entries.push((k, map.next_value()?));
        }
        Ok(Borrowed::Object(entries))
    }
}

/// Whether `bytes` are exactly their own canonical form.
pub fn is_canonical(bytes: &[u8]) -> bool {
    canonicalize(bytes).is_ok_and(|c| c == bytes)
}

/// Appends the canonical serialization of `value` to `out`.
pub fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_js_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| utf16_cmp(a.0, b.0));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(k, out);
                out.push(b':');
                write_canonical(v, out);
            }
            out.push(b'}');
        }
    }
}

/// JavaScript's default string order: by UTF-16 code units.
fn utf16_cmp(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.cmp(b);
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    // serde_json escapes exactly what JSON.stringify escapes: `"`, `\` and U+0000–U+001F.
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
}

fn write_js_number(n: &serde_json::Number, out: &mut Vec<u8>) {
    if n.is_u64() || n.is_i64() {
        out.extend_from_slice(n.to_string().as_bytes());
        return;
    }
    let f = n.as_f64().unwrap_or(f64::NAN);
    out.extend_from_slice(js_number_string(f).as_bytes());
}

/// `Number.prototype.toString()` for finite doubles (shortest round-trip digits).
fn js_number_string(f: f64) -> String {
    if !f.is_finite() {
        return "null".to_owned(); // JSON.stringify writes non-finite numbers as null
    }
    if f == 0.0 {
        return "0".to_owned();
    }
    // `{:e}` gives the shortest round-trip digits as d[.ddd]e[-]x.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let k = digits.len() as i32; // number of significant digits
    let n = exp + 1; // position of the decimal point relative to the digits
    let mut s = String::new();
    if f < 0.0 {
        s.push('-');
    }
    if k <= n && n <= 21 {
        s.push_str(&digits);
        s.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        s.push_str(&digits[..n as usize]);
        s.push('.');
        s.push_str(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        s.push_str("0.");
        s.extend(std::iter::repeat_n('0', (-n) as usize));
        s.push_str(&digits);
    } else {
        s.push_str(&digits[..1]);
        if k > 1 {
            s.push('.');
            s.push_str(&digits[1..]);
        }
        s.push('e');
        s.push(if n > 0 { '+' } else { '-' });
        s.push_str(&(n - 1).abs().to_string());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> String {
        String::from_utf8(canonicalize(s.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn sorts_recursively_and_compacts() {
        assert_eq!(
            c(r#"{ "b": {"z":1, "a":[{"y":true,"x":null}]}, "a": "s" }"#),
            r#"{"a":"s","b":{"a":[{"x":null,"y":true}],"z":1}}"#
        );
        // Upper case sorts before lower case, as in JavaScript.
        assert_eq!(
            c(r#"{"partyIdentifier":"1","partyIdType":"MSISDN"}"#),
            r#"{"partyIdType":"MSISDN","partyIdentifier":"1"}"#
        );
    }

    #[test]
    fn strings_escape_like_json_stringify() {
        assert_eq!(
            c(r#"{"a":"\u00e9\/\u001f\n\""}"#),
            "{\"a\":\"é/\\u001f\\n\\\"\"}"
        );
    }

    #[test]
    fn keys_compare_by_utf16_code_units() {
        // U+FF61 is above the surrogates used by U+1F600 in UTF-16, but below it in UTF-8.
        assert_eq!(
            c("{\"\u{ff61}\":1,\"\u{1f600}\":2}"),
            "{\"\u{1f600}\":2,\"\u{ff61}\":1}"
        );
    }

    #[test]
    fn numbers_print_like_javascript() {
        for (f, js) in [
            (1.0, "1"),
            (1.5, "1.5"),
            (-0.25, "-0.25"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (1e-7, "1e-7"),
            (0.000001, "0.000001"),
            (123456789.125, "123456789.125"),
            (1.2345e-10, "1.2345e-10"),
        ] {
            assert_eq!(js_number_string(f), js, "{f}");
        }
        assert_eq!(c("[1.0, 2, -3, 1e2]"), "[1,2,-3,100]");
    }

    #[test]
    fn floats_parse_correctly_rounded_so_canonical_form_is_stable() {
        // Found by the canonical_json fuzz target: without serde_json's `float_roundtrip`,
        // 440e50 parsed one ULP off and printed as 4.4000000000000001e+52 (JavaScript: 4.4e+52).
        assert_eq!(c("440e50"), "4.4e+52");
        assert_eq!(c(&c("440e50")), "4.4e+52");
        assert_eq!(c("0.1"), "0.1");
    }

    /// The borrowing parser gives exactly what parsing into a `serde_json::Value` and
    /// `write_canonical` give (the straightforward reading of the reference validator).
    #[test]
    fn borrowing_parse_matches_the_value_path() {
        let via_value = |s: &str| {
            let v: Value = serde_json::from_str(s).expect("valid JSON");
            let mut out = Vec::new();
            write_canonical(&v, &mut out);
            String::from_utf8(out).expect("UTF-8")
        };
        for s in [
            r#"{"b":1,"a":2,"b":3}"#,
            r#"{"a":{"y":1},"a":{"x":2,"x":[3,"\u0041"]}}"#,
            r#"{"k\"ey":"v\\al","k\u0022ey":"\ud83d\ude00","\u00e9":"\t","é":"\u001f"}"#,
            r#"[null,true,false,-0,0.0,-1e-400,1.5e300,18446744073709551615,-9223372036854775808]"#,
            r#"{"transferId":"1a2b","amount":{"currency":"XXX","amount":"1.5"},"ilpPacket":"AYI=","extensionList":{"extension":[{"key":"k","value":"v"}]}}"#,
            "\"\u{1f600}\u{ff61}\"",
            "{\"\u{ff61}\":1,\"\u{1f600}\":2,\"\u{ff61}\":3}",
            "{}",
            "[]",
            " {\n\"z\" : [ ] , \"a\" : { } } ",
        ] {
            assert_eq!(c(s), via_value(s), "{s}");
        }
    }

    #[test]
    fn rejects_invalid_json() {
        assert!(canonicalize(b"{").is_err());
        assert!(canonicalize(b"{} x").is_err());
    }
}
