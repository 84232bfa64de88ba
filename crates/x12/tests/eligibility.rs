//! 270 build and 271 parse against the corpus.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hms_x12::{EnvelopeParams, build_270, parse_271, read};
use serde_json::{Value, json};
use std::path::PathBuf;

fn load(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/x12")
        .join(name);
    std::fs::read_to_string(p).unwrap()
}

/// Body segments (ST..SE exclusive) as text.
fn body(text: &str) -> Vec<String> {
    let ics = read(text).unwrap();
    let set = ics[0].sets().next().unwrap();
    set.body
        .iter()
        .map(|s| {
            hms_x12::write_segments(std::slice::from_ref(s), &Default::default(), false).unwrap()
        })
        .collect()
}

fn env() -> EnvelopeParams {
    EnvelopeParams::new("000000005", "54321", 907, "2006-05-01", "1319")
}

fn provider() -> Value {
    json!({"resourceType": "Organization", "id": "bjc", "name": "BONE AND JOINT CLINIC",
           "identifier": [{"system": "urn:test:sv", "value": "2000035"}]})
}

fn request(patient: &str) -> Value {
    json!({"resourceType": "CoverageEligibilityRequest", "id": "req1",
           "identifier": [{"value": "93175-012547"}], "status": "active", "purpose": ["benefits"],
           "patient": {"reference": patient}, "created": "2006-05-01", "servicedDate": "2006-05-01",
           "insurer": {"display": "ABC COMPANY", "identifier": {"value": "842610001"}}})
}

#[test]
fn subscriber_270_matches_corpus_key_segments() {
    let patient = json!({"resourceType": "Patient", "id": "p1", "name": [{"family": "SMITH", "given": ["ROBERT"]}], "birthDate": "1943-05-19"});
    let coverage = json!({"resourceType": "Coverage", "id": "c1", "subscriberId": "11122333301",
        "subscriber": {"reference": "Patient/p1"}, "relationship": {"coding": [{"code": "self"}]}});
    let ours = body(
        &build_270(
            &request("Patient/p1"),
            &patient,
            &coverage,
            &provider(),
            &env(),
        )
        .unwrap(),
    );
    let corpus = body(&load("270_5010_lfhx12_subscriber.270"));
    // Same loop structure and key segments; BHT03 (reference) and TRN03
    // (originator id) are ours by design.
    let key = |v: &Vec<String>| -> Vec<String> {
        v.iter()
            .filter(|s| !s.starts_with("BHT") && !s.starts_with("TRN"))
            .cloned()
            .collect()
    };
    assert_eq!(key(&ours), key(&corpus));
    assert!(
        ours.contains(&"TRN*1*93175-012547*000000005~".to_string()),
        "{ours:#?}"
    );
    assert_eq!(ours[0], "BHT*0022*13*93175-012547*20060501*1319~");
}

#[test]
fn dependent_270_matches_corpus_key_segments() {
    let patient = json!({"resourceType": "Patient", "id": "p2", "name": [{"family": "SMITH", "given": ["MARY"]}], "birthDate": "1978-10-14"});
    let coverage = json!({"resourceType": "Coverage", "id": "c1", "subscriberId": "11122333301",
        "subscriber": {"reference": "Patient/p9"}, "relationship": {"coding": [{"code": "spouse"}]}});
    let mut prov = json!({"resourceType": "Practitioner", "id": "mj", "name": [{"family": "JONES", "given": ["MARCUS"]}],
        "identifier": [{"system": "urn:test:sv", "value": "2000034"}]});
    let ours =
        body(&build_270(&request("Patient/p2"), &patient, &coverage, &prov, &env()).unwrap());
    let corpus = body(&load("270_5010_lfhx12_dependent.270"));
    let key = |v: &Vec<String>| -> Vec<String> {
        v.iter()
            .filter(|s| !s.starts_with("BHT") && !s.starts_with("TRN"))
            .cloned()
            .collect()
    };
    assert_eq!(key(&ours), key(&corpus));
    // With an NPI the provider is identified by XX.
    prov["identifier"] =
        json!([{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}]);
    let ours =
        body(&build_270(&request("Patient/p2"), &patient, &coverage, &prov, &env()).unwrap());
    assert!(ours.contains(&"NM1*1P*1*JONES*MARCUS****XX*1234567893~".to_string()));
}

#[test]
fn subscriber_271_benefits() {
    let r = parse_271(&load("271_5010_lfhx12_subscriber.271")).unwrap();
    assert_eq!(r["resourceType"], "CoverageEligibilityResponse");
    assert_eq!(r["outcome"], "complete");
    assert_eq!(r["created"], "2006-05-01");
    assert_eq!(r["patient"]["identifier"]["value"], "123456789");
    assert_eq!(r["request"]["identifier"]["value"], "93175-012547");
    let ins = &r["insurance"][0];
    assert_eq!(ins["inforce"], true);
    let items = ins["item"].as_array().unwrap();
    assert_eq!(items.len(), 5);
    assert_eq!(items[0]["name"], "GOLD 123 PLAN");
    assert_eq!(items[3]["category"]["coding"].as_array().unwrap().len(), 10);
    assert_eq!(
        items[3]["benefit"][0]["allowedMoney"]["value"].to_string(),
        "10.00"
    );
    assert_eq!(items[3]["benefit"][0]["type"]["coding"][1]["code"], "copay");
    assert_eq!(items[3]["network"]["coding"][0]["code"], "in");
    assert_eq!(
        items[4]["benefit"][0]["allowedMoney"]["value"].to_string(),
        "30.00"
    );
    assert_eq!(items[4]["network"]["coding"][0]["code"], "out");
    assert!(r.get("error").is_none());
}

#[test]
fn dependent_271_names_the_dependent() {
    let r = parse_271(&load("271_5010_lfhx12_dependent.271")).unwrap();
    assert_eq!(r["patient"]["display"], "MARY SMITH");
    assert_eq!(
        r["insurance"][0]["coverage"]["identifier"]["value"],
        "123456789"
    );
    assert_eq!(r["insurance"][0]["item"].as_array().unwrap().len(), 5);
}

#[test]
fn error_271_gives_error_entries() {
    // The published file's SE02 mismatches ST02: tolerated here.
    let r = parse_271(&load("271_5010_lfhx12_subscriber_error.271")).unwrap();
    assert_eq!(r["outcome"], "error");
    assert_eq!(r["error"][0]["code"]["coding"][0]["code"], "50");
    assert!(r.get("insurance").is_none());
}

#[test]
fn non_271_is_refused() {
    assert!(parse_271(&load("270_5010_lfhx12_subscriber.270")).is_err());
}
