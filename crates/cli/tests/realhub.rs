//! The ops commands against the REAL Mojaloop central-ledger (npm 19.5.5: its own migrations,
//! seeds, admin API and Kafka handlers) on MariaDB, over a real Kafka-protocol broker (tansu).
//! `scripts/realhub up` starts it (the README's test command does); these tests fail, never
//! skip, when it is not running. Positions are moved by real prepares and fulfils placed on the
//! ledger's Kafka topics in its own message format, as ml-api-adapter would.
//!
//! The tests share one ledger: each uses its own FSPs, and they run one at a time.

#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

mod common;

use serde_json::{json, Value};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());

struct Real {
    /// The handlers' Prometheus endpoint (`/metrics` on the handler port).
    metrics: String,
    admin: String,
    ledger_db: String,
    oracle_db: String,
    kafka: String,
}

fn real() -> Real {
    let var = |k: &str| {
        std::env::var(k).unwrap_or_else(|_| {
            panic!(
                "{k} is not set: these tests need the real central-ledger. Start it with \
                 `scripts/realhub up`, then `export $(scripts/realhub env)` (scripts/test does both)"
            )
        })
    };
    Real {
        metrics: var("PERFBED_REALHUB_METRICS"),
        admin: var("PERFBED_REALHUB_ADMIN"),
        ledger_db: var("PERFBED_REALHUB_LEDGER_DB"),
        oracle_db: var("PERFBED_REALHUB_ORACLE_DB"),
        kafka: var("PERFBED_REALHUB_KAFKA"),
    }
}

fn perfbed() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_perfbed"));
    c.env_remove("PERFBED_TESTBED")
        .env_remove("PERFBED_ADMIN")
        .env_remove("PERFBED_LEDGER_DB")
        .env_remove("PERFBED_KAFKA");
    c
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs perfbed, asserts success, returns stdout.
fn ok(args: &[&str]) -> String {
    let o = perfbed().args(args).output().unwrap();
    assert!(o.status.success(), "perfbed {args:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json_lines(s: &str) -> Vec<Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn onboard(r: &Real, fsps: &[&str], extra: &[&str]) -> String {
    let mut args = vec!["onboard".to_owned(), "--admin".into(), r.admin.clone()];
    for f in fsps {
        args.push("--dfsp".into());
        args.push(format!("{f}=http://127.0.0.1:9/{f}"));
    }
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&a)
}

fn show(r: &Real, fsps: &str, api: bool) -> Vec<Value> {
    let mut args = vec![
        "positions",
        "show",
        "--json",
        "--fsp",
        fsps,
        "--admin",
        &r.admin,
    ];
    if !api {
        args.extend(["--database", &r.ledger_db]);
    }
    json_lines(&ok(&args))
}

/// Two fresh participant names, so the tests can run again on the same ledger.
fn pair(tag: &str) -> (String, String) {
    let u = uuid::Uuid::new_v4().simple().to_string();
    (format!("{tag}{}p", &u[..8]), format!("{tag}{}q", &u[..8]))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

// ---- Kafka messages in central-ledger's format (what ml-api-adapter publishes) -------------

fn message(
    id: &str,
    from: &str,
    to: &str,
    typ: &str,
    action: &str,
    payload: Value,
    uri_id: Option<&str>,
) -> Value {
    use base64::Engine;
    let body = serde_json::to_vec(&payload).unwrap();
    let mime = "application/vnd.interoperability.transfers+json;version=1.1";
    let mut content = json!({
        "headers": {
            "content-type": mime, "accept": "application/vnd.interoperability.transfers+json;version=1",
            "date": httpdate(), "fspiop-source": from, "fspiop-destination": to,
        },
        "payload": format!("data:{mime};base64,{}", base64::engine::general_purpose::STANDARD.encode(body)),
    });
    if let Some(u) = uri_id {
        content["uriParams"] = json!({ "id": u });
    }
    json!({
        "id": id, "from": from, "to": to, "type": "application/json", "content": content,
        "metadata": { "correlationId": id, "event": {
            "id": uuid(), "type": typ, "action": action, "createdAt": now_iso(),
            "state": { "status": "success", "code": 0, "description": "action successful" } } },
    })
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn httpdate() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::macros::format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        ))
        .unwrap()
}

fn now_iso() -> String {
    iso(time::OffsetDateTime::now_utc())
}

fn iso(t: time::OffsetDateTime) -> String {
    t.format(&time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    ))
    .unwrap()
}

struct Transfer {
    id: String,
    payer: String,
    payee: String,
    fulfilment: fspiop::types::IlpFulfilment,
}

impl Transfer {
    fn new(payer: &str, payee: &str) -> Transfer {
        let id = uuid();
        let mut seed = [0u8; 32];
        seed[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        seed[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        Transfer {
            id,
            payer: payer.into(),
            payee: payee.into(),
            fulfilment: fspiop::types::IlpFulfilment::from_bytes(&seed),
        }
    }

    /// A transfer whose id starts with a run tag.
    fn tagged(tag: &str, payer: &str, payee: &str) -> Transfer {
        let mut t = Transfer::new(payer, payee);
        t.id = format!("{tag}{}", &t.id[8..]);
        t
    }

    fn prepare(&self, amount: &str) -> Value {
        self.prepare_until(
            amount,
            time::OffsetDateTime::now_utc() + time::Duration::minutes(10),
        )
    }

    fn prepare_until(&self, amount: &str, expiration: time::OffsetDateTime) -> Value {
        let expiration = iso(expiration);
        message(
            &self.id,
            &self.payer,
            &self.payee,
            "prepare",
            "prepare",
            json!({
                "transferId": self.id, "payerFsp": self.payer, "payeeFsp": self.payee,
                "amount": { "amount": amount, "currency": "XXX" },
                "ilpPacket": "AYIBgQAAAAAAAASwNGxldmVsb25lLmRmc3AxLm1lci45T2RTOF91MDI",
                "condition": self.fulfilment.condition().as_str(), "expiration": expiration,
            }),
            None,
        )
    }

    fn fulfil(&self) -> Value {
        message(
            &self.id,
            &self.payee,
            &self.payer,
            "fulfil",
            "commit",
            json!({
                "transferState": "COMMITTED", "fulfilment": self.fulfilment.as_str(),
                "completedTimestamp": now_iso(),
            }),
            Some(&self.id),
        )
    }

    /// The payee's `PUT /transfers/{id}/error`, as ml-api-adapter puts it on the fulfil topic.
    fn abort(&self, code: &str) -> Value {
        message(
            &self.id,
            &self.payee,
            &self.payer,
            "fulfil",
            "abort",
            json!({ "errorInformation": { "errorCode": code, "errorDescription": "Payee rejected" } }),
            Some(&self.id),
        )
    }
}

fn produce(r: &Real, topic: &str, key: &str, v: &Value) {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    runtime().block_on(async {
        let p: FutureProducer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &r.kafka)
            .create()
            .unwrap();
        let payload = serde_json::to_vec(v).unwrap();
        p.send(
            FutureRecord::to(topic).key(key).payload(&payload),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    });
}

/// Polls SQL positions until `want(fsp)` holds for every FSP.
fn wait_positions(r: &Real, fsps: &str, want: &dyn Fn(&Value) -> bool) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let now = show(r, fsps, false);
        if now.iter().all(want) {
            return now;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "positions never got there: {now:?}\n(handlers log: ~/.cache/perfbed/realhub/handlers.log)"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn onboarding_the_real_central_ledger_twice_changes_nothing_the_second_time() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = real();
    let (a, b) = pair("ob");
    let both = format!("{a},{b}");
    let dry = onboard(&r, &[&a, &b], &["--dry-run"]);
    assert!(dry.contains("FSPIOP_CALLBACK_URL_PARTIES_GET"), "{dry}");
    let first = onboard(&r, &[&a, &b], &[]);
    assert!(first.contains("onboarded 2 DFSPs"), "{first}");
    assert!(
        first.contains(&format!("{a}: funds-in 100000000")),
        "{first}"
    );
    let second = onboard(&r, &[&a, &b], &[]);
    assert!(second.contains("nothing to change"), "{second}");

    // Funds-in is visible, through the admin API and in the database alike.
    let api = show(&r, &both, true);
    let sql = show(&r, &both, false);
    assert_eq!(api, sql);
    for row in &api {
        assert_eq!(row["settlement"], "-100000000", "{row}");
        assert_eq!(row["position"], "0");
        assert_eq!(row["ndc"], "10000000");
        assert_eq!(row["liquidityHeadroom"], "100000000");
    }

    // An unknown FSP is named, with what to do.
    let o = perfbed()
        .args([
            "positions",
            "show",
            "--admin",
            &r.admin,
            "--fsp",
            "perffsp98",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("unknown FSP 'perffsp98'"), "{}", text(&o));
    let o = perfbed()
        .args([
            "positions",
            "show",
            "--database",
            &r.ledger_db,
            "--fsp",
            "perffsp98",
        ])
        .output()
        .unwrap();
    assert!(
        text(&o).contains("perffsp98 has no POSITION/SETTLEMENT accounts"),
        "{}",
        text(&o)
    );
}

#[test]
fn real_transfers_move_positions_kafka_counts_them_and_both_resets_restore_them() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = real();
    let (a, b) = pair("tr");
    let both = format!("{a},{b}");
    let fsps = both.as_str();
    onboard(&r, &[&a, &b], &["--ndc", "500000", "--funds", "1000000"]);
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("before.json");
    ok(&[
        "kafka",
        "snapshot",
        "--brokers",
        &r.kafka,
        "-o",
        snap.to_str().unwrap(),
    ]);

    // Three real prepares: the payer's position goes up by their sum.
    let transfers: Vec<Transfer> = (0..3).map(|_| Transfer::new(&a, &b)).collect();
    for t in &transfers {
        produce(&r, "topic-transfer-prepare", &t.id, &t.prepare("100.5"));
    }
    wait_positions(&r, fsps, &|p| {
        p["fsp"] != a.as_str() || p["position"] == "301.5"
    });

    // In flight: a SQL reset refuses and changes nothing.
    let o = perfbed()
        .args([
            "positions",
            "reset",
            "--database",
            &r.ledger_db,
            "--fsp",
            fsps,
            "--ndc",
            "500000",
            "--funds",
            "1000000",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("3 transfers are not finished"),
        "{}",
        text(&o)
    );
    // Per transfer, as a run's reconciliation asks: the latest state of each, not final yet;
    // an id the ledger never saw is left out.
    let mut ids: Vec<String> = transfers.iter().map(|t| t.id.clone()).collect();
    ids.push(uuid());
    let states = |ids: &[String]| {
        runtime()
            .block_on(ops::crosscheck::transfer_states_sql(&r.ledger_db, ids))
            .unwrap()
    };
    let reserved = states(&ids);
    assert_eq!(reserved.len(), 3, "{reserved:?}");
    assert!(
        reserved
            .values()
            .all(|s| ops::crosscheck::Settled::of(s) == Some(ops::crosscheck::Settled::InFlight)),
        "{reserved:?}"
    );

    for t in &transfers {
        produce(&r, "topic-transfer-fulfil", &t.id, &t.fulfil());
    }
    let moved = wait_positions(&r, fsps, &|p| {
        p["position"]
            == if p["fsp"] == a.as_str() {
                "301.5"
            } else {
                "-301.5"
            }
    });
    assert_eq!(moved, show(&r, fsps, true), "admin API and SQL agree");
    let committed = states(&ids);
    assert!(
        transfers.iter().all(|t| committed[&t.id] == "COMMITTED"),
        "{committed:?}"
    );
    assert_eq!(moved[0]["liquidityHeadroom"], "999698.5");
    assert_eq!(moved[0]["ndcHeadroom"], "499698.5");

    // Kafka saw exactly the traffic: 3 prepares, 3 fulfils, the notifications the handlers made.
    let gate = perfbed()
        .args([
            "kafka",
            "gate",
            "--brokers",
            &r.kafka,
            "--since",
            snap.to_str().unwrap(),
            "--json",
            "--min-prepares",
            "3",
            "--tolerance",
            "0.01",
        ])
        .output()
        .unwrap();
    let g: Value = serde_json::from_slice(&gate.stdout).unwrap_or(Value::Null);
    assert_eq!(g["counts"]["topic-transfer-prepare"], 3, "{}", text(&gate));
    assert_eq!(g["counts"]["topic-transfer-fulfil"], 3, "{}", text(&gate));
    assert_eq!(
        g["counts"]["topic-notification-event"],
        6,
        "{}",
        text(&gate)
    );
    assert_eq!(g["pass"], true, "{}", text(&gate));
    assert!(gate.status.success());
    let strict = perfbed()
        .args([
            "kafka",
            "gate",
            "--brokers",
            &r.kafka,
            "--since",
            snap.to_str().unwrap(),
            "--min-prepares",
            "4",
        ])
        .output()
        .unwrap();
    assert_eq!(strict.status.code(), Some(1), "{}", text(&strict));
    assert!(
        text(&strict).contains("kafka gate: FAIL"),
        "{}",
        text(&strict)
    );

    // Lag: the ledger's prepare consumer has caught up; a group committed at 0 lags by everything.
    let started = Instant::now();
    loop {
        let lag: Vec<Value> =
            serde_json::from_str(&ok(&["kafka", "lag", "--brokers", &r.kafka, "--json"])).unwrap();
        let prepare: Vec<&Value> = lag
            .iter()
            .filter(|l| {
                l["topic"] == "topic-transfer-prepare"
                    && l["group"].as_str().unwrap().contains("prepare")
            })
            .collect();
        if !prepare.is_empty() && prepare.iter().all(|l| l["lag"] == 0) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{lag:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
    commit_at_zero(&r, "perfbed-test-lag", "topic-transfer-prepare");
    let lagging = perfbed()
        .args([
            "kafka",
            "lag",
            "--brokers",
            &r.kafka,
            "--group",
            "perfbed-test-lag",
            "--json",
            "--max-lag",
            "0",
        ])
        .output()
        .unwrap();
    assert_eq!(lagging.status.code(), Some(1), "{}", text(&lagging));
    let rows: Vec<Value> = serde_json::from_slice(&lagging.stdout).unwrap();
    let total: i64 = rows.iter().map(|r| r["lag"].as_i64().unwrap()).sum();
    let high: i64 = rows.iter().map(|r| r["high"].as_i64().unwrap()).sum();
    assert!(high >= 3 && total == high, "{rows:?}");

    // Admin-API reset: headroom back to the configured values (positions stay: only settlement
    // could move them).
    let dry = ok(&[
        "positions",
        "reset",
        "--api",
        "--admin",
        &r.admin,
        "--fsp",
        fsps,
        "--ndc",
        "500000",
        "--funds",
        "1000000",
        "--dry-run",
    ]);
    assert!(
        dry.contains(&format!(
            "would change {a}: settlement -1000000 -> -1000301.5 (funds-in 301.5)"
        )),
        "{dry}"
    );
    assert!(
        dry.contains(&format!(
            "would change {b}: settlement -1000000 -> -999698.5 (funds-out 301.5)"
        )),
        "{dry}"
    );
    assert_eq!(show(&r, fsps, false), moved, "a dry run changes nothing");
    ok(&[
        "positions",
        "reset",
        "--api",
        "--admin",
        &r.admin,
        "--fsp",
        fsps,
        "--ndc",
        "500000",
        "--funds",
        "1000000",
    ]);
    for p in show(&r, fsps, false) {
        assert_eq!(p["liquidityHeadroom"], "1000000", "{p}");
        assert_eq!(p["ndcHeadroom"], "500000", "{p}");
    }

    // SQL reset: one transaction back to position 0, settlement −funds, NDC.
    let sql_reset = |extra: &[&str]| {
        let mut a = vec![
            "positions",
            "reset",
            "--database",
            &r.ledger_db,
            "--fsp",
            fsps,
            "--ndc",
            "500000",
            "--funds",
            "1000000",
        ];
        a.extend(extra);
        ok(&a)
    };
    // The funds-out commit of the API reset is asynchronous on the real ledger (its admin
    // handler, ~0.3 s) and invisible through the admin API; until it lands the SQL reset
    // rightly counts it as a transfer in flight.
    let started = Instant::now();
    let dry = loop {
        let a = vec![
            "positions",
            "reset",
            "--database",
            &r.ledger_db,
            "--fsp",
            fsps,
            "--ndc",
            "500000",
            "--funds",
            "1000000",
            "--dry-run",
        ];
        let o = perfbed().args(&a).output().unwrap();
        if o.status.success() {
            break String::from_utf8_lossy(&o.stdout).into_owned();
        }
        assert!(
            text(&o).contains("1 transfers are not finished"),
            "{}",
            text(&o)
        );
        assert!(started.elapsed() < Duration::from_secs(10), "{}", text(&o));
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        dry.contains(&format!("would change {a}: position 301.5 -> 0")),
        "{dry}"
    );
    let done = sql_reset(&[]);
    assert!(done.contains("reset 2 FSPs (6 changes)"), "{done}");
    for p in show(&r, fsps, true) {
        assert_eq!(
            (
                p["position"].as_str(),
                p["settlement"].as_str(),
                p["ndc"].as_str()
            ),
            (Some("0"), Some("-1000000"), Some("500000")),
            "{p}"
        );
    }
    assert!(sql_reset(&[]).contains("nothing to change"));

    // And the ledger goes on: a new transfer after the reset commits from the reset values.
    let t = Transfer::new(&a, &b);
    produce(&r, "topic-transfer-prepare", &t.id, &t.prepare("7"));
    wait_positions(&r, fsps, &|p| {
        p["fsp"] != a.as_str() || p["position"] == "7"
    });
    produce(&r, "topic-transfer-fulfil", &t.id, &t.fulfil());
    wait_positions(&r, fsps, &|p| {
        p["position"] == if p["fsp"] == a.as_str() { "7" } else { "-7" }
    });
}

fn commit_at_zero(r: &Real, group: &str, topic: &str) {
    use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
    let c: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &r.kafka)
        .set("group.id", group)
        .create()
        .unwrap();
    let md = c
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in md.topics()[0].partitions() {
        tpl.add_partition_offset(topic, p.id(), rdkafka::Offset::Offset(0))
            .unwrap();
    }
    c.commit(&tpl, CommitMode::Sync).unwrap();
}

#[test]
fn a_sql_reset_whose_connection_dies_before_commit_changes_nothing() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = real();
    let (a, b) = pair("kl");
    onboard(&r, &[&a, &b], &[]);
    let fsps = vec![a, b];
    runtime().block_on(async {
        let pool = ops::positions::connect(&r.ledger_db).await.unwrap();
        let before = ops::positions::show_sql(&pool, &fsps, "XXX").await.unwrap();
        let target = ops::positions::Target {
            ndc: ops::Money::units(777),
            funds: ops::Money::units(555),
        };
        let killer = pool.clone();
        let result =
            ops::positions::reset_sql(&pool, &fsps, "XXX", target, false, false, |id| async move {
                sqlx::query(&format!("KILL CONNECTION {id}"))
                    .execute(&killer)
                    .await
                    .unwrap();
            })
            .await;
        let e = result.expect_err("the commit cannot succeed on a killed connection");
        assert!(e.to_string().contains("database"), "{e}");
        let after = ops::positions::show_sql(&pool, &fsps, "XXX").await.unwrap();
        assert_eq!(before, after, "nothing half-applied");
        // The same reset on a healthy connection applies all of it.
        let changes =
            ops::positions::reset_sql(&pool, &fsps, "XXX", target, false, false, |_| async {})
                .await
                .unwrap();
        assert_eq!(changes.len(), 4, "{changes:?}");
        let now = ops::positions::show_sql(&pool, &fsps, "XXX").await.unwrap();
        assert!(now
            .iter()
            .all(|p| p.settlement.value == ops::Money::units(-555)
                && p.ndc == Some(ops::Money::units(777))));
    });
}

fn oracle_count(r: &Real, fsp: &str) -> i64 {
    runtime().block_on(async {
        let pool = ops::positions::connect(&r.oracle_db).await.unwrap();
        sqlx::query_scalar("SELECT COUNT(*) FROM oracleMSISDN WHERE fspId = ?")
            .bind(fsp)
            .fetch_one(&pool)
            .await
            .unwrap()
    })
}

#[test]
fn sql_seeding_is_idempotent_resumes_after_a_kill_and_check_finds_wrong_owners() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = real();
    let seed = |fsp: &str, count: &str, extra: &[&str]| {
        let mut a = vec![
            "msisdn",
            "seed",
            "--via",
            "sql",
            "--database",
            &r.oracle_db,
            "--fsp",
            fsp,
            "--count",
            count,
        ];
        a.extend(extra);
        ok(&a)
    };
    // This test owns the ranges of perffsp41..44: start them empty, so it can run again.
    runtime().block_on(async {
        let pool = ops::positions::connect(&r.oracle_db).await.unwrap();
        sqlx::query("DELETE FROM oracleMSISDN WHERE id BETWEEN '254741000000' AND '254744999999'")
            .execute(&pool)
            .await
            .unwrap();
    });
    let first = seed("perffsp41", "200000", &[]);
    assert!(first.contains("perffsp41: 200000 numbers (254741000000 … 254741199999): 200000 written, 0 already there"), "{first}");
    let again = seed("perffsp41", "200000", &[]);
    assert!(again.contains("0 written, 200000 already there"), "{again}");
    assert_eq!(oracle_count(&r, "perffsp41"), 200_000);
    let check = ok(&[
        "msisdn",
        "check",
        "--via",
        "sql",
        "--database",
        &r.oracle_db,
        "--fsp",
        "perffsp41",
        "--count",
        "200000",
    ]);
    assert!(check.contains("perffsp41: ok: 100/100"), "{check}");

    // Interrupted (SIGKILL) part-way, then re-run: finishes the job, no duplicates.
    let mut child = perfbed()
        .args([
            "msisdn",
            "seed",
            "--via",
            "sql",
            "--database",
            &r.oracle_db,
            "--fsp",
            "perffsp42",
            "--count",
            "1000000",
            "--parallel",
            "1",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while oracle_count(&r, "perffsp42") == 0 {
        assert!(started.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // A statement already sent still completes on the server: wait until the count is still.
    let mut partial = oracle_count(&r, "perffsp42");
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let now = oracle_count(&r, "perffsp42");
        if now == partial {
            break;
        }
        partial = now;
    }
    assert!(
        partial > 0 && partial < 1_000_000,
        "interrupted part-way: {partial}"
    );
    assert_eq!(partial % 10_000, 0, "chunks land whole: {partial}");
    let resumed = seed("perffsp42", "1000000", &[]);
    assert!(
        resumed.contains(&format!(
            "{} written, {partial} already there",
            1_000_000 - partial
        )),
        "{resumed}"
    );
    assert_eq!(oracle_count(&r, "perffsp42"), 1_000_000);

    // A number owned by another FSP is not overwritten, and check names it.
    runtime().block_on(async {
        let pool = ops::positions::connect(&r.oracle_db).await.unwrap();
        sqlx::query("INSERT INTO oracleMSISDN (id, fspId) VALUES ('254743000005', 'perffsp44')")
            .execute(&pool)
            .await
            .unwrap();
    });
    seed("perffsp43", "10", &[]);
    let o = perfbed()
        .args([
            "msisdn",
            "check",
            "--via",
            "sql",
            "--database",
            &r.oracle_db,
            "--fsp",
            "perffsp43",
            "--count",
            "10",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("254743000005 belongs to perffsp44"),
        "{}",
        text(&o)
    );

    // Wrong credentials and an unreachable database say so.
    let o = perfbed()
        .args([
            "msisdn",
            "seed",
            "--via",
            "sql",
            "--database",
            "mysql://nobody:pw@127.0.0.1:3306/x",
            "--fsp",
            "perffsp41",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("cannot connect to mysql://nobody:***@127.0.0.1:3306/x"),
        "{}",
        text(&o)
    );
}

#[test]
fn one_testbed_file_drives_onboard_seed_check_show_reset_and_kafka() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = real();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("testbed.toml");
    std::fs::write(
        &file,
        format!(
            "currency = \"XXX\"\nndc = 2000000\nfunds = 3000000\nmsisdns = 5000\n\
             [hub]\nadmin = \"{}\"\nledger_db = \"{}\"\noracle_db = \"{}\"\nkafka = \"{}\"\n\
             [[dfsp]]\nid = \"perffsp51\"\ncallback = \"http://127.0.0.1:9/a\"\n\
             [[dfsp]]\nid = \"perffsp52\"\ncallback = \"http://127.0.0.1:9/b\"\nmsisdns = 7000\n",
            r.admin, r.ledger_db, r.oracle_db, r.kafka
        ),
    )
    .unwrap();
    let t = file.to_str().unwrap();
    ok(&["onboard", "--testbed", t]);
    assert!(ok(&["onboard", "--testbed", t]).contains("nothing to change"));
    let seeded = ok(&["msisdn", "seed", "--testbed", t]);
    assert!(seeded.contains("perffsp51: 5000 numbers"), "{seeded}");
    assert!(
        seeded.contains("perffsp52: 7000 numbers (254752000000 … 254752006999)"),
        "{seeded}"
    );
    let check = ok(&["msisdn", "check", "--testbed", t, "--fsp", "perffsp52"]);
    assert!(
        check.contains("perffsp52: ok: 100/100") && !check.contains("perffsp51"),
        "{check}"
    );
    // The positions come from the database (the file names one), the targets from the file.
    let shown = json_lines(&ok(&["positions", "show", "--testbed", t, "--json"]));
    assert_eq!(shown.len(), 2);
    assert!(
        shown
            .iter()
            .all(|p| p["ndc"] == "2000000" && p["settlement"] == "-3000000"),
        "{shown:?}"
    );
    let reset = ok(&["positions", "reset", "--testbed", t, "--dry-run"]);
    assert!(reset.contains("nothing to change: 2 FSPs"), "{reset}");
    ok(&["kafka", "lag", "--testbed", t]);
    // A file with a mistake is refused with the place and the fix.
    std::fs::write(
        &file,
        "currency = \"XXX\"\n[[dfsp]]\nid = \"perffsp51\"\ncallbak = \"x\"\n",
    )
    .unwrap();
    let o = perfbed()
        .args(["positions", "show", "--testbed", t])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("unknown field `callbak`"), "{}", text(&o));
}

/// The hub emulator, a payee simulator and a testbed file whose hub.kafka is the real broker:
/// what the Kafka-evidence tests run the load through.
struct EvidenceBed {
    hub_p: std::process::Child,
    payee_p: std::process::Child,
    hub: String,
    port: u16,
    dir: tempfile::TempDir,
}

impl EvidenceBed {
    fn new(r: &Real) -> EvidenceBed {
        let spawn = |args: &[&str], banner: &str| -> (std::process::Child, String) {
            use std::io::BufRead;
            let mut child = perfbed()
                .args(args)
                .stderr(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap();
            let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
            let line = lines
                .find(|l| l.as_ref().is_ok_and(|l| l.starts_with(banner)))
                .unwrap()
                .unwrap();
            std::thread::spawn(move || lines.for_each(drop));
            (
                child,
                line[banner.len()..]
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .to_owned(),
            )
        };
        let (hub_p, hub) = spawn(
            &["hub", "--listen", "127.0.0.1:0"],
            "hub emulator listening on ",
        );
        let (payee_p, payee) = spawn(
            &[
                "sim",
                "--fsp",
                "perffsp5",
                "--hub",
                &hub,
                "--listen",
                "127.0.0.1:0",
                "--no-jws",
            ],
            "perffsp listening on http://",
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("testbed.toml"),
            format!(
                "msisdns = 20\n[hub]\nadmin = \"{hub}/admin\"\noracle = \"{hub}/oracle\"\nkafka = \"{}\"\n\
                 [[dfsp]]\nid = \"perffsp1\"\ncallback = \"http://127.0.0.1:{port}\"\n[[dfsp]]\nid = \"perffsp5\"\ncallback = \"http://{payee}\"\n",
                r.kafka
            ),
        )
        .unwrap();
        let bed = EvidenceBed {
            hub_p,
            payee_p,
            hub,
            port,
            dir,
        };
        let t = bed.testbed();
        ok(&["onboard", "--testbed", &t]);
        ok(&[
            "msisdn",
            "seed",
            "--testbed",
            &t,
            "--via",
            "oracle",
            "--fsp",
            "perffsp5",
        ]);
        bed
    }

    fn testbed(&self) -> String {
        self.dir
            .path()
            .join("testbed.toml")
            .to_str()
            .unwrap()
            .to_owned()
    }

    /// Starts `perfbed run` of a p2p scenario with this warm-up and one stage this long
    /// (warm-up and the 1 s cool-down included); returns the child and its stderr lines.
    fn run(
        &self,
        name: &str,
        run_id: &str,
        warmup: &str,
        duration: &str,
    ) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
        use std::io::BufRead;
        let scenario = self.dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &scenario,
            format!(
                "name = \"{name}\"\nflow = \"p2p\"\nmsisdns_per_fsp = 20\nwarmup = \"{warmup}\"\ncooldown = \"1s\"\n\
                 stages = [{{ rate = 10, duration = \"{duration}\" }}]\ncorridors = [{{ payer = \"perffsp1\", payee = \"perffsp5\", weight = 1 }}]\n"
            ),
        )
        .unwrap();
        let out = self.dir.path().join(name);
        let mut run = perfbed()
            .arg("run")
            .arg(&scenario)
            .args([
                "--hub",
                &self.hub,
                "--listen",
                &format!("127.0.0.1:{}", self.port),
                "--no-jws",
                "--run-id",
                run_id,
                "--testbed",
                &self.testbed(),
                "--out",
            ])
            .arg(&out)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let lines = std::io::BufReader::new(run.stderr.take().unwrap()).lines();
        std::thread::spawn(move || {
            for l in lines.map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        (run, rx)
    }

    /// Waits for the run to end; returns its stdout and report.json.
    fn finish(&self, name: &str, run: std::process::Child) -> (String, Value) {
        let out = run.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{stdout}");
        let report_dir = std::fs::read_dir(self.dir.path().join(name))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.join("report.json").exists())
            .unwrap();
        let rep: Value =
            serde_json::from_slice(&std::fs::read(report_dir.join("report.json")).unwrap())
                .unwrap();
        // The HTML report shows the same evidence.
        let html = std::fs::read_to_string(report_dir.join("report.html")).unwrap_or_default();
        (format!("{stdout}\n<!-- report.html -->\n{html}"), rep)
    }
}

impl Drop for EvidenceBed {
    fn drop(&mut self) {
        let _ = (self.hub_p.kill(), self.payee_p.kill());
        let _ = (self.hub_p.wait(), self.payee_p.wait());
    }
}

/// Waits for the run's first progress line (its load has started, so its watch has taken the
/// Kafka offsets it counts from).
fn load_started(lines: &std::sync::mpsc::Receiver<String>) -> Instant {
    let mut seen = Vec::new();
    loop {
        let l = lines
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("the run printed no progress line ({e}): {seen:?}"));
        seen.push(l.clone());
        if l.starts_with('[') {
            return Instant::now();
        }
    }
}

/// A prepare of 1, then (once the ledger reserved it) its fulfil, then waits until the payee's
/// position shows it: one transfer through the real ledger's handlers.
fn through_the_ledger(r: &Real, t: &Transfer) {
    let both = format!("{},{}", t.payer, t.payee);
    let at = |fsp: &str| -> f64 {
        show(r, &both, false)
            .iter()
            .find(|p| p["fsp"] == fsp)
            .and_then(|p| p["position"].as_str()?.parse().ok())
            .unwrap()
    };
    let (payer_at, payee_at) = (at(&t.payer), at(&t.payee));
    let is = |p: &Value, want: f64| {
        p["position"]
            .as_str()
            .and_then(|s| s.parse::<f64>().ok())
            .is_some_and(|v| (v - want).abs() < 1e-9)
    };
    produce(r, "topic-transfer-prepare", &t.id, &t.prepare("1"));
    wait_positions(r, &both, &|p| {
        p["fsp"] != t.payer.as_str() || is(p, payer_at + 1.0)
    });
    produce(r, "topic-transfer-fulfil", &t.id, &t.fulfil());
    wait_positions(r, &both, &|p| {
        p["fsp"] != t.payee.as_str() || is(p, payee_at - 1.0)
    });
}

#[test]
fn a_run_with_a_testbed_reports_kafka_counts_and_positions_before_and_after() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = real();
    // Load through the hub emulator; Kafka evidence from the real broker, where the real
    // ledger's topics carry transfers of this run (ids with its prefix, as the run's own would
    // be) and foreign ones, during warm-up and after. The gate counts the run's messages only,
    // by transfer: a warm-up prepare's fulfil after the warm-up counts with its prepare.
    let (a, b) = pair("ev");
    let (c, d) = pair("fo");
    onboard(&r, &[&a, &b, &c, &d], &[]);
    let bed = EvidenceBed::new(&r);
    let run_id = format!("kafka-ev-{}", uuid());
    let prefix = load::RunId::new(&run_id).unwrap().prefix();
    let snapshot = bed.dir.path().join("before.json");
    ok(&[
        "kafka",
        "snapshot",
        "--brokers",
        &r.kafka,
        "-o",
        snapshot.to_str().unwrap(),
    ]);
    let (run, lines) = bed.run("ev", &run_id, "10s", "16s");
    let started = load_started(&lines);
    // During the warm-up: the run's first prepare (its fulfil comes after the warm-up), and a
    // foreign transfer, prepared and fulfilled.
    let r1 = Transfer::tagged(&prefix, &a, &b);
    let both = format!("{a},{b}");
    produce(&r, "topic-transfer-prepare", &r1.id, &r1.prepare("1"));
    wait_positions(&r, &both, &|p| {
        p["fsp"] != a.as_str() || p["position"] == "1"
    });
    through_the_ledger(&r, &Transfer::new(&c, &d));
    // The first progress line comes a second into the load: 9 s of warm-up are left.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "the warm-up part took too long to stay inside the 10 s warm-up: {:?}",
        started.elapsed()
    );
    std::thread::sleep(Duration::from_secs(9).saturating_sub(started.elapsed()));
    // After the warm-up: the first one's fulfil, a second transfer of the run, and two
    // foreign prepares the payee rejects (on the fulfil topic, as ml-api-adapter puts a
    // PUT /transfers/{id}/error).
    produce(&r, "topic-transfer-fulfil", &r1.id, &r1.fulfil());
    wait_positions(&r, &both, &|p| {
        p["fsp"] != b.as_str() || p["position"] == "-1"
    });
    through_the_ledger(&r, &Transfer::tagged(&prefix, &a, &b));
    let foreign_tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    for _ in 0..2 {
        let f = Transfer::tagged(&foreign_tag, &c, &d);
        produce(&r, "topic-transfer-prepare", &f.id, &f.prepare("1"));
        wait_states(&r, &foreign_tag, Duration::from_secs(60), &|s| {
            s.count("RESERVED") == 1
        });
        produce(&r, "topic-transfer-fulfil", &f.id, &f.abort("5105"));
        wait_states(&r, &foreign_tag, Duration::from_secs(60), &|s| {
            s.count("RESERVED") == 0
        });
    }
    let (stdout, rep) = bed.finish("ev", run);
    assert!(stdout.contains("## Switch-side evidence"), "{stdout}");
    // The report with its evidence by transfer is what the schema describes.
    let schema: Value = serde_json::from_slice(
        &std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/report.schema.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let errors: Vec<String> = jsonschema::draft7::new(&schema)
        .unwrap()
        .iter_errors(&rep)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let sw = &rep["switch"];
    let k = &sw["kafka"];
    // Exactly the run's: two prepares, two fulfils, and what the ledger made of them.
    assert_eq!(k["by_transfer"]["prefix"], prefix.as_str(), "{sw}");
    assert_eq!(k["counts"]["topic-transfer-prepare"], 2, "{sw}");
    assert_eq!(k["counts"]["topic-transfer-fulfil"], 2, "{sw}");
    assert_eq!(k["counts"]["topic-notification-event"], 4, "{sw}");
    let ratio = |name: &str| {
        k["ratios"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x[0] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(ratio("fulfil/prepare")[1], 1.0, "{sw}");
    assert_eq!(ratio("notification/prepare")[1], 2.0, "{sw}");
    assert_eq!(k["pass"], true, "{sw}");
    assert_eq!(k["by_transfer"]["complete"], true, "{sw}");
    // Read: the foreign messages too (three foreign prepares, three foreign fulfils or aborts).
    assert!(
        k["by_transfer"]["read"]["topic-transfer-prepare"]
            .as_u64()
            .unwrap()
            >= 5,
        "{sw}"
    );
    assert!(
        k["by_transfer"]["read"]["topic-transfer-fulfil"]
            .as_u64()
            .unwrap()
            >= 5,
        "{sw}"
    );
    assert!(
        stdout.contains(&format!(
            "of them this run's (transfer ids starting {prefix})"
        )),
        "{stdout}"
    );
    let html = stdout.split("<!-- report.html -->").nth(1).unwrap();
    assert!(
        html.contains("gate PASS") && html.contains("messages read") && html.contains("this run"),
        "{html}"
    );
    // `kafka gate --prefix` by hand counts the same, by transfer.
    let by_hand: Value = serde_json::from_str(&ok(&[
        "kafka",
        "gate",
        "--brokers",
        &r.kafka,
        "--since",
        snapshot.to_str().unwrap(),
        "--prefix",
        &prefix,
        "--json",
    ]))
    .unwrap();
    assert_eq!(by_hand["counts"], k["counts"], "{by_hand}");
    assert_eq!(by_hand["pass"], true, "{by_hand}");
    // The "after" side was read once the ledger's consumers had nothing left (an idle test
    // group of another test keeps its lag: the wait ends when nobody commits any more).
    assert!(
        sw["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().starts_with("read after the switch")),
        "{sw}"
    );
    let payer = sw["positions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["fsp"] == "perffsp1")
        .unwrap();
    let moved: f64 = payer["after"][0].as_str().unwrap().parse().unwrap();
    assert_eq!(payer["before"][0], "0", "{payer}");
    assert!(
        moved > 0.0,
        "the run's transfers moved the payer's position: {payer}"
    );

    // A run none of whose transfers reach the topics (while foreign traffic goes on): the gate
    // is not judged, and says so; it is no FAIL of the switch.
    let quiet_id = format!("kafka-none-{}", uuid());
    let (run, lines) = bed.run("none", &quiet_id, "1s", "4s");
    load_started(&lines);
    through_the_ledger(&r, &Transfer::new(&c, &d));
    let (stdout, rep) = bed.finish("none", run);
    let k = &rep["switch"]["kafka"];
    assert_eq!(
        k["counts"]["topic-transfer-prepare"].as_u64().unwrap_or(0),
        0,
        "{k}"
    );
    assert!(
        k["by_transfer"]["read"]["topic-transfer-prepare"]
            .as_u64()
            .unwrap()
            >= 1,
        "{k}"
    );
    assert!(stdout.contains("gate **not judged**"), "{stdout}");
    assert!(
        stdout.contains("not judged: none of this run's prepares on topic-transfer-prepare"),
        "{stdout}"
    );
    let md = stdout.split("<!-- report.html -->").next().unwrap();
    assert!(!md.contains("FAIL"), "{md}");
    let html = stdout.split("<!-- report.html -->").nth(1).unwrap();
    assert!(html.contains("gate not judged"), "{html}");
}

/// Issue 25, item 1: a lagging real ledger. Its handlers are paused (SIGSTOP) while the run's
/// last prepares reach the topic and for 12 s after the run (longer than any "nobody commits"
/// rule would wait), then resumed (SIGCONT): the evidence must be read only once the ledger
/// has consumed them (Kafka lag 0 on the transfer topics), say so and how long it waited, and
/// count the notifications the ledger made of them after it resumed.
#[test]
fn the_evidence_is_read_after_a_paused_ledger_drained() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = real();
    let pid_file = std::env::var("PERFBED_REALHUB_HANDLERS_PID").unwrap_or_else(|_| {
        panic!("PERFBED_REALHUB_HANDLERS_PID is not set: export $(scripts/realhub env)")
    });
    let pid = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .to_owned();
    let signal = |sig: &str| {
        let ok = Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} {pid}");
    };
    let (a, b) = pair("lg");
    onboard(&r, &[&a, &b], &[]);
    let bed = EvidenceBed::new(&r);
    let run_id = format!("kafka-lag-{}", uuid());
    let prefix = load::RunId::new(&run_id).unwrap().prefix();
    let (run, lines) = bed.run("lag", &run_id, "1s", "6s");
    let started = load_started(&lines);
    // One transfer of the run through the ledger while it keeps up (its consumer groups move).
    through_the_ledger(&r, &Transfer::tagged(&prefix, &a, &b));
    // The ledger stops; three more prepares of the run queue in front of it.
    signal("-STOP");
    let stopped = Instant::now();
    let queued: Vec<Transfer> = (0..3).map(|_| Transfer::tagged(&prefix, &a, &b)).collect();
    for t in &queued {
        produce(&r, "topic-transfer-prepare", &t.id, &t.prepare("1"));
    }
    // The load ends 6 s after it started (warm-up and cool-down included; `started` is a
    // second in): the ledger stays stopped 13 s or more beyond that.
    let resume_at = started + Duration::from_secs(6 + 12);
    std::thread::sleep(resume_at.saturating_duration_since(Instant::now()));
    signal("-CONT");
    let paused = stopped.elapsed();
    let (stdout, rep) = bed.finish("lag", run);
    let sw = &rep["switch"];
    let k = &sw["kafka"];
    assert_eq!(k["counts"]["topic-transfer-prepare"], 4, "{sw}");
    // Each prepare the ledger took made one notification: those of the three it took after it
    // resumed are counted, so the counts were read after it drained.
    assert_eq!(k["counts"]["topic-notification-event"], 5, "{sw}");
    let note = sw["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .find(|n| {
            n.starts_with(
                "read after the switch drained: Kafka consumer lag 0 on the transfer topics",
            )
        })
        .unwrap_or_else(|| panic!("no drain note: {sw}"));
    let waited: f64 = note
        .split(") ")
        .nth(1)
        .and_then(|x| x.split(" s after the run").next())
        .and_then(|x| x.trim().parse().ok())
        .unwrap_or_else(|| panic!("no wait in {note:?}"));
    assert!(
        waited >= 10.0,
        "the ledger was paused {paused:?}, 12 s past the run's end, yet the drain took {waited} s: {note}\n{stdout}"
    );
    assert!(note.contains("groups "), "{note}");
    // Nothing of this test is left in flight for the other tests' SQL resets.
    for t in &queued {
        produce(&r, "topic-transfer-fulfil", &t.id, &t.abort("5105"));
    }
    wait_states(&r, &prefix, Duration::from_secs(60), &|s| {
        s.count("RESERVED") == 0 && s.count("RECEIVED_PREPARE") == 0
    });
}

/// Polls the ledger's counts for a run tag until `done` holds.
fn wait_states(
    r: &Real,
    tag: &str,
    patience: Duration,
    done: &dyn Fn(&ops::crosscheck::LedgerStates) -> bool,
) -> ops::crosscheck::LedgerStates {
    let started = Instant::now();
    loop {
        let now = runtime()
            .block_on(ops::crosscheck::ledger_states_sql(&r.ledger_db, tag))
            .unwrap();
        if done(&now) {
            return now;
        }
        assert!(
            started.elapsed() < patience,
            "the ledger never got there: {now:?}\n(handlers log: ~/.cache/perfbed/realhub/handlers.log)"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn the_ledger_database_counts_a_runs_transfers_by_their_latest_state() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = real();
    let (a, b) = pair("rt");
    onboard(&r, &[&a, &b], &["--ndc", "1000", "--funds", "1000000"]);
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let states = |v: &[(&str, u64)]| -> std::collections::BTreeMap<String, u64> {
        v.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
    };
    let from = time::OffsetDateTime::now_utc();

    // Seven prepares under one run tag: three to commit, one the payee rejects, one left
    // reserved until it expires, one over the NDC (1000), one already expired.
    let commit: Vec<Transfer> = (0..3).map(|_| Transfer::tagged(&tag, &a, &b)).collect();
    let reject = Transfer::tagged(&tag, &a, &b);
    let reserve = Transfer::tagged(&tag, &a, &b);
    let over_ndc = Transfer::tagged(&tag, &a, &b);
    let invalid = Transfer::tagged(&tag, &a, &b);
    for t in commit.iter().chain([&reject]) {
        produce(&r, "topic-transfer-prepare", &t.id, &t.prepare("10"));
    }
    let expiry = time::OffsetDateTime::now_utc() + time::Duration::seconds(40);
    produce(
        &r,
        "topic-transfer-prepare",
        &reserve.id,
        &reserve.prepare_until("10", expiry),
    );
    produce(
        &r,
        "topic-transfer-prepare",
        &over_ndc.id,
        &over_ndc.prepare("5000"),
    );
    let past = time::OffsetDateTime::now_utc() - time::Duration::seconds(5);
    produce(
        &r,
        "topic-transfer-prepare",
        &invalid.id,
        &invalid.prepare_until("10", past),
    );
    let prepared = states(&[("RESERVED", 5), ("ABORTED_REJECTED", 1), ("INVALID", 1)]);
    wait_states(&r, &tag, Duration::from_secs(60), &|s| {
        s.by_state == prepared
    });

    // Fulfils and the rejection, only once their prepares are through.
    for t in &commit {
        produce(&r, "topic-transfer-fulfil", &t.id, &t.fulfil());
    }
    produce(
        &r,
        "topic-transfer-fulfil",
        &reject.id,
        &reject.abort("5105"),
    );
    let finished = states(&[
        ("COMMITTED", 3),
        ("ABORTED_ERROR", 1),
        ("RESERVED", 1),
        ("ABORTED_REJECTED", 1),
        ("INVALID", 1),
    ]);
    let got = wait_states(&r, &tag, Duration::from_secs(60), &|s| {
        s.count("RECEIVED_FULFIL") + s.count("RECEIVED_ERROR") == 0 && s.count("RESERVED") <= 1
    });
    assert_eq!(got.by_state, finished, "{got:?}");
    assert_eq!((got.total, got.committed()), (7, 3));
    assert_eq!(got.source, ops::crosscheck::SOURCE_SQL);
    assert_eq!(got.prefix, tag);
    let to = time::OffsetDateTime::now_utc();

    // Another tag, even one differing in the last character only, has none of them.
    let last = if tag.ends_with('0') { "1" } else { "0" };
    let near = format!("{}{last}", &tag[..7]);
    let other = runtime()
        .block_on(ops::crosscheck::ledger_states_sql(&r.ledger_db, &near))
        .unwrap();
    assert_eq!((other.total, other.by_state.len()), (0, 0), "{other:?}");

    // The window around the run holds them all (and whatever else ran then); one in the
    // past holds nothing, and a window that ends before it starts is refused.
    let window = runtime()
        .block_on(ops::crosscheck::ledger_window_sql(&r.ledger_db, from, to))
        .unwrap();
    assert_eq!(window.prefix, ops::crosscheck::WINDOW);
    for (state, n) in &finished {
        assert!(window.count(state) >= *n, "{state}: {window:?}");
    }
    let long_ago = time::macros::datetime!(2000-01-01 0:00 UTC);
    let empty = runtime()
        .block_on(ops::crosscheck::ledger_window_sql(
            &r.ledger_db,
            long_ago,
            long_ago + time::Duration::hours(1),
        ))
        .unwrap();
    assert_eq!(empty.total, 0, "{empty:?}");
    assert!(runtime()
        .block_on(ops::crosscheck::ledger_window_sql(&r.ledger_db, to, from))
        .is_err());

    // The real central-ledger has no emulator route: None, not an error.
    let admin = ops::Admin::plain(&r.admin);
    assert_eq!(
        runtime()
            .block_on(ops::crosscheck::emulator_states(&admin, &tag))
            .unwrap(),
        None
    );

    // The reserved one expires (timeout handler, every 15 s) and is counted so; nothing of this
    // test is left in flight for the other tests' SQL resets.
    let expired = wait_states(&r, &tag, Duration::from_secs(120), &|s| {
        s.count("EXPIRED_RESERVED") == 1
    });
    assert_eq!(
        expired.by_state,
        states(&[
            ("COMMITTED", 3),
            ("ABORTED_ERROR", 1),
            ("EXPIRED_RESERVED", 1),
            ("ABORTED_REJECTED", 1),
            ("INVALID", 1),
        ])
    );
    assert_eq!(
        expired.by_enumeration(),
        states(&[("ABORTED", 4), ("COMMITTED", 3)])
    );

    // Id by id (issue 23, item 3): keyset pages of 3 list exactly these seven ids, in id
    // order, each with its latest state.
    let mut want: Vec<(String, String)> = commit
        .iter()
        .map(|t| (t.id.clone(), "COMMITTED".to_owned()))
        .chain([
            (reject.id.clone(), "ABORTED_ERROR".to_owned()),
            (reserve.id.clone(), "EXPIRED_RESERVED".to_owned()),
            (over_ndc.id.clone(), "ABORTED_REJECTED".to_owned()),
            (invalid.id.clone(), "INVALID".to_owned()),
        ])
        .collect();
    want.sort();
    let mut listed = Vec::new();
    let n = runtime()
        .block_on(ops::crosscheck::each_transfer_sql(
            &r.ledger_db,
            &tag,
            3,
            |id, state| listed.push((id.to_owned(), state.to_owned())),
        ))
        .unwrap();
    assert_eq!((n, &listed), (7, &want));
    let page = runtime()
        .block_on(async {
            let pool = ops::positions::connect(&r.ledger_db).await.unwrap();
            let p = ops::crosscheck::transfer_ids_on(&pool, &tag, Some(&want[2].0), 3).await;
            pool.close().await;
            p
        })
        .unwrap();
    assert_eq!(
        page.transfers,
        want[3..6].to_vec(),
        "the page after the third id"
    );
    assert_eq!(page.next.as_deref(), Some(want[5].0.as_str()));
    let mut near_ids = 0;
    runtime()
        .block_on(ops::crosscheck::each_transfer_sql(
            &r.ledger_db,
            &near,
            3,
            |_, _| near_ids += 1,
        ))
        .unwrap();
    assert_eq!(near_ids, 0, "another tag lists none of them");
    assert_eq!(
        runtime()
            .block_on(ops::crosscheck::emulator_transfer_ids(
                &admin, &tag, None, 10
            ))
            .unwrap(),
        None,
        "the real central-ledger has no emulator route"
    );
}

#[test]
fn the_real_ledger_s_own_legs_count_what_the_run_caused_scraped_and_through_prometheus() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = real();
    let dir = tempfile::tempdir().unwrap();
    let target = r
        .metrics
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let (mut prom_p, prom) = common::prometheus(&target, dir.path());
    // Its first sample must predate the window: a series it never saw before counts from
    // zero, which would take in what earlier tests did on this ledger.
    common::wait_scraped(&prom);
    let (a, b) = pair("lg");
    onboard(&r, &[&a, &b], &[]);
    let spawn = |args: &[&str], banner: &str| -> (std::process::Child, String) {
        use std::io::BufRead;
        let mut child = perfbed()
            .args(args)
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let line = lines
            .find(|l| l.as_ref().is_ok_and(|l| l.starts_with(banner)))
            .unwrap()
            .unwrap();
        std::thread::spawn(move || lines.for_each(drop));
        (
            child,
            line[banner.len()..]
                .split_whitespace()
                .next()
                .unwrap()
                .to_owned(),
        )
    };
    // The driver's load goes through the hub emulator; the real ledger's legs are what this
    // test puts on its Kafka topics inside the window.
    let (mut hub_p, hub) = spawn(
        &["hub", "--listen", "127.0.0.1:0"],
        "hub emulator listening on ",
    );
    let (mut payee_p, payee) = spawn(
        &[
            "sim",
            "--fsp",
            "perffsp5",
            "--hub",
            &hub,
            "--listen",
            "127.0.0.1:0",
            "--no-jws",
        ],
        "perffsp listening on http://",
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tb = dir.path().join("testbed.toml");
    std::fs::write(
        &tb,
        format!(
            "[hub]\nadmin = \"{hub}/admin\"\noracle = \"{hub}/oracle\"\n\
             [[dfsp]]\nid = \"perffsp1\"\ncallback = \"http://127.0.0.1:{port}\"\n[[dfsp]]\nid = \"perffsp5\"\ncallback = \"http://{payee}\"\n\
             [switch_metrics]\ninterval = \"1s\"\nprometheus = \"{prom}\"\nextra = [\"moja_cl_domain_position\"]\n\
             [[switch_metrics.endpoint]]\nservice = \"central-ledger\"\nurl = \"{}\"\n",
            r.metrics
        ),
    )
    .unwrap();
    let t = tb.to_str().unwrap();
    ok(&["onboard", "--testbed", t]);
    let scenario = dir.path().join("legs.toml");
    std::fs::write(
        &scenario,
        "name = \"legs\"\nflow = \"transfer\"\nwarmup = \"1s\"\ncooldown = \"1s\"\n\
         stages = [{ rate = 2, duration = \"12s\" }]\ncorridors = [{ payer = \"perffsp1\", payee = \"perffsp5\", weight = 1 }]\n\
         [switch_metrics]\nrequired = true\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let run = perfbed()
        .arg("run")
        .arg(&scenario)
        .args([
            "--hub",
            &hub,
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--no-jws",
            "--quiet",
            "--testbed",
            t,
            "--out",
        ])
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Inside the window (1 s … 11 s after the load starts): K transfers, each prepared,
    // reserved, then fulfilled, each step seen in the positions before the next.
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(2500));
    const K: u64 = 2;
    let both = format!("{a},{b}");
    for k in 1..=K {
        let tr = Transfer::new(&a, &b);
        produce(&r, "topic-transfer-prepare", &tr.id, &tr.prepare("1"));
        let want = k.to_string();
        wait_positions(&r, &both, &|p| {
            p["fsp"] != a.as_str() || p["position"] == want.as_str()
        });
        produce(&r, "topic-transfer-fulfil", &tr.id, &tr.fulfil());
        let neg = format!("-{k}");
        wait_positions(&r, &both, &|p| {
            p["fsp"] != b.as_str() || p["position"] == neg.as_str()
        });
    }
    let caused_by = started.elapsed();
    let run = run.wait_with_output().unwrap();
    let _ = (hub_p.kill(), payee_p.kill(), hub_p.wait(), payee_p.wait());
    let _ = (prom_p.kill(), prom_p.wait());
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}");
    // Well inside the window (a second of margin before its end), or the counts below may
    // miss the last fulfil for a reason that is not perfbed's.
    assert!(
        caused_by < Duration::from_secs(10),
        "the transfers took {caused_by:?}"
    );
    let res = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join("report.json").exists())
        .unwrap();
    let rep: Value =
        serde_json::from_slice(&std::fs::read(res.join("report.json")).unwrap()).unwrap();
    // PERFBED_REALHUB_KEEP=DIR keeps the result folder (docs' screenshot comes from it).
    if let Ok(keep) = std::env::var("PERFBED_REALHUB_KEEP") {
        let _ = std::fs::create_dir_all(&keep);
        for f in std::fs::read_dir(&res).unwrap().flatten() {
            if f.path().is_file() {
                std::fs::copy(f.path(), std::path::Path::new(&keep).join(f.file_name())).unwrap();
            }
        }
    }
    let sm = &rep["switch_metrics"];
    assert_eq!(sm["complete"], true, "{sm}");
    let legs = sm["legs"].as_array().unwrap();
    let find = |name: &str, kind: &str| {
        let url = if kind == "scrape" {
            r.metrics.as_str()
        } else {
            prom.as_str()
        };
        legs.iter()
            .find(|l| l["name"] == name && l["source"] == url)
            .unwrap_or_else(|| panic!("{name} from {kind} in {sm}"))
            .clone()
    };
    // What the run caused: K prepares, K fulfils, and a position change for each of both.
    let start =
        std::fs::read_to_string(res.join("switch-metrics/central-ledger-start.txt")).unwrap();
    let end = std::fs::read_to_string(res.join("switch-metrics/central-ledger-end.txt")).unwrap();
    for (name, caused) in [
        ("moja_cl_transfer_prepare", K),
        ("moja_cl_transfer_fulfil", K),
        ("moja_cl_transfer_position", 2 * K),
    ] {
        let scraped = find(name, "scrape");
        assert_eq!(scraped["count"], caused, "{scraped}");
        assert_eq!(scraped["success"]["true"], caused, "{scraped}");
        // The percentiles, recomputed from the raw text of the scrapes with this test's parse.
        common::RawLeg::between(&start, &end, name).check(&scraped);
        assert_eq!(
            scraped["bucket_edges_ms"],
            json!([10.0, 50.0, 100.0, 500.0, 1000.0, 2000.0, 5000.0]),
            "{scraped}"
        );
        // Prometheus saw the same: its samples around the window's ends bracket the same
        // quiet seconds, so within bucket resolution is here the same bucket.
        let p = find(name, "prometheus");
        for k in [
            "count",
            "success",
            "p50_ms",
            "p95_ms",
            "p99_ms",
            "bucket_edges_ms",
        ] {
            assert_eq!(p[k], scraped[k], "{k}: prometheus {p} vs scrape {scraped}");
        }
    }
    // A histogram beyond the known legs, named in the testbed file, read the same way.
    let extra = find("moja_cl_domain_position", "scrape");
    assert_eq!(extra["verified"], "extra", "{extra}");
    assert!(extra["count"].as_u64().unwrap() >= 2 * K, "{extra}");
    common::RawLeg::between(&start, &end, "moja_cl_domain_position").check(&extra);
    assert_eq!(
        find("moja_cl_domain_position", "prometheus")["count"],
        extra["count"]
    );
    // Every known central-ledger leg exists on the running ledger (the curated table's
    // "running" entries hold).
    for k in ops::switch_metrics::KNOWN_LEGS
        .iter()
        .filter(|k| k.service == "central-ledger")
    {
        assert_eq!(
            k.verified,
            ops::switch_metrics::Verified::Running,
            "{}",
            k.metric
        );
        assert!(
            end.contains(&format!("# TYPE {} histogram", k.metric)),
            "{} not on the running ledger's /metrics",
            k.metric
        );
    }
    let srcs = sm["sources"].as_array().unwrap();
    let prom_src = srcs.iter().find(|s| s["kind"] == "prometheus").unwrap();
    assert!(
        prom_src["start_s"].as_f64().is_some() && prom_src["end_s"].as_f64().is_some(),
        "{prom_src}"
    );
    let md = std::fs::read_to_string(res.join("report.md")).unwrap();
    assert!(
        md.contains("moja_cl_transfer_position") && md.contains("## The switch's own view"),
        "{md}"
    );
}
