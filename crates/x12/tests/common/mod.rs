//! Shared FHIR inputs for 837P tests. What the fixtures lack for a real 837P
//! (NPIs, TIN, addresses, CPT/ICD-10 codes, prices, coverage) is added here,
//! in plain sight, and listed in crates/x12/README.md.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use hms_x12::{ClaimExportInput, EnvelopeParams};
use serde_json::{Value, json};
use std::path::PathBuf;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn fhir_example(name: &str) -> Value {
    let p = repo_root().join("tests/fixtures/fhir-examples").join(name);
    serde_json::from_str(&std::fs::read_to_string(p).expect("fixture")).expect("json")
}

pub fn env() -> EnvelopeParams {
    EnvelopeParams::new("HMSINTEROP", "PAYERX", 1001, "2024-03-05", "1230")
}

/// Valid NPIs (Luhn with the 80840 prefix).
pub const BILLING_NPI: &str = "1234567893";
pub const RENDERING_NPI: &str = "1245319599";

/// Organization-1 from the FHIR examples plus NPI, TIN, US address.
pub fn billing_org() -> Value {
    let mut org = fhir_example("Organization-1.json");
    let ids = org["identifier"].as_array_mut().unwrap();
    ids.push(json!({"system": "http://hl7.org/fhir/sid/us-npi", "value": BILLING_NPI}));
    ids.push(json!({"system": "urn:oid:2.16.840.1.113883.4.4", "value": "12-3456789"}));
    org["address"] = json!([{"line": ["100 Main Street"], "city": "Portland", "state": "OR", "postalCode": "97201-1234"}]);
    org
}

/// Practitioner/example plus an NPI and a NUCC taxonomy qualification.
pub fn rendering() -> Value {
    let mut p = fhir_example("Practitioner-example.json");
    p["identifier"]
        .as_array_mut()
        .unwrap()
        .push(json!({"system": "http://hl7.org/fhir/sid/us-npi", "value": RENDERING_NPI}));
    p["qualification"]
        .as_array_mut()
        .unwrap()
        .push(json!({"code": {"coding": [{"system": "http://nucc.org/provider-taxonomy", "code": "207Q00000X"}]}}));
    p
}

/// Claim-MED-00050 (contained Patient and Coverage) as a professional claim.
pub fn med_00050() -> ClaimExportInput {
    let mut claim = fhir_example("Claim-MED-00050.json");
    claim["type"]["coding"][0]["code"] = json!("professional");
    ClaimExportInput {
        claim,
        billing_provider: Some(billing_org()),
        rendering_provider: Some(rendering()),
        ..Default::default()
    }
}

/// Same claim, but the patient is a dependent child of another subscriber.
pub fn med_00050_dependent() -> ClaimExportInput {
    let mut input = med_00050();
    let contained = input.claim["contained"].as_array_mut().unwrap();
    for r in contained.iter_mut() {
        if r["resourceType"] == "Coverage" {
            r["subscriber"] = json!({"reference": "#subscriber-1"});
            r["relationship"] = json!({"coding": [{"code": "child"}]});
            r["subscriberId"] = json!("HUM123456789");
        }
    }
    contained.push(json!({
        "resourceType": "RelatedPerson", "id": "subscriber-1",
        "patient": {"reference": "#patient-1"},
        "name": [{"family": "Ashcraft", "given": ["Robert", "J"]}],
        "gender": "male", "birthDate": "1950-02-03",
        "address": [{"line": ["123 Main Street"], "city": "Portland", "state": "OR", "postalCode": "97125"}]
    }));
    input
}

fn synthea_bundle(prefix: &str) -> Value {
    let dir = repo_root().join("tests/fixtures/synthea");
    let path = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .expect("bundle");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn resources<'a>(b: &'a Value, ty: &str) -> Vec<&'a Value> {
    b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == ty)
        .collect()
}

/// Porsha375's Synthea claim that has a diagnosis, completed with what
/// Synthea leaves out (see README "Synthea gaps").
pub fn synthea_porsha() -> ClaimExportInput {
    let b = synthea_bundle("Porsha375");
    let mut claim = resources(&b, "Claim")
        .into_iter()
        .find(|c| c.get("diagnosis").is_some())
        .unwrap()
        .clone();
    let patient = resources(&b, "Patient")[0].clone();
    let mut condition = resources(&b, "Condition")[0].clone();
    // Synthea codes conditions in SNOMED only: add the ICD-10-CM code.
    condition["code"]["coding"]
        .as_array_mut()
        .unwrap()
        .push(json!({"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "A15.0"}));
    // Items carry SNOMED codes and no prices: add CPT codes, prices summing to
    // Claim.total (129.16), units, place of service and a diagnosis pointer.
    claim["type"]["coding"][0]["code"] = json!("professional");
    // Synthea ids are 36-character UUIDs; CLM01 allows 20.
    claim["identifier"] = json!([{"system": "urn:test:pcn", "value": "SYN-E7F4FD27"}]);
    let cpts = ["99213", "71046"];
    let prices = ["100.00", "29.16"];
    for (i, item) in claim["item"].as_array_mut().unwrap().iter_mut().enumerate() {
        item["productOrService"]["coding"]
            .as_array_mut()
            .unwrap()
            .push(json!({"system": "http://www.ama-assn.org/go/cpt", "code": cpts[i]}));
        item["net"] = serde_json::from_str(&format!(
            "{{\"value\": {}, \"currency\": \"USD\"}}",
            prices[i]
        ))
        .unwrap();
        item["quantity"] = json!({"value": 1});
        item["locationCodeableConcept"] = json!({"coding": [{"system": "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set", "code": "11"}]});
        item["diagnosisSequence"] = json!([1]);
    }
    // Synthea's coverage is a display string ("Anthem"): add a Coverage.
    claim["insurance"][0]["coverage"] = json!({"reference": "#cov"});
    claim["contained"] = json!([{
        "resourceType": "Coverage", "id": "cov", "status": "active",
        "subscriberId": "ANT998877", "relationship": {"coding": [{"code": "self"}]},
        "beneficiary": {"reference": format!("urn:uuid:{}", patient["id"].as_str().unwrap())},
        "payor": [{"identifier": {"value": "ANTHM"}, "display": "Anthem"}]
    }]);
    // The billing Organization from Synthea's hospital file plus NPI and TIN.
    let hosp = synthea_bundle("hospitalInformation");
    let org_id = claim["provider"]["reference"]
        .as_str()
        .unwrap()
        .rsplit('|')
        .next()
        .unwrap()
        .to_string();
    let mut org = resources(&hosp, "Organization")
        .into_iter()
        .find(|o| o["id"] == org_id.as_str())
        .unwrap()
        .clone();
    let ids = org["identifier"].as_array_mut().unwrap();
    ids.push(json!({"system": "http://hl7.org/fhir/sid/us-npi", "value": BILLING_NPI}));
    ids.push(json!({"system": "urn:oid:2.16.840.1.113883.4.4", "value": "043333333"}));
    ClaimExportInput {
        claim,
        patient: Some(patient),
        billing_provider: Some(org),
        conditions: vec![condition],
        ..Default::default()
    }
}

/// Every 837P input the tests export (and pyx12 validates).
pub fn all_inputs() -> Vec<(&'static str, ClaimExportInput)> {
    vec![
        ("med_00050", med_00050()),
        ("med_00050_dependent", med_00050_dependent()),
        ("synthea_porsha", synthea_porsha()),
    ]
}
