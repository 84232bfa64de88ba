#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test
//! Every official R4 example is PUT at its own id and read back equal to what was sent, apart from
//! meta.versionId/lastUpdated (lossless storage: extensions, `_element`s, decimals as sent).

mod common;

use common::{TestServer, backends, fixture, strip_server_meta};
use serde_json::Value;

fn examples() -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fhir-examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|n| (n.clone(), fixture(&format!("fhir-examples/{n}"))))
        .collect()
}

#[actix_web::test]
async fn official_examples_round_trip() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        let mut count = 0;
        let mut refused = 0;
        for (name, bytes) in examples() {
            let sent: Value = serde_json::from_slice(&bytes).unwrap();
            let t = sent["resourceType"].as_str().unwrap();
            let id = sent["id"].as_str().unwrap();
            let r = c
                .put_raw(
                    &format!("{t}/{id}"),
                    bytes.clone(),
                    &[("content-type", "application/fhir+json")],
                )
                .await;
            if t == "AuditEvent" {
                // The audit log is written by the server only (issue 7): never through the API.
                assert_eq!(r.status, 405, "{b:?} {name}: {}", r.text());
                refused += 1;
                continue;
            }
            assert_eq!(r.status, 201, "{b:?} {name}: {}", r.text());
            let back = c.get(&format!("{t}/{id}")).await;
            assert_eq!(back.status, 200, "{name}");
            assert_eq!(
                strip_server_meta(&back.json()),
                strip_server_meta(&sent),
                "{b:?} {name} changed on the way"
            );
            count += 1;
        }
        assert_eq!((count, refused), (59, 3));
    }
}

#[actix_web::test]
async fn decimals_and_primitive_extensions_are_kept_verbatim() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        let body = br#"{"resourceType":"Observation","id":"dec","status":"final","code":{"text":"t"},"valueQuantity":{"value":0.700,"unit":"mg"},"component":[{"code":{"text":"a"},"valueQuantity":{"value":1.2E+2}},{"code":{"text":"b"},"valueQuantity":{"value":1e2}}],"_status":{"extension":[{"url":"http://example.org/x","valueString":"y"}]},"note":[{"text":"caf\u00e9"}]}"#;
        let r = c
            .put_raw(
                "Observation/dec",
                body.to_vec(),
                &[("content-type", "application/fhir+json")],
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        let text = c.get("Observation/dec").await.text();
        assert!(text.contains(r#""value":0.700"#), "{text}");
        assert!(text.contains(r#""value":1.2E+2"#), "{text}");
        assert!(text.contains(r#""value":1e2"#), "{text}");
        assert!(
            text.contains(
                r#""_status":{"extension":[{"url":"http://example.org/x","valueString":"y"}]}"#
            ),
            "{text}"
        );
        let p = br#"{"resourceType":"Patient","id":"nulls","name":[{"given":["A",null,"C"],"_given":[null,{"extension":[{"url":"http://e","valueCode":"x"}]},null]}],"_birthDate":{"extension":[{"url":"http://e","valueString":"unknown"}]}}"#;
        let r = c
            .put_raw(
                "Patient/nulls",
                p.to_vec(),
                &[("content-type", "application/fhir+json")],
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        let back = c.get("Patient/nulls").await.json();
        let sent: Value = serde_json::from_slice(p).unwrap();
        assert_eq!(strip_server_meta(&back), sent);
    }
}
