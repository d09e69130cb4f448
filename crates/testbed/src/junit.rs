//! JUnit XML for CI (`--junit FILE` on `local`, `run` and `suite`): a run is a test suite with
//! one test case per threshold, one for the accounting and one for the cross-check (a stress
//! run: the recovery instead of thresholds); a suite has one test case per stage. A failure
//! carries the message a person would read in the report.

use crate::Outcome;
use std::path::Path;

/// One test case.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// What was checked, e.g. `threshold e2e_p95_ms`.
    pub name: String,
    /// Why it failed (None: passed).
    pub failure: Option<String>,
    /// Why it was not checked (None: it was).
    pub skipped: Option<String>,
}

impl Case {
    fn pass(name: impl Into<String>) -> Case {
        Case {
            name: name.into(),
            failure: None,
            skipped: None,
        }
    }

    /// Passed when `ok`, else failed with `message`.
    pub fn check(name: impl Into<String>, ok: bool, message: impl Into<String>) -> Case {
        Case {
            failure: (!ok).then(|| message.into()),
            ..Case::pass(name)
        }
    }

    /// Not checked, and why.
    pub fn skip(name: impl Into<String>, why: impl Into<String>) -> Case {
        Case {
            skipped: Some(why.into()),
            ..Case::pass(name)
        }
    }
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            // XML 1.0 allows no other control characters.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

/// The XML document: one `<testsuite name=suite>` with `cases`; `out` goes to `<system-out>`
/// (the one-line summary).
pub fn xml(suite: &str, cases: &[Case], out: &str) -> String {
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    let skipped = cases.iter().filter(|c| c.skipped.is_some()).count();
    let counts = format!(
        r#"tests="{}" failures="{failures}" errors="0" skipped="{skipped}""#,
        cases.len()
    );
    let mut x = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"perfbed\" {counts}>\n  <testsuite name=\"{}\" {counts}>\n",
        esc(suite)
    );
    for c in cases {
        x.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{}\"",
            esc(suite),
            esc(&c.name)
        ));
        match (&c.failure, &c.skipped) {
            (Some(f), _) => x.push_str(&format!(
                ">\n      <failure message=\"{m}\" type=\"perfbed\">{m}</failure>\n    </testcase>\n",
                m = esc(f)
            )),
            (None, Some(s)) => x.push_str(&format!(
                ">\n      <skipped message=\"{}\"/>\n    </testcase>\n",
                esc(s)
            )),
            (None, None) => x.push_str("/>\n"),
        }
    }
    x.push_str(&format!(
        "    <system-out>{}</system-out>\n  </testsuite>\n</testsuites>\n",
        esc(out)
    ));
    x
}

/// The test cases of one run: its thresholds (a stress run: its recovery), the accounting, the
/// cross-check.
pub fn cases(o: &Outcome) -> Vec<Case> {
    let mut cases = Vec::new();
    if let Some(r) = &o.report {
        if r.thresholds.is_empty() {
            cases.push(Case::skip("thresholds", "the scenario sets no thresholds"));
        }
        for t in &r.thresholds {
            cases.push(Case::check(
                format!("threshold {}", t.name),
                t.ok,
                t.failure().unwrap_or_default(),
            ));
        }
        cases.push(Case::check("accounting", r.adds_up(), r.accounting_line()));
        let evidence = r.evidence_failures();
        cases.push(Case::check(
            "evidence",
            evidence.is_empty(),
            evidence.join("; "),
        ));
    }
    if let Some(s) = &o.stress {
        let what = s.broke_at_tps.map_or(String::new(), |b| {
            format!(" after breaking at {b}/s by {}", s.broke_by.join("; "))
        });
        cases.push(match s.recovered {
            Some(ok) => Case::check("stress recovery", ok, format!("did not recover{what}")),
            None => Case::skip(
                "stress recovery",
                "the ramp did not break: nothing to recover from",
            ),
        });
        cases.push(Case::check(
            "accounting",
            s.adds_up(),
            "ACCOUNTING FAILED in at least one stage: the scheduler's count and the outcomes differ (see stress.md)",
        ));
    }
    cases.push(match (o.crosscheck(), o.no_crosscheck()) {
        (Some(c), _) => Case::check("cross-check", c.agrees, c.summary.clone()),
        // It could have run and did not: a failure, never a skip.
        (None, Some(n)) if n.fails() => Case::check("cross-check", false, n.line()),
        _ => Case::skip("cross-check", o.crosscheck_line()),
    });
    cases
}

/// Writes the JUnit XML of one run to `path`.
pub fn write_outcome(path: &Path, o: &Outcome) -> anyhow::Result<()> {
    let name = match (&o.report, &o.stress) {
        (Some(r), _) => r.scenario.clone(),
        (None, Some(s)) => s.scenario.clone(),
        (None, None) => "nothing".into(),
    };
    write(
        path,
        &xml(&format!("perfbed.{name}"), &cases(o), &o.summary()),
    )
}

/// Writes `xml` to `path` (its folder made if needed).
pub fn write(path: &Path, xml: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, xml).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_and_skips_are_counted_and_escaped() {
        let cases = [
            Case::check(
                "threshold e2e_p95_ms",
                false,
                "e2e_p95_ms 812.00 > limit 500 <&\">",
            ),
            Case::check("accounting", true, "fine"),
            Case::skip("cross-check", "no ledger"),
        ];
        let x = xml("perfbed.smoke", &cases, "perfbed: smoke FAILED\u{1}");
        assert!(
            x.contains(
                r#"<testsuite name="perfbed.smoke" tests="3" failures="1" errors="0" skipped="1">"#
            ),
            "{x}"
        );
        assert!(x.contains(r#"<failure message="e2e_p95_ms 812.00 &gt; limit 500 &lt;&amp;&quot;&gt;" type="perfbed">"#), "{x}");
        assert!(
            x.contains(r#"<testcase classname="perfbed.smoke" name="accounting"/>"#),
            "{x}"
        );
        assert!(x.contains(r#"<skipped message="no ledger"/>"#), "{x}");
        assert!(
            x.contains("FAILED </system-out>"),
            "control characters are not XML: {x}"
        );
        assert_eq!(x.matches("<testcase ").count(), 3);
    }
}
