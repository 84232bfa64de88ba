//! Hostile and invalid inputs: each must yield exactly the listed issues
//! (expression, code), in order.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hms_fhir::{Issue, Model, json, validate};

/// Parses then validates; a parse failure is the single issue.
fn issues(bytes: &[u8]) -> Vec<Issue> {
    match json::parse_resource(bytes) {
        Ok(v) => validate::validate_resource(Model::r4(), &v),
        Err(i) => vec![i],
    }
}

fn pairs(issues: &[Issue]) -> Vec<(Option<&str>, &str)> {
    issues
        .iter()
        .map(|i| (i.expression.as_deref(), i.code))
        .collect()
}

/// (name, body, expected [(expression, code)])
type Case = (
    &'static str,
    &'static str,
    &'static [(Option<&'static str>, &'static str)],
);

const P: Option<&str> = None;

#[rustfmt::skip]
const CASES: &[Case] = &[
    // --- primitives
    ("birthDate without dashes", r#"{"resourceType":"Patient","birthDate":"19870220"}"#, &[(Some("Patient.birthDate"), "value")]),
    ("birthDate dd/mm/yyyy", r#"{"resourceType":"Patient","birthDate":"20/02/1987"}"#, &[(Some("Patient.birthDate"), "value")]),
    ("birthDate Feb 30", r#"{"resourceType":"Patient","birthDate":"1987-02-30"}"#, &[(Some("Patient.birthDate"), "value")]),
    ("birthDate as number", r#"{"resourceType":"Patient","birthDate":19870220}"#, &[(Some("Patient.birthDate"), "structure")]),
    ("active as string", r#"{"resourceType":"Patient","active":"true"}"#, &[(Some("Patient.active"), "structure")]),
    ("gender banana", r#"{"resourceType":"Patient","gender":"banana"}"#, &[(Some("Patient.gender"), "code-invalid")]),
    ("gender with trailing space", r#"{"resourceType":"Patient","gender":"male "}"#, &[(Some("Patient.gender"), "value")]),
    ("empty string", r#"{"resourceType":"Patient","name":[{"family":""}]}"#, &[(Some("Patient.name[0].family"), "value")]),
    ("decimal as string", r#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":"1.5"}}"#, &[(Some("Observation.valueQuantity.value"), "structure")]),
    ("integer with fraction", r#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueInteger":1.5}"#, &[(Some("Observation.valueInteger"), "value")]),
    ("integer overflow", r#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueInteger":2147483648}"#, &[(Some("Observation.valueInteger"), "value")]),
    ("valid: unsignedInt zero and backbones", r#"{"resourceType":"Patient","multipleBirthInteger":1,"contact":[{"name":{"family":"x"}}],"communication":[{"language":{"text":"en"}}],"photo":[{"size":0,"url":"http://x"}]}"#, &[]),
    ("positiveInt zero", r#"{"resourceType":"Claim","status":"active","type":{"text":"t"},"use":"claim","patient":{"reference":"Patient/1"},"created":"2020-01-01","provider":{"reference":"Organization/1"},"priority":{"text":"p"},"insurance":[{"sequence":1,"focal":true,"coverage":{"reference":"Coverage/1"}}],"item":[{"sequence":0,"productOrService":{"text":"x"}}]}"#, &[(Some("Claim.item[0].sequence"), "value")]),
    ("bad id", r#"{"resourceType":"Patient","id":"a b"}"#, &[(Some("Patient.id"), "value")]),
    ("id too long", r#"{"resourceType":"Patient","id":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}"#, &[(Some("Patient.id"), "value")]),
    ("uri with space", r#"{"resourceType":"Patient","identifier":[{"system":"http://a b","value":"1"}]}"#, &[(Some("Patient.identifier[0].system"), "value")]),
    ("dateTime without zone", r#"{"resourceType":"Patient","deceasedDateTime":"2015-02-07T13:28:17"}"#, &[(Some("Patient.deceasedDateTime"), "value")]),
    ("instant date only", r#"{"resourceType":"Patient","meta":{"lastUpdated":"2015-02-07"}}"#, &[(Some("Patient.meta.lastUpdated"), "value")]),
    ("time bad", r#"{"resourceType":"Patient","extension":[{"url":"http://x","valueTime":"25:00:00"}]}"#, &[(Some("Patient.extension[0].valueTime"), "value")]),
    ("oid bad", r#"{"resourceType":"Patient","extension":[{"url":"http://x","valueOid":"1.2.3"}]}"#, &[(Some("Patient.extension[0].valueOid"), "value")]),
    ("uuid uppercase", r#"{"resourceType":"Patient","extension":[{"url":"http://x","valueUuid":"urn:uuid:C757873D-EC9A-4326-A141-556F43239520"}]}"#, &[(Some("Patient.extension[0].valueUuid"), "value")]),
    ("base64 bad", r#"{"resourceType":"Patient","photo":[{"data":"abc$"}]}"#, &[(Some("Patient.photo[0].data"), "value")]),
    ("control char in string", r#"{"resourceType":"Patient","name":[{"family":"a\u0007b"}]}"#, &[(Some("Patient.name[0].family"), "structure")]),
    ("narrative not div", r#"{"resourceType":"Patient","text":{"status":"generated","div":"hello"}}"#, &[(Some("Patient.text.div"), "value")]),
    // --- shapes
    ("name as object", r#"{"resourceType":"Patient","name":{"family":"x"}}"#, &[(Some("Patient.name"), "structure")]),
    ("array for single", r#"{"resourceType":"Patient","birthDate":["1987-02-20"]}"#, &[(Some("Patient.birthDate"), "structure")]),
    ("given as string", r#"{"resourceType":"Patient","name":[{"given":"Jim"}]}"#, &[(Some("Patient.name[0].given"), "structure")]),
    ("empty object", r#"{"resourceType":"Patient","maritalStatus":{}}"#, &[(Some("Patient.maritalStatus"), "structure")]),
    ("empty array", r#"{"resourceType":"Patient","name":[]}"#, &[(Some("Patient.name"), "structure")]),
    ("null single", r#"{"resourceType":"Patient","birthDate":null}"#, &[(Some("Patient.birthDate"), "structure")]),
    ("null single with companion", r#"{"resourceType":"Patient","birthDate":null,"_birthDate":{"id":"a"}}"#, &[(Some("Patient.birthDate"), "structure")]),
    ("valid: companion without value, aligned arrays with nulls", r#"{"resourceType":"Patient","_birthDate":{"extension":[{"url":"http://x","valueString":"y"}]},"name":[{"given":["a",null,"c"],"_given":[null,{"id":"g2"},{"id":"g3"}]}],"_gender":{"id":"x"}}"#, &[]),
    ("valid: extension value as companion only", r#"{"resourceType":"Patient","extension":[{"url":"http://x","_valueString":{"id":"a"}}]}"#, &[]),
    ("null in complex array", r#"{"resourceType":"Patient","name":[null]}"#, &[(Some("Patient.name[0]"), "structure")]),
    ("null in primitive array without companion", r#"{"resourceType":"Patient","name":[{"given":["a",null]}]}"#, &[(Some("Patient.name[0].given[1]"), "structure")]),
    // --- unknown elements and resource types
    ("unknown top level", r#"{"resourceType":"Patient","foo":1}"#, &[(Some("Patient.foo"), "structure")]),
    ("deep unknown in Claim", r#"{"resourceType":"Claim","status":"active","type":{"text":"t"},"use":"claim","patient":{"reference":"Patient/1"},"created":"2020-01-01","provider":{"reference":"Organization/1"},"priority":{"text":"p"},"insurance":[{"sequence":1,"focal":true,"coverage":{"reference":"Coverage/1"}}],"item":[{"sequence":1,"productOrService":{"text":"x"}},{"sequence":2,"productOrService":{"text":"y"},"detail":[{"sequence":1,"productOrService":{"text":"z"},"bogus":true}]}]}"#, &[(Some("Claim.item[1].detail[0].bogus"), "structure")]),
    ("unknown in datatype", r#"{"resourceType":"Patient","name":[{"famly":"x"}]}"#, &[(Some("Patient.name[0].famly"), "structure")]),
    ("literal value[x] key", r#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"value[x]":"a"}"#, &[(Some("Observation.value[x]"), "structure")]),
    ("missing resourceType", r#"{"id":"x"}"#, &[(Some("resourceType"), "required")]),
    ("unknown resourceType", r#"{"resourceType":"Banana"}"#, &[(Some("resourceType"), "not-supported")]),
    ("abstract resourceType", r#"{"resourceType":"DomainResource"}"#, &[(Some("resourceType"), "not-supported")]),
    ("resourceType not string", r#"{"resourceType":5}"#, &[(Some("resourceType"), "structure")]),
    // --- cardinality and choices
    ("missing required", r#"{"resourceType":"Appointment","participant":[{"status":"accepted","actor":{"reference":"Patient/1"}}]}"#, &[(Some("Appointment.status"), "required")]),
    ("missing required in backbone", r#"{"resourceType":"Appointment","status":"booked","participant":[{"actor":{"reference":"Patient/1"}}]}"#, &[(Some("Appointment.participant[0].status"), "required")]),
    ("choice wrong type", r#"{"resourceType":"Patient","deceasedString":"yes"}"#, &[(Some("Patient.deceasedString"), "structure")]),
    ("two choice variants", r#"{"resourceType":"Patient","deceasedBoolean":true,"deceasedDateTime":"2015"}"#, &[(Some("Patient.deceasedDateTime"), "structure")]),
    ("choice variant plus other companion", r#"{"resourceType":"Patient","deceasedBoolean":true,"_deceasedDateTime":{"id":"a"}}"#, &[(Some("Patient._deceasedDateTime"), "structure")]),
    // --- companions
    ("complex companion", r#"{"resourceType":"Patient","_name":[{"id":"a"}]}"#, &[(Some("Patient._name"), "structure")]),
    ("companion unknown", r#"{"resourceType":"Patient","_foo":{"id":"a"}}"#, &[(Some("Patient._foo"), "structure")]),
    ("companion length mismatch", r#"{"resourceType":"Patient","name":[{"given":["a","b"],"_given":[null]}]}"#, &[(Some("Patient.name[0]._given"), "structure")]),
    ("companion both null", r#"{"resourceType":"Patient","name":[{"given":["a",null],"_given":[null,null]}]}"#, &[(Some("Patient.name[0].given[1]"), "structure"), (Some("Patient.name[0]._given[1]"), "structure")]),
    ("companion bad content", r#"{"resourceType":"Patient","_birthDate":{"value":"x"}}"#, &[(Some("Patient._birthDate.value"), "structure")]),
    // --- extensions
    ("extension without url", r#"{"resourceType":"Patient","extension":[{"valueString":"x"}]}"#, &[(Some("Patient.extension[0].url"), "required")]),
    ("extension without value", r#"{"resourceType":"Patient","extension":[{"url":"http://x"}]}"#, &[(Some("Patient.extension[0]"), "invariant")]),
    ("extension value and nested", r#"{"resourceType":"Patient","extension":[{"url":"http://x","valueString":"a","extension":[{"url":"b","valueString":"c"}]}]}"#, &[(Some("Patient.extension[0]"), "invariant")]),
    ("modifierExtension without value", r#"{"resourceType":"Patient","modifierExtension":[{"url":"http://x"}]}"#, &[(Some("Patient.modifierExtension[0]"), "invariant")]),
    // --- bindings via Coding / CodeableConcept
    ("bad coding in required CC", r#"{"resourceType":"AllergyIntolerance","patient":{"reference":"Patient/1"},"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"banana"}]}}"#, &[(Some("AllergyIntolerance.clinicalStatus.coding[0].code"), "code-invalid")]),
    ("other system in required CC is not checked", r#"{"resourceType":"AllergyIntolerance","patient":{"reference":"Patient/1"},"clinicalStatus":{"coding":[{"system":"http://example.org","code":"banana"}]}}"#, &[]),
    ("quantity comparator", r#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1,"comparator":"~"}}"#, &[(Some("Observation.valueQuantity.comparator"), "code-invalid")]),
    // --- nested resources
    ("contained without id", r#"{"resourceType":"Patient","contained":[{"resourceType":"Organization","name":"x"}]}"#, &[(Some("Patient.contained[0].id"), "required")]),
    ("contained unknown element", r#"{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o","nme":"x"}]}"#, &[(Some("Patient.contained[0].nme"), "structure")]),
    ("bundle entry bad", r#"{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","birthDate":"1987"}},{"resource":{"resourceType":"Patient","gender":"banana"}}]}"#, &[(Some("Bundle.entry[1].resource.gender"), "code-invalid")]),
    ("bundle entry unknown type", r#"{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Nope"}}]}"#, &[(Some("Bundle.entry[0].resource.resourceType"), "not-supported")]),
    ("bundle type banana", r#"{"resourceType":"Bundle","type":"banana"}"#, &[(Some("Bundle.type"), "code-invalid")]),
    // --- JSON syntax (parser)
    ("duplicate keys", r#"{"resourceType":"Patient","gender":"male","gender":"female"}"#, &[(P, "structure")]),
    ("duplicate nested keys", r#"{"resourceType":"Patient","name":[{"family":"a","family":"b"}]}"#, &[(P, "structure")]),
    ("number overflow", r#"{"resourceType":"Observation","valueDecimal":1e99999}"#, &[(P, "structure")]),
    ("truncated", r#"{"resourceType":"Patient","name":[{"family":"x"#, &[(P, "structure")]),
    ("trailing garbage", r#"{"resourceType":"Patient"} x"#, &[(P, "structure")]),
    ("top-level array", r#"[{"resourceType":"Patient"}]"#, &[(P, "structure")]),
    ("top-level string", r#""Patient""#, &[(P, "structure")]),
    ("NUL in string", r#"{"resourceType":"Patient","name":[{"family":"a\u0000b"}]}"#, &[(Some("Patient.name[0].family"), "structure")]),
    ("NUL in key", r#"{"resourceType":"Patient","a\u0000":1}"#, &[(Some("Patient.a\u{0}"), "structure")]),
    ("empty body", "", &[(P, "structure")]),
    ("single quotes", "{'resourceType':'Patient'}", &[(P, "structure")]),
    ("trailing comma", r#"{"resourceType":"Patient",}"#, &[(P, "structure")]),
];

#[test]
fn hostile_table() {
    assert!(CASES.len() >= 40);
    let mut failures = Vec::new();
    for (name, body, expected) in CASES {
        let got = issues(body.as_bytes());
        if pairs(&got) != expected.to_vec() {
            failures.push(format!("{name}: expected {expected:?}, got {got:#?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn duplicate_key_diagnostics_have_position() {
    let err = json::parse_resource(b"{\"resourceType\":\"Patient\",\n\"id\":\"a\",\n\"id\":\"b\"}")
        .unwrap_err();
    assert!(
        err.diagnostics.contains("duplicate key \"id\""),
        "{}",
        err.diagnostics
    );
    assert!(err.diagnostics.contains("line 3"), "{}", err.diagnostics);
    assert!(err.diagnostics.contains("byte "), "{}", err.diagnostics);
}

#[test]
fn invalid_utf8_is_rejected_with_position() {
    let err = json::parse_resource(b"{\"resourceType\":\"Pat\xffient\"}").unwrap_err();
    assert_eq!(err.code, "structure");
    assert!(
        err.diagnostics
            .contains("invalid UTF-8 at line 1 column 21 (byte 20)"),
        "{}",
        err.diagnostics
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let mut body = String::from("{\"resourceType\":\"Patient\",\"x\":");
    body.push_str(&"[".repeat(10_000));
    body.push_str(&"]".repeat(10_000));
    body.push('}');
    let err = json::parse_resource(body.as_bytes()).unwrap_err();
    assert_eq!(err.code, "structure");
    assert!(
        err.diagnostics.contains("recursion limit"),
        "{}",
        err.diagnostics
    );
    let objects = "{\"a\":".repeat(10_000);
    assert!(json::parse_resource(objects.as_bytes()).is_err());
}

#[test]
fn huge_number_diagnostics() {
    let err = json::parse_resource(br#"{"resourceType":"Observation","valueDecimal":1e99999}"#)
        .unwrap_err();
    assert!(
        err.diagnostics.contains("out of range"),
        "{}",
        err.diagnostics
    );
}

#[test]
fn exact_decimals_survive() {
    let v =
        json::parse_resource(br#"{"resourceType":"Observation","valueDecimal":0.700}"#).unwrap();
    assert_eq!(v["valueDecimal"].to_string(), "0.700");
}

#[test]
fn hand_built_deep_value_does_not_overflow() {
    // A Value built in code (not via the parser) that nests far deeper than 128.
    // json! would re-serialize `v` recursively, so nest by hand.
    let mut v = serde_json::json!({"url": "http://x", "valueString": "a"});
    for _ in 0..5_000 {
        let mut outer = serde_json::Map::new();
        outer.insert("url".into(), "http://x".into());
        outer.insert("extension".into(), serde_json::Value::Array(vec![v]));
        v = serde_json::Value::Object(outer);
    }
    let mut resource = serde_json::Map::new();
    resource.insert("resourceType".into(), "Patient".into());
    resource.insert("extension".into(), serde_json::Value::Array(vec![v]));
    let resource = serde_json::Value::Object(resource);
    let issues = validate::validate_resource(Model::r4(), &resource);
    assert_eq!(issues.len(), 1);
    assert!(issues[0].diagnostics.contains("nested too deeply"));
    // Dropping a 5,000-deep Value recurses inside serde_json; leak it to keep
    // this test about the validator.
    std::mem::forget(resource);
}

#[test]
fn issue_json_shape() {
    let got = issues(br#"{"resourceType":"Patient","gender":"banana"}"#);
    assert_eq!(
        got[0].to_json(),
        serde_json::json!({
            "severity": "error",
            "code": "code-invalid",
            "diagnostics": "'banana' is not in the required value set http://hl7.org/fhir/ValueSet/administrative-gender",
            "expression": ["Patient.gender"]
        })
    );
}

#[test]
fn parse_failures_are_fatal_and_numbers_keep_their_text() {
    assert_eq!(
        json::parse_resource(b"{").unwrap_err().severity,
        hms_fhir::Severity::Fatal
    );
    let v = json::parse_resource(
        br#"{"a":1.2E+2,"b":1e5,"c":-0.0,"d":123456789012345678901234567890}"#,
    )
    .unwrap();
    let texts: Vec<String> = ["a", "b", "c", "d"]
        .iter()
        .map(|k| v[k].to_string())
        .collect();
    // Numbers keep their exact text, exponent spelling included (FHIR decimals are lossless).
    assert_eq!(
        texts,
        ["1.2E+2", "1e5", "-0.0", "123456789012345678901234567890"]
    );
}
