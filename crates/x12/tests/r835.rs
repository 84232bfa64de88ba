//! 835 import against the corpus.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hms_x12::{Decimal, RemitContext, X12Error, parse_835, remittance_to_fhir};
use serde_json::Value;
use std::path::PathBuf;

const FILES: &[&str] = &[
    "835_5010_lfhx12_managed_care.835",
    "835_5010_lfhx12_medicare_part_a.835",
    "835_5010_lfhx12_secondary_payment.835",
    "835_5010_pyx12_mult_loops.txt",
];

fn load(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/x12")
        .join(name);
    std::fs::read_to_string(p).unwrap()
}

fn ctx() -> RemitContext {
    RemitContext {
        created: "2024-03-05T12:30:00Z".into(),
        ..Default::default()
    }
}

fn dec(v: &Value) -> Decimal {
    Decimal::from_json(v).unwrap()
}

fn total(cr: &Value, cat: &str) -> Decimal {
    let t = cr["total"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["category"]["coding"][0]["code"] == cat)
        .unwrap();
    dec(&t["amount"]["value"])
}

#[test]
fn claim_response_totals_equal_clp_amounts_for_every_corpus_835() {
    for name in FILES {
        let r = parse_835(&load(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!r.claims.is_empty(), "{name}");
        assert_eq!(
            r.balance_difference(),
            Some(Decimal::ZERO),
            "{name}: BPR02 = ΣCLP04 − ΣPLB"
        );
        let out = remittance_to_fhir(&r, &ctx());
        assert_eq!(out.len(), r.claims.len() + 1);
        let crs: Vec<&Value> = out
            .iter()
            .filter(|v| v["resourceType"] == "ClaimResponse")
            .collect();
        let mut sum_paid = Decimal::ZERO;
        let mut sum_charge = Decimal::ZERO;
        let mut clp_paid = Decimal::ZERO;
        let mut clp_charge = Decimal::ZERO;
        for (cr, clp) in crs.iter().zip(&r.claims) {
            assert_eq!(total(cr, "submitted"), clp.charge, "{name}");
            assert_eq!(total(cr, "benefit"), clp.paid, "{name}");
            assert_eq!(dec(&cr["payment"]["amount"]["value"]), clp.paid, "{name}");
            assert_eq!(
                cr["request"]["identifier"]["value"],
                clp.patient_control_number.as_str()
            );
            sum_paid = sum_paid.checked_add(total(cr, "benefit")).unwrap();
            sum_charge = sum_charge.checked_add(total(cr, "submitted")).unwrap();
            clp_paid = clp_paid.checked_add(clp.paid).unwrap();
            clp_charge = clp_charge.checked_add(clp.charge).unwrap();
        }
        assert_eq!(sum_paid, clp_paid, "{name}");
        assert_eq!(sum_charge, clp_charge, "{name}");
        // PaymentReconciliation details add up to the payment amount.
        let pr = out.last().unwrap();
        assert_eq!(pr["resourceType"], "PaymentReconciliation");
        let details = pr["detail"]
            .as_array()
            .unwrap()
            .iter()
            .fold(Decimal::ZERO, |a, d| {
                a.checked_add(dec(&d["amount"]["value"])).unwrap()
            });
        assert_eq!(details, dec(&pr["paymentAmount"]["value"]), "{name}");
    }
}

#[test]
fn managed_care_maps_cas_svc_and_payment() {
    let r = parse_835(&load("835_5010_lfhx12_managed_care.835")).unwrap();
    assert_eq!(r.amount.to_fixed(2), "945.00");
    assert_eq!(r.method, "ACH");
    assert_eq!(r.trace_number, "7170066655");
    assert_eq!(r.payment_date, None, "BPR16 20002316 is not a date");
    assert_eq!(r.production_date.as_deref(), Some("2002-03-14"));
    assert_eq!(r.payee_id.as_deref(), Some("5544667733"));
    let c = &r.claims[1];
    assert_eq!(c.patient_control_number, "8765432112");
    assert_eq!(c.adjustments.len(), 1);
    assert_eq!(c.services[0].code, "93555");
    assert_eq!(c.services[0].adjustments.len(), 2);
    let out = remittance_to_fhir(&r, &ctx());
    let cr = &out[1];
    assert_eq!(cr["adjudication"][0]["category"]["coding"][0]["code"], "CO");
    assert_eq!(cr["adjudication"][0]["reason"]["coding"][0]["code"], "A2");
    assert_eq!(
        cr["adjudication"][0]["amount"]["value"].to_string(),
        "55.00"
    );
    assert_eq!(
        cr["item"][0]["adjudication"][1]["amount"]["value"].to_string(),
        "550.00"
    );
    assert_eq!(
        cr["item"][0]["adjudication"][3]["reason"]["coding"][0]["code"],
        "45"
    );
    let pr = &out[2];
    assert_eq!(pr["paymentAmount"]["value"].to_string(), "945.00");
    assert_eq!(pr["paymentIdentifier"]["value"], "7170066655");
    assert_eq!(pr["paymentDate"], "2002-03-14");
}

#[test]
fn medicare_plb_and_secondary_status() {
    let r = parse_835(&load("835_5010_lfhx12_medicare_part_a.835")).unwrap();
    assert_eq!(r.provider_adjustments.len(), 1);
    assert_eq!(r.provider_adjustments[0].reason, "CV");
    assert_eq!(r.provider_adjustments[0].amount.to_fixed(2), "-1.27");
    let out = remittance_to_fhir(&r, &ctx());
    assert_eq!(out[0]["type"]["coding"][0]["code"], "institutional");
    let r = parse_835(&load("835_5010_lfhx12_secondary_payment.835")).unwrap();
    assert_eq!(r.claims[0].status, "2");
    // The published file puts the date in BPR15 (one element early): we do
    // not guess, and fall back to DTM*405 for PaymentReconciliation.paymentDate.
    assert_eq!(r.payment_date, None);
    assert_eq!(
        remittance_to_fhir(&r, &ctx()).last().unwrap()["paymentDate"],
        "2005-04-12"
    );
    assert_eq!(r.claims[1].services[1].adjustments.len(), 3);
}

#[test]
fn ids_are_deterministic_and_link_via_context() {
    let text = load("835_5010_lfhx12_managed_care.835");
    let r = parse_835(&text).unwrap();
    let a = remittance_to_fhir(&r, &ctx());
    let b = remittance_to_fhir(&parse_835(&text).unwrap(), &ctx());
    assert_eq!(a, b, "re-import gives identical resources and ids");
    let ids: std::collections::BTreeSet<&str> =
        a.iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 3);
    for id in &ids {
        assert!(id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    }
    let mut c = ctx();
    c.claim_refs.insert("5554555444".into(), "Claim/abc".into());
    let linked = remittance_to_fhir(&r, &c);
    assert_eq!(linked[0]["request"]["reference"], "Claim/abc");
    assert_eq!(linked[0]["id"], a[0]["id"], "linking does not change ids");
}

#[test]
fn reversal_is_marked() {
    let text = load("835_5010_lfhx12_managed_care.835")
        .replace(
            "CLP*5554555444*1*800.00*450.00*300.00",
            "CLP*5554555444*22*-800.00*-450.00*-300.00",
        )
        .replace("BPR*I*945.00", "BPR*I*45.00")
        .replace("SVC*HC:99211*800.00*500.00", "SVC*HC:99211*-800.00*-500.00")
        .replace(
            "CAS*CO*A2*50.00~\nNM1*QC*1*BUDD",
            "CAS*CO*A2*-50.00~\nNM1*QC*1*BUDD",
        );
    let r = parse_835(&text).unwrap();
    assert!(r.claims[0].is_reversal());
    assert_eq!(r.balance_difference(), Some(Decimal::ZERO));
    let out = remittance_to_fhir(&r, &ctx());
    assert_eq!(out[0]["extension"][0]["valueCoding"]["code"], "22");
    assert_eq!(out[0]["disposition"], "Reversal of previous payment");
}

#[test]
fn bad_amount_names_segment_and_element() {
    let text = load("835_5010_lfhx12_managed_care.835")
        .replace("CLP*5554555444*1*800.00", "CLP*5554555444*1*8OO.00");
    assert_eq!(
        parse_835(&text).unwrap_err().to_string(),
        "segment 13 (CLP), element CLP03: not a decimal: \"8OO.00\""
    );
    let err = parse_835(&load("270_5010_lfhx12_subscriber.270")).unwrap_err();
    assert_eq!(
        err,
        X12Error::WrongTransaction {
            expected: "835".into(),
            found: "270".into()
        }
    );
}
