//! Preflight: the seed's system-ready check — the services the run will use answer (hub,
//! account-lookup-service, quoting-service, admin API, oracle), every FSP is onboarded with the
//! endpoints a P2P flow needs pointing at its simulator (which answers, with JWS as expected),
//! the ALS finds a payee's number through the oracle registered for MSISDN (a real
//! `GET /participants/MSISDN/{n}` on the ALS, answered to the payee's simulator), a sample of
//! each payee's numbers resolves, the payers' headroom covers the planned run, and the clocks
//! agree (from `/health`'s time, else the HTTP `Date` header). Prints a checklist that says
//! what to fix. What `perfbed preflight` does.

use anyhow::{anyhow, Context, Result};
use http::Method;
use load::Scenario;
use ops::{msisdn, positions, Money, Testbed};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What to check, and against what.
#[derive(Debug, Clone)]
pub struct PreflightOptions {
    /// The scenario about to run (for headroom and which FSPs are payers and payees).
    pub scenario: Option<PathBuf>,
    /// Testbed file: FSPs, callbacks, admin API, oracle (or its database).
    pub testbed: PathBuf,
    /// The hub's FSPIOP base URL (its /health must answer).
    pub hub: String,
    /// Largest clock difference allowed between this machine and hub or simulators.
    pub max_skew: Duration,
    /// Numbers sampled per payee.
    pub sample: u32,
    /// Whether the simulators must have JWS on (or off).
    pub jws_expected: bool,
    /// The account-lookup-service's FSPIOP base URL (`--hub-parties`); else the testbed's
    /// `hub.als`, else the hub.
    pub als: Option<String>,
    /// The quoting-service's base URL (`--hub-quotes`); else the hub.
    pub quotes: Option<String>,
    /// The API the run will speak (`--api`; else the scenario's; else FSPIOP): every payee
    /// simulator must speak it.
    pub api: Option<fspiop::iso::Api>,
}

struct Checklist {
    items: Vec<(bool, String, Option<String>)>,
}

impl Checklist {
    fn ok(&mut self, what: impl Into<String>) {
        let what = what.into();
        println!("  ok    {what}");
        self.items.push((true, what, None));
    }

    fn fail(&mut self, what: impl Into<String>, fix: impl Into<String>) {
        let (what, fix) = (what.into(), fix.into());
        println!("  FAIL  {what}\n        → {fix}");
        self.items.push((false, what, Some(fix)));
    }

    fn check(&mut self, ok: bool, what: impl Into<String>, fix: impl Into<String>) {
        if ok {
            self.ok(what)
        } else {
            self.fail(what, fix)
        }
    }
}

/// `GET url/health`: (status, JSON body, round trip, local midpoint in Unix ms, the `Date`
/// header in Unix ms).
async fn health(
    client: &perfbed_http::HttpClient,
    base: &str,
) -> Result<(u16, serde_json::Value, Duration, f64, Option<f64>), String> {
    let service = ops::Admin::new(base, client.clone());
    let wall0 = sim::trace::now_us() as f64 / 1000.0;
    let t0 = Instant::now();
    let (status, headers, body) = service
        .call_with_headers(Method::GET, "/health", None)
        .await
        .map_err(|e| format!("{e:#}"))?;
    let rtt = t0.elapsed();
    let date = headers
        .get(http::header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(fspiop::headers::parse_date)
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs_f64() * 1000.0);
    Ok((status, body, rtt, wall0 + rtt.as_secs_f64() * 500.0, date))
}

/// Clock skew (ms) from an HTTP `Date` header (Unix ms, whole seconds) against the local
/// midpoint of the request, and whether it is within `max_skew` — widened by half a second
/// (the header drops the fraction: the remote clock read somewhere in `[date, date + 1 s)`)
/// and half the round trip.
pub fn date_skew(date_ms: f64, midpoint_ms: f64, rtt: Duration, max_skew: Duration) -> (bool, f64) {
    let skew = date_ms + 500.0 - midpoint_ms;
    let bound = max_skew.as_secs_f64() * 1000.0 + 500.0 + rtt.as_secs_f64() * 500.0;
    (skew.abs() <= bound, skew)
}

/// The `api` of a scenario file, when it names one.
fn scenario_api(path: Option<&std::path::Path>) -> Option<fspiop::iso::Api> {
    let text = std::fs::read_to_string(path?).ok()?;
    load::Scenario::parse(&text).ok()?.api
}

/// How long the ALS lookup waits for its answer at the simulator.
const ALS_PATIENCE: Duration = Duration::from_secs(5);

/// A lookup through the ALS as `fsp` (`GET /participants/MSISDN/{number}`): the ALS asks the
/// oracle registered for MSISDN and answers to `fsp`'s `FSPIOP_CALLBACK_URL_PARTICIPANT_PUT`,
/// the simulator at `sim`, which hands the answer out once
/// (`GET /perfbed/participants/MSISDN/{number}`). Adds the verdict to `list`.
async fn als_lookup(
    list: &mut Checklist,
    client: &perfbed_http::HttpClient,
    (als, fsp, sim, number): (&str, &str, &str, &str),
    seed_fix: &str,
    api: fspiop::iso::Api,
    hub_has: Option<&str>,
) {
    let what = format!("ALS finds MSISDN {number} through its oracle (GET {als}/participants/MSISDN/{number} as {fsp})");
    let mailbox = ops::Admin::new(sim, client.clone());
    let answer_path = format!("/perfbed/participants/MSISDN/{number}");
    // Forget an answer left from an earlier lookup.
    let _ = mailbox.call(Method::GET, &answer_path, None).await;
    let req = perfbed_http::Outbound {
        method: Method::GET,
        url: format!("{}/participants/MSISDN/{number}", als.trim_end_matches('/')),
        version: fspiop::headers::Version::V1_1,
        source: fsp.to_owned(),
        destination: None,
        body: None,
        extra: Vec::new(),
    };
    // An ISO-mode ALS takes only the ISO media types, on /participants too.
    let req = if api.is_iso() { req.iso() } else { req };
    let req = req.build(None);
    let req = match req {
        Ok(r) => r,
        Err(e) => {
            return list.fail(
                format!("{what}: {e}"),
                "a bug in preflight: please report it",
            )
        }
    };
    match client.send(req).await {
        Err(e) => {
            return list.fail(
                format!("{what}: {e}"),
                "start account-lookup-service or fix its address (--hub-parties, or als in the testbed file)",
            )
        }
        Ok(r) if !r.status().is_success() => {
            return list.fail(
                format!(
                    "{what}: refused with HTTP {}: {}",
                    r.status().as_u16(),
                    String::from_utf8_lossy(r.body())
                ),
                "see the ALS's logs (3105: it wants signed requests, which preflight does not send)",
            )
        }
        Ok(_) => {}
    }
    let deadline = Instant::now() + ALS_PATIENCE;
    let answer = loop {
        match mailbox.call(Method::GET, &answer_path, None).await {
            Ok((200, a)) => break Some(a),
            Ok((404, _)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            _ => break None,
        }
    };
    let Some(answer) = answer else {
        // Where the hub says the answer goes, against where the testbed says the simulator is:
        // the same means the onboarding is right and the ALS uses an endpoint it cached.
        let want = ops::endpoint_templates(sim)
            .into_iter()
            .find(|(ty, _)| *ty == "FSPIOP_CALLBACK_URL_PARTICIPANT_PUT")
            .map(|(_, v)| v);
        let fix = match (hub_has, want) {
            (Some(h), Some(w)) if h == w => format!(
                "the hub has {fsp}'s FSPIOP_CALLBACK_URL_PARTICIPANT_PUT at its simulator ({h}), as the testbed says, yet the ALS's answer did not arrive there: the ALS still uses the endpoint it cached before {fsp} was last onboarded (account-lookup-service keeps participant endpoints ~3 min; after `msisdn seed --via als` that is the seeding listener). Wait 3 minutes (or restart the ALS) and run preflight again; onboarding again does not help"
            ),
            (Some(h), _) => format!(
                "the hub has {fsp}'s FSPIOP_CALLBACK_URL_PARTICIPANT_PUT at {h}, not at its simulator ({sim}): onboard {fsp} with its simulator as callback (perfbed onboard --testbed …); the ALS may then use its cached endpoint for up to ~3 min"
            ),
            (None, _) => format!(
                "the ALS answers to {fsp}'s FSPIOP_CALLBACK_URL_PARTICIPANT_PUT endpoint, which the hub does not have: onboard {fsp} with its simulator as callback (perfbed onboard --testbed …), and read the ALS's logs"
            ),
        };
        return list.fail(
            format!("{what}: no answer reached {fsp}'s simulator within {ALS_PATIENCE:?}"),
            fix,
        );
    };
    let body = &answer["body"];
    if answer["error"] == true {
        let info = &body["errorInformation"];
        let code = info["errorCode"].as_str().unwrap_or("?");
        let description = info["errorDescription"].as_str().unwrap_or("");
        let no_oracle = code == "3003" || description.to_ascii_lowercase().contains("oracle");
        return list.fail(
            format!("{what}: error {code} {description}"),
            if no_oracle {
                "register the MSISDN oracle in the ALS: POST /oracles on its admin API with oracleIdType MSISDN, the oracle's URL as endpoint, isDefault true".to_owned()
            } else {
                seed_fix.to_owned()
            },
        );
    }
    match body["fspId"].as_str() {
        Some(f) if f == fsp => list.ok(format!("{what}: {f}")),
        other => list.fail(
            format!("{what}: it answered {}", other.unwrap_or("no fspId")),
            seed_fix.to_owned(),
        ),
    }
}

/// The oracles the ALS has (`GET /oracles` on its admin API): one must serve MSISDN in the
/// testbed's currency. A bulk registration through the ALS (`msisdn seed --via als`) names the
/// currency, and the ALS answers it with 3003 "Oracle type:MSISDN not found" when no oracle is
/// registered for it, even with one registered for MSISDN without a currency.
async fn als_oracles(
    list: &mut Checklist,
    client: &perfbed_http::HttpClient,
    als_admin: &str,
    currency: &str,
) {
    let what = format!("ALS has an oracle for MSISDN in {currency} ({als_admin}/oracles)");
    let register = format!(
        "register it: POST {als_admin}/oracles with {{\"oracleIdType\": \"MSISDN\", \"endpoint\": {{\"value\": \"<the oracle's URL>\", \"endpointType\": \"URL\"}}, \"currency\": \"{currency}\", \"isDefault\": true}}"
    );
    let oracles = match ops::Admin::new(als_admin, client.clone())
        .call(Method::GET, "/oracles", None)
        .await
    {
        Ok((200, v)) => v,
        Ok((status, v)) => {
            return list.fail(
                format!("{what}: HTTP {status}: {v}"),
                "check hub.als_admin in the testbed file (the ALS admin API, port 4001)",
            )
        }
        Err(e) => return list.fail(
            format!("{what}: {e}"),
            "start the ALS or fix hub.als_admin in the testbed file (the ALS admin API, port 4001)",
        ),
    };
    let msisdn: Vec<&serde_json::Value> = oracles
        .as_array()
        .map(|l| l.iter().filter(|o| o["oracleIdType"] == "MSISDN").collect())
        .unwrap_or_default();
    let served = msisdn.iter().any(|o| o["currency"] == currency);
    if served {
        list.ok(what);
    } else if msisdn.is_empty() {
        list.fail(
            format!("{what}: none for MSISDN at all (lookups fail with 3003 \"Oracle type:MSISDN not found\")"),
            register,
        );
    } else {
        let have: Vec<String> = msisdn
            .iter()
            .map(|o| o["currency"].as_str().unwrap_or("no currency").to_owned())
            .collect();
        list.fail(
            format!(
                "{what}: MSISDN oracles only for {} (a bulk registration through the ALS names {currency} and fails with 3003 \"Oracle type:MSISDN not found\")",
                have.join(", ")
            ),
            register,
        );
    }
}

/// Transfers the scenario will start, by payer, and the money they move (mean amount).
fn planned(s: &Scenario) -> Vec<(String, f64, Money)> {
    let mut prev = 0.0;
    let mut arrivals = 0.0;
    for st in &s.stages {
        let secs = st.duration.as_secs_f64();
        arrivals += if st.ramp {
            (prev + st.rate) / 2.0 * secs
        } else {
            st.rate * secs
        };
        prev = st.rate;
    }
    if let Some(p) = &s.stress {
        let mut r = p.start_rate;
        arrivals = 0.0;
        while r <= p.max_rate + 1e-9 {
            arrivals += r * p.step_duration.as_secs_f64();
            r += p.step.max(1e-9);
        }
        arrivals +=
            p.recovery_rate.unwrap_or(0.0) * p.recovery_duration.map_or(0.0, |d| d.as_secs_f64());
    }
    let total_w: f64 = s.corridors.iter().map(|c| c.weight).sum();
    let mean = (s.amount_min + s.amount_max) as f64 / 2.0;
    let mut out: Vec<(String, f64, Money)> = Vec::new();
    for c in &s.corridors {
        let n = arrivals * c.weight / total_w.max(1e-9);
        match out.iter_mut().find(|(p, _, _)| *p == c.payer) {
            Some(x) => x.1 += n,
            None => out.push((c.payer.clone(), n, Money::ZERO)),
        }
    }
    for x in &mut out {
        x.2 = Money((x.1 * mean * 10_000.0).ceil() as i128);
    }
    out
}

/// Runs the checks, printing the checklist; `Ok(true)` when every check passed.
pub async fn run(opts: &PreflightOptions) -> Result<bool> {
    let t = Testbed::load(&opts.testbed).map_err(|e| anyhow!(e))?;
    let scenario = match &opts.scenario {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            Some(Scenario::parse(&text).map_err(|e| anyhow!("{}: {e}", p.display()))?)
        }
        None => None,
    };
    let admin_url = t
        .hub
        .admin
        .clone()
        .context("the testbed file has no hub.admin: preflight reads onboarding through it")?;
    println!(
        "perfbed preflight: hub {}, {} DFSPs{}",
        opts.hub,
        t.dfsps.len(),
        scenario
            .as_ref()
            .map_or(String::new(), |s| format!(", scenario {}", s.name))
    );
    let list = checks(opts, &t, scenario.as_ref(), &admin_url).await?;
    let bad = list.items.iter().filter(|i| !i.0).count();
    if bad == 0 {
        println!("preflight: ready ({} checks)", list.items.len());
    } else {
        println!("preflight: {bad} of {} checks failed", list.items.len());
    }
    Ok(bad == 0)
}

async fn checks(
    opts: &PreflightOptions,
    t: &Testbed,
    scenario: Option<&Scenario>,
    admin_url: &str,
) -> Result<Checklist> {
    let mut list = Checklist { items: Vec::new() };
    let client = perfbed_http::HttpClient::new(perfbed_http::ClientOptions {
        timeout: Duration::from_secs(5),
        ..perfbed_http::ClientOptions::default()
    });
    let skew_ok = |midpoint: f64, body: &serde_json::Value, rtt: Duration| -> Option<(bool, f64)> {
        let remote = body["time"].as_f64()?;
        let skew = remote - midpoint;
        let bound = rtt.as_secs_f64() * 500.0;
        Some((
            skew.abs() <= opts.max_skew.as_secs_f64() * 1000.0 + bound,
            skew,
        ))
    };

    // Hub services: each the run will use.
    let hub = opts.hub.trim_end_matches('/');
    let als = opts
        .als
        .clone()
        .or_else(|| t.hub.als.clone())
        .unwrap_or_else(|| hub.to_owned());
    let als = als.trim_end_matches('/').to_owned();
    let mut services = vec![
        ("hub FSPIOP API", hub.to_owned(), "(--hub)"),
        (
            "central-ledger admin API",
            admin_url.to_owned(),
            "(hub.admin in the testbed file)",
        ),
    ];
    if als != hub {
        services.push((
            "account-lookup-service",
            als.clone(),
            "(--hub-parties, or hub.als in the testbed file): every lookup goes there",
        ));
    }
    if let Some(q) = opts.quotes.as_deref().map(|q| q.trim_end_matches('/')) {
        if q != hub {
            services.push((
                "quoting-service",
                q.to_owned(),
                "(--hub-quotes): every quote goes there",
            ));
        }
    }
    if let Some(o) = &t.hub.oracle {
        services.push(("oracle", o.clone(), "(hub.oracle in the testbed file)"));
    }
    let mut als_up = true;
    for (name, url, flag) in &services {
        match health(&client, url).await {
            Ok((200..=299, body, rtt, mid, date)) => {
                list.ok(format!(
                    "{name} answers ({url}/health, {:.0} ms)",
                    rtt.as_secs_f64() * 1000.0
                ));
                if *name == "hub FSPIOP API" {
                    let fix = "sync the clocks (NTP/chrony): the hub refuses completedTimestamp > 200 ms in the future";
                    match (skew_ok(mid, &body, rtt), date) {
                        (Some((ok, skew)), _) => list.check(
                            ok,
                            format!("hub clock within {:?} of this machine's (skew {skew:+.0} ms)", opts.max_skew),
                            fix,
                        ),
                        (None, Some(date)) => {
                            let (ok, skew) = date_skew(date, mid, rtt, opts.max_skew);
                            list.check(
                                ok,
                                format!("hub clock within {:?} of this machine's, from its Date header, ±0.5 s (skew {skew:+.0} ms)", opts.max_skew),
                                fix,
                            )
                        }
                        (None, None) => list.ok("hub clock: neither its /health nor a Date header gives the time; not measured"),
                    }
                }
            }
            Ok((status, ..)) => {
                als_up &= *name != "account-lookup-service";
                list.fail(
                    format!("{name} answers ({url}/health: HTTP {status})"),
                    "check the service's logs and readiness",
                )
            }
            Err(e) => {
                als_up &= *name != "account-lookup-service";
                list.fail(
                    format!("{name} answers ({url}/health: {e})"),
                    format!("start it, or fix its address {flag}"),
                )
            }
        }
    }

    // Onboarding, endpoints, simulators.
    let admin = ops::Admin::new(admin_url, client.clone());
    let payees: Vec<String> = scenario.map_or_else(
        || t.ids(),
        |s| s.corridors.iter().map(|c| c.payee.clone()).collect(),
    );
    let required = [
        "FSPIOP_CALLBACK_URL_PARTIES_GET",
        "FSPIOP_CALLBACK_URL_PARTIES_PUT",
        "FSPIOP_CALLBACK_URL_PARTIES_PUT_ERROR",
        "FSPIOP_CALLBACK_URL_QUOTES",
        "FSPIOP_CALLBACK_URL_TRANSFER_POST",
        "FSPIOP_CALLBACK_URL_TRANSFER_PUT",
        "FSPIOP_CALLBACK_URL_TRANSFER_ERROR",
    ];
    let onboard_fix = format!("perfbed onboard --testbed {}", opts.testbed.display());
    // Payee simulators that answered: the ALS lookup is made as one of them.
    let mut sims_up: Vec<(String, String)> = Vec::new();
    // Where the hub says each FSP's participant answers go (FSPIOP_CALLBACK_URL_PARTICIPANT_PUT).
    let mut participant_put: std::collections::HashMap<String, String> =
        std::collections::HashMap::new();
    for d in &t.dfsps {
        let n = &d.id;
        let Ok((status, p)) = admin
            .call(Method::GET, &format!("/participants/{n}"), None)
            .await
        else {
            list.fail(
                format!("{n} onboarded"),
                format!("the admin API at {admin_url} does not answer"),
            );
            continue;
        };
        let active = p["isActive"] == 1 || p["isActive"] == true;
        if status != 200 || !active {
            list.fail(
                format!(
                    "{n} onboarded and active (HTTP {status}{})",
                    if status == 200 { ", inactive" } else { "" }
                ),
                onboard_fix.clone(),
            );
            continue;
        }
        let endpoints = admin
            .call(Method::GET, &format!("/participants/{n}/endpoints"), None)
            .await
            .map(|x| x.1)
            .unwrap_or_default();
        let have = |ty: &str| -> Option<String> {
            endpoints
                .as_array()?
                .iter()
                .find(|e| e["type"] == ty)
                .and_then(|e| e["value"].as_str())
                .map(str::to_owned)
        };
        if let Some(v) = have("FSPIOP_CALLBACK_URL_PARTICIPANT_PUT") {
            participant_put.insert(n.clone(), v);
        }
        let missing: Vec<&str> = required
            .iter()
            .copied()
            .filter(|r| have(r).is_none())
            .collect();
        let stale: Vec<&str> = match &d.callback {
            Some(base) => ops::endpoint_templates(base)
                .into_iter()
                .filter(|(ty, v)| required.contains(ty) && have(ty).is_some_and(|h| &h != v))
                .map(|(ty, _)| ty)
                .collect(),
            None => Vec::new(),
        };
        if missing.is_empty() && stale.is_empty() {
            list.ok(format!("{n} onboarded, every P2P endpoint set"));
        } else if !missing.is_empty() {
            list.fail(
                format!("{n} endpoints: missing {}", missing.join(", ")),
                onboard_fix.clone(),
            );
        } else {
            list.fail(
                format!(
                    "{n} endpoints point elsewhere than the testbed's callback ({})",
                    stale.join(", ")
                ),
                onboard_fix.clone(),
            );
        }
        if payees.contains(n) {
            let Some(base) = &d.callback else {
                list.fail(
                    format!("{n}: simulator"),
                    "give its callback URL in the testbed file",
                );
                continue;
            };
            match health(&client, base).await {
                Ok((200..=299, body, rtt, mid, _)) => {
                    sims_up.push((n.clone(), base.clone()));
                    let serves = body["fsps"]
                        .as_array()
                        .is_some_and(|f| f.iter().any(|x| x == n.as_str()));
                    let jws = body["jws"].as_bool().unwrap_or(false);
                    list.check(
                        serves && jws == opts.jws_expected,
                        format!(
                            "{n}: simulator at {base} answers, serves it{}, JWS {}",
                            if serves { "" } else { " NOT" },
                            if jws { "on" } else { "off" }
                        ),
                        if serves {
                            "start the simulator with the keys (perfbed sim --keys DIR), or pass --no-jws-expected".to_owned()
                        } else {
                            format!("run the simulator with --fsp {n}")
                        },
                    );
                    let expected = opts
                        .api
                        .or_else(|| scenario_api(opts.scenario.as_deref()))
                        .unwrap_or_default();
                    // A simulator from before `api` existed speaks FSPIOP.
                    let speaks = body["api"].as_str().unwrap_or("fspiop");
                    list.check(
                        speaks == expected.as_str(),
                        format!("{n}: simulator speaks API {speaks} (the run: {expected})"),
                        format!("start the simulator with --api {expected}"),
                    );
                    if let Some(signs) = t.hub.signs {
                        let has = body["hubSigns"].as_bool().unwrap_or(false);
                        list.check(
                            has == signs,
                            format!(
                                "{n}: simulator {} the hub's signature (testbed: the hub {})",
                                if has { "requires" } else { "does not require" },
                                if signs { "signs" } else { "does not sign" }
                            ),
                            if signs {
                                "give the simulator the hub's public key: Hub.pem in its --keys directory (or --hub-key FILE)"
                            } else {
                                "remove Hub.pem from the simulator's keys (and --hub-key): this hub does not sign, so its messages would be refused"
                            },
                        );
                    }
                    if let Some((ok, skew)) = skew_ok(mid, &body, rtt) {
                        list.check(
                            ok,
                            format!(
                                "{n}: simulator clock within {:?} (skew {skew:+.0} ms)",
                                opts.max_skew
                            ),
                            "sync the clocks (NTP/chrony) of the simulator's machine",
                        );
                    }
                }
                Ok((status, ..)) => list.fail(
                    format!("{n}: simulator at {base} answers (HTTP {status})"),
                    "check the simulator's logs",
                ),
                Err(e) => list.fail(
                    format!("{n}: simulator at {base} answers ({e})"),
                    format!(
                        "start it (perfbed sim --fsp {n} …) or fix its callback URL in the testbed"
                    ),
                ),
            }
        }
    }

    // Numbers: through the ALS (and the oracle it has for MSISDN), then the oracle's sample.
    let per_fsp = scenario.map_or(t.msisdns, |s| s.msisdns_per_fsp);
    let seed_fix = |p: &str| {
        format!(
            "perfbed msisdn seed --testbed {} --fsp {p} --count {per_fsp}",
            opts.testbed.display()
        )
    };
    if let Some(a) = &t.hub.als_admin {
        als_oracles(&mut list, &client, a, &t.currency).await;
    }
    let probe = sims_up.iter().find_map(|(fsp, sim)| {
        let n = msisdn::Range::of(fsp, per_fsp).ok()?.number(0);
        Some((fsp.clone(), sim.clone(), n))
    });
    match (als_up, probe) {
        (false, _) => {}
        (true, Some((fsp, sim, number))) => {
            als_lookup(
                &mut list,
                &client,
                (&als, &fsp, &sim, &number),
                &seed_fix(&fsp),
                opts.api
                    .or_else(|| scenario_api(opts.scenario.as_deref()))
                    .unwrap_or_default(),
                participant_put.get(&fsp).map(String::as_str),
            )
            .await
        }
        (true, None) => list.ok("ALS lookup not checked: no payee simulator answers"),
    }
    let oracle = t
        .hub
        .oracle
        .as_deref()
        .map(|o| ops::Admin::new(o, client.clone()));
    let pool = match &t.hub.oracle_db {
        Some(db) if oracle.is_none() => Some(positions::connect(db).await?),
        _ => None,
    };
    let mut seen = std::collections::BTreeSet::new();
    for p in payees.iter().filter(|p| seen.insert((*p).clone())) {
        let Ok(range) = msisdn::Range::of(p, per_fsp) else {
            list.ok(format!("{p}: not a perffspN id; numbers not checked"));
            continue;
        };
        let s = match (&oracle, &pool) {
            (Some(o), _) => msisdn::check_oracle(o, &range, opts.sample).await,
            (None, Some(pool)) => msisdn::check_sql(pool, &range, opts.sample).await,
            _ => {
                list.fail(
                    format!("{p}: numbers resolve"),
                    "give hub.oracle or hub.oracle_db in the testbed file",
                );
                continue;
            }
        };
        match s {
            Ok(s) => list.check(
                s.passed(),
                format!(
                    "{p}: {}/{} sampled numbers resolve to it (of {per_fsp})",
                    s.ok, s.sampled
                ),
                seed_fix(p),
            ),
            Err(e) => list.fail(
                format!("{p}: numbers resolve ({e})"),
                "check the oracle's address",
            ),
        }
    }

    // Headroom.
    match scenario {
        None => list.ok("no scenario given: headroom not checked"),
        Some(s) => {
            for (payer, n, need) in planned(s) {
                match positions::show_api(&admin, std::slice::from_ref(&payer), &s.currency).await {
                    Ok(rows) => {
                        let r = &rows[0];
                        let head = r.ndc_headroom().unwrap_or(Money::ZERO).min(r.liquidity());
                        list.check(
                            head >= need,
                            format!(
                                "{payer}: headroom {head} {} covers the run's ~{n:.0} transfers ≈ {need} (NDC headroom {}, liquidity {})",
                                s.currency,
                                r.ndc_headroom().map_or("none".into(), |x| x.to_string()),
                                r.liquidity()
                            ),
                            "raise NDC and funds (perfbed positions reset --testbed … --ndc … --funds …), or shorten the run",
                        );
                    }
                    Err(e) => list.fail(format!("{payer}: positions ({e})"), onboard_fix.clone()),
                }
            }
        }
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_splits_arrivals_by_corridor_weight() {
        let mut s = Scenario::constant("x", load::Flow::P2p, 100.0, Duration::from_secs(60));
        s.amount_min = 10;
        s.amount_max = 30;
        let p = planned(&s);
        let total: f64 = p.iter().map(|x| x.1).sum();
        assert!((total - 6000.0).abs() < 1e-6, "{p:?}");
        // perffsp1 carries 40 % of the seed corridors: 2400 transfers × 20.
        let one = p.iter().find(|x| x.0 == "perffsp1").unwrap();
        assert_eq!(one.2, Money::units(48_000));
    }

    #[test]
    fn the_date_header_gives_the_clock_to_the_second() {
        let (max, rtt) = (Duration::from_millis(200), Duration::from_millis(10));
        // The remote clock read 12:00:00.000–12:00:00.999 and said 12:00:00.
        let date = 1_000_000_000_000.0;
        for local in [date + 1.0, date + 500.0, date + 999.0] {
            let (ok, skew) = date_skew(date, local, rtt, max);
            assert!(ok, "{local}: {skew}");
        }
        let (ok, skew) = date_skew(date + 5_000.0, date, rtt, max);
        assert!(!ok);
        assert_eq!(skew, 5_500.0);
        // Beyond the bound: max skew + half a second + half the round trip.
        assert!(!date_skew(date, date + 500.0 + 706.0, rtt, max).0);
        assert!(date_skew(date, date + 500.0 + 704.0, rtt, max).0);
    }
}
