#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test
//! Hostile request bodies: each gets a 4xx OperationOutcome and the server stays up.

mod common;

use common::{TestServer, backends};
use serde_json::json;

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

/// A NUL (or other C0 control) in any search value is a 400 naming the parameter, on every path
/// that runs a search: PostgreSQL cannot even compare text holding NUL, so it used to be a 500.
#[actix_web::test]
async fn control_characters_in_search_values_are_400() {
    use awc::http::Method;
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        let p = json!({"resourceType": "Patient", "id": "p1", "name": [{"family": "Ab"}]});
        assert_eq!(c.put("Patient/p1", &p).await.status, 201);
        let searches = [
            ("Patient?name=a%00b", "name"),
            ("Patient?identifier=%00", "identifier"),
            ("Patient?_id=%00", "_id"),
            ("Patient?_tag=%00", "_tag"),
            ("Patient?_profile=%00", "_profile"),
            ("Patient?_source=%00", "_source"),
            ("Patient?name:exact=%00", "name:exact"),
            ("Patient?gender:text=%00", "gender:text"),
            (
                "Patient?general-practitioner.name=%00",
                "general-practitioner.name",
            ),
            ("Patient?name=a%1Bb", "name"),
            ("?_type=Patient&name=%00", "name"),
            ("Patient?na%00me=x", "na\\0me"),
        ];
        for (path, param) in searches {
            let r = c.get(path).await;
            assert_eq!(r.status, 400, "{b:?} {path}: {}", r.text());
            let o = r.outcome();
            assert_eq!(o[0].0, "invalid", "{path}");
            assert_eq!(o[0].2, vec![param.to_string()], "{path}");
            assert!(o[0].1.contains("control character"), "{path}: {}", o[0].1);
        }
        // TAB is allowed (it is only text): a normal empty result, not an error.
        let r = c.get("Patient?name=a%09b").await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["total"], 0);

        let newp = json!({"resourceType": "Patient", "name": [{"family": "Cd"}]});
        let r = c
            .post_h("Patient", &newp, &[("if-none-exist", "name=a%00")])
            .await;
        assert_eq!(r.status, 400, "{}", r.text());
        assert_eq!(r.outcome()[0].2, vec!["name".to_string()]);
        let r = c.put("Patient?identifier=%00", &newp).await;
        assert_eq!(r.status, 400, "{}", r.text());
        assert_eq!(r.outcome()[0].2, vec!["identifier".to_string()]);
        let r = c.send(Method::DELETE, "Patient?name=%00", &[], None).await;
        assert_eq!(r.status, 400, "{}", r.text());
        assert_eq!(r.outcome()[0].2, vec!["name".to_string()]);

        let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
            {"request": {"method": "GET", "url": "Patient?name=%00"}},
            {"request": {"method": "GET", "url": "Patient?_id=p1"}}
        ]});
        let r = c.post("", &batch).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        assert!(
            v["entry"][0]["response"]["status"]
                .as_str()
                .unwrap()
                .starts_with("400"),
            "{v}"
        );
        assert_eq!(
            v["entry"][0]["response"]["outcome"]["issue"][0]["expression"],
            json!(["name"])
        );
        assert_eq!(v["entry"][1]["resource"]["total"], 1, "{v}");

        // Nothing changed: p1 is the only patient, still at version 1.
        let all = c.get("Patient").await.json();
        assert_eq!(all["total"], 1);
        assert_eq!(all["entry"][0]["resource"]["meta"]["versionId"], "1");
    }
}

/// A body string holding NUL is refused before it reaches the database (PostgreSQL included),
/// naming the element.
#[actix_web::test]
async fn nul_in_a_body_string_names_the_element() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        let r = c
            .post_raw(
                "Patient",
                br#"{"resourceType":"Patient","name":[{"family":"a\u0000b"}]}"#.to_vec(),
                &[("content-type", "application/fhir+json")],
            )
            .await;
        assert_eq!(r.status, 400, "{b:?}: {}", r.text());
        let o = r.outcome();
        assert_eq!(o[0].0, "structure");
        assert_eq!(o[0].2, vec!["Patient.name[0].family".to_string()], "{b:?}");
        assert!(o[0].1.contains("U+0000"), "{}", o[0].1);
    }
}

/// Host, X-Forwarded-Host and Forwarded host become the base of Location and Bundle links: a
/// value that is not an authority is a 400 naming Host, even without an allow-list.
#[actix_web::test]
async fn malformed_host_headers_are_400() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        let p = json!({"resourceType": "Patient"});
        for (h, v) in [
            ("host", "evil.example\"><script>"),
            ("host", "a b"),
            ("host", "evil.example/x"),
            ("host", "user@evil.example"),
            ("x-forwarded-host", "evil.example\"><script>"),
            ("forwarded", "host=\"evil<x>\""),
        ] {
            let r = c.post_h("Patient", &p, &[(h, v)]).await;
            assert_eq!(r.status, 400, "{h}: {v}: {}", r.text());
            assert!(r.header("location").is_none());
            let o = r.outcome();
            assert_eq!(o[0].0, "invalid");
            assert_eq!(o[0].2, vec!["Host".to_string()], "{h}: {v}");
        }
        let r = c
            .get_h("Patient", &[("x-forwarded-proto", "javascript\"><")])
            .await;
        assert_eq!(r.status, 400, "{}", r.text());
        assert_eq!(r.outcome()[0].2, vec!["X-Forwarded-Proto".to_string()]);
        // Nothing was created; well-formed hosts still work.
        assert_eq!(c.get("Patient").await.json()["total"], 0);
        for host in ["fhir.example.org:8443", "[::1]:8080", "10.0.0.1"] {
            let r = c.post_h("Patient", &p, &[("host", host)]).await;
            assert_eq!(r.status, 201, "{host}: {}", r.text());
            assert!(
                r.header("location")
                    .unwrap()
                    .starts_with(&format!("http://{host}/fhir/Patient/")),
                "{:?}",
                r.header("location")
            );
        }
    }
}

/// Malformed `_has` is refused, an empty value is ignored (R4), only UTF-8 bodies are read, and
/// batch GET entries follow the Bundle request's Prefer handling (lenient unless strict).
#[actix_web::test]
async fn search_edges_and_batch_handling() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        let p = json!({"resourceType": "Patient", "id": "p1", "name": [{"family": "Ab"}]});
        assert_eq!(c.put("Patient/p1", &p).await.status, 201);

        let r = c.get("Patient?_has=x").await;
        assert_eq!(r.status, 400, "{}", r.text());
        assert_eq!(r.outcome()[0].2, vec!["_has".to_string()]);

        let r = c.get("Patient?name=").await;
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        assert_eq!(v["total"], 1);
        assert_eq!(v["entry"][0]["resource"]["id"], "p1");
        let r = c.get("Patient?name=&family=Zz").await.json();
        assert_eq!(r["total"], 0);

        let r = c
            .post_raw(
                "Patient",
                br#"{"resourceType":"Patient"}"#.to_vec(),
                &[("content-type", "application/fhir+json; charset=latin1")],
            )
            .await;
        assert_eq!(r.status, 415, "{}", r.text());
        assert_eq!(r.outcome()[0].0, "not-supported");
        let r = c
            .post_raw(
                "Patient",
                br#"{"resourceType":"Patient"}"#.to_vec(),
                &[("content-type", "application/fhir+json; charset=UTF-8")],
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());

        // Over 32 KiB of URL: 414 with an OperationOutcome (not the codec's bare error).
        let r = c.get(&format!("Patient?name={}", "a".repeat(40_000))).await;
        assert_eq!(r.status, 414, "{}", r.text());
        assert_eq!(r.outcome()[0].0, "too-costly");
        assert_eq!(
            c.get(&format!("Patient?name={}", "a".repeat(30_000)))
                .await
                .status,
            200
        );

        let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
            {"request": {"method": "GET", "url": "Patient?_id=p1&foo=1"}},
            {"request": {"method": "GET", "url": "Patient"}}
        ]});
        let v = c.post("", &batch).await.json();
        assert_eq!(v["entry"][0]["response"]["status"], "200 OK", "{v}");
        assert_eq!(v["entry"][0]["resource"]["total"], 1, "{v}");
        assert_eq!(
            v["entry"][0]["resource"]["entry"][0]["resource"]["id"],
            "p1"
        );
        assert_eq!(v["entry"][1]["resource"]["total"], 2, "{v}");
        let v = c
            .post_h("", &batch, &[("prefer", "handling=strict")])
            .await
            .json();
        assert!(
            v["entry"][0]["response"]["status"]
                .as_str()
                .unwrap()
                .starts_with("400"),
            "{v}"
        );
        assert_eq!(
            v["entry"][0]["response"]["outcome"]["issue"][0]["expression"],
            json!(["foo"])
        );
        assert_eq!(v["entry"][1]["resource"]["total"], 2, "{v}");
    }
}

/// Long OR lists, many criteria and repeated includes: answered (or refused with 400), never a 500
/// and never minutes of work. SQLite refuses expression trees 1,000 deep, which a flat 500-value
/// OR list used to build.
#[actix_web::test]
async fn large_searches_are_answered_or_refused_cleanly() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        for (id, fam) in [("p1", "v7"), ("p2", "v999"), ("p3", "zz")] {
            let p = json!({"resourceType": "Patient", "id": id, "name": [{"family": fam}],
                           "identifier": [{"system": "urn:x", "value": fam}]});
            assert_eq!(c.put(&format!("Patient/{id}"), &p).await.status, 201);
        }
        let o = json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                       "subject": {"reference": "Patient/p1"}});
        assert_eq!(c.post("Observation", &o).await.status, 201);
        let values = |prefix: &str| {
            (0..1000)
                .map(|i| format!("{prefix}{i}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        // 1,000 OR-ed values (the most allowed), exact and prefix matching.
        let r = c
            .get(&format!("Patient?identifier=urn:x|{}", values("v")))
            .await;
        assert_eq!(r.status, 200, "{b:?}: {}", r.text());
        let mut ids: Vec<String> = r.json()["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["resource"]["id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        assert_eq!(ids, ["p1", "p2"], "{b:?}");
        let r = c.get(&format!("Patient?name={}", values("v"))).await;
        assert_eq!(r.status, 200, "{b:?}: {}", r.text());
        assert_eq!(r.json()["total"], 2, "{b:?}");
        // 100 criteria are allowed, the 101st is refused naming it.
        let many = |n: usize| {
            (0..n)
                .map(|i| format!("name=v{}", i % 10))
                .collect::<Vec<_>>()
                .join("&")
        };
        let r = c.get(&format!("Patient?{}", many(100))).await;
        assert_eq!(r.status, 200, "{b:?}: {}", r.text());
        let r = c.get(&format!("Patient?{}", many(101))).await;
        assert_eq!(r.status, 400, "{b:?}: {}", r.text());
        assert_eq!(r.outcome()[0].2, vec!["name".to_string()]);
        // A repeated _revinclude counts once and runs once.
        let rep = vec!["_revinclude=Observation:subject"; 900].join("&");
        let started = std::time::Instant::now();
        let r = c.get(&format!("Patient?_id=p1&{rep}")).await;
        assert_eq!(r.status, 200, "{b:?}: {}", r.text());
        assert_eq!(r.json()["entry"].as_array().unwrap().len(), 2, "{b:?}");
        assert!(
            started.elapsed().as_secs() < 5,
            "{b:?}: {:?}",
            started.elapsed()
        );
        let pairs = [
            "Observation:subject",
            "Observation:patient",
            "Observation:encounter",
            "Observation:performer",
            "Observation:device",
            "Observation:focus",
            "Observation:has-member",
            "Observation:derived-from",
            "Observation:specimen",
            "Observation:part-of",
            "Observation:based-on",
            "Encounter:subject",
            "Encounter:patient",
            "Encounter:practitioner",
            "Encounter:participant",
            "Encounter:service-provider",
            "Encounter:location",
            "Encounter:episode-of-care",
            "Encounter:diagnosis",
            "Encounter:appointment",
            "Encounter:part-of",
            "Encounter:account",
            "Encounter:based-on",
            "Condition:subject",
            "Condition:patient",
            "Condition:encounter",
            "Condition:asserter",
            "Claim:patient",
            "Claim:provider",
            "Claim:insurer",
            "Claim:enterer",
            "Claim:facility",
            "Claim:care-team",
        ];
        let includes = |n: usize| {
            pairs[..n]
                .iter()
                .map(|p| format!("_include={p}"))
                .collect::<Vec<_>>()
                .join("&")
        };
        let r = c.get(&format!("Patient?{}", includes(32))).await;
        assert_eq!(r.status, 200, "{b:?}: {}", r.text());
        let r = c.get(&format!("Patient?{}", includes(33))).await;
        assert_eq!(r.status, 400, "{b:?}: {}", r.text());
        assert!(r.text().contains("at most 32"), "{b:?}: {}", r.text());
    }
}
