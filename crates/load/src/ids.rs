//! Transfer ids a run can rebuild, the driver's outcome of each, and the id-by-id comparison
//! with what the switch recorded.
//!
//! An id is 16 bytes, written as a UUID v4 (FSPIOP) or a ULID (ISO 20022):
//!
//! | bytes | what |
//! |---|---|
//! | 0–3 | the run tag (every replica of a run shares it: the ledger is asked by this prefix) |
//! | 4–7 | this driver's nonce (random per driver process and run, masked by [`NONCE_MASK`]: the UUID version nibble and the ULID's zero bit after the tag live there) |
//! | 8 | `0x80` (the UUID variant bits) + the kind: 0 a transfer (and its transaction), 1 a quote |
//! | 9–13 | the arrival index (40 bits) |
//! | 14–15 | the replica stamp (its index; 0 for a single driver) |
//!
//! So the driver keeps **one byte per arrival** ([`Outcomes`]: 7.2 MB for 1000/s over 2 h,
//! whatever the outcome) instead of the ids themselves, and any id the switch reports can be
//! turned back into its arrival ([`IdSpace::decode`]), and any arrival into its id. Two runs
//! with the same run id (the same tag) differ by their nonce: the other run's transfers are
//! counted apart, never compared.
//!
//! [`IdCheck`] streams the switch's `(id, state)` pairs in any order and holds them against the
//! outcomes: every transfer the driver saw committed must be committed on the switch, and no
//! transfer the driver knows did not commit may be; once every uncertain arrival is resolved,
//! the two committed sets are equal. Memory: the outcomes (one byte per arrival, the
//! comparison marks what it saw in the same byte) and the first few mismatches.

use fspiop::iso::Api;
use fspiop::types::CorrelationId;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::Path;

/// The bits of bytes 4–7 a nonce may use: not the UUID version nibble (byte 6's high half)
/// nor the ULID's zero bit after the tag (byte 4's top bit).
pub const NONCE_MASK: u32 = 0x7fff_0fff;

/// Kind byte: a transfer id (also the transaction id of its quote).
pub const KIND_TRANSFER: u8 = 0;
/// Kind byte: a quote id.
pub const KIND_QUOTE: u8 = 1;

/// The highest arrival index an id can hold (40 bits).
pub const MAX_INDEX: u64 = (1 << 40) - 1;

/// How one driver makes its ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdSpace {
    /// The run tag (bytes 0–3).
    pub tag: [u8; 4],
    /// This driver's nonce (bytes 4–7, within [`NONCE_MASK`]).
    pub nonce: u32,
    /// UUIDs or ULIDs.
    pub api: Api,
    /// The replica stamp (bytes 14–15).
    pub stamp: u16,
}

impl IdSpace {
    /// A fresh random nonce, within [`NONCE_MASK`].
    pub fn random_nonce() -> u32 {
        rand::random::<u32>() & NONCE_MASK
    }

    /// The prefix every id of this space starts with (what the ledger is asked by): the tag as
    /// 8 lowercase hex digits, or its 7-character ULID prefix.
    pub fn prefix(&self) -> String {
        match self.api {
            Api::Fspiop => self.tag.iter().map(|b| format!("{b:02x}")).collect(),
            Api::Iso20022 => fspiop::iso::ulid_prefix(self.tag),
        }
    }

    /// The 16 bytes of the id of `kind` for arrival `index`.
    pub fn bytes(&self, kind: u8, index: u64) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..4].copy_from_slice(&self.tag);
        b[4..8].copy_from_slice(&(self.nonce & NONCE_MASK).to_be_bytes());
        b[8] = 0x80 | (kind & 0x3f);
        b[9..14].copy_from_slice(&(index & MAX_INDEX).to_be_bytes()[3..]);
        b[14..16].copy_from_slice(&self.stamp.to_be_bytes());
        b
    }

    /// The id of `kind` for arrival `index`, as it goes on the wire.
    pub fn id(&self, kind: u8, index: u64) -> CorrelationId {
        let bytes = self.bytes(kind, index);
        match self.api {
            Api::Fspiop => CorrelationId::v4_from_bytes(bytes),
            Api::Iso20022 => fspiop::iso::ulid_from_u128(u128::from_be_bytes(bytes)),
        }
    }

    /// The kind and arrival index of an id this space made; `None` for any other id (another
    /// run with the same tag, another replica, not perfbed's). Exact: the id must be the very
    /// text [`IdSpace::id`] writes for them.
    pub fn decode(&self, id: &str) -> Option<(u8, u64)> {
        let b = id_bytes(id)?;
        if b[..4] != self.tag
            || u32::from_be_bytes([b[4], b[5], b[6], b[7]]) & NONCE_MASK != self.nonce & NONCE_MASK
            || b[14..16] != self.stamp.to_be_bytes()
        {
            return None;
        }
        let kind = b[8] & 0x3f;
        let mut ix = [0u8; 8];
        ix[3..].copy_from_slice(&b[9..14]);
        let index = u64::from_be_bytes(ix);
        (self.id(kind, index).as_str() == id).then_some((kind, index))
    }
}

/// The 16 bytes of a lowercase UUID text or a ULID text.
fn id_bytes(id: &str) -> Option<[u8; 16]> {
    if id.len() == 36 {
        let mut out = [0u8; 16];
        let hex: Vec<u8> = id.bytes().filter(|c| *c != b'-').collect();
        if hex.len() != 32 {
            return None;
        }
        for (o, pair) in out.iter_mut().zip(hex.chunks(2)) {
            let s = std::str::from_utf8(pair).ok()?;
            *o = u8::from_str_radix(s, 16).ok()?;
        }
        Some(out)
    } else {
        fspiop::iso::ulid_bits(id).map(u128::to_be_bytes)
    }
}

/// What the driver knows of one arrival's transfer: one byte per arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Fate {
    /// No arrival with this index ended here (another replica's, or never started).
    None = 0,
    /// The payer got COMMITTED with a valid fulfilment.
    Committed = 1,
    /// It ended before its transfer request left (an earlier phase failed, or not sent).
    NoTransfer = 2,
    /// Its transfer was refused (an error callback, an HTTP error, an anomaly).
    Rejected = 3,
    /// Its transfer may be anywhere: timed out or failed after send in the transfer step, or
    /// the iteration was lost. Reconciliation may resolve it.
    Uncertain = 4,
    /// Uncertain, and reconciliation found it committed on the switch.
    LaterCommitted = 5,
    /// Uncertain, and reconciliation found it aborted or expired on the switch.
    LaterAborted = 6,
}

impl Fate {
    const ALL: [Fate; 7] = [
        Fate::None,
        Fate::Committed,
        Fate::NoTransfer,
        Fate::Rejected,
        Fate::Uncertain,
        Fate::LaterCommitted,
        Fate::LaterAborted,
    ];

    fn from_u8(b: u8) -> Fate {
        Fate::ALL
            .get(usize::from(b & !SEEN))
            .copied()
            .unwrap_or(Fate::None)
    }

    /// Of an ended sample.
    pub fn of(s: &crate::Sample) -> Fate {
        use crate::Outcome;
        let transfer_step = s.phases[2].is_some();
        match &s.outcome {
            Outcome::Committed => Fate::Committed,
            Outcome::Lost(_) => Fate::Uncertain,
            Outcome::TimedOut | Outcome::FailedAfterSend(_) if s.uncertain.is_some() => {
                Fate::Uncertain
            }
            Outcome::Rejected(_) if transfer_step => Fate::Rejected,
            _ => Fate::NoTransfer,
        }
    }

    /// Whether the driver counts this transfer committed.
    pub fn committed(self) -> bool {
        matches!(self, Fate::Committed | Fate::LaterCommitted)
    }

    /// Whether the driver knows this transfer did not commit.
    pub fn not_committed(self) -> bool {
        matches!(self, Fate::NoTransfer | Fate::Rejected | Fate::LaterAborted)
    }

    /// As the report names it.
    pub fn name(self) -> &'static str {
        match self {
            Fate::None => "no such arrival",
            Fate::Committed => "committed",
            Fate::NoTransfer => "ended before its transfer was sent",
            Fate::Rejected => "rejected",
            Fate::Uncertain => "uncertain",
            Fate::LaterCommitted => "uncertain, reconciled committed",
            Fate::LaterAborted => "uncertain, reconciled aborted",
        }
    }
}

/// The mark [`IdCheck`] sets on an arrival whose transfer the switch reported.
const SEEN: u8 = 0x80;

/// The driver's [`Fate`] of each of its arrivals, one byte each, with the [`IdSpace`] that
/// rebuilds their ids. A replica of `count` keeps only its own arrivals (index ≡ stamp mod
/// count): position `index / count`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcomes {
    /// How this driver made its ids.
    pub space: IdSpace,
    /// Replicas in the run (1 for a single driver).
    pub count: u16,
    fates: Vec<u8>,
}

/// The first bytes of an outcomes file.
const MAGIC: &[u8; 8] = b"PBOUTC01";

/// The file an outcomes table is written to, beside `report.json`.
pub const FILE: &str = "outcomes.bin";

impl Outcomes {
    /// An empty table.
    pub fn new(space: IdSpace, count: u16) -> Outcomes {
        Outcomes {
            space,
            count: count.max(1),
            fates: Vec::new(),
        }
    }

    fn position(&self, index: u64) -> Option<usize> {
        let c = u64::from(self.count);
        (index % c == u64::from(self.space.stamp) % c)
            .then(|| usize::try_from(index / c).ok())
            .flatten()
    }

    /// Records arrival `index`'s fate (ignored for another replica's index).
    pub fn set(&mut self, index: u64, fate: Fate) {
        let Some(p) = self.position(index) else {
            return;
        };
        if p >= self.fates.len() {
            self.fates.resize(p + 1, 0);
        }
        self.fates[p] = (self.fates[p] & SEEN) | fate as u8;
    }

    /// Arrival `index`'s fate.
    pub fn get(&self, index: u64) -> Fate {
        self.position(index)
            .and_then(|p| self.fates.get(p))
            .map_or(Fate::None, |b| Fate::from_u8(*b))
    }

    /// Adds the arrivals of `other`, a later drive with the same ids (a stress run's
    /// recovery stage).
    pub fn absorb(&mut self, other: &Outcomes) {
        if other.fates.len() > self.fates.len() {
            self.fates.resize(other.fates.len(), 0);
        }
        for (a, b) in self.fates.iter_mut().zip(&other.fates) {
            if *b != 0 {
                *a = *b;
            }
        }
    }

    /// Every recorded arrival: (index, fate).
    pub fn iter(&self) -> impl Iterator<Item = (u64, Fate)> + '_ {
        let (c, s) = (u64::from(self.count), u64::from(self.space.stamp));
        self.fates
            .iter()
            .enumerate()
            .filter(|(_, b)| **b & !SEEN != 0)
            .map(move |(p, b)| (p as u64 * c + s % c, Fate::from_u8(*b)))
    }

    /// Resolves an uncertain transfer `id` with what the switch said (`committed`, or final
    /// and not committed); `false` when the id is not one of this table's uncertain ones.
    pub fn resolve(&mut self, id: &str, committed: bool) -> bool {
        match self.space.decode(id) {
            Some((KIND_TRANSFER, index)) if self.get(index) == Fate::Uncertain => {
                self.set(
                    index,
                    if committed {
                        Fate::LaterCommitted
                    } else {
                        Fate::LaterAborted
                    },
                );
                true
            }
            _ => false,
        }
    }

    /// Writes the table (a small header, then one byte per arrival).
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
        f.write_all(MAGIC)?;
        f.write_all(&self.space.tag)?;
        f.write_all(&self.space.nonce.to_be_bytes())?;
        f.write_all(&[match self.space.api {
            Api::Fspiop => 0,
            Api::Iso20022 => 1,
        }])?;
        f.write_all(&self.space.stamp.to_be_bytes())?;
        f.write_all(&self.count.to_be_bytes())?;
        f.write_all(&(self.fates.len() as u64).to_be_bytes())?;
        let clean: Vec<u8> = self.fates.iter().map(|b| b & !SEEN).collect();
        f.write_all(&clean)?;
        f.flush()
    }

    /// Reads a table [`Outcomes::write`] wrote.
    pub fn read(path: &Path) -> std::io::Result<Outcomes> {
        let bad = |why: &str| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {why}", path.display()),
            )
        };
        let mut f = std::io::BufReader::new(std::fs::File::open(path)?);
        let mut head = [0u8; 8 + 4 + 4 + 1 + 2 + 2 + 8];
        f.read_exact(&mut head)?;
        if &head[..8] != MAGIC {
            return Err(bad("not a perfbed outcomes file"));
        }
        let u16at = |i: usize| u16::from_be_bytes([head[i], head[i + 1]]);
        let space = IdSpace {
            tag: [head[8], head[9], head[10], head[11]],
            nonce: u32::from_be_bytes([head[12], head[13], head[14], head[15]]),
            api: match head[16] {
                0 => Api::Fspiop,
                1 => Api::Iso20022,
                _ => return Err(bad("unknown API byte")),
            },
            stamp: u16at(17),
        };
        let count = u16at(19);
        let mut n = [0u8; 8];
        n.copy_from_slice(&head[21..29]);
        let len = u64::from_be_bytes(n);
        let mut fates = Vec::new();
        f.take(len).read_to_end(&mut fates)?;
        if fates.len() as u64 != len || fates.iter().any(|b| *b as usize >= Fate::ALL.len()) {
            return Err(bad("truncated or holds an unknown outcome"));
        }
        Ok(Outcomes {
            space,
            count: count.max(1),
            fates,
        })
    }
}

/// One id on which driver and switch disagree.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IdMismatch {
    /// The transfer id.
    pub id: String,
    /// What the driver knows of it ([`Fate::name`]).
    pub driver: String,
    /// Its state on the switch (`absent` when the switch does not have it).
    pub switch: String,
}

/// The id-by-id comparison in the report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IdComparison {
    /// Transfer ids of this run the switch reported.
    pub switch_ids: u64,
    /// Ids with the run's prefix that this run did not make (another run with the same run
    /// id, another tool): counted, not compared.
    pub other_ids: u64,
    /// The driver's committed set: committed, and uncertain ones reconciled committed.
    pub driver_committed: u64,
    /// The switch's committed set (this run's ids).
    pub switch_committed: u64,
    /// Uncertain arrivals reconciliation did not resolve: the switch may have committed them.
    pub unresolved: u64,
    /// Of those, how many the switch shows committed.
    pub unresolved_committed: u64,
    /// Ids where driver and switch disagree (both sides).
    pub mismatches: u64,
    /// The first ids the driver counts committed and the switch does not.
    pub driver_side: Vec<IdMismatch>,
    /// The first ids the switch committed and the driver knows did not commit (or never
    /// made).
    pub switch_side: Vec<IdMismatch>,
    /// The two committed sets are equal (no mismatch, nothing unresolved).
    pub equal: bool,
}

/// How many mismatches of each side the report lists.
pub const LISTED: usize = 10;

/// The streaming comparison of the switch's `(id, state)` pairs with the driver's outcomes
/// (one table per driver replica).
#[derive(Debug)]
pub struct IdCheck {
    parts: Vec<Outcomes>,
    out: IdComparison,
}

impl IdCheck {
    /// A comparison against these drivers' outcomes.
    pub fn new(parts: Vec<Outcomes>) -> IdCheck {
        IdCheck {
            parts,
            out: IdComparison {
                switch_ids: 0,
                other_ids: 0,
                driver_committed: 0,
                switch_committed: 0,
                unresolved: 0,
                unresolved_committed: 0,
                mismatches: 0,
                driver_side: Vec::new(),
                switch_side: Vec::new(),
                equal: false,
            },
        }
    }

    fn mismatch(side: &mut Vec<IdMismatch>, n: &mut u64, id: &str, driver: &str, switch: &str) {
        *n += 1;
        if side.len() < LISTED {
            side.push(IdMismatch {
                id: id.to_owned(),
                driver: driver.to_owned(),
                switch: switch.to_owned(),
            });
        }
    }

    /// One transfer the switch reported: its id, its state name, and whether that state is
    /// committed (COMMITTED, SETTLED). A repeated id counts once.
    pub fn feed(&mut self, id: &str, state: &str, committed: bool) {
        let found = self.parts.iter_mut().find_map(|p| {
            p.space
                .decode(id)
                .map(|(kind, index)| (p.position(index), kind, p))
        });
        let Some((position, kind, part)) = found else {
            self.out.other_ids += 1;
            return;
        };
        let o = &mut self.out;
        let slot = position.and_then(|p| part.fates.get_mut(p));
        let fate = slot.as_ref().map_or(Fate::None, |b| Fate::from_u8(**b));
        if kind != KIND_TRANSFER || fate == Fate::None {
            // Made with this run's nonce, but no arrival of the driver's sent it.
            o.switch_ids += 1;
            if committed {
                o.switch_committed += 1;
            }
            let driver = if kind == KIND_TRANSFER {
                Fate::None.name()
            } else {
                "a quote id, not a transfer"
            };
            Self::mismatch(&mut o.switch_side, &mut o.mismatches, id, driver, state);
            return;
        }
        let Some(slot) = slot else { return };
        if *slot & SEEN != 0 {
            return;
        }
        *slot |= SEEN;
        o.switch_ids += 1;
        if committed {
            o.switch_committed += 1;
        }
        if fate.committed() && !committed {
            Self::mismatch(
                &mut o.driver_side,
                &mut o.mismatches,
                id,
                fate.name(),
                state,
            );
        } else if fate.not_committed() && committed {
            Self::mismatch(
                &mut o.switch_side,
                &mut o.mismatches,
                id,
                fate.name(),
                state,
            );
        } else if fate == Fate::Uncertain && committed {
            o.unresolved_committed += 1;
        }
    }

    /// The comparison, once every id of the run has been fed: the driver's committed
    /// transfers the switch never reported are mismatches too.
    pub fn finish(mut self) -> IdComparison {
        let o = &mut self.out;
        for part in &self.parts {
            for (index, fate) in part.iter() {
                if fate.committed() {
                    o.driver_committed += 1;
                }
                if fate == Fate::Uncertain {
                    o.unresolved += 1;
                }
                let seen = part
                    .position(index)
                    .and_then(|p| part.fates.get(p))
                    .is_some_and(|b| b & SEEN != 0);
                if fate.committed() && !seen {
                    let id = part.space.id(KIND_TRANSFER, index);
                    Self::mismatch(
                        &mut o.driver_side,
                        &mut o.mismatches,
                        id.as_str(),
                        fate.name(),
                        "absent",
                    );
                }
            }
        }
        o.equal = o.mismatches == 0 && o.unresolved == 0;
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space(api: Api, stamp: u16) -> IdSpace {
        IdSpace {
            tag: [0x1a, 0x2b, 0x3c, 0x4d],
            nonce: 0x7fff_0fff,
            api,
            stamp,
        }
    }

    #[test]
    fn ids_round_trip_and_keep_the_run_prefix_and_stamp() {
        for api in [Api::Fspiop, Api::Iso20022] {
            let s = space(api, 3);
            for index in [0, 1, 255, 256, 7_200_000, MAX_INDEX] {
                for kind in [KIND_TRANSFER, KIND_QUOTE] {
                    let id = s.id(kind, index);
                    assert_eq!(s.decode(id.as_str()), Some((kind, index)), "{id:?}");
                    let prefix = match api {
                        Api::Fspiop => "1a2b3c4d".to_owned(),
                        Api::Iso20022 => fspiop::iso::ulid_prefix(s.tag),
                    };
                    assert!(id.as_str().starts_with(&prefix), "{id:?}");
                    let owner = sim::Replicas {
                        index: 3,
                        count: 4,
                        peers: Vec::new(),
                    };
                    assert_eq!(owner.owner_of_id(id.as_str()), Some(3));
                }
            }
            assert_ne!(s.id(KIND_TRANSFER, 7), s.id(KIND_QUOTE, 7));
            // Another nonce, another stamp, another tag: not ours.
            let id = s.id(KIND_TRANSFER, 9);
            for other in [
                IdSpace { nonce: 1, ..s },
                IdSpace { stamp: 2, ..s },
                IdSpace { tag: [0; 4], ..s },
            ] {
                assert_eq!(other.decode(id.as_str()), None);
            }
            if api == Api::Fspiop {
                assert_eq!(s.decode(&id.as_str().to_uppercase()), None);
                assert_eq!(s.decode(&id.as_str().replace('-', "")), None);
            }
        }
        let id = space(Api::Fspiop, 0).id(KIND_TRANSFER, 5);
        assert!(fspiop::types::CorrelationId::parse(id.as_str().to_owned()).is_ok());
    }

    #[test]
    fn outcomes_keep_one_byte_per_arrival_and_survive_a_file() {
        let mut o = Outcomes::new(space(Api::Fspiop, 1), 2);
        o.set(1, Fate::Committed);
        o.set(3, Fate::Uncertain);
        o.set(4, Fate::Committed); // another replica's index: ignored
        o.set(7, Fate::Rejected);
        assert_eq!(o.fates.len(), 4);
        assert_eq!(o.get(3), Fate::Uncertain);
        assert_eq!(o.get(4), Fate::None);
        let id = o.space.id(KIND_TRANSFER, 3);
        assert!(o.resolve(id.as_str(), true));
        assert!(!o.resolve(id.as_str(), false), "already resolved");
        assert_eq!(o.get(3), Fate::LaterCommitted);
        let dir = std::env::temp_dir().join(format!("perfbed-outcomes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(FILE);
        o.write(&path).unwrap();
        assert_eq!(Outcomes::read(&path).unwrap(), o);
        std::fs::write(&path, b"PBOUTC01short").unwrap();
        assert!(Outcomes::read(&path).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            o.iter().collect::<Vec<_>>(),
            [
                (1, Fate::Committed),
                (3, Fate::LaterCommitted),
                (7, Fate::Rejected)
            ]
        );
    }

    /// The case: counts that offset each other. The driver saw 0 and 1 committed, 2
    /// rejected, 3 uncertain; the switch committed 0, aborted 1, committed 2 and 3: by counts
    /// (2 driver committed + 1 uncertain ≥ 3 switch committed ≥ 2) it agreed.
    #[test]
    fn offsetting_errors_are_caught_id_by_id() {
        let s = space(Api::Fspiop, 0);
        let mut o = Outcomes::new(s, 1);
        for (i, f) in [
            Fate::Committed,
            Fate::Committed,
            Fate::Rejected,
            Fate::Uncertain,
            Fate::Committed,
        ]
        .into_iter()
        .enumerate()
        {
            o.set(i as u64, f);
        }
        let mut check = IdCheck::new(vec![o]);
        let id = |i| s.id(KIND_TRANSFER, i).into_string();
        check.feed(&id(0), "COMMITTED", true);
        check.feed(&id(1), "ABORTED_ERROR", false);
        check.feed(&id(2), "COMMITTED", true);
        check.feed(&id(3), "COMMITTED", true);
        check.feed(&id(3), "COMMITTED", true); // a repeat counts once
        check.feed(
            &IdSpace { nonce: 5, ..s }.id(KIND_TRANSFER, 0).into_string(),
            "COMMITTED",
            true,
        );
        check.feed(&id(9), "RESERVED", false);
        let c = check.finish();
        assert_eq!(c.other_ids, 1);
        assert_eq!(c.switch_ids, 5);
        assert_eq!(c.switch_committed, 3);
        assert_eq!(c.driver_committed, 3);
        assert_eq!(c.unresolved, 1);
        assert_eq!(c.unresolved_committed, 1);
        assert_eq!(c.mismatches, 4);
        let ids = |v: &[IdMismatch]| v.iter().map(|m| m.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&c.driver_side), [id(1), id(4)]);
        assert_eq!(c.driver_side[0].switch, "ABORTED_ERROR");
        assert_eq!(c.driver_side[1].switch, "absent");
        assert_eq!(ids(&c.switch_side), [id(2), id(9)]);
        assert_eq!(c.switch_side[0].driver, "rejected");
        assert!(!c.equal);
    }
}
