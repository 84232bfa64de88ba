//! Property tests: no input makes the parser or the validator panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hms_fhir::{Model, json, validate};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Keys that hit real elements often, plus noise.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "id",
            "name",
            "given",
            "_given",
            "family",
            "birthDate",
            "_birthDate",
            "gender",
            "active",
            "extension",
            "url",
            "valueString",
            "valueQuantity",
            "value",
            "deceasedBoolean",
            "contained",
            "resourceType",
            "entry",
            "resource",
            "item",
            "detail",
            "coding",
            "system",
            "code",
            "text",
            "div",
            "status",
            "meta",
            "lastUpdated",
            "modifierExtension",
            "_name",
            "telecom",
            "value[x]",
        ])
        .prop_map(str::to_string),
        "[a-zA-Z_]{0,12}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "-?[0-9]{1,20}(\\.[0-9]{1,5})?".prop_map(|s| s
            .parse::<serde_json::Number>()
            .map_or(Value::Null, Value::Number)),
        prop::sample::select(vec![
            "Patient",
            "Bundle",
            "Observation",
            "Claim",
            "male",
            "banana",
            "1987-02-20",
            "",
            " x",
            "http://x"
        ])
        .prop_map(|s| Value::String(s.to_string())),
        ".{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// An object with a real resourceType so validation goes deep.
fn resource() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec![
            "Patient",
            "Bundle",
            "Observation",
            "Claim",
            "Appointment",
            "Questionnaire",
        ]),
        prop::collection::vec((key(), json_value()), 0..8),
    )
        .prop_map(|(rt, kv)| {
            let mut m: Map<String, Value> = kv.into_iter().collect();
            m.insert("resourceType".into(), Value::String(rt.to_string()));
            Value::Object(m)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(v) = json::parse_resource(&bytes) {
            let _ = validate::validate_resource(Model::r4(), &v);
        }
    }

    #[test]
    fn arbitrary_json_never_panics(v in json_value()) {
        let _ = validate::validate_resource(Model::r4(), &v);
        let text = serde_json::to_vec(&v).unwrap();
        if let Ok(parsed) = json::parse_resource(&text) {
            let _ = validate::validate_resource(Model::r4(), &parsed);
        }
    }

    #[test]
    fn arbitrary_resources_never_panic(v in resource()) {
        let _ = validate::validate_resource(Model::r4(), &v);
        let text = serde_json::to_vec(&v).unwrap();
        // Re-parsing may fail (control characters are rejected), never panic.
        if let Ok(parsed) = json::parse_resource(&text) {
            prop_assert_eq!(validate::validate_resource(Model::r4(), &parsed), validate::validate_resource(Model::r4(), &v));
        }
    }
}
