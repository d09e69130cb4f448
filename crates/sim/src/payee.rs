//! The payee role: answer lookups, quotes and transfers with signed callbacks.
//!
//! Every handler validates, takes a callback permit (or sheds with 503/2003), answers `202` at
//! once and sends the callback from a background task after the configured latency.

use axum::body::Bytes;
use fspiop::error::ErrorCode;
use fspiop::headers::Version;
use fspiop::ilp::{self, TransactionObject};
use fspiop::models::{
    AmountType, Money, PartiesPut, Party, PartyComplexName, PartyIdInfo, PartyIdType,
    PartyPersonalInfo, QuotesPut, TransferState, TransfersPost, TransfersPut,
};
use fspiop::testbed;
use fspiop::types::{Amount, DateTime, FspId, PartyIdentifier};
use http::{Method, StatusCode};
use perfbed_http::fspiop::{FspiopError, Outbound};
use std::cmp::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;

use crate::config::{Behaviour, Stage};
use crate::Sim;

/// What the inbound check learned about a request.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub source: String,
    pub destination: Option<String>,
    pub version: Version,
    /// When the request arrived (a relayed one: when the first replica got it).
    pub received: std::time::Instant,
    /// The same moment, Unix microseconds (for latency attribution).
    pub received_wall: u64,
    /// Relayed by this peer replica, its receipt time converted with this uncertainty.
    pub relayed: Option<(u16, std::time::Duration)>,
    /// Inbound `traceparent`, when present.
    pub traceparent: Option<http::HeaderValue>,
    /// Inbound `tracestate`, when present.
    pub tracestate: Option<http::HeaderValue>,
}

fn now() -> DateTime {
    DateTime::from_offset_date_time(time::OffsetDateTime::now_utc())
}

impl Sim {
    fn callback(
        &self,
        method: Method,
        resource: &str,
        path: &str,
        fsp: &str,
        ctx: &Ctx,
        body: Bytes,
    ) -> Outbound {
        let out = Outbound {
            method,
            url: format!("{}{}", self.config.hub.for_resource(resource), path),
            version: ctx.version,
            source: fsp.to_owned(),
            destination: Some(ctx.source.clone()),
            body: Some(body),
            extra: trace_headers(ctx),
        };
        if self.config.api.is_iso() {
            out.iso()
        } else {
            out
        }
    }

    fn behaviour(&self, fsp: &str) -> &Behaviour {
        // Callers only pass served FSPs.
        &self.config.fsps[fsp]
    }

    /// Which served FSP answers: the destination, else `hint` (payee in the body or the
    /// number's owner), else the only FSP served.
    fn answering_fsp(&self, ctx: &Ctx, hint: Option<&str>) -> Result<String, FspiopError> {
        if let Some(d) = ctx.destination.as_deref().filter(|d| self.serves(d)) {
            return Ok(d.to_owned());
        }
        if let Some(h) = hint.filter(|h| self.serves(h)) {
            return Ok(h.to_owned());
        }
        if self.config.fsps.len() == 1 {
            if let Some(only) = self.config.fsps.keys().next() {
                return Ok(only.clone());
            }
        }
        Err(FspiopError::new(
            ErrorCode::DestinationFspError,
            "no FSPIOP-Destination and no payee FSP this simulator serves",
        ))
    }
}

/// A callback carries the request's trace on: same `traceparent`, and our `tracestate` entry
/// with the payee's receipt time (`Sim::send` adds the send time as it leaves).
fn trace_headers(ctx: &Ctx) -> Vec<(http::HeaderName, http::HeaderValue)> {
    let mut out = Vec::new();
    if let Some(tp) = &ctx.traceparent {
        out.push((
            http::HeaderName::from_static(crate::trace::TRACEPARENT),
            tp.clone(),
        ));
    }
    if let Some(ts) = &ctx.tracestate {
        let ours = ts.to_str().ok().and_then(|raw| {
            let mut st = crate::trace::Stamps::parse(raw)?;
            st.payee_in = Some(ctx.received_wall);
            st.payee_out = None;
            st.merge_into(Some(raw)).parse().ok()
        });
        out.push((
            http::HeaderName::from_static(crate::trace::TRACESTATE),
            ours.unwrap_or_else(|| ts.clone()),
        ));
    }
    out
}

/// How one accepted request will be answered: as which FSP, to whom, after what delay, holding
/// which callback permit.
struct Reply<'a> {
    sim: &'a Arc<Sim>,
    fsp: String,
    ctx: &'a Ctx,
    delay: Duration,
    permit: OwnedSemaphorePermit,
    /// The `answer_twice` fault of the FSP's behaviour.
    twice: bool,
}

impl Reply<'_> {
    fn send(self, route: &'static str, resource: &str, path: &str, body: Bytes) {
        let out = self
            .sim
            .callback(Method::PUT, resource, path, &self.fsp, self.ctx, body);
        if self.twice {
            self.sim
                .spawn_callback_twice(route, self.delay, out.clone());
        }
        self.sim.spawn_callback(self.permit, route, self.delay, out);
    }

    fn error(self, route: &'static str, resource: &str, path: &str, code: ErrorCode, detail: &str) {
        let body = crate::iso::error_body(
            self.sim.config.api,
            resource,
            code,
            detail,
            &self.fsp,
            &self.ctx.source,
        );
        self.send(route, resource, &format!("{path}/error"), body);
    }
}

/// Whether `fsp` knows the party, and its index in the FSP's range. FSP ids outside the
/// `perffspN` convention know every MSISDN.
pub fn party_index(fsp: &str, b: &Behaviour, id_type: PartyIdType, id: &str) -> Option<u32> {
    if id_type != PartyIdType::Msisdn {
        return None;
    }
    let Some(n) = testbed::fsp_index(fsp) else {
        return Some(0);
    };
    let (owner, i) = testbed::msisdn_owner(id)?;
    let unknown = b
        .unknown
        .iter()
        .any(|[from, to]| (*from..=*to).contains(&i));
    (owner == n && i < b.range_size && !unknown).then_some(i)
}

fn party(
    fsp: &str,
    b: &Behaviour,
    id_type: PartyIdType,
    id: &str,
    sub: Option<&str>,
    i: u32,
) -> Option<Party> {
    let fill = |t: &str| t.replace("{i}", &i.to_string());
    let (first, last) = (fill(&b.first_name), fill(&b.last_name));
    Some(Party {
        merchant_classification_code: None,
        name: Some(format!("{first} {last}").chars().take(128).collect()),
        party_id_info: PartyIdInfo {
            extension_list: None,
            fsp_id: FspId::parse(fsp).ok(),
            party_id_type: id_type,
            party_identifier: PartyIdentifier::parse(id).ok()?,
            party_sub_id_or_type: sub.and_then(|s| PartyIdentifier::parse(s).ok()),
        },
        personal_info: Some(PartyPersonalInfo {
            complex_name: Some(PartyComplexName {
                first_name: Some(first.chars().take(128).collect()),
                last_name: Some(last.chars().take(128).collect()),
                middle_name: None,
            }),
            date_of_birth: None,
        }),
        supported_currencies: None,
    })
}

/// `GET /parties/{Type}/{ID}[/{SubId}]`.
pub(crate) fn lookup(sim: &Arc<Sim>, ctx: Ctx, id_path: &str) -> Result<StatusCode, FspiopError> {
    let mut parts = id_path.split('/');
    let (t, id, sub) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next(),
    );
    let id_type = PartyIdType::from_path(t).ok_or_else(|| {
        FspiopError::new(
            ErrorCode::MalformedSyntax,
            format!("unknown party id type '{t}'"),
        )
    })?;
    let owner = testbed::msisdn_owner(id).map(|(n, _)| testbed::fsp_id(n));
    let fsp = sim.answering_fsp(&ctx, owner.as_deref())?;
    let permit = sim.try_permit()?;
    let b = sim.behaviour(&fsp);
    let delay = b.lookup_latency.sample(&mut rand::rng());
    let path = format!("/parties/{id_path}");
    let found = party_index(&fsp, b, id_type, id).and_then(|i| party(&fsp, b, id_type, id, sub, i));
    let reply = Reply {
        sim,
        fsp,
        ctx: &ctx,
        delay,
        permit,
        twice: b.answer_twice,
    };
    match found {
        Some(p) => {
            let body = crate::iso::party_body(
                sim.config.api,
                &PartiesPut { party: p },
                &reply.fsp,
                &ctx.source,
            );
            reply.send("parties_put", "parties", &path, body)
        }
        None => reply.error(
            "parties_error",
            "parties",
            &path,
            ErrorCode::PartyNotFound,
            "",
        ),
    }
    Ok(StatusCode::ACCEPTED)
}

/// Compares two amounts numerically.
pub fn amount_cmp(a: &Amount, b: &Amount) -> Ordering {
    let split = |x: &Amount| {
        let (i, f) = x.as_str().split_once('.').unwrap_or((x.as_str(), ""));
        (i.len(), i.to_owned(), format!("{f:0<4}"))
    };
    split(a).cmp(&split(b))
}

fn rejection(
    b: &Behaviour,
    stage: Stage,
    amount: &Amount,
    msisdn: Option<&str>,
) -> Option<ErrorCode> {
    b.reject.iter().filter(|r| r.on == stage).find_map(|r| {
        let by_amount = r
            .amount_above
            .as_ref()
            .is_some_and(|limit| amount_cmp(amount, limit) == Ordering::Greater);
        let by_msisdn = msisdn.is_some_and(|m| r.msisdns.iter().any(|x| x == m));
        let by_rate = r.rate.is_some_and(|p| rand::random::<f64>() < p);
        (by_amount || by_msisdn || by_rate).then(|| ErrorCode::from_code(r.code))
    })
}

fn add(a: &Amount, b: &Amount, sign: i8) -> Option<Amount> {
    let (x, y) = (a.to_minor_units(4).ok()?, b.to_minor_units(4).ok()?);
    let v = if sign >= 0 {
        x.checked_add(y)?
    } else {
        x.checked_sub(y)?
    };
    Amount::from_minor_units(v, 4).ok()
}

/// `POST /quotes`.
pub(crate) fn quote(sim: &Arc<Sim>, ctx: Ctx, body: &[u8]) -> Result<StatusCode, FspiopError> {
    let (req, iso_post) = crate::iso::quote_request(sim.config.api, body)?;
    let hint = req.payee.party_id_info.fsp_id.as_ref().map(FspId::as_str);
    let fsp = sim.answering_fsp(&ctx, hint)?;
    let permit = sim.try_permit()?;
    let b = sim.behaviour(&fsp);
    let delay = b.quote_latency.sample(&mut rand::rng());
    let path = format!("/quotes/{}", req.quote_id);
    let msisdn = Some(req.payee.party_id_info.party_identifier.as_str());
    let rejected = rejection(b, Stage::Quote, &req.amount.amount, msisdn);
    let (fee, ilp_version) = (b.quote_fee.clone(), b.ilp_version);
    let reply = Reply {
        sim,
        fsp,
        ctx: &ctx,
        delay,
        permit,
        twice: b.answer_twice,
    };
    if let Some(code) = rejected {
        reply.error("quotes_error", "quotes", &path, code, "");
        return Ok(StatusCode::ACCEPTED);
    }
    let (transfer_amount, receive) = match (&fee, req.amount_type) {
        (None, _) => (req.amount.amount.clone(), None),
        (Some(f), AmountType::Send) => (req.amount.amount.clone(), add(&req.amount.amount, f, -1)),
        (Some(f), AmountType::Receive) => (
            add(&req.amount.amount, f, 1).unwrap_or_else(|| req.amount.amount.clone()),
            Some(req.amount.amount.clone()),
        ),
    };
    let currency = req.amount.currency.clone();
    let money = |a: Amount| Money {
        amount: a,
        currency: currency.clone(),
    };
    let transfer_amount = money(transfer_amount);
    let expiration = DateTime::from_offset_date_time(
        time::OffsetDateTime::now_utc() + time::Duration::seconds(60),
    );
    let tx = TransactionObject::from_quote(&req, &transfer_amount, &expiration, None);
    let ilp_out = match sim.secret.build(ilp_version, &tx) {
        Ok(o) => o,
        Err(e) => {
            reply.error(
                "quotes_error",
                "quotes",
                &path,
                ErrorCode::GenericValidationError,
                &e.to_string(),
            );
            return Ok(StatusCode::ACCEPTED);
        }
    };
    let put = QuotesPut {
        condition: ilp_out.condition,
        expiration,
        extension_list: None,
        geo_code: None,
        ilp_packet: ilp_out.packet,
        payee_fsp_commission: None,
        payee_fsp_fee: fee.map(&money),
        payee_receive_amount: receive.map(&money),
        transfer_amount,
    };
    let body = crate::iso::quote_body(
        sim.config.api,
        &put,
        req.quote_id.as_str(),
        iso_post.as_ref(),
    );
    reply.send("quotes_put", "quotes", &path, body);
    Ok(StatusCode::ACCEPTED)
}

/// `POST /transfers`.
pub(crate) fn transfer(sim: &Arc<Sim>, ctx: Ctx, body: &[u8]) -> Result<StatusCode, FspiopError> {
    let req: TransfersPost = crate::iso::transfer_request(sim.config.api, body)?;
    let fsp = sim.answering_fsp(&ctx, Some(req.payee_fsp.as_str()))?;
    let permit = sim.try_permit()?;
    let b = sim.behaviour(&fsp);
    let delay = b.transfer_latency.sample(&mut rand::rng());
    let path = format!("/transfers/{}", req.transfer_id);

    let needs_msisdn = b
        .reject
        .iter()
        .any(|r| r.on == Stage::Transfer && !r.msisdns.is_empty());
    let msisdn = needs_msisdn
        .then(|| {
            ilp::IlpPacket::from_wire(&req.ilp_packet)
                .ok()?
                .transaction()
                .ok()
        })
        .flatten()
        .map(|tx| tx.payee.party_id_info.party_identifier.into_string());
    let rejected = rejection(b, Stage::Transfer, &req.amount.amount, msisdn.as_deref());
    let (check_ilp, reserved) = (b.check_ilp, b.answer_reserved);
    let reply = Reply {
        sim,
        fsp,
        ctx: &ctx,
        delay,
        permit,
        twice: b.answer_twice,
    };
    if let Some(code) = rejected {
        reply.error("transfers_error", "transfers", &path, code, "");
        return Ok(StatusCode::ACCEPTED);
    }
    let ilp_problem = sim
        .secret
        .fulfil_transfer(&req, check_ilp)
        .map_err(|e| e.to_string());
    let fulfilment = match ilp_problem {
        Ok(f) => f,
        Err(detail) => {
            reply.error(
                "transfers_error",
                "transfers",
                &path,
                ErrorCode::GenericValidationError,
                &detail,
            );
            return Ok(StatusCode::ACCEPTED);
        }
    };
    let state = if reserved {
        TransferState::Reserved
    } else {
        TransferState::Committed
    };
    let api = sim.config.api;
    let put = move || {
        crate::iso::transfer_body(
            api,
            &TransfersPut {
                completed_timestamp: Some(now()),
                extension_list: None,
                fulfilment: Some(fulfilment.clone()),
                transfer_state: state,
            },
        )
    };
    if reply.delay.is_zero() {
        reply.send("transfers_put", "transfers", &path, put());
    } else {
        // completedTimestamp must fall inside the hub's window when the callback leaves, so
        // with added latency the body is built after the wait.
        let out = sim.callback(
            Method::PUT,
            "transfers",
            &path,
            &reply.fsp,
            &ctx,
            Bytes::new(),
        );
        let (sim2, permit, delay) = (sim.clone(), reply.permit, reply.delay);
        sim.tracker.spawn(async move {
            tokio::time::sleep(delay).await;
            let out = Outbound {
                body: Some(put()),
                ..out
            };
            sim2.spawn_callback(permit, "transfers_put", Duration::ZERO, out);
        });
    }
    Ok(StatusCode::ACCEPTED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn party_directory_follows_the_scheme() {
        let mut b = Behaviour {
            range_size: 1000,
            ..Behaviour::default()
        };
        b.unknown = vec![[900, 999]];
        let m = PartyIdType::Msisdn;
        assert_eq!(party_index("perffsp5", &b, m, "254705000001"), Some(1));
        assert_eq!(
            party_index("perffsp5", &b, m, "254705000999"),
            None,
            "unknown range"
        );
        assert_eq!(
            party_index("perffsp5", &b, m, "254705001000"),
            None,
            "beyond range_size"
        );
        assert_eq!(
            party_index("perffsp5", &b, m, "254706000001"),
            None,
            "another FSP's number"
        );
        assert_eq!(
            party_index("perffsp5", &b, PartyIdType::Email, "254705000001"),
            None
        );
        assert_eq!(
            party_index("payeefsp", &b, m, "27713803912"),
            Some(0),
            "custom ids know all"
        );
    }

    #[test]
    fn amounts_compare_and_add() {
        let a = |s: &str| Amount::parse(s).unwrap();
        // Expected orders written out, not derived: more integer digits win whatever the
        // decimals; decimals compare by value, not by length or as text.
        for (x, y, expected) in [
            ("100", "99.9999", Ordering::Greater),
            ("9", "10", Ordering::Less),
            ("5.5", "5.5", Ordering::Equal),
            ("5.5", "5.4999", Ordering::Greater),
            ("5.05", "5.5", Ordering::Less),
            ("0.01", "0.1", Ordering::Less),
            ("1.1", "1.0999", Ordering::Greater),
            ("2", "1.9999", Ordering::Greater),
            ("0", "0.0001", Ordering::Less),
        ] {
            assert_eq!(amount_cmp(&a(x), &a(y)), expected, "{x} vs {y}");
            assert_eq!(amount_cmp(&a(y), &a(x)), expected.reverse(), "{y} vs {x}");
        }
        assert_eq!(add(&a("100"), &a("1.5"), 1), Some(a("101.5")));
        assert_eq!(add(&a("100"), &a("1.5"), -1), Some(a("98.5")));
        assert_eq!(add(&a("1"), &a("2"), -1), None);
    }
}
