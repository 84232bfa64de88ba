//! Claim -> 837P export and scrubbing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use hms_x12::{
    ExportError, Severity, build_837p, read, scrub::icd10_shape_ok, scrub::npi_valid, scrub_claim,
};
use serde_json::json;

fn segments(text: &str) -> Vec<String> {
    let ic = read(text).expect("our 837P must read back strictly");
    let mut out = Vec::new();
    for set in ic[0].sets() {
        for s in set.body.iter() {
            out.push(
                hms_x12::write_segments(std::slice::from_ref(s), &Default::default(), false)
                    .unwrap(),
            );
        }
    }
    out
}

#[test]
fn med_00050_exports_expected_segments() {
    let input = med_00050();
    let edits = scrub_claim(&input, "2024-03-05");
    assert!(
        edits.iter().all(|e| e.severity != Severity::Error),
        "{edits:#?}"
    );
    let text = build_837p(&input, &env()).expect("export");
    let segs = segments(&text);
    let expect = [
        "BHT*0019*00*MED-00050*20240305*1230*CH~",
        "NM1*41*2*Gastroenterology*****46*HMSINTEROP~",
        "PER*IC*Gastroenterology*TE*5552343523~",
        "NM1*40*2*Humana Inc.*****46*PAYERX~",
        "HL*1**20*1~",
        "NM1*85*2*Gastroenterology*****XX*1234567893~",
        "N3*100 Main Street~",
        "N4*Portland*OR*972011234~",
        "REF*EI*123456789~",
        "HL*2*1*22*0~",
        "SBR*P*18*80902206******CI~",
        "NM1*IL*1*Ashcraft*Alvina****MI*10138556~",
        "N3*123 Main Street~",
        "N4*Portland*OR*97125~",
        "DMG*D8*19540611*F~",
        "NM1*PR*2*Humana Inc.*****PI*123456~",
        "CLM*MED-00050*12500***24:B:1*Y*A*Y*Y~",
        "HI*ABK:M961*ABF:G894*ABF:M5388*ABF:M47816~",
        "NM1*82*1*Careful*Adam****XX*1245319599~",
        "PRV*PE*PXC*207Q00000X~",
        "LX*1~",
        "SV1*HC:62264*12500*UN*1***2:4~",
        "DTP*472*D8*20151013~",
    ];
    assert_eq!(segs, expect);
    assert!(text.starts_with("ISA*00*          *00*          *ZZ*HMSINTEROP     *ZZ*PAYERX         *240305*1230*^*00501*000001001*0*T*:~\nGS*HC*HMSINTEROP*PAYERX*20240305*1230*1001*X*005010X222A1~\nST*837*0001*005010X222A1~\n"));
    assert!(text.ends_with("SE*25*0001~\nGE*1*1001~\nIEA*1*000001001~\n"));
}

#[test]
fn dependent_gets_patient_loop() {
    let text = build_837p(&med_00050_dependent(), &env()).expect("export");
    let segs = segments(&text);
    let pos = |s: &str| {
        segs.iter()
            .position(|x| x == s)
            .unwrap_or_else(|| panic!("{s} in {segs:#?}"))
    };
    assert!(pos("HL*2*1*22*1~") < pos("SBR*P**80902206******CI~"));
    assert!(pos("NM1*IL*1*Ashcraft*Robert*J***MI*HUM123456789~") < pos("HL*3*2*23*0~"));
    assert!(pos("HL*3*2*23*0~") < pos("PAT*19~"));
    assert!(pos("PAT*19~") < pos("NM1*QC*1*Ashcraft*Alvina~"));
    assert!(pos("DMG*D8*19540611*F~") > pos("NM1*QC*1*Ashcraft*Alvina~"));
    // No subscriber DMG when the subscriber is not the patient.
    assert!(!segs.contains(&"DMG*D8*19500203*M~".to_string()));
}

#[test]
fn synthea_claim_exports_with_condition_icd10_and_onset() {
    let text = build_837p(&synthea_porsha(), &env()).expect("export");
    let segs = segments(&text);
    assert!(
        segs.contains(&"CLM*SYN-E7F4FD27*129.16***11:B:1*Y*A*Y*Y~".to_string()),
        "{segs:#?}"
    );
    assert!(segs.contains(&"HI*ABK:A150~".to_string()));
    assert!(segs.contains(&"DTP*431*D8*20150323~".to_string()));
    assert!(segs.contains(&"SV1*HC:99213*100*UN*1***1~".to_string()));
    assert!(segs.contains(&"SV1*HC:71046*29.16*UN*1***1~".to_string()));
    assert!(segs.contains(&"NM1*PR*2*Anthem*****PI*ANTHM~".to_string()));
}

#[test]
fn raw_synthea_claim_is_refused_with_edits() {
    let mut input = synthea_porsha();
    // Undo the completions: Synthea's own NPI for billing, no prices.
    input.billing_provider.as_mut().unwrap()["identifier"][1]["value"] = json!("9999999999");
    input.claim["item"][0]
        .as_object_mut()
        .unwrap()
        .remove("net");
    let err = build_837p(&input, &env()).expect_err("refused");
    let ExportError::Rejected(edits) = err else {
        panic!("{err}")
    };
    assert!(!edits.is_empty());
    let codes: Vec<(&str, &str)> = edits
        .iter()
        .map(|e| (e.code, e.expression.as_str()))
        .collect();
    assert!(
        codes.contains(&("npi-checksum", "Claim.provider.resolve().identifier")),
        "{codes:?}"
    );
    assert!(
        codes.contains(&("line-charge-missing", "Claim.item[0].net")),
        "{codes:?}"
    );
}

#[test]
fn npi_and_icd10_checks() {
    assert!(npi_valid("1234567893"));
    assert!(npi_valid("1245319599"));
    assert!(!npi_valid("1234567890"));
    assert!(!npi_valid("123456789"));
    assert!(!npi_valid("12345678a3"));
    for ok in [
        "M96.1", "M961", "M47.816", "A15.0", "S72.001A", "Z00", "U07.1",
    ] {
        assert!(icd10_shape_ok(ok), "{ok}");
    }
    for bad in [
        "123456",
        "654456",
        "M9",
        "M96.",
        "m96.1",
        "M96.12345",
        "MM6.1",
        "M9-1",
    ] {
        assert!(!icd10_shape_ok(bad), "{bad}");
    }
}

fn edit_codes(input: &hms_x12::ClaimExportInput, today: &str) -> Vec<(String, String)> {
    scrub_claim(input, today)
        .into_iter()
        .filter(|e| e.severity == Severity::Error)
        .map(|e| (e.code.to_string(), e.expression))
        .collect()
}

#[test]
fn scrubber_flags_each_rule() {
    let today = "2024-03-05";
    let has = |input: &hms_x12::ClaimExportInput, code: &str, expr: &str| {
        let codes = edit_codes(input, today);
        assert!(
            codes.contains(&(code.to_string(), expr.to_string())),
            "{code} {expr} not in {codes:?}"
        );
    };
    // Diagnosis code shape (Claim-100150 style numeric codes).
    let mut i = med_00050();
    i.claim["diagnosis"][0]["diagnosisCodeableConcept"]["coding"][0]["code"] = json!("123456");
    has(
        &i,
        "icd10-format",
        "Claim.diagnosis[0].diagnosisCodeableConcept.coding[0].code",
    );
    // Principal diagnosis.
    let mut i = med_00050();
    i.claim["diagnosis"] = json!([]);
    has(&i, "principal-dx-missing", "Claim.diagnosis");
    // Pointer out of range.
    let mut i = med_00050();
    i.claim["item"][0]["diagnosisSequence"] = json!([2, 9]);
    has(&i, "dx-pointer-range", "Claim.item[0].diagnosisSequence[1]");
    // Total vs lines.
    let mut i = med_00050();
    i.claim["total"]["value"] = json!(12500.01);
    has(&i, "total-mismatch", "Claim.total");
    // Units.
    let mut i = med_00050();
    i.claim["item"][0]["quantity"] = json!({"value": 0});
    has(&i, "units-not-positive", "Claim.item[0].quantity");
    // Future and invalid dates, birth after service.
    let mut i = med_00050();
    i.claim["item"][0]["servicedDate"] = json!("2024-03-06");
    has(&i, "date-future", "Claim.item[0].servicedDate");
    i.claim["item"][0]["servicedDate"] = json!("2015-02-30");
    has(&i, "date-invalid", "Claim.item[0].servicedDate");
    i.claim["item"][0]["servicedDate"] = json!("1950-01-01");
    has(&i, "birthdate-after-service", "Claim.item[0].servicedDate");
    // Place of service.
    let mut i = med_00050();
    i.claim["item"][0]["locationCodeableConcept"]["coding"][0]["code"] = json!("2");
    has(&i, "pos-format", "Claim.item[0].locationCodeableConcept");
    i.claim["item"][0]
        .as_object_mut()
        .unwrap()
        .remove("locationCodeableConcept");
    has(&i, "pos-missing", "Claim.item[0].locationCodeableConcept");
    // NPI format and parties.
    let mut i = med_00050();
    i.rendering_provider.as_mut().unwrap()["identifier"][1]["value"] = json!("12345");
    has(
        &i,
        "npi-format",
        "Claim.careTeam[0].provider.resolve().identifier",
    );
    i.billing_provider = None;
    has(&i, "billing-provider-missing", "Claim.provider");
    let mut i = med_00050();
    i.claim["insurance"] = json!([]);
    i.claim.as_object_mut().unwrap().remove("insurer");
    has(&i, "coverage-missing", "Claim.insurance.coverage");
    has(&i, "payer-missing", "Coverage.payor");
    let mut i = med_00050_dependent();
    i.claim["contained"]
        .as_array_mut()
        .unwrap()
        .retain(|r| r["resourceType"] != "RelatedPerson");
    has(&i, "subscriber-missing", "Coverage.subscriber");
    // Self-subscribed and the patient missing: one edit, not a bogus "subscriber differs".
    let mut i = med_00050();
    i.claim["contained"]
        .as_array_mut()
        .unwrap()
        .retain(|r| r["resourceType"] != "Patient");
    let codes: Vec<&str> = scrub_claim(&i, "2026-01-01")
        .iter()
        .map(|e| e.code)
        .collect();
    assert!(codes.contains(&"patient-missing"), "{codes:?}");
    assert!(!codes.contains(&"subscriber-missing"), "{codes:?}");
}

#[test]
fn money_is_exact() {
    // 0.1 + 0.2 style sums must not drift: three lines of 0.10, 0.20, 33.33.
    let mut i = med_00050();
    let item = i.claim["item"][0].clone();
    let mut items = Vec::new();
    for v in ["0.10", "0.20", "33.33"] {
        let mut it = item.clone();
        it["net"] = serde_json::from_str(&format!("{{\"value\": {v}}}")).unwrap();
        it["unitPrice"] = it["net"].clone();
        items.push(it);
    }
    i.claim["item"] = json!(items);
    i.claim["total"] = serde_json::from_str("{\"value\": 33.63}").unwrap();
    let text = build_837p(&i, &env()).expect("export");
    assert!(text.contains("CLM*MED-00050*33.63***"), "{text}");
}

#[test]
fn free_text_is_folded_to_the_x12_character_set() {
    let d = hms_x12::Delimiters::default();
    // Accents dropped, a few letters spelled out, other scripts and delimiters → spaces.
    assert_eq!(
        hms_x12::p837::clean("Godínez  Ærø*Straße 北 1", 60, &d),
        "Godinez AEro Strasse 1"
    );
    assert_eq!(
        hms_x12::p837::clean("Müller-Lüdenscheidt", 10, &d),
        "Muller-Lud"
    );
}
