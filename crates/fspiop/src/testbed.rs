//! perfbed's testbed conventions, shared by the simulators, the driver and the ops tools so they
//! agree without sharing state: FSP ids `perffsp1`…`perffsp8` and deterministic MSISDN ranges.
//!
//! The i-th number (0-based) of `perffspN` is `2547` + N as two digits + i as six digits:
//! `perffsp5`, i = 1 → `254705000001`.

/// Default number of MSISDNs per FSP (the width of the six-digit index).
pub const DEFAULT_RANGE_SIZE: u32 = 1_000_000;

/// The default FSP id for index `n` (1-based): `perffsp{n}`.
pub fn fsp_id(n: u8) -> String {
    format!("perffsp{n}")
}

/// The index N of an FSP id `perffsp{N}` (1–99), if it follows the convention.
pub fn fsp_index(fsp: &str) -> Option<u8> {
    let n: u8 = fsp.strip_prefix("perffsp")?.parse().ok()?;
    (1..=99).contains(&n).then_some(n)
}

/// The i-th MSISDN of FSP index `n` (1–99), `i` < 1,000,000.
pub fn msisdn(n: u8, i: u32) -> String {
    format!("2547{n:02}{i:06}")
}

/// Which FSP index and position an MSISDN has under the scheme.
pub fn msisdn_owner(msisdn: &str) -> Option<(u8, u32)> {
    let b = msisdn.as_bytes();
    if b.len() != 12 || !msisdn.starts_with("2547") || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u8 = msisdn[4..6].parse().ok()?;
    let i: u32 = msisdn[6..].parse().ok()?;
    (n >= 1).then_some((n, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example() {
        assert_eq!(msisdn(5, 1), "254705000001");
        assert_eq!(msisdn_owner("254705000001"), Some((5, 1)));
        assert_eq!(msisdn_owner("254712999999"), Some((12, 999_999)));
        assert_eq!(msisdn_owner("254700000001"), None);
        assert_eq!(msisdn_owner("25470500000"), None);
        assert_eq!(msisdn_owner("354705000001"), None);
        assert_eq!(fsp_id(3), "perffsp3");
        assert_eq!(fsp_index("perffsp3"), Some(3));
        assert_eq!(fsp_index("perffsp0"), None);
        assert_eq!(fsp_index("payerfsp"), None);
    }
}
