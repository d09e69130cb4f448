//! The Kafka side of a run: message counts per Mojaloop topic over a window and the validity
//! ratios a healthy P2P run shows (every prepare gets a fulfil; each transfer makes two
//! notifications and two position messages — on `topic-transfer-position-batch` where the
//! batch position handler is deployed), consumer-group lag, and topic creation for brokers that
//! do not auto-create (tansu).
//!
//! Counts come from high watermarks (sum over partitions) at the start and end of the window,
//! so they cost nothing on the broker and work for any retention.

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// The topics a P2P run touches (central-ledger's general topic template).
pub const MOJALOOP_TOPICS: &[&str] = &[
    "topic-transfer-prepare",
    "topic-transfer-position",
    "topic-transfer-position-batch",
    "topic-transfer-fulfil",
    "topic-transfer-get",
    "topic-notification-event",
    "topic-admin-transfer",
    "topic-bulk-prepare",
    "topic-bulk-fulfil",
    "topic-bulk-processing",
    "topic-bulk-get",
];

/// quoting-service's topics (its `KAFKA.CONSUMER`/`PRODUCER` config: quotes, FX quotes and
/// bulk quotes, each post/put/get). In `SIMPLE_ROUTING_MODE` it uses none of them, otherwise
/// it needs them all, and a broker that does not auto-create them leaves it unable to start.
pub const QUOTING_TOPICS: &[&str] = &[
    "topic-quotes-post",
    "topic-quotes-put",
    "topic-quotes-get",
    "topic-fx-quotes-post",
    "topic-fx-quotes-put",
    "topic-fx-quotes-get",
    "topic-bulkquotes-post",
    "topic-bulkquotes-put",
    "topic-bulkquotes-get",
];

/// Every topic `perfbed kafka create-topics` makes sure exists by default: the transfer side
/// ([`MOJALOOP_TOPICS`]) and quoting-service's ([`QUOTING_TOPICS`]).
pub fn topics_to_create() -> Vec<&'static str> {
    MOJALOOP_TOPICS
        .iter()
        .chain(QUOTING_TOPICS)
        .copied()
        .collect()
}

/// What went wrong talking to Kafka.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// Client or broker error.
    #[error("kafka at {brokers}: {what}")]
    Client {
        /// Bootstrap servers.
        brokers: String,
        /// Doing what.
        what: String,
        /// Why.
        source: Box<rdkafka::error::KafkaError>,
    },
    /// Nothing to measure.
    #[error("{0}")]
    Invalid(String),
}

/// High watermarks of some topics at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offsets {
    /// Unix time of the snapshot, milliseconds.
    pub at_ms: u64,
    /// topic → partition → high watermark (absent topics are left out).
    pub topics: BTreeMap<String, BTreeMap<i32, i64>>,
}

fn client_config(brokers: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers)
        .set("socket.timeout.ms", "10000")
        .set("allow.auto.create.topics", "false");
    c
}

fn err(brokers: &str, what: &str) -> impl FnOnce(rdkafka::error::KafkaError) -> KafkaError {
    let (brokers, what) = (brokers.to_owned(), what.to_owned());
    move |source| KafkaError::Client {
        brokers,
        what,
        source: Box::new(source),
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// High watermarks of `topics` now (blocking; run it off the async runtime).
pub fn snapshot(brokers: &str, topics: &[&str], timeout: Duration) -> Result<Offsets, KafkaError> {
    let consumer: BaseConsumer = client_config(brokers)
        .set("group.id", "perfbed-kafka-snapshot")
        .create()
        .map_err(err(brokers, "creating a client"))?;
    let md = consumer
        .fetch_metadata(None, timeout)
        .map_err(err(brokers, "reading metadata (is the broker up?)"))?;
    let mut out = Offsets {
        at_ms: now_ms(),
        ..Offsets::default()
    };
    for t in md.topics() {
        if !topics.contains(&t.name()) || t.error().is_some() {
            continue;
        }
        let mut parts = BTreeMap::new();
        for p in t.partitions() {
            let (_, high) = consumer
                .fetch_watermarks(t.name(), p.id(), timeout)
                .map_err(err(brokers, &format!("reading offsets of {}", t.name())))?;
            parts.insert(p.id(), high);
        }
        out.topics.insert(t.name().to_owned(), parts);
    }
    Ok(out)
}

/// Messages per topic between two snapshots.
pub fn counts(before: &Offsets, after: &Offsets) -> BTreeMap<String, u64> {
    after
        .topics
        .iter()
        .map(|(t, parts)| {
            let n = parts
                .iter()
                .map(|(p, high)| {
                    let low = before
                        .topics
                        .get(t)
                        .and_then(|b| b.get(p))
                        .copied()
                        .unwrap_or(0);
                    (high - low).max(0) as u64
                })
                .sum();
            (t.clone(), n)
        })
        .collect()
}

/// One validity ratio: `numerator / denominator ≈ expect` within `tolerance` (relative).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ratio {
    /// Name shown in the verdict.
    pub name: String,
    /// Topics summed on top.
    pub numerator: Vec<String>,
    /// Topics summed below.
    pub denominator: Vec<String>,
    /// Expected value.
    pub expect: f64,
    /// Judged only when the numerator topics carried messages in the window; otherwise not
    /// applicable (it passes, measured `None`). For topics a deployment may not use at all.
    #[serde(default)]
    pub when_used: bool,
}

/// The seed's validity ratios.
pub fn default_ratios() -> Vec<Ratio> {
    let t = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    vec![
        Ratio {
            name: "fulfil/prepare".into(),
            numerator: t(&["topic-transfer-fulfil"]),
            denominator: t(&["topic-transfer-prepare"]),
            expect: 1.0,
            when_used: false,
        },
        Ratio {
            name: "notification/prepare".into(),
            numerator: t(&["topic-notification-event"]),
            denominator: t(&["topic-transfer-prepare"]),
            expect: 2.0,
            when_used: false,
        },
        // The batch position handler (central-ledger `handler --positionbatch`, with PREPARE and
        // COMMIT mapped to this topic in KAFKA.EVENT_TYPE_ACTION_TOPIC_MAP.POSITION) gets one
        // message per prepare and one per fulfil. Deployments with the plain position handler
        // leave the topic empty: then the ratio is not applicable.
        Ratio {
            name: "position-batch/prepare".into(),
            numerator: t(&["topic-transfer-position-batch"]),
            denominator: t(&["topic-transfer-prepare"]),
            expect: 2.0,
            when_used: true,
        },
    ]
}

/// The verdict on a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gate {
    /// Window length, seconds.
    pub window_s: f64,
    /// Messages per topic.
    pub counts: BTreeMap<String, u64>,
    /// (ratio, measured, passed). A ratio not applicable in the window (see
    /// [`Ratio::when_used`]) is `(ratio, None, true)` and named in `not_applicable`.
    pub ratios: Vec<(Ratio, Option<f64>, bool)>,
    /// Ratios not judged: their topics carried nothing in the window.
    #[serde(default)]
    pub not_applicable: Vec<String>,
    /// Prepares needed for a verdict.
    pub min_prepares: u64,
    /// Passed overall.
    pub pass: bool,
}

/// Judges a window: every applicable ratio within `tolerance` of its expectation, and at least
/// `min_prepares` prepares (an idle window proves nothing).
pub fn gate(
    before: &Offsets,
    after: &Offsets,
    ratios: &[Ratio],
    tolerance: f64,
    min_prepares: u64,
) -> Gate {
    gate_counts(
        counts(before, after),
        after.at_ms.saturating_sub(before.at_ms) as f64 / 1000.0,
        ratios,
        tolerance,
        min_prepares,
    )
}

/// Judges message counts per topic (a window's, or a run's messages by transfer): every
/// applicable ratio within `tolerance` of its expectation, and at least `min_prepares` prepares.
pub fn gate_counts(
    counts: BTreeMap<String, u64>,
    window_s: f64,
    ratios: &[Ratio],
    tolerance: f64,
    min_prepares: u64,
) -> Gate {
    let sum = |ts: &[String]| {
        ts.iter()
            .map(|t| counts.get(t).copied().unwrap_or(0))
            .sum::<u64>()
    };
    let mut not_applicable = Vec::new();
    let judged: Vec<_> = ratios
        .iter()
        .map(|r| {
            let (n, d) = (sum(&r.numerator), sum(&r.denominator));
            if r.when_used && n == 0 {
                not_applicable.push(r.name.clone());
                return (r.clone(), None, true);
            }
            let v = (d > 0).then(|| n as f64 / d as f64);
            let ok = v.is_some_and(|v| (v - r.expect).abs() <= tolerance * r.expect);
            (r.clone(), v, ok)
        })
        .collect();
    let prepares = counts.get("topic-transfer-prepare").copied().unwrap_or(0);
    let pass = prepares >= min_prepares && judged.iter().all(|(_, _, ok)| *ok);
    Gate {
        window_s,
        counts,
        ratios: judged,
        not_applicable,
        min_prepares,
        pass,
    }
}

// ---- Counting by transfer ---------------------------------------------------------------------

/// A `data:<mime>;base64,<body>` URI's JSON body.
fn decode_data_uri(uri: &str) -> Option<serde_json::Value> {
    use base64::Engine;
    let (head, body) = uri.strip_prefix("data:")?.split_once(',')?;
    let bytes = if head.ends_with(";base64") {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .ok()?
    } else {
        body.as_bytes().to_vec()
    };
    serde_json::from_slice(&bytes).ok()
}

/// Whether a message belongs to a run whose transfer ids start with `prefix` (8 hex digits of
/// a UUID, or a ULID's first characters; compared without regard to case): its transfer id
/// does, wherever the Mojaloop services put it — the message's `id` (ml-api-adapter sets it to
/// the transfer id on prepare and fulfil; central-ledger keeps it on the position and
/// notification messages it derives, and its timeout handler sets it too),
/// `content.uriParams.id` (fulfils, aborts, error notifications), the `transferId` of
/// `content.payload` (an object, or a `data:…;base64,` URI as ml-api-adapter writes it), or the
/// record's key (some producers key by transfer id; central-ledger keys position messages by
/// participant-currency id, which simply matches nothing).
///
/// Looks in the cheap places first (the key, the message id, `uriParams`) and decodes the
/// payload only when they do not match: every message on the topics is read during the run.
pub fn belongs_to(prefix: &str, key: Option<&[u8]>, value: Option<&[u8]>) -> bool {
    let is_run = |id: &str| {
        id.len() > prefix.len()
            && id.is_char_boundary(prefix.len())
            && id[..prefix.len()].eq_ignore_ascii_case(prefix)
    };
    if prefix.is_empty() {
        return false;
    }
    if key
        .and_then(|k| std::str::from_utf8(k).ok())
        .is_some_and(is_run)
    {
        return true;
    }
    let Some(v) = value.and_then(|v| serde_json::from_slice::<serde_json::Value>(v).ok()) else {
        return false;
    };
    let content = v.get("content");
    let cheap = [
        v.get("id"),
        content.and_then(|c| c.pointer("/uriParams/id")),
        content.and_then(|c| c.pointer("/payload/transferId")),
    ];
    if cheap
        .iter()
        .any(|x| x.and_then(serde_json::Value::as_str).is_some_and(is_run))
    {
        return true;
    }
    content
        .and_then(|c| c.get("payload"))
        .and_then(serde_json::Value::as_str)
        .and_then(decode_data_uri)
        .and_then(|p| p.get("transferId").and_then(|t| t.as_str().map(is_run)))
        .unwrap_or(false)
}

/// What reading the transfer topics found for one run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunMessages {
    /// The run's transfer-id prefix the messages were matched by.
    pub prefix: String,
    /// Every message read, per topic.
    pub read: BTreeMap<String, u64>,
    /// The messages of the run's transfers, per topic.
    pub counts: BTreeMap<String, u64>,
    /// Every partition was read up to the end offsets asked for (false: the reading stopped
    /// at its bound, and the counts are short).
    pub complete: bool,
}

impl RunMessages {
    /// Messages read on all topics.
    pub fn total_read(&self) -> u64 {
        self.read.values().sum()
    }

    /// The run's messages on all topics.
    pub fn total_run(&self) -> u64 {
        self.counts.values().sum()
    }
}

/// Reads the topics of `from` (a snapshot taken before the run's first message) onward and
/// counts the messages whose transfer id starts with `prefix` (see [`belongs_to`]), as they
/// come (so a long run is read while it runs, not all at the end). Once `until` delivers the
/// end offsets (a snapshot taken after the switch drained), it reads up to them and returns; at
/// most `bound` after that, then it returns what it read, `complete: false`. Blocking: run it
/// on a thread of its own.
pub fn read_run_messages(
    brokers: &str,
    from: &Offsets,
    prefix: &str,
    until: std::sync::mpsc::Receiver<Offsets>,
    bound: Duration,
) -> Result<RunMessages, KafkaError> {
    use rdkafka::message::Message;
    let consumer: BaseConsumer = client_config(brokers)
        .set("group.id", "perfbed-kafka-by-transfer")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .create()
        .map_err(err(brokers, "creating a client"))?;
    // Next offset to read, per partition.
    let mut next: BTreeMap<(String, i32), i64> = from
        .topics
        .iter()
        .flat_map(|(t, parts)| parts.iter().map(move |(p, h)| ((t.clone(), *p), *h)))
        .collect();
    let assign = |next: &BTreeMap<(String, i32), i64>| -> Result<(), KafkaError> {
        let mut tpl = TopicPartitionList::new();
        for ((t, p), o) in next {
            tpl.add_partition_offset(t, *p, Offset::Offset(*o))
                .map_err(err(brokers, "assigning partitions"))?;
        }
        consumer
            .assign(&tpl)
            .map_err(err(brokers, "assigning partitions"))
    };
    assign(&next)?;
    let mut out = RunMessages {
        prefix: prefix.to_owned(),
        ..RunMessages::default()
    };
    let mut end: Option<(Offsets, std::time::Instant)> = None;
    loop {
        if end.is_none() {
            match until.try_recv() {
                Ok(to) => {
                    // Partitions made during the run: read them from their start.
                    let mut grew = false;
                    for (t, parts) in &to.topics {
                        for p in parts.keys() {
                            if let std::collections::btree_map::Entry::Vacant(e) =
                                next.entry((t.clone(), *p))
                            {
                                e.insert(0);
                                grew = true;
                            }
                        }
                    }
                    if grew {
                        assign(&next)?;
                    }
                    end = Some((to, std::time::Instant::now()));
                }
                // Dropped without an end: nothing more to wait for.
                Err(std::sync::mpsc::TryRecvError::Disconnected) => return Ok(out),
                Err(std::sync::mpsc::TryRecvError::Empty) => {}
            }
        }
        if let Some((to, since)) = &end {
            let behind = to.topics.iter().any(|(t, parts)| {
                parts
                    .iter()
                    .any(|(p, high)| next.get(&(t.clone(), *p)).copied().unwrap_or(0) < *high)
            });
            if !behind {
                out.complete = true;
                return Ok(out);
            }
            if since.elapsed() >= bound {
                return Ok(out);
            }
        }
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Err(e)) => {
                // End-of-partition events and transient broker errors: keep polling; a
                // persistent error ends at the bound.
                tracing::debug!("kafka by transfer: {e}");
            }
            Some(Ok(m)) => {
                let topic = m.topic().to_owned();
                next.insert((topic.clone(), m.partition()), m.offset() + 1);
                *out.read.entry(topic.clone()).or_default() += 1;
                if belongs_to(prefix, m.key(), m.payload()) {
                    *out.counts.entry(topic).or_default() += 1;
                }
            }
        }
    }
}

/// One consumer group's position on one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lag {
    /// Group.
    pub group: String,
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Committed offset.
    pub committed: i64,
    /// High watermark.
    pub high: i64,
    /// high − committed.
    pub lag: i64,
}

/// The consumer groups the broker knows.
pub fn groups(brokers: &str, timeout: Duration) -> Result<Vec<String>, KafkaError> {
    group_names(brokers, timeout, |_| true)
}

/// The consumer groups that have members now (a consumer joined and its session has not
/// timed out), where the broker says so; a group nobody runs any more has none.
pub fn groups_with_members(brokers: &str, timeout: Duration) -> Result<Vec<String>, KafkaError> {
    group_names(brokers, timeout, |g| !g.members().is_empty())
}

/// The names of the broker's consumer groups that `keep` keeps, sorted.
fn group_names(
    brokers: &str,
    timeout: Duration,
    keep: impl Fn(&rdkafka::groups::GroupInfo) -> bool,
) -> Result<Vec<String>, KafkaError> {
    let consumer: BaseConsumer = client_config(brokers)
        .create()
        .map_err(err(brokers, "creating a client"))?;
    let list = consumer
        .fetch_group_list(None, timeout)
        .map_err(err(brokers, "listing consumer groups"))?;
    let mut g: Vec<String> = list
        .groups()
        .iter()
        .filter(|g| keep(g))
        .map(|g| g.name().to_owned())
        .collect();
    g.sort();
    Ok(g)
}

/// Lag of `groups` (all known groups when empty) on `topics`, where they have committed.
pub fn lag(
    brokers: &str,
    groups_wanted: &[String],
    topics: &[&str],
    timeout: Duration,
) -> Result<Vec<Lag>, KafkaError> {
    let groups = if groups_wanted.is_empty() {
        groups(brokers, timeout)?
    } else {
        groups_wanted.to_vec()
    };
    let now = snapshot(brokers, topics, timeout)?;
    let mut tpl = TopicPartitionList::new();
    for (t, parts) in &now.topics {
        for p in parts.keys() {
            tpl.add_partition(t, *p);
        }
    }
    let mut out = Vec::new();
    if tpl.count() == 0 {
        return Ok(out);
    }
    for g in groups {
        let consumer: BaseConsumer = client_config(brokers)
            .set("group.id", &g)
            .set("enable.auto.commit", "false")
            .create()
            .map_err(err(brokers, "creating a client"))?;
        let committed = consumer
            .committed_offsets(tpl.clone(), timeout)
            .map_err(err(brokers, &format!("reading committed offsets of {g}")))?;
        for e in committed.elements() {
            if let Offset::Offset(c) = e.offset() {
                let high = now.topics[e.topic()][&e.partition()];
                out.push(Lag {
                    group: g.clone(),
                    topic: e.topic().to_owned(),
                    partition: e.partition(),
                    committed: c,
                    high,
                    lag: (high - c).max(0),
                });
            }
        }
    }
    Ok(out)
}

/// Creates the topics that do not exist yet; returns those it created.
pub async fn create_topics(
    brokers: &str,
    topics: &[&str],
    partitions: i32,
    timeout: Duration,
) -> Result<Vec<String>, KafkaError> {
    let existing = snapshot(brokers, topics, timeout)?;
    let missing: Vec<&str> = topics
        .iter()
        .copied()
        .filter(|t| !existing.topics.contains_key(*t))
        .collect();
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    let admin: AdminClient<DefaultClientContext> = client_config(brokers)
        .create()
        .map_err(err(brokers, "creating an admin client"))?;
    let new: Vec<NewTopic> = missing
        .iter()
        .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(1)))
        .collect();
    let results = admin
        .create_topics(&new, &AdminOptions::new().operation_timeout(Some(timeout)))
        .await
        .map_err(err(brokers, "creating topics"))?;
    let mut created = Vec::new();
    for r in results {
        match r {
            Ok(t) => created.push(t),
            // Made meanwhile by someone else: present, which is all we want.
            Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, code)) => {
                return Err(KafkaError::Invalid(format!(
                    "kafka at {brokers}: creating {t}: {code}"
                )))
            }
        }
    }
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offs(at: u64, v: &[(&str, i32, i64)]) -> Offsets {
        let mut o = Offsets {
            at_ms: at,
            ..Offsets::default()
        };
        for (t, p, h) in v {
            o.topics.entry((*t).to_owned()).or_default().insert(*p, *h);
        }
        o
    }

    #[test]
    fn gate_judges_ratios_and_idle_windows() {
        let before = offs(
            0,
            &[
                ("topic-transfer-prepare", 0, 10),
                ("topic-transfer-prepare", 1, 5),
            ],
        );
        let after = offs(
            10_000,
            &[
                ("topic-transfer-prepare", 0, 60),
                ("topic-transfer-prepare", 1, 55),
                ("topic-transfer-fulfil", 0, 99),
                ("topic-notification-event", 0, 201),
            ],
        );
        let g = gate(&before, &after, &default_ratios(), 0.02, 1);
        assert_eq!(g.counts["topic-transfer-prepare"], 100);
        assert_eq!(g.window_s, 10.0);
        assert!(g.pass, "{g:?}");
        assert_eq!(g.not_applicable, ["position-batch/prepare"]);
        let strict = gate(&before, &after, &default_ratios(), 0.001, 1);
        assert!(!strict.pass);
        assert!(!gate(&before, &after, &default_ratios(), 0.02, 101).pass);
        assert!(
            !gate(&after, &after, &default_ratios(), 0.5, 0).pass,
            "no prepares: no ratio"
        );
    }

    #[test]
    fn a_message_belongs_to_a_run_by_any_place_its_transfer_id_is_in() {
        use base64::Engine;
        let run = "0badcafe-1234-4567-89ab-000000000001";
        let other = "1badcafe-1234-4567-89ab-000000000001";
        let body = serde_json::json!({ "transferId": run, "amount": { "amount": "1" } });
        let uri = format!(
            "data:application/vnd.interoperability.transfers+json;version=1.1;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(body.to_string())
        );
        let v = |x: serde_json::Value| x.to_string().into_bytes();
        // The message id (prepare/fulfil as ml-api-adapter writes them).
        let by_id = v(serde_json::json!({ "id": run, "content": { "payload": "x" } }));
        assert!(belongs_to("0badcafe", Some(b"42"), Some(&by_id)));
        // Only in the payload's data URI (a notification whose id is an event id).
        let by_payload = v(serde_json::json!({ "id": other, "content": { "payload": uri } }));
        assert!(belongs_to("0BADCAFE", None, Some(&by_payload)));
        // Only in uriParams (an error notification whose payload is the error).
        let by_uri = v(serde_json::json!({ "id": other, "content": {
            "uriParams": { "id": run }, "payload": { "errorInformation": {} } } }));
        assert!(belongs_to("0badcafe", None, Some(&by_uri)));
        // Only in the key.
        assert!(belongs_to(
            "0badcafe",
            Some(run.as_bytes()),
            Some(b"not json")
        ));
        // Another run's, or no id at all.
        let foreign =
            v(serde_json::json!({ "id": other, "content": { "uriParams": { "id": other } } }));
        assert!(!belongs_to("0badcafe", Some(b"7"), Some(&foreign)));
        assert!(!belongs_to("0badcafe", None, None));
        assert!(!belongs_to("", Some(run.as_bytes()), None));
        // A prefix is not a whole id.
        assert!(!belongs_to("0badcafe", Some(b"0badcafe"), None));
    }

    #[test]
    fn position_batch_is_judged_only_where_the_batch_handler_runs() {
        let before = offs(0, &[]);
        let run = |batch: i64| {
            let mut v = vec![
                ("topic-transfer-prepare", 0, 100),
                ("topic-transfer-fulfil", 0, 100),
                ("topic-notification-event", 0, 200),
            ];
            if batch > 0 {
                v.push(("topic-transfer-position-batch", 0, batch));
            }
            gate(&before, &offs(1_000, &v), &default_ratios(), 0.05, 1)
        };
        let judged = |g: &Gate| {
            g.ratios
                .iter()
                .find(|(r, _, _)| r.name == "position-batch/prepare")
                .map(|(_, v, ok)| (*v, *ok))
                .unwrap()
        };
        // Plain position handler: the topic stays empty, the ratio does not apply.
        let plain = run(0);
        assert!(plain.pass, "{plain:?}");
        assert_eq!(judged(&plain), (None, true));
        assert_eq!(plain.not_applicable, ["position-batch/prepare"]);
        // Batch handler: two messages per transfer pass, one per transfer fails.
        let batch = run(199);
        assert!(batch.pass, "{batch:?}");
        assert_eq!(judged(&batch), (Some(1.99), true));
        assert!(batch.not_applicable.is_empty());
        let half = run(100);
        assert!(!half.pass, "{half:?}");
        assert_eq!(judged(&half), (Some(1.0), false));
        // JSON written before these fields existed still reads.
        let mut old = serde_json::to_value(&half).unwrap();
        old.as_object_mut().unwrap().remove("not_applicable");
        for t in old["ratios"].as_array_mut().unwrap() {
            t[0].as_object_mut().unwrap().remove("when_used");
        }
        let back: Gate = serde_json::from_value(old).unwrap();
        assert!(back.not_applicable.is_empty());
        assert!(back.ratios.iter().all(|(r, _, _)| !r.when_used));
    }
}
