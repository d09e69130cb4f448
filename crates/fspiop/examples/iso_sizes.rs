//! Body bytes of one P2P transfer as perfbed sends it, FSPIOP vs ISO 20022 (compact JSON, what
//! goes on the wire and what the signature covers): the driver's quote (ids and MSISDNs only,
//! 50 XXX), the simulator's party (name and complex name), no fee, a committed transfer.
//!
//! `cargo run --release -p fspiop --example iso_sizes`

use fspiop::ilp::{IlpSecret, IlpVersion, TransactionObject};
use fspiop::iso::{self, Stamp};
use fspiop::json::to_canonical_vec;
use fspiop::models::{
    Money, PartiesPut, Party, PartyComplexName, PartyIdInfo, PartyPersonalInfo, QuotesPost,
    QuotesPut, TransferState, TransfersPost, TransfersPut,
};
use fspiop::types::DateTime;

fn main() {
    let now = DateTime::parse("2026-11-26T12:00:00.000Z").expect("datetime");
    let exp = DateTime::parse("2026-11-26T12:01:00.000Z").expect("datetime");
    let stamp = Stamp {
        msg_id: iso::ulid(1_795_000_000_000, 1),
        orgnl_id: iso::ulid(1_795_000_000_000, 2),
        now: now.clone(),
    };
    let id = |n: u128| iso::ulid(1_795_000_000_000, n);
    let payer = Party::with_id(PartyIdInfo::msisdn("perffsp1", "254701000000").expect("id"));
    let payee_id = PartyIdInfo::msisdn("perffsp5", "254705000042").expect("id");
    let mut party = Party::with_id(payee_id.clone());
    party.name = Some("Perf User 42".into());
    party.personal_info = Some(PartyPersonalInfo {
        complex_name: Some(PartyComplexName {
            first_name: Some("Perf".into()),
            last_name: Some("User 42".into()),
            middle_name: None,
        }),
        date_of_birth: None,
    });
    let parties = PartiesPut { party };
    let money = Money::parse("50", "XXX").expect("money");
    let q = QuotesPost::p2p(id(3), id(4), payer, Party::with_id(payee_id), money.clone());
    let secret = IlpSecret::new(b"perfbed-test-ilp-secret");
    let put_for = |req: &QuotesPost| {
        let tx = TransactionObject::from_quote(req, &money, &exp, None);
        let ilp = secret.build(IlpVersion::V4, &tx).expect("packet");
        (
            QuotesPut {
                condition: ilp.condition,
                expiration: exp.clone(),
                extension_list: None,
                geo_code: None,
                ilp_packet: ilp.packet,
                payee_fsp_commission: None,
                payee_fsp_fee: None,
                payee_receive_amount: None,
                transfer_amount: money.clone(),
            },
            ilp.fulfilment,
        )
    };
    // FSPIOP: the packet over the FSPIOP quote; ISO: over the ISO view of the pacs.081.
    let (f_put, f_ful) = put_for(&q);
    let post_iso = iso::quotes_post(&q, &stamp);
    let view = iso::quotes_post_view(&post_iso).expect("view");
    let (i_put, i_ful) = put_for(&view);
    let put_iso = iso::quotes_put(&i_put, q.quote_id.as_str(), &post_iso, &stamp);
    let transfer = |p: &QuotesPut| {
        TransfersPost::from_quote(&q, p, q.transaction_id.clone(), exp.clone()).expect("fsps")
    };
    let done = |f| TransfersPut {
        completed_timestamp: Some(now.clone()),
        extension_list: None,
        fulfilment: Some(f),
        transfer_state: TransferState::Committed,
    };
    let rows: Vec<(&str, usize, usize)> = vec![
        (
            "PUT /parties",
            to_canonical_vec(&parties).len(),
            iso::to_bytes(&iso::parties_put(&parties, "perffsp5", "perffsp1", &stamp)).len(),
        ),
        (
            "POST /quotes",
            to_canonical_vec(&q).len(),
            iso::to_bytes(&post_iso).len(),
        ),
        (
            "PUT /quotes",
            to_canonical_vec(&f_put).len(),
            iso::to_bytes(&put_iso).len(),
        ),
        (
            "POST /transfers",
            to_canonical_vec(&transfer(&f_put)).len(),
            iso::to_bytes(&iso::transfers_post(&transfer(&i_put), &put_iso, &stamp)).len(),
        ),
        (
            "PUT /transfers",
            to_canonical_vec(&done(f_ful)).len(),
            iso::to_bytes(&iso::transfers_put(&done(i_ful), &stamp)).len(),
        ),
    ];
    println!("| message | FSPIOP B | ISO 20022 B | ISO/FSPIOP |");
    println!("|---|---:|---:|---:|");
    let (mut f, mut i) = (0, 0);
    for (name, a, b) in &rows {
        println!("| {name} | {a} | {b} | {:.2} |", *b as f64 / *a as f64);
        f += a;
        i += b;
    }
    println!(
        "| one P2P transfer (5 bodies) | {f} | {i} | {:.2} |",
        i as f64 / f as f64
    );
}
