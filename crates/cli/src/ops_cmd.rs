//! `perfbed onboard`, `msisdn`, `positions` and `kafka`: the ops library from the command line.
//! Every command reads the same testbed file (`--testbed`, see `ops::testbed`); flags override it.

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, ValueEnum};
use ops::{msisdn, positions, Money, Testbed};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The testbed file and the FSP selection, shared by the ops commands.
#[derive(Debug, Args)]
pub(crate) struct TestbedArgs {
    /// Testbed file (TOML): FSPs, currency, NDC, funds, numbers, hub addresses. Flags override it.
    #[arg(long, short = 't', value_name = "FILE", env = "PERFBED_TESTBED")]
    testbed: Option<PathBuf>,
    /// Only these FSPs (repeatable or comma-separated; default: every FSP of the testbed).
    #[arg(long = "fsp", value_name = "ID", value_delimiter = ',')]
    fsps: Vec<String>,
    /// Currency (default: the testbed's, else XXX).
    #[arg(long)]
    currency: Option<String>,
}

impl TestbedArgs {
    fn load(&self) -> Result<Testbed> {
        let mut t = testbed_or_default(self.testbed.as_deref())?;
        if let Some(c) = &self.currency {
            t.currency = c.clone();
        }
        for f in &self.fsps {
            if !t.dfsps.iter().any(|d| &d.id == f) {
                t.dfsps.push(ops::testbed::TestbedDfsp {
                    id: f.clone(),
                    callback: None,
                    msisdns: None,
                });
            }
        }
        if !self.fsps.is_empty() {
            t.dfsps.retain(|d| self.fsps.contains(&d.id));
        }
        t.validate().map_err(|e| anyhow!(e))?;
        Ok(t)
    }
}

/// The testbed file, or the defaults when none is given.
fn testbed_or_default(path: Option<&std::path::Path>) -> Result<Testbed> {
    match path {
        Some(p) => Testbed::load(p).map_err(|e| anyhow!(e)),
        None => Ok(Testbed::default()),
    }
}

fn need(what: Option<String>, flag: &str, key: &str) -> Result<String> {
    what.ok_or_else(|| anyhow!("no {flag} given and the testbed file has no hub.{key}"))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().context("cannot start the async runtime")
}

fn no_fsps(t: &Testbed) -> Result<()> {
    if t.dfsps.is_empty() {
        bail!("no FSPs: list them with --fsp or as [[dfsp]] in the testbed file");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// onboard

/// Onboard DFSPs into a hub's central-ledger (idempotent; a second run changes nothing).
///
/// In order (reference §7.1): hub accounts, settlement model, participants, initial position
/// and NDC, every callback endpoint a P2P flow needs (templates under the given base URL),
/// funds-in — polled until visible.
///
/// Examples:
///   perfbed onboard --testbed testbed.toml
///   perfbed onboard --admin http://central-ledger:3001 --dfsp perffsp1=http://sims:4001 --dfsp perffsp5=http://sims:4005
///   perfbed onboard --admin http://127.0.0.1:3000/admin --dfsp perffsp1=http://127.0.0.1:4001 --dry-run
#[derive(Debug, Args)]
pub(crate) struct OnboardArgs {
    #[command(flatten)]
    testbed: TestbedArgs,
    /// central-ledger admin API base URL (`…/admin` for the hub emulator).
    #[arg(long, value_name = "URL", env = "PERFBED_ADMIN")]
    admin: Option<String>,
    /// DFSP and its callback base URL, as ID=URL (repeatable; adds to the testbed's).
    #[arg(long = "dfsp", value_name = "ID=URL")]
    dfsps: Vec<String>,
    /// Net debit cap per DFSP (default: the testbed's, else 10000000).
    #[arg(long)]
    ndc: Option<u64>,
    /// Settlement funds per DFSP (default: the testbed's, else 100000000).
    #[arg(long)]
    funds: Option<u64>,
    /// Print the plan, change nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    tls: crate::tls_args::ClientTlsArgs,
}

pub(crate) fn onboard(args: OnboardArgs) -> Result<()> {
    let mut t = args.testbed.load()?;
    for d in &args.dfsps {
        let Some((name, url)) = d.split_once('=') else {
            bail!("--dfsp wants ID=URL, e.g. perffsp1=http://sims:4001 (got '{d}')");
        };
        t.dfsps.retain(|x| x.id != name);
        t.dfsps.push(ops::testbed::TestbedDfsp {
            id: name.to_owned(),
            callback: Some(url.trim_end_matches('/').to_owned()),
            msisdns: None,
        });
    }
    t.validate().map_err(|e| anyhow!(e))?;
    no_fsps(&t)?;
    let admin = need(args.admin.or(t.hub.admin.clone()), "--admin", "admin")?;
    let mut dfsps = Vec::new();
    for d in &t.dfsps {
        let Some(url) = &d.callback else {
            bail!(
                "{}: no callback URL (give --dfsp {}=URL or callback in the testbed file)",
                d.id,
                d.id
            );
        };
        dfsps.push(ops::Dfsp {
            name: d.id.clone(),
            callback_base: url.trim_end_matches('/').to_owned(),
        });
    }
    let plan = ops::Onboarding {
        currency: t.currency.clone(),
        ndc: args.ndc.unwrap_or(t.ndc),
        funds: args.funds.unwrap_or(t.funds),
        dfsps,
    };
    if args.dry_run {
        println!(
            "would onboard into {admin} ({}, NDC {}, funds {}):",
            plan.currency, plan.ndc, plan.funds
        );
        for d in &plan.dfsps {
            println!(
                "  {}: participant, initialPositionAndLimits, funds-in, endpoints:",
                d.name
            );
            for (t, v) in ops::endpoint_templates(&d.callback_base) {
                println!("    {t} = {v}");
            }
        }
        return Ok(());
    }
    let report = runtime()?
        .block_on(ops::onboard(&args.tls.admin(&admin)?, &plan))
        .context("onboarding failed")?;
    if report.changed.is_empty() {
        println!("nothing to change: already onboarded");
    } else {
        for c in &report.changed {
            println!("{c}");
        }
        println!(
            "onboarded {} DFSPs ({} changes)",
            plan.dfsps.len(),
            report.changed.len()
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// msisdn

/// Which way numbers go into (or are read from) the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Via {
    /// Straight into the oracle's `oracleMSISDN` table (--database): millions per minute.
    Sql,
    /// The oracle's REST API (--oracle), bulk.
    Oracle,
    /// The ALS FSPIOP API (--als), bulk, callbacks to --callback-listen.
    Als,
}

/// Where the directory is, for `msisdn seed` and `msisdn check`.
#[derive(Debug, Args)]
pub(crate) struct DirectoryArgs {
    #[command(flatten)]
    testbed: TestbedArgs,
    /// Path (default: sql when a database is known, else oracle, else als).
    #[arg(long, value_enum)]
    via: Option<Via>,
    /// MSISDN oracle database URL, e.g. mysql://root@127.0.0.1:3306/oracle_msisdn.
    #[arg(long, value_name = "URL", env = "PERFBED_ORACLE_DB")]
    database: Option<String>,
    /// Oracle REST API base URL (`…/oracle` for the hub emulator).
    #[arg(long, value_name = "URL")]
    oracle: Option<String>,
    /// ALS FSPIOP base URL (the emulator's FSPIOP address).
    #[arg(long, value_name = "URL")]
    als: Option<String>,
    /// Where the ALS path listens for its callbacks; the FSPs' PARTICIPANT_* endpoints must
    /// point here while seeding (onboard them with this as their callback base). Loopback by
    /// default: give an address the ALS can reach (e.g. 0.0.0.0:4099) when it runs elsewhere.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:4099")]
    callback_listen: std::net::SocketAddr,
    /// The API the ALS speaks (--via als): `iso20022` for a switch with API_TYPE=iso20022,
    /// which refuses the FSPIOP media types on every resource, participants included.
    #[arg(long, value_enum, env = "PERFBED_API", default_value = "fspiop")]
    api: crate::api_arg::ApiArg,
    /// JWS keys directory (--via als): each request is signed with the private key of the FSP
    /// it is sent as (`<fsp>.key`, as `perfbed sim --keys` signs), so an ALS that validates
    /// signatures (ml-api-adapter/ALS JWS_VALIDATE) takes it. Unsigned without it.
    #[arg(long, value_name = "DIR")]
    keys: Option<std::path::PathBuf>,
    #[command(flatten)]
    tls: crate::tls_args::ClientTlsArgs,
}

enum Directory {
    Sql(sqlx::MySqlPool),
    Oracle(ops::Admin),
    Als(msisdn::Als),
}

impl DirectoryArgs {
    async fn open(&self, t: &Testbed) -> Result<Directory> {
        let database = self.database.clone().or(t.hub.oracle_db.clone());
        let oracle = self.oracle.clone().or(t.hub.oracle.clone());
        let als = self.als.clone().or(t.hub.als.clone());
        let via = match self.via {
            Some(v) => v,
            None if database.is_some() => Via::Sql,
            None if oracle.is_some() => Via::Oracle,
            None if als.is_some() => Via::Als,
            None => bail!("where are the numbers? give --database (oracle DB), --oracle (REST) or --als (FSPIOP)"),
        };
        Ok(match via {
            Via::Sql => Directory::Sql(
                positions::connect(&need(database, "--database", "oracle_db")?).await?,
            ),
            Via::Oracle => Directory::Oracle(self.tls.admin(&need(oracle, "--oracle", "oracle")?)?),
            Via::Als => {
                let base = need(als, "--als", "als")?;
                let keys = match &self.keys {
                    Some(dir) => Some(Arc::new(perfbed_http::keys::load_dir(dir).with_context(
                        || format!("cannot load JWS keys from {}", dir.display()),
                    )?)),
                    None => None,
                };
                let (a, addr) = msisdn::Als::start(
                    &base,
                    self.tls.client()?,
                    self.callback_listen,
                    keys,
                    Duration::from_secs(30),
                    self.api.into(),
                )
                .await?;
                eprintln!("listening for ALS callbacks on {addr}");
                Directory::Als(a)
            }
        })
    }
}

/// Register perffsp MSISDN ranges (idempotent and resumable: re-run to finish an interrupted job).
///
/// The i-th number of perffspN is 2547 + N (2 digits) + i (6 digits); each FSP gets indexes
/// 0..count. Three paths: --via sql (INSERT IGNORE into the oracle's oracleMSISDN table, the
/// fast one for millions), --via oracle (REST bulk), --via als (FSPIOP bulk with callbacks).
///
/// Examples:
///   perfbed msisdn seed --testbed testbed.toml
///   perfbed msisdn seed --via sql --database mysql://root@127.0.0.1:3306/oracle_msisdn --fsp perffsp1,perffsp5 --count 1000000
///   perfbed msisdn seed --oracle http://127.0.0.1:3000/oracle --fsp perffsp5 --count 100000
#[derive(Debug, Args)]
pub(crate) struct SeedArgs {
    #[command(flatten)]
    dir: DirectoryArgs,
    /// Numbers per FSP (default: the testbed's `msisdns`, else 1000).
    #[arg(long)]
    count: Option<u32>,
    /// SQL chunks (10,000 rows each) written at once.
    #[arg(long, default_value_t = 4)]
    parallel: usize,
}

/// Prints progress on stderr until `done` reaches `total`: a live line on a terminal, a line
/// every 5 s otherwise.
fn progress(label: String, total: u64, done: Arc<AtomicU64>) -> tokio::task::JoinHandle<()> {
    use std::io::IsTerminal;
    let tty = std::io::stderr().is_terminal();
    tokio::spawn(async move {
        let started = Instant::now();
        let every = if tty {
            Duration::from_millis(200)
        } else {
            Duration::from_secs(5)
        };
        loop {
            tokio::time::sleep(every).await;
            let d = done.load(Ordering::Relaxed);
            let rate = d as f64 / started.elapsed().as_secs_f64().max(1e-3);
            let line = format!(
                "{label}: {d}/{total} ({:.0} %, {rate:.0}/s)",
                100.0 * d as f64 / total.max(1) as f64
            );
            if tty {
                eprint!("\r{line}   ");
            } else {
                eprintln!("{line}");
            }
        }
    })
}

pub(crate) fn seed(args: SeedArgs) -> Result<()> {
    let t = args.dir.testbed.load()?;
    no_fsps(&t)?;
    let rt = runtime()?;
    rt.block_on(async {
        let dir = args.dir.open(&t).await?;
        for d in &t.dfsps {
            let range = msisdn::Range::of(&d.id, args.count.unwrap_or(t.msisdns_of(d)))?;
            let done = Arc::new(AtomicU64::new(0));
            let ticker = progress(format!("{} seeding", d.id), range.count as u64, done.clone());
            let started = Instant::now();
            let stats = match &dir {
                Directory::Sql(pool) => msisdn::seed_sql(pool, &range, args.parallel, &done).await,
                Directory::Oracle(o) => msisdn::seed_oracle(o, &range, &t.currency, &done).await,
                Directory::Als(a) => msisdn::seed_als(a, &range, &t.currency, &done).await,
            };
            ticker.abort();
            let stats = stats.with_context(|| format!("seeding {}'s numbers failed (re-run to resume)", d.id))?;
            let secs = started.elapsed().as_secs_f64();
            eprint!("{}", if std::io::IsTerminal::is_terminal(&std::io::stderr()) { "\r" } else { "" });
            println!(
                "{}: {} numbers ({} … {}): {} written, {} already there, {} refused, {:.1} s ({:.0}/s)",
                d.id,
                range.count,
                range.number(0),
                range.number(range.count.saturating_sub(1)),
                stats.written,
                stats.skipped,
                stats.failed,
                secs,
                range.count as f64 / secs.max(1e-6)
            );
            if stats.failed > 0 {
                bail!("{}: {} numbers were refused", d.id, stats.failed);
            }
        }
        Ok(())
    })
}

/// Sample the mapping of each FSP's range through the same path (exit 1 if any number is
/// missing or belongs to another FSP).
///
/// Example: perfbed msisdn check --testbed testbed.toml --sample 200
#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    #[command(flatten)]
    dir: DirectoryArgs,
    /// Numbers per FSP (default: the testbed's `msisdns`, else 1000).
    #[arg(long)]
    count: Option<u32>,
    /// Numbers sampled per FSP (first, last and evenly between).
    #[arg(long, default_value_t = 100)]
    sample: u32,
}

pub(crate) fn check(args: CheckArgs) -> Result<bool> {
    let t = args.dir.testbed.load()?;
    no_fsps(&t)?;
    runtime()?.block_on(async {
        let dir = args.dir.open(&t).await?;
        let mut all = true;
        for d in &t.dfsps {
            let range = msisdn::Range::of(&d.id, args.count.unwrap_or(t.msisdns_of(d)))?;
            let s = match &dir {
                Directory::Sql(pool) => msisdn::check_sql(pool, &range, args.sample).await?,
                Directory::Oracle(o) => msisdn::check_oracle(o, &range, args.sample).await?,
                Directory::Als(a) => msisdn::check_als(a, &range, args.sample).await?,
            };
            let verdict = if s.passed() { "ok" } else { "FAIL" };
            println!(
                "{}: {verdict}: {}/{} sampled numbers map to {}",
                d.id, s.ok, s.sampled, d.id
            );
            for n in s.missing.iter().take(5) {
                println!("  missing: {n}");
            }
            for (n, f) in s.wrong.iter().take(5) {
                println!("  {n} belongs to {f}");
            }
            all &= s.passed();
        }
        Ok(all)
    })
}

// ---------------------------------------------------------------------------------------------
// positions

/// Where positions are read and written.
#[derive(Debug, Args)]
pub(crate) struct LedgerArgs {
    #[command(flatten)]
    testbed: TestbedArgs,
    /// central-ledger admin API base URL (`…/admin` for the hub emulator).
    #[arg(long, value_name = "URL", env = "PERFBED_ADMIN")]
    admin: Option<String>,
    /// central_ledger database URL, e.g. mysql://root@127.0.0.1:3306/central_ledger (used
    /// instead of the admin API when given).
    #[arg(long, value_name = "URL", env = "PERFBED_LEDGER_DB")]
    database: Option<String>,
    #[command(flatten)]
    tls: crate::tls_args::ClientTlsArgs,
}

enum Ledger {
    Api(ops::Admin),
    Sql(sqlx::MySqlPool),
}

impl LedgerArgs {
    async fn open(&self, t: &Testbed, via_api: bool) -> Result<Ledger> {
        let admin = self.admin.clone().or(t.hub.admin.clone());
        let database = self.database.clone().or(t.hub.ledger_db.clone());
        match (database, admin) {
            (Some(db), _) if !via_api => Ok(Ledger::Sql(positions::connect(&db).await?)),
            (_, Some(a)) => Ok(Ledger::Api(self.tls.admin(&a)?)),
            (Some(_), None) => bail!("--api needs --admin (or hub.admin in the testbed file)"),
            (None, None) => {
                bail!("give --admin (admin API) or --database (central_ledger database)")
            }
        }
    }
}

/// Show each FSP's position, reserved, settlement balance, NDC and headroom.
///
/// NDC headroom = NDC − position − reserved; liquidity headroom = −settlement − position −
/// reserved (a prepare needs both to cover its amount).
///
/// Examples:
///   perfbed positions show --testbed testbed.toml
///   perfbed positions show --admin http://127.0.0.1:3000/admin --fsp perffsp1,perffsp5
///   perfbed positions show --database mysql://root@127.0.0.1:3306/central_ledger --fsp perffsp1
#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    #[command(flatten)]
    ledger: LedgerArgs,
    /// Read through the admin API even when a database is known.
    #[arg(long)]
    api: bool,
    /// JSON lines instead of the table.
    #[arg(long)]
    json: bool,
}

pub(crate) fn show(args: ShowArgs) -> Result<()> {
    let t = args.ledger.testbed.load()?;
    no_fsps(&t)?;
    let ids = t.ids();
    let rows = runtime()?.block_on(async {
        Ok::<_, anyhow::Error>(match args.ledger.open(&t, args.api).await? {
            Ledger::Api(a) => positions::show_api(&a, &ids, &t.currency).await?,
            Ledger::Sql(p) => positions::show_sql(&p, &ids, &t.currency).await?,
        })
    })?;
    if args.json {
        for r in &rows {
            println!(
                "{}",
                serde_json::json!({
                    "fsp": r.fsp, "currency": t.currency,
                    "position": r.position.value.to_string(), "reserved": r.position.reserved.to_string(),
                    "settlement": r.settlement.value.to_string(), "ndc": r.ndc.map(|n| n.to_string()),
                    "ndcHeadroom": r.ndc_headroom().map(|n| n.to_string()), "liquidityHeadroom": r.liquidity().to_string(),
                })
            );
        }
    } else {
        print!("{}", positions::table(&rows, &t.currency));
    }
    Ok(())
}

/// Bring positions, settlement balances and NDC back to the configured values.
///
/// With --database: ONE transaction on the central_ledger schema (position and reserved 0,
/// settlement −funds, NDC), refused while transfers are in flight. Through the admin API:
/// positions cannot be moved there, so settlement (funds in/out) and NDC (limits) are set so
/// that liquidity and NDC headroom equal the configured funds and NDC; refused if positions
/// move during --settle. --dry-run prints the exact changes.
///
/// Examples:
///   perfbed positions reset --testbed testbed.toml --dry-run
///   perfbed positions reset --database mysql://root@127.0.0.1:3306/central_ledger --fsp perffsp1,perffsp5 --ndc 10000000 --funds 100000000
#[derive(Debug, Args)]
pub(crate) struct ResetArgs {
    #[command(flatten)]
    ledger: LedgerArgs,
    /// Use the admin API even when a database is known.
    #[arg(long)]
    api: bool,
    /// NDC to restore (default: the testbed's, else 10000000).
    #[arg(long)]
    ndc: Option<u64>,
    /// Settlement funds to restore (default: the testbed's, else 100000000).
    #[arg(long)]
    funds: Option<u64>,
    /// Print the changes, make none.
    #[arg(long)]
    dry_run: bool,
    /// Reset even with transfers in flight (they may then fail or leave positions off).
    #[arg(long)]
    force: bool,
    /// Admin API: how long positions must stay still before the reset.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1s")]
    settle: Duration,
}

pub(crate) fn reset(args: ResetArgs) -> Result<()> {
    let t = args.ledger.testbed.load()?;
    no_fsps(&t)?;
    let ids = t.ids();
    let target = positions::Target {
        ndc: Money::units(args.ndc.unwrap_or(t.ndc) as i64),
        funds: Money::units(args.funds.unwrap_or(t.funds) as i64),
    };
    let started = Instant::now();
    let changes = runtime()?.block_on(async {
        Ok::<_, anyhow::Error>(match args.ledger.open(&t, args.api).await? {
            Ledger::Api(a) => {
                if args.dry_run {
                    let now = positions::show_api(&a, &ids, &t.currency).await?;
                    positions::plan_api(&now, target)
                } else {
                    positions::reset_api(&a, &ids, &t.currency, target, args.force, args.settle)
                        .await?
                }
            }
            Ledger::Sql(p) => {
                positions::reset_sql(
                    &p,
                    &ids,
                    &t.currency,
                    target,
                    args.force,
                    args.dry_run,
                    |_| async {},
                )
                .await?
            }
        })
    })?;
    let verb = if args.dry_run {
        "would change"
    } else {
        "changed"
    };
    for c in &changes {
        println!("{verb} {c}");
    }
    if changes.is_empty() {
        println!(
            "nothing to change: {} FSPs are at the configured values",
            ids.len()
        );
    } else if !args.dry_run {
        println!(
            "reset {} FSPs ({} changes) in {:.0} ms",
            ids.len(),
            changes.len(),
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// kafka

/// The broker, for every kafka command.
#[derive(Debug, Args)]
pub(crate) struct BrokerArgs {
    /// Testbed file (its hub.kafka is the default broker).
    #[arg(long, short = 't', value_name = "FILE", env = "PERFBED_TESTBED")]
    testbed: Option<PathBuf>,
    /// Bootstrap servers, e.g. kafka:9092.
    #[arg(long, value_name = "HOST:PORT", env = "PERFBED_KAFKA")]
    brokers: Option<String>,
    /// Timeout of each broker call.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    timeout: Duration,
}

impl BrokerArgs {
    fn brokers(&self) -> Result<String> {
        let t = testbed_or_default(self.testbed.as_deref())?;
        need(self.brokers.clone().or(t.hub.kafka), "--brokers", "kafka")
    }
}

/// Create the Mojaloop topics that do not exist yet (for brokers that do not auto-create, such
/// as tansu).
///
/// Example: perfbed kafka create-topics --brokers 127.0.0.1:9092 --partitions 4
#[derive(Debug, Args)]
pub(crate) struct CreateTopicsArgs {
    #[command(flatten)]
    broker: BrokerArgs,
    /// Partitions per new topic.
    #[arg(long, default_value_t = 1)]
    partitions: i32,
    /// Print the topics it would make sure exist, one a line, and contact no broker.
    #[arg(long)]
    dry_run: bool,
    /// Topics (default: every Mojaloop transfer, notification, admin and bulk topic, and
    /// quoting-service's quotes, FX quotes and bulk quotes topics).
    topics: Vec<String>,
}

pub(crate) fn create_topics(args: CreateTopicsArgs) -> Result<()> {
    let topics: Vec<&str> = if args.topics.is_empty() {
        ops::kafka::topics_to_create()
    } else {
        args.topics.iter().map(String::as_str).collect()
    };
    if args.dry_run {
        for t in &topics {
            println!("{t}");
        }
        return Ok(());
    }
    let brokers = args.broker.brokers()?;
    let created = runtime()?.block_on(ops::kafka::create_topics(
        &brokers,
        &topics,
        args.partitions,
        args.broker.timeout,
    ))?;
    for t in &created {
        println!("created {t}");
    }
    println!(
        "{} topics present ({} created)",
        topics.len(),
        created.len()
    );
    Ok(())
}

/// Save the high watermarks of the Mojaloop topics (JSON), to gate a run later with --since.
///
/// Example: perfbed kafka snapshot --brokers kafka:9092 -o before.json
#[derive(Debug, Args)]
pub(crate) struct SnapshotArgs {
    #[command(flatten)]
    broker: BrokerArgs,
    /// Output file (default: stdout).
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
}

pub(crate) fn snapshot(args: SnapshotArgs) -> Result<()> {
    let brokers = args.broker.brokers()?;
    let s = ops::kafka::snapshot(&brokers, ops::kafka::MOJALOOP_TOPICS, args.broker.timeout)?;
    let text = serde_json::to_string_pretty(&s)?;
    match args.output {
        Some(p) => {
            std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))?
        }
        None => println!("{text}"),
    }
    Ok(())
}

/// Judge a window by Kafka message counts: fulfil/prepare ≈ 1.0, notification/prepare ≈ 2.0
/// and, where the batch position handler runs, position-batch/prepare ≈ 2.0
/// (every transfer prepared, fulfilled and notified both ways). Exit 1 when it fails.
///
/// The window is from a snapshot (--since FILE) to now, or the next --window. With --prefix
/// only the messages of one run's transfers count (read one by one: the transfer id in the
/// message id, uriParams, payload or key starts with the run's id prefix), so other traffic
/// and a time window's edges do not move the ratios; none of its prepares: not judged (exit 1).
///
/// Examples:
///   perfbed kafka snapshot -o before.json; perfbed run …; perfbed kafka gate --since before.json
///   perfbed kafka gate --since before.json --prefix 0badcafe   (the report's by_transfer.prefix)
///   perfbed kafka gate --brokers kafka:9092 --window 60s --tolerance 0.02
#[derive(Debug, Args)]
pub(crate) struct GateArgs {
    #[command(flatten)]
    broker: BrokerArgs,
    /// Start of the window: a `kafka snapshot` file.
    #[arg(long, value_name = "FILE", conflicts_with = "window")]
    since: Option<PathBuf>,
    /// Measure the next DURATION instead.
    #[arg(long, value_parser = humantime::parse_duration)]
    window: Option<Duration>,
    /// Allowed relative deviation of each ratio.
    #[arg(long, default_value_t = 0.05)]
    tolerance: f64,
    /// Prepares needed in the window (an idle window proves nothing).
    #[arg(long, default_value_t = 1)]
    min_prepares: u64,
    /// Count only one run's messages: its transfer-id prefix (the 8 hex digits of its run tag,
    /// or the ISO 20022 run's 7-character ULID prefix; report.json's
    /// switch.kafka.by_transfer.prefix).
    #[arg(long, value_name = "PREFIX")]
    prefix: Option<String>,
    /// JSON instead of the table.
    #[arg(long)]
    json: bool,
}

pub(crate) fn gate(args: GateArgs) -> Result<bool> {
    let brokers = args.broker.brokers()?;
    let topics = ops::kafka::MOJALOOP_TOPICS;
    let before = match (&args.since, args.window) {
        (Some(p), _) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{} is not a kafka snapshot", p.display()))?
        }
        (None, Some(w)) => {
            let s = ops::kafka::snapshot(&brokers, topics, args.broker.timeout)?;
            eprintln!("measuring {w:?} of traffic on {brokers}");
            std::thread::sleep(w);
            s
        }
        (None, None) => bail!("give --since FILE (a kafka snapshot) or --window DURATION"),
    };
    let after = ops::kafka::snapshot(&brokers, topics, args.broker.timeout)?;
    let by_transfer = match &args.prefix {
        Some(p) => {
            if !ops::crosscheck::is_run_tag(p) {
                bail!("--prefix {p}: give a run's transfer-id prefix (8 lowercase hex digits, or a 7-character ULID prefix)");
            }
            let (tx, rx) = std::sync::mpsc::channel();
            let _ = tx.send(after.clone());
            Some(ops::kafka::read_run_messages(
                &brokers,
                &before,
                p,
                rx,
                Duration::from_secs(120),
            )?)
        }
        None => None,
    };
    let ratios = ops::kafka::default_ratios();
    let g = match &by_transfer {
        Some(run) => ops::kafka::gate_counts(
            run.counts.clone(),
            after.at_ms.saturating_sub(before.at_ms) as f64 / 1000.0,
            &ratios,
            args.tolerance,
            args.min_prepares,
        ),
        None => ops::kafka::gate(&before, &after, &ratios, args.tolerance, args.min_prepares),
    };
    let judged =
        by_transfer.is_none() || g.counts.get("topic-transfer-prepare").copied().unwrap_or(0) > 0;
    if args.json {
        let mut v = serde_json::to_value(&g)?;
        if let Some(run) = &by_transfer {
            v["by_transfer"] = serde_json::to_value(run)?;
            v["judged"] = judged.into();
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("window {:.1} s on {brokers}", g.window_s);
        if let Some(run) = &by_transfer {
            println!(
                "  by transfer: {} messages read, {} of them this run's (transfer ids starting {}){}",
                run.total_read(),
                run.total_run(),
                run.prefix,
                if run.complete { "" } else { "; the reading stopped before the end: counts short" }
            );
        }
        for (t, n) in g.counts.iter().filter(|(_, n)| **n > 0) {
            println!("  {t:<32} {n:>10} messages");
        }
        for (r, v, ok) in &g.ratios {
            let v = v.map_or("n/a".to_owned(), |v| format!("{v:.3}"));
            println!(
                "  {:<22} {v:>8}  expect {:.1} ± {:.0} %  {}",
                r.name,
                r.expect,
                args.tolerance * 100.0,
                match (v.as_str(), *ok) {
                    (_, false) => "FAIL",
                    ("n/a", true) => "not judged (its topic carried nothing)",
                    (_, true) => "ok",
                }
            );
        }
        let prepares = g.counts.get("topic-transfer-prepare").copied().unwrap_or(0);
        if prepares < g.min_prepares {
            println!(
                "  only {prepares} prepares in the window (need {})",
                g.min_prepares
            );
        }
        println!(
            "kafka gate: {}",
            match (judged, g.pass) {
                (false, _) => "not judged (none of this run's prepares in the window)",
                (true, true) => "PASS",
                (true, false) => "FAIL",
            }
        );
    }
    Ok(g.pass && judged)
}

/// Consumer-group lag per topic and partition (committed offset vs high watermark).
///
/// Example: perfbed kafka lag --brokers kafka:9092 --max-lag 1000
#[derive(Debug, Args)]
pub(crate) struct LagArgs {
    #[command(flatten)]
    broker: BrokerArgs,
    /// Only these groups (repeatable; default: every group the broker lists).
    #[arg(long = "group", value_name = "GROUP")]
    groups: Vec<String>,
    /// Exit 1 when any partition lags more than this.
    #[arg(long)]
    max_lag: Option<i64>,
    /// JSON instead of the table.
    #[arg(long)]
    json: bool,
}

pub(crate) fn lag(args: LagArgs) -> Result<bool> {
    let brokers = args.broker.brokers()?;
    let rows = ops::kafka::lag(
        &brokers,
        &args.groups,
        ops::kafka::MOJALOOP_TOPICS,
        args.broker.timeout,
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!(
            "{:<36} {:<32} {:>4} {:>12} {:>12} {:>8}",
            "GROUP", "TOPIC", "PART", "COMMITTED", "HIGH", "LAG"
        );
        for r in &rows {
            println!(
                "{:<36} {:<32} {:>4} {:>12} {:>12} {:>8}",
                r.group, r.topic, r.partition, r.committed, r.high, r.lag
            );
        }
        if rows.is_empty() {
            println!("(no group has committed offsets on the Mojaloop topics)");
        }
    }
    Ok(args.max_lag.is_none_or(|m| rows.iter().all(|r| r.lag <= m)))
}
