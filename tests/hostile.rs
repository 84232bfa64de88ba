#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test
//! Hostile request bodies: each gets a 4xx OperationOutcome and the server stays up.

mod common;

use common::{TestServer, backends};

fn bodies() -> Vec<(&'static str, Vec<u8>)> {
    let deep_arrays = format!(
        "{{\"resourceType\":\"Patient\",\"extension\":{}{}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let deep_objects = format!("{}{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    let big_string = format!(
        "{{\"resourceType\":\"Patient\",\"id\":\"x\",\"name\":[{{\"family\":\"{}\"}}]}}",
        "A".repeat(10 * 1024 * 1024)
    );
    let many_keys = format!(
        "{{\"resourceType\":\"Patient\",{}\"active\":true}}",
        (0..5000)
            .map(|i| format!("\"k{i}\":1,"))
            .collect::<String>()
    );
    vec![
        ("empty", b"".to_vec()),
        ("whitespace", b"   \n ".to_vec()),
        ("truncated", br#"{"resourceType":"Patient","name":[{"family":"X"#.to_vec()),
        ("truncated after key", br#"{"resourceType":"#.to_vec()),
        ("array top level", br#"[{"resourceType":"Patient"}]"#.to_vec()),
        ("string top level", br#""Patient""#.to_vec()),
        ("null", b"null".to_vec()),
        ("number", b"42".to_vec()),
        ("trailing garbage", br#"{"resourceType":"Patient"} xyz"#.to_vec()),
        ("two documents", br#"{"resourceType":"Patient"}{"resourceType":"Patient"}"#.to_vec()),
        ("duplicate keys", br#"{"resourceType":"Patient","active":true,"active":false}"#.to_vec()),
        ("duplicate resourceType", br#"{"resourceType":"Patient","resourceType":"Observation"}"#.to_vec()),
        ("nul escape in string", br#"{"resourceType":"Patient","name":[{"family":"a\u0000b"}]}"#.to_vec()),
        ("raw nul byte", b"{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"a\x00b\"}]}".to_vec()),
        ("nul outside", b"{\"resourceType\":\"Patient\"}\x00".to_vec()),
        ("huge exponent", br#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1e99999}}"#.to_vec()),
        ("negative huge exponent number as int", br#"{"resourceType":"Patient","multipleBirthInteger":99999999999999999999999}"#.to_vec()),
        ("NaN", br#"{"resourceType":"Observation","valueQuantity":{"value":NaN}}"#.to_vec()),
        ("Infinity", br#"{"resourceType":"Observation","valueQuantity":{"value":Infinity}}"#.to_vec()),
        ("leading zero", br#"{"resourceType":"Patient","multipleBirthInteger":01}"#.to_vec()),
        ("single quotes", br#"{'resourceType':'Patient'}"#.to_vec()),
        ("comments", b"{/* c */\"resourceType\":\"Patient\"}".to_vec()),
        ("bad escape", br#"{"resourceType":"Patient","id":"\x41"}"#.to_vec()),
        ("lone surrogate", br#"{"resourceType":"Patient","name":[{"family":"\ud800"}]}"#.to_vec()),
        ("invalid utf-8", b"{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"\xc3\x28\"}]}".to_vec()),
        ("utf-16 bom", b"\xff\xfe{\x00}\x00".to_vec()),
        ("deep arrays", deep_arrays.into_bytes()),
        ("deep objects", deep_objects.into_bytes()),
        ("10 MB string", big_string.into_bytes()),
        ("5000 unknown keys", many_keys.into_bytes()),
        ("no resourceType", br#"{"id":"x"}"#.to_vec()),
        ("resourceType number", br#"{"resourceType":5}"#.to_vec()),
        ("wrong resourceType", br#"{"resourceType":"Observation","status":"final","code":{"text":"x"}}"#.to_vec()),
        ("abstract type", br#"{"resourceType":"DomainResource"}"#.to_vec()),
        ("boolean as string", br#"{"resourceType":"Patient","active":"true"}"#.to_vec()),
        ("object for array", br#"{"resourceType":"Patient","name":{"family":"x"}}"#.to_vec()),
        ("null scalar", br#"{"resourceType":"Patient","active":null}"#.to_vec()),
        ("empty object in array", br#"{"resourceType":"Patient","name":[{}]}"#.to_vec()),
        ("extension without url", br#"{"resourceType":"Patient","extension":[{"valueString":"x"}]}"#.to_vec()),
        ("contained without id", br#"{"resourceType":"Patient","contained":[{"resourceType":"Organization","name":"x"}]}"#.to_vec()),
    ]
}

#[actix_web::test]
async fn hostile_bodies_get_4xx_and_the_server_survives() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        let cases = bodies();
        assert!(cases.len() >= 40);
        for (name, body) in cases {
            let r = c
                .post_raw(
                    "Patient",
                    body,
                    &[("content-type", "application/fhir+json")],
                )
                .await;
            assert!(
                (400..500).contains(&r.status),
                "{b:?} {name}: status {} {}",
                r.status,
                r.text()
            );
            assert_eq!(r.json()["resourceType"], "OperationOutcome", "{name}");
        }
        // Nothing was stored, and the server still works.
        assert_eq!(c.get("_history").await.json()["total"], 0);
        assert_eq!(
            c.get(&format!("http://{}/health/live", srv.addr))
                .await
                .status,
            200
        );
        let ok = c
            .post("Patient", &serde_json::json!({"resourceType":"Patient"}))
            .await;
        assert_eq!(ok.status, 201);
    }
}

#[actix_web::test]
async fn oversized_body_is_413() {
    for b in backends() {
        let srv = TestServer::start_with(b, |c| c.max_body_bytes = 1024 * 1024);
        let c = srv.client();
        let body = format!(
            "{{\"resourceType\":\"Patient\",\"name\":[{{\"family\":\"{}\"}}]}}",
            "A".repeat(2 * 1024 * 1024)
        );
        let r = c
            .post_raw(
                "Patient",
                body.into_bytes(),
                &[("content-type", "application/fhir+json")],
            )
            .await;
        assert_eq!(r.status, 413);
        assert_eq!(r.outcome()[0].0, "too-costly");
    }
}
