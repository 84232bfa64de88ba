//! The public model API, and timings of model build and validation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hms_fhir::{Model, json, model::TypeKind, validate};
use std::time::Instant;

#[test]
fn resource_types() {
    let m = Model::r4();
    let types = m.resource_types();
    assert_eq!(types.len(), 146);
    assert!(types.windows(2).all(|w| w[0] < w[1]));
    assert!(m.is_resource_type("Patient") && m.is_resource_type("Bundle"));
    assert!(!m.is_resource_type("Resource") && !m.is_resource_type("DomainResource"));
    assert!(!m.is_resource_type("HumanName") && !m.is_resource_type("patient"));
    assert_eq!(m.type_kind("HumanName"), Some(TypeKind::Complex));
    assert!(m.is_primitive("dateTime"));
}

#[test]
fn elements() {
    let m = Model::r4();
    let bd = m.element("Patient", "birthDate").unwrap();
    assert_eq!(
        (bd.path.as_str(), bd.types.clone(), bd.min, bd.max_many),
        ("Patient.birthDate", vec!["date".to_string()], 0, false)
    );
    let given = m.element("Patient", "name.given").unwrap();
    assert_eq!(given.path, "HumanName.given");
    assert_eq!(given.types, vec!["string"]);
    assert!(given.max_many);
    assert_eq!(m.child("HumanName", "given"), Some(given));
    let value = m.element("Observation", "value[x]").unwrap();
    assert!(value.is_choice);
    assert_eq!(value.types.len(), 11);
    assert!(value.types.iter().any(|t| t == "Quantity"));
    let vq = m.child("Observation", "valueQuantity").unwrap();
    assert_eq!(
        (vq.types.clone(), vq.is_choice),
        (vec!["Quantity".to_string()], true)
    );
    assert!(m.child("Observation", "valueFoo").is_none());
    assert_eq!(
        m.element("Observation", "valueQuantity.value")
            .unwrap()
            .types,
        vec!["decimal"]
    );
    let status = m.element("Appointment", "status").unwrap();
    assert_eq!(status.min, 1);
    let subject = m.element("Observation", "subject").unwrap();
    assert_eq!(subject.types, vec!["Reference"]);
    assert!(subject.target_profiles.iter().any(|t| t == "Patient"));
    // contentReference: Questionnaire.item.item is #Questionnaire.item
    let nested = m.element("Questionnaire", "item.item.linkId").unwrap();
    assert_eq!(
        (nested.path.as_str(), nested.min),
        ("Questionnaire.item.linkId", 1)
    );
    assert_eq!(m.element("Patient", "id").unwrap().types, vec!["id"]);
    assert_eq!(
        m.element("Patient", "name.id").unwrap().types,
        vec!["string"]
    );
    assert_eq!(m.element("Extension", "url").unwrap().types, vec!["uri"]);
    assert_eq!(
        m.element("Claim", "item.detail.sequence").unwrap().types,
        vec!["positiveInt"]
    );
    assert!(m.element("Patient", "bogus").is_none());
    assert!(m.element("Nope", "id").is_none());
}

#[test]
fn compartments() {
    let m = Model::r4();
    assert_eq!(
        m.compartment_params("Patient", "Observation"),
        ["subject", "performer"]
    );
    assert_eq!(m.compartment_params("Patient", "Patient"), ["link"]);
    assert!(
        m.compartment_params("Patient", "ActivityDefinition")
            .is_empty()
    );
    assert_eq!(
        m.compartment_params("Encounter", "Observation"),
        ["encounter"]
    );
    assert!(!m.compartment_params("Practitioner", "Encounter").is_empty());
    assert!(
        !m.compartment_params("RelatedPerson", "Observation")
            .is_empty()
    );
    assert!(!m.compartment_params("Device", "Observation").is_empty());
    assert!(m.compartment_params("Nope", "Observation").is_empty());
}

#[test]
fn model_build_time() {
    let text = include_str!("../../../fhir-profiles/r4-model.txt");
    let start = Instant::now();
    let m = Model::from_compact(text).unwrap();
    let took = start.elapsed();
    eprintln!("model build (debug): {took:?}");
    assert_eq!(m.resource_types().len(), 146);
    assert!(Model::from_compact("Q\tx").is_err());
    assert!(Model::from_compact("E\tNope.x\t0\t1\tstring\t-\t-\t-").is_err());
}

#[test]
fn patient_validation_time() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/fhir-examples/Patient-example.json"
    );
    let bytes = std::fs::read(path).unwrap();
    let m = Model::r4();
    let value = json::parse_resource(&bytes).unwrap();
    assert!(validate::validate_resource(m, &value).is_empty());
    let n = 1000;
    let start = Instant::now();
    for _ in 0..n {
        let v = json::parse_resource(&bytes).unwrap();
        assert!(validate::validate_resource(m, &v).is_empty());
    }
    let both = start.elapsed() / n;
    let start = Instant::now();
    for _ in 0..n {
        assert!(validate::validate_resource(m, &value).is_empty());
    }
    let validate_only = start.elapsed() / n;
    eprintln!(
        "Patient-example ({} bytes), debug build: parse+validate {both:?}, validate {validate_only:?} per call",
        bytes.len()
    );
}
