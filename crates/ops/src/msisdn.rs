//! MSISDN pre-registration, three ways, all idempotent and resumable:
//!
//! - **sql**: straight into the MSISDN oracle's `oracleMSISDN` table (reference §7.4), batched
//!   multi-row `INSERT IGNORE`s, each chunk its own transaction; a chunk whose numbers are all
//!   there already is skipped, so a re-run after an interruption only does what is missing;
//! - **oracle**: the oracle's REST bulk `POST /participants` (10,000 per request);
//! - **als**: the ALS FSPIOP bulk `POST /participants` (10,000 per request, `FSPIOP-Source` = the
//!   owning FSP), whose `PUT /participants/{requestId}` callbacks come back to a listener this
//!   module runs (the FSP's PARTICIPANT_* endpoints must point at it while seeding).
//!
//! `check_*` samples the mapping through the same path.

use crate::{db, Admin, OpsError};
use axum::{extract::State, routing::put, Router};
use bytes::Bytes;
use fspiop::testbed;
use http::Method;
use perfbed_http::{HttpClient, Outbound};
use serde_json::{json, Value};
use sqlx::mysql::MySqlPool;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Numbers `0..count` of one perffsp FSP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// FSP id (`perffspN`).
    pub fsp: String,
    /// N.
    pub index: u8,
    /// How many.
    pub count: u32,
}

impl Range {
    /// The range of `fsp`, which must be a perffspN id.
    pub fn of(fsp: &str, count: u32) -> Result<Range, OpsError> {
        let index = testbed::fsp_index(fsp).ok_or_else(|| {
            OpsError::Invalid(format!(
                "'{fsp}' is not a perffspN id: MSISDN ranges belong to the perffsp scheme"
            ))
        })?;
        if count > testbed::DEFAULT_RANGE_SIZE {
            return Err(OpsError::Invalid(format!(
                "{count} numbers asked for {fsp}; a range holds at most {}",
                testbed::DEFAULT_RANGE_SIZE
            )));
        }
        Ok(Range {
            fsp: fsp.to_owned(),
            index,
            count,
        })
    }

    /// The i-th number.
    pub fn number(&self, i: u32) -> String {
        testbed::msisdn(self.index, i)
    }

    /// Chunks of at most `size` indexes.
    pub fn chunks(&self, size: u32) -> impl Iterator<Item = std::ops::Range<u32>> + '_ {
        (0..self.count)
            .step_by(size as usize)
            .map(move |s| s..(s + size).min(self.count))
    }

    /// `n` indexes spread over the range: first, last and evenly between.
    pub fn sample(&self, n: u32) -> Vec<u32> {
        if self.count == 0 {
            return Vec::new();
        }
        let n = n.clamp(1, self.count);
        if n == 1 {
            return vec![0];
        }
        let mut v: Vec<u32> = (0..n)
            .map(|k| (k as u64 * (self.count as u64 - 1) / (n as u64 - 1)) as u32)
            .collect();
        v.dedup();
        v
    }
}

/// What a seeding did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeedStats {
    /// Numbers written (or accepted) now.
    pub written: u64,
    /// Numbers found complete already and skipped.
    pub skipped: u64,
    /// Numbers the service refused (ALS per-party errors).
    pub failed: u64,
}

/// What a check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckStats {
    /// Numbers sampled.
    pub sampled: u64,
    /// Mapped to the right FSP.
    pub ok: u64,
    /// Not mapped.
    pub missing: Vec<String>,
    /// Mapped to another FSP (number, fsp).
    pub wrong: Vec<(String, String)>,
}

impl CheckStats {
    /// Every sampled number maps to its FSP.
    pub fn passed(&self) -> bool {
        self.ok == self.sampled && self.sampled > 0
    }
}

// ---------------------------------------------------------------------------------------------
// SQL

/// Rows per `INSERT` (and per transaction).
pub const SQL_CHUNK: u32 = 10_000;

/// Seeds `range` into `oracleMSISDN`, `parallel` chunks at a time; `progress` counts numbers
/// done (written or skipped).
pub async fn seed_sql(
    pool: &MySqlPool,
    range: &Range,
    parallel: usize,
    progress: &Arc<AtomicU64>,
) -> Result<SeedStats, OpsError> {
    let mut stats = SeedStats::default();
    let mut tasks = tokio::task::JoinSet::new();
    let mut chunks = range.chunks(SQL_CHUNK);
    loop {
        while tasks.len() < parallel.max(1) {
            let Some(c) = chunks.next() else { break };
            let (pool, range, progress) = (pool.clone(), range.clone(), progress.clone());
            tasks.spawn(async move {
                let r = seed_sql_chunk(&pool, &range, c.clone()).await;
                progress.fetch_add((c.end - c.start) as u64, Ordering::Relaxed);
                r
            });
        }
        let Some(done) = tasks.join_next().await else {
            break;
        };
        let (written, skipped) = done.map_err(|e| OpsError::Invalid(e.to_string()))??;
        stats.written += written;
        stats.skipped += skipped;
    }
    Ok(stats)
}

async fn seed_sql_chunk(
    pool: &MySqlPool,
    range: &Range,
    c: std::ops::Range<u32>,
) -> Result<(u64, u64), OpsError> {
    let (first, last) = (range.number(c.start), range.number(c.end - 1));
    let len = (c.end - c.start) as u64;
    let have: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM oracleMSISDN WHERE id BETWEEN ? AND ? AND CHAR_LENGTH(id) = ? AND subId = '' AND fspId = ?",
    )
    .bind(&first)
    .bind(&last)
    .bind(first.len() as u32)
    .bind(&range.fsp)
    .fetch_one(pool)
    .await
    .map_err(db("reading oracleMSISDN"))?;
    if have as u64 == len {
        return Ok((0, len));
    }
    // Numbers are digits we generate and the FSP id is a checked perffspN id: inlining them
    // in the statement is safe and much faster than 20,000 bound parameters.
    let mut sql = String::with_capacity(40 + 30 * len as usize);
    sql.push_str("INSERT IGNORE INTO oracleMSISDN (id, fspId) VALUES ");
    for i in c {
        if !sql.ends_with(' ') {
            sql.push(',');
        }
        sql.push_str("('");
        sql.push_str(&range.number(i));
        sql.push_str("','");
        sql.push_str(&range.fsp);
        sql.push_str("')");
    }
    // One statement in autocommit mode: the chunk lands whole or not at all.
    let done = sqlx::raw_sql(&sql)
        .execute(pool)
        .await
        .map_err(db("inserting into oracleMSISDN"))?;
    Ok((done.rows_affected(), len - done.rows_affected()))
}

/// Samples the mapping in `oracleMSISDN`.
pub async fn check_sql(
    pool: &MySqlPool,
    range: &Range,
    sample: u32,
) -> Result<CheckStats, OpsError> {
    let numbers: Vec<String> = range
        .sample(sample)
        .into_iter()
        .map(|i| range.number(i))
        .collect();
    let mut found: HashMap<String, String> = HashMap::new();
    for chunk in numbers.chunks(1000) {
        let sql = format!(
            "SELECT id, fspId FROM oracleMSISDN WHERE subId = '' AND id IN ({})",
            vec!["?"; chunk.len()].join(",")
        );
        let mut q = sqlx::query_as::<_, (String, String)>(&sql);
        for n in chunk {
            q = q.bind(n);
        }
        for (id, fsp) in q
            .fetch_all(pool)
            .await
            .map_err(db("reading oracleMSISDN"))?
        {
            found.insert(id, fsp);
        }
    }
    Ok(tally(range, numbers, |n| found.get(n).cloned()))
}

fn tally(
    range: &Range,
    numbers: Vec<String>,
    owner: impl Fn(&str) -> Option<String>,
) -> CheckStats {
    let mut s = CheckStats {
        sampled: numbers.len() as u64,
        ..CheckStats::default()
    };
    for n in numbers {
        match owner(&n) {
            Some(f) if f == range.fsp => s.ok += 1,
            Some(f) => s.wrong.push((n, f)),
            None => s.missing.push(n),
        }
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Oracle REST

/// Parties per bulk request (the APIs' limit).
pub const BULK: u32 = 10_000;

async fn oracle_owner(oracle: &Admin, number: &str) -> Result<Option<String>, OpsError> {
    let (status, v) = oracle
        .call(Method::GET, &format!("/participants/MSISDN/{number}"), None)
        .await?;
    Ok(match status {
        200 => v["partyList"]
            .as_array()
            .and_then(|l| l.first())
            .and_then(|p| p["fspId"].as_str())
            .map(str::to_owned),
        _ => None,
    })
}

/// Seeds through a bulk API: `owner(number)` says who a number belongs to now, `post(parties)`
/// registers one chunk and returns how many parties were refused. A chunk whose first and last
/// numbers already belong to the FSP is skipped (chunks are written whole).
async fn seed_bulk<O, OF, P, PF>(
    range: &Range,
    progress: &Arc<AtomicU64>,
    owner: O,
    post: P,
) -> Result<SeedStats, OpsError>
where
    O: Fn(String) -> OF,
    OF: std::future::Future<Output = Result<Option<String>, OpsError>>,
    P: Fn(Vec<Value>) -> PF,
    PF: std::future::Future<Output = Result<u64, OpsError>>,
{
    let mut stats = SeedStats::default();
    for c in range.chunks(BULK) {
        let len = (c.end - c.start) as u64;
        let mine = |o: Option<String>| o.as_deref() == Some(range.fsp.as_str());
        if mine(owner(range.number(c.start)).await?) && mine(owner(range.number(c.end - 1)).await?)
        {
            stats.skipped += len;
        } else {
            let parties = c
                .clone()
                .map(|i| json!({ "partyIdType": "MSISDN", "partyIdentifier": range.number(i), "fspId": range.fsp }))
                .collect();
            let failed = post(parties).await?;
            stats.failed += failed;
            stats.written += len - failed;
        }
        progress.fetch_add(len, Ordering::Relaxed);
    }
    Ok(stats)
}

/// Samples `range` through `owner`.
async fn check_by<O, OF>(range: &Range, sample: u32, owner: O) -> Result<CheckStats, OpsError>
where
    O: Fn(String) -> OF,
    OF: std::future::Future<Output = Result<Option<String>, OpsError>>,
{
    let numbers: Vec<String> = range
        .sample(sample)
        .into_iter()
        .map(|i| range.number(i))
        .collect();
    let mut owners = HashMap::new();
    for n in &numbers {
        if let Some(f) = owner(n.clone()).await? {
            owners.insert(n.clone(), f);
        }
    }
    Ok(tally(range, numbers, |n| owners.get(n).cloned()))
}

/// Seeds through the oracle's bulk REST API.
pub async fn seed_oracle(
    oracle: &Admin,
    range: &Range,
    currency: &str,
    progress: &Arc<AtomicU64>,
) -> Result<SeedStats, OpsError> {
    seed_bulk(
        range,
        progress,
        |n| async move { oracle_owner(oracle, &n).await },
        |parties| async move {
            oracle
                .expect(
                    Method::POST,
                    "/participants",
                    Some(json!({ "requestId": uuid::Uuid::new_v4().to_string(), "partyList": parties, "currency": currency })),
                )
                .await
                .map(|_| 0)
        },
    )
    .await
}

/// Samples the mapping through the oracle's REST API.
pub async fn check_oracle(
    oracle: &Admin,
    range: &Range,
    sample: u32,
) -> Result<CheckStats, OpsError> {
    check_by(
        range,
        sample,
        |n| async move { oracle_owner(oracle, &n).await },
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// ALS (FSPIOP)

/// Callbacks received by the listener, by path (`/participants/…`), with their bodies.
#[derive(Debug, Default)]
struct Inbox {
    got: Mutex<HashMap<String, Value>>,
    notify: tokio::sync::Notify,
}

/// The ALS FSPIOP client and the listener for its callbacks.
#[derive(Debug, Clone)]
pub struct Als {
    client: HttpClient,
    base: String,
    inbox: Arc<Inbox>,
    keys: Option<Arc<fspiop::jws::KeyStore>>,
    patience: Duration,
    api: fspiop::iso::Api,
    /// Where the callbacks are listened for (named in errors).
    listen: SocketAddr,
}

impl Als {
    /// Client for the ALS at `base`, listening for callbacks on `listen` (returns the bound
    /// address). With `keys`, each request is signed with the private key of the FSP it is
    /// sent as (`<fsp>.key`, as `perfbed sim --keys` signs), so a validating ALS takes it. With [`Api::Iso20022`] the
    /// requests carry the ISO 20022 media types (`…iso20022.participants+json;version=2.0`),
    /// which an ALS running with `API_TYPE=iso20022` requires of every resource, participants
    /// included; the participants bodies themselves are the same in both modes.
    ///
    /// [`Api::Iso20022`]: fspiop::iso::Api::Iso20022
    pub async fn start(
        base: &str,
        client: HttpClient,
        listen: SocketAddr,
        keys: Option<Arc<fspiop::jws::KeyStore>>,
        patience: Duration,
        api: fspiop::iso::Api,
    ) -> Result<(Als, SocketAddr), OpsError> {
        let inbox = Arc::new(Inbox::default());
        let app = Router::new()
            .route("/participants/{a}", put(receive))
            .route("/participants/{a}/{b}", put(receive))
            .route("/participants/{a}/{b}/{c}", put(receive))
            .with_state(inbox.clone());
        let (listener, addr) = perfbed_http::server::bind(listen)
            .await
            .map_err(|e| OpsError::Invalid(format!("cannot listen on {listen}: {e}")))?;
        tokio::spawn(perfbed_http::server::serve(
            listener,
            app,
            None,
            std::future::pending(),
            Duration::from_secs(1),
        ));
        Ok((
            Als {
                client,
                base: base.trim_end_matches('/').to_owned(),
                inbox,
                keys,
                patience,
                api,
                listen: addr,
            },
            addr,
        ))
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        source: &str,
        body: Option<Value>,
    ) -> Result<(), OpsError> {
        let url = format!("{}{path}", self.base);
        let req = Outbound {
            method: method.clone(),
            url: url.clone(),
            version: fspiop::headers::Version::V1_1,
            source: source.to_owned(),
            destination: None,
            // The bytes signed are the bytes sent, in the canonical form a strict verifier
            // (the Mojaloop SDK's, the emulator's) rebuilds from the body.
            body: body.map(|b| {
                let raw = serde_json::to_vec(&b).unwrap_or_default();
                Bytes::from(fspiop::json::canonicalize(&raw).unwrap_or(raw))
            }),
            extra: Vec::new(),
        };
        let req = if self.api.is_iso() { req.iso() } else { req };
        let signer = match &self.keys {
            Some(k) => Some(k.signing(source).ok_or_else(|| {
                OpsError::Invalid(format!(
                    "no private key for {source} in the JWS keys (--keys): {source}.key signs its requests to the ALS"
                ))
            })?),
            None => None,
        };
        let req = req
            .build(signer)
            .map_err(|e| OpsError::Invalid(e.to_string()))?;
        let resp = self
            .client
            .send(req)
            .await
            .map_err(|source| OpsError::Unreachable {
                method: method.clone(),
                url: url.clone(),
                source,
            })?;
        // Any 2xx: the ALS answers its bulk `POST /participants` with 200, not the 202 of
        // its API definition (account-lookup-service 17.x, `src/api/participants.js`).
        let status = resp.status().as_u16();
        if !resp.status().is_success() {
            let body: Value = serde_json::from_slice(resp.body()).unwrap_or(Value::Null);
            let code = body["errorInformation"]["errorCode"].as_str().unwrap_or("");
            if code == "3105" || code == "3106" {
                return Err(OpsError::Invalid(format!(
                    "{method} {url} as {source} answered {status} with FSPIOP error {code} \"{}\": the ALS validates signatures. Fix: give --keys DIR with {source}.key (as perfbed sim --keys), or turn the ALS's JWS validation off",
                    body["errorInformation"]["errorDescription"].as_str().unwrap_or("")
                )));
            }
            return Err(OpsError::Refused {
                method,
                url,
                status,
                body: String::from_utf8_lossy(resp.body()).into_owned(),
            });
        }
        Ok(())
    }

    /// Waits for the callback to `path` (or its `/error`), and takes it.
    async fn wait(&self, path: &str) -> Result<(bool, Value), OpsError> {
        let err = format!("{path}/error");
        let deadline = tokio::time::Instant::now() + self.patience;
        loop {
            let notified = self.inbox.notify.notified();
            {
                let mut got = self.inbox.got.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(v) = got.remove(path) {
                    return Ok((true, v));
                }
                if let Some(v) = got.remove(&err) {
                    return Ok((false, v));
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(OpsError::Invalid(format!(
                    "no callback to PUT {path} reached the listener {} within {:?}: the ALS sends it to the FSP's FSPIOP_CALLBACK_URL_PARTICIPANT_* endpoints, which must point at http://{} while seeding (perfbed onboard --dfsp FSP=http://{}); after they were re-pointed, a real ALS may go on using the endpoints it cached for up to ~3 min",
                    self.listen, self.patience, self.listen, self.listen
                )));
            }
        }
    }
}

impl Als {
    /// The error an ALS error callback (`body`: its `errorInformation`) makes, naming the
    /// request, the callback and the FSPIOP code, with the fix where the code tells it: 3003
    /// about an oracle means the ALS has none registered for the id type (and, for a bulk
    /// registration, for its currency).
    fn error_callback(
        &self,
        request: &str,
        callback: &str,
        body: &Value,
        currency: &str,
    ) -> OpsError {
        let info = &body["errorInformation"];
        let code = info["errorCode"].as_str().unwrap_or("?").to_owned();
        let description = info["errorDescription"].as_str().unwrap_or("").to_owned();
        let fix = if code == "3003" && description.to_ascii_lowercase().contains("oracle") {
            format!(
                "the ALS has no oracle for MSISDN in {currency}: the bulk registration names the currency, so register the MSISDN oracle for it in the ALS — POST /oracles on the ALS admin API with {{\"oracleIdType\": \"MSISDN\", \"endpoint\": {{\"value\": \"<the oracle's URL>\", \"endpointType\": \"URL\"}}, \"currency\": \"{currency}\", \"isDefault\": true}} (an oracle registered without a currency does not serve it) — or seed with --via sql or --via oracle"
            )
        } else if code == "3105" || code == "3106" {
            "the ALS validates signatures: give --keys DIR with the FSPs' private keys (<fsp>.key, as perfbed sim --keys)".to_owned()
        } else {
            "see the ALS's log".to_owned()
        };
        OpsError::ErrorCallback {
            request: request.to_owned(),
            callback: format!("{callback} at the listener {}", self.listen),
            code,
            description,
            fix,
        }
    }
}

async fn receive(State(inbox): State<Arc<Inbox>>, uri: http::Uri, body: Bytes) -> http::StatusCode {
    let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
    inbox
        .got
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(uri.path().to_owned(), v);
    inbox.notify.notify_waiters();
    http::StatusCode::OK
}

/// Seeds through the ALS bulk API and waits for each request's callback; per-party errors are
/// counted as refused.
pub async fn seed_als(
    als: &Als,
    range: &Range,
    currency: &str,
    progress: &Arc<AtomicU64>,
) -> Result<SeedStats, OpsError> {
    seed_bulk(
        range,
        progress,
        |n| async move { als_owner(als, range, &n).await },
        |parties: Vec<Value>| async move {
            let request_id = uuid::Uuid::new_v4().to_string();
            let parties_len = parties.len();
            als.send(
                Method::POST,
                "/participants",
                &range.fsp,
                Some(
                    json!({ "requestId": request_id, "partyList": parties, "currency": currency }),
                ),
            )
            .await?;
            let (ok, v) = als.wait(&format!("/participants/{request_id}")).await?;
            if !ok {
                return Err(als.error_callback(
                    &format!(
                        "POST {}/participants as {} ({} numbers, currency {currency})",
                        als.base, range.fsp, parties_len
                    ),
                    &format!("PUT /participants/{request_id}/error"),
                    &v,
                    currency,
                ));
            }
            Ok(v["partyList"].as_array().map_or(0, |l| {
                l.iter()
                    .filter(|p| !p["errorInformation"].is_null())
                    .count()
            }) as u64)
        },
    )
    .await
}

async fn als_owner(als: &Als, range: &Range, number: &str) -> Result<Option<String>, OpsError> {
    let path = format!("/participants/MSISDN/{number}");
    als.send(Method::GET, &path, &range.fsp, None).await?;
    let (ok, v) = als.wait(&path).await?;
    Ok(ok.then(|| v["fspId"].as_str().map(str::to_owned)).flatten())
}

/// Samples the mapping through the ALS (`GET /participants/MSISDN/{n}`, answered by callback).
pub async fn check_als(als: &Als, range: &Range, sample: u32) -> Result<CheckStats, OpsError> {
    check_by(
        range,
        sample,
        |n| async move { als_owner(als, range, &n).await },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_chunk_and_sample() {
        let r = Range::of("perffsp3", 25_001).unwrap();
        let c: Vec<_> = r.chunks(10_000).collect();
        assert_eq!(c, vec![0..10_000, 10_000..20_000, 20_000..25_001]);
        let s = r.sample(5);
        assert_eq!(s.first(), Some(&0));
        assert_eq!(s.last(), Some(&25_000));
        assert_eq!(s.len(), 5);
        assert_eq!(Range::of("perffsp3", 3).unwrap().sample(10), vec![0, 1, 2]);
        assert_eq!(r.number(7), "254703000007");
        assert!(Range::of("bank1", 1).is_err());
        assert!(Range::of("perffsp1", 1_000_001).is_err());
    }
}
