//! Every scenario shipped in `scenarios/` parses and validates; the Round 2 ISO 20022 ones
//! carry the seed's matrix (70 % hot payer: 49 % to one payee, 7 % to each other; 3.33 % from
//! each small payer to each small payee), 1 XXX per transfer, the steady window start + 5 min
//! … end − 2 min, and `api = "iso20022"`.

#![allow(clippy::unwrap_used)] // test: a panic is the failure report

use fspiop::iso::Api;
use load::Scenario;
use std::collections::HashMap;
use std::time::Duration;

fn shipped() -> Vec<(String, Scenario)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios");
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            let text = std::fs::read_to_string(&p).unwrap();
            let s = Scenario::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            out.push((p.file_name().unwrap().to_string_lossy().into_owned(), s));
        }
    }
    out
}

#[test]
fn every_shipped_scenario_parses() {
    let all = shipped();
    assert!(all.len() >= 9, "{}", all.len());
}

#[test]
fn round_2_iso_scenarios_carry_the_seed_matrix() {
    let all = shipped();
    for (file, rate) in [
        ("iso20022-500tps.toml", 500.0),
        ("iso20022-1000tps.toml", 1000.0),
    ] {
        let s = &all.iter().find(|(f, _)| f == file).unwrap().1;
        assert_eq!(s.api, Some(Api::Iso20022), "{file}");
        assert_eq!(s.peak_rate(), rate, "{file}");
        assert_eq!(
            (s.amount_min, s.amount_max, s.currency.as_str()),
            (1, 1, "XXX")
        );
        assert_eq!(s.warmup, Duration::from_secs(300));
        assert_eq!(s.cooldown, Duration::from_secs(120));
        let total: f64 = s.corridors.iter().map(|c| c.weight).sum();
        let share: HashMap<(String, String), f64> = s
            .corridors
            .iter()
            .map(|c| ((c.payer.clone(), c.payee.clone()), 100.0 * c.weight / total))
            .collect();
        let pct = |a: &str, b: &str| share.get(&(a.to_owned(), b.to_owned())).copied();
        let near = |x: Option<f64>, y: f64| x.is_some_and(|x| (x - y).abs() < 0.01);
        assert!(near(pct("perffsp1", "perffsp5"), 49.0), "{file}");
        for payee in ["perffsp6", "perffsp7", "perffsp8"] {
            assert!(near(pct("perffsp1", payee), 7.0), "{file} perffsp1→{payee}");
            for payer in ["perffsp2", "perffsp3", "perffsp4"] {
                assert!(
                    near(pct(payer, payee), 10.0 / 3.0),
                    "{file} {payer}→{payee}"
                );
            }
        }
        assert_eq!(share.len(), 13, "{file}: no other corridor");
    }
}
