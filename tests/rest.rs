#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test
//! REST interactions over HTTP, on SQLite and (with HMS_TEST_DATABASE_URL) PostgreSQL.

mod common;

use common::{TestServer, backends};
use serde_json::{Value, json};

fn patient(family: &str) -> Value {
    json!({"resourceType": "Patient", "identifier": [{"system": "urn:mrn", "value": family}], "name": [{"family": family}]})
}

#[actix_web::test]
async fn create_read_update_delete_history() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        // create
        let r = c.post("Patient", &patient("Alpha")).await;
        assert_eq!(r.status, 201, "{b:?}: {}", r.text());
        let created = r.json();
        let id = created["id"].as_str().unwrap().to_string();
        assert_eq!(created["meta"]["versionId"], "1");
        assert_eq!(r.header("etag").as_deref(), Some("W/\"1\""));
        assert_eq!(
            r.header("location"),
            Some(format!("{}/Patient/{id}/_history/1", srv.base))
        );
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/fhir+json; charset=utf-8")
        );
        assert!(r.header("last-modified").unwrap().ends_with(" GMT"));
        // read
        let r = c.get(&format!("Patient/{id}")).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json(), created);
        // update
        let mut body = patient("Beta");
        body["id"] = json!(id);
        let r = c.put(&format!("Patient/{id}"), &body).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["meta"]["versionId"], "2");
        assert_eq!(r.header("etag").as_deref(), Some("W/\"2\""));
        // vread both versions
        assert_eq!(
            c.get(&format!("Patient/{id}/_history/1")).await.json()["name"][0]["family"],
            "Alpha"
        );
        assert_eq!(
            c.get(&format!("Patient/{id}/_history/2")).await.json()["name"][0]["family"],
            "Beta"
        );
        assert_eq!(c.get(&format!("Patient/{id}/_history/3")).await.status, 404);
        // delete (idempotent)
        let r = c.delete(&format!("Patient/{id}")).await;
        assert_eq!(r.status, 204);
        assert_eq!(r.header("etag").as_deref(), Some("W/\"3\""));
        assert_eq!(c.delete(&format!("Patient/{id}")).await.status, 204);
        let r = c.get(&format!("Patient/{id}")).await;
        assert_eq!(r.status, 410);
        assert_eq!(r.outcome()[0].0, "deleted");
        assert_eq!(c.get(&format!("Patient/{id}/_history/3")).await.status, 410);
        // history keeps all three, newest first, the deletion as a DELETE entry
        let h = c.get(&format!("Patient/{id}/_history")).await.json();
        assert_eq!(h["type"], "history");
        assert_eq!(h["total"], 3);
        let methods: Vec<&str> = h["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["request"]["method"].as_str().unwrap())
            .collect();
        assert_eq!(methods, vec!["DELETE", "PUT", "POST"]);
        assert!(h["entry"][0].get("resource").is_none());
        assert_eq!(h["entry"][1]["resource"]["meta"]["versionId"], "2");
        // update after delete brings it back as a new version
        let r = c.put(&format!("Patient/{id}"), &body).await;
        assert_eq!(r.status, 201);
        assert_eq!(r.json()["meta"]["versionId"], "4");
        // unknown id
        assert_eq!(c.get("Patient/does-not-exist").await.status, 404);
    }
}

#[actix_web::test]
async fn update_as_create_and_id_rules() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        let mut body = patient("Gamma");
        body["id"] = json!("client-id-1");
        let r = c.put("Patient/client-id-1", &body).await;
        assert_eq!(r.status, 201, "{}", r.text());
        assert_eq!(
            r.header("location"),
            Some(format!("{}/Patient/client-id-1/_history/1", srv.base))
        );
        // URL id differs from body id
        let r = c.put("Patient/other", &body).await;
        assert_eq!(r.status, 400);
        assert_eq!(r.outcome()[0].2, vec!["Patient.id".to_string()]);
        // no id in the body
        assert_eq!(
            c.put("Patient/client-id-1", &patient("x")).await.status,
            400
        );
        // invalid id
        let r = c.get("Patient/bad_id!").await;
        assert_eq!(r.status, 400);
        let mut b2 = patient("x");
        b2["id"] = json!("a".repeat(65));
        assert_eq!(
            c.put(&format!("Patient/{}", "a".repeat(65)), &b2)
                .await
                .status,
            400
        );
        // POST ignores a body id
        let mut b3 = patient("Delta");
        b3["id"] = json!("client-id-1");
        let r = c.post("Patient", &b3).await;
        assert_eq!(r.status, 201);
        assert_ne!(r.json()["id"], "client-id-1");
        assert_eq!(
            c.get("Patient/client-id-1").await.json()["name"][0]["family"],
            "Gamma"
        );
        // resourceType must match the URL
        let r = c.post("Observation", &patient("x")).await;
        assert_eq!(r.status, 400);
        assert!(
            r.outcome()[0].1.contains("does not match"),
            "{:?}",
            r.outcome()
        );
    }
}

#[actix_web::test]
async fn conditional_interactions() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        // conditional create: 0 matches → 201, 1 → 200 with the existing resource
        let r = c
            .post_h(
                "Patient",
                &patient("Cond"),
                &[("If-None-Exist", "identifier=urn:mrn|Cond")],
            )
            .await;
        assert_eq!(r.status, 201);
        let id = r.json()["id"].as_str().unwrap().to_string();
        let r = c
            .post_h(
                "Patient",
                &patient("Cond"),
                &[("If-None-Exist", "identifier=urn:mrn|Cond")],
            )
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["id"], id.as_str());
        assert_eq!(r.json()["meta"]["versionId"], "1");
        // a second resource with the same identifier makes the criteria ambiguous → 412
        assert_eq!(c.post("Patient", &patient("Cond")).await.status, 201);
        let r = c
            .post_h(
                "Patient",
                &patient("Cond"),
                &[("If-None-Exist", "identifier=urn:mrn|Cond")],
            )
            .await;
        assert_eq!(r.status, 412);
        // unsupported criteria are refused, not ignored
        let r = c
            .post_h(
                "Patient",
                &patient("Cond"),
                &[("If-None-Exist", "bogus=Cond")],
            )
            .await;
        assert_eq!(r.status, 400);
        assert_eq!(r.outcome()[0].2, vec!["bogus".to_string()]);

        // conditional update: no match → create, one match → update that one
        let r = c
            .put("Patient?identifier=urn:mrn|Upd", &patient("Upd"))
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        let uid = r.json()["id"].as_str().unwrap().to_string();
        let mut changed = patient("Upd");
        changed["active"] = json!(true);
        let r = c.put("Patient?identifier=urn:mrn|Upd", &changed).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["id"], uid.as_str());
        assert_eq!(r.json()["meta"]["versionId"], "2");
        assert_eq!(
            c.put("Patient?identifier=urn:mrn|Cond", &patient("Cond"))
                .await
                .status,
            412
        );

        // conditional delete
        assert_eq!(
            c.delete("Patient?identifier=urn:mrn|Cond").await.status,
            412
        );
        assert_eq!(c.delete("Patient?identifier=urn:mrn|Upd").await.status, 204);
        assert_eq!(c.get(&format!("Patient/{uid}")).await.status, 410);
        assert_eq!(
            c.delete("Patient?identifier=urn:mrn|Nobody").await.status,
            204
        );
        assert_eq!(c.delete("Patient").await.status, 400);
        // _id criteria
        assert_eq!(c.delete(&format!("Patient?_id={id}")).await.status, 204);
        assert_eq!(c.get(&format!("Patient/{id}")).await.status, 410);
    }
}

#[actix_web::test]
async fn version_preconditions_and_conditional_read() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        let mut body = patient("Eps");
        body["id"] = json!("p1");
        assert_eq!(c.put("Patient/p1", &body).await.status, 201);
        // If-Match
        assert_eq!(
            c.put_h("Patient/p1", &body, &[("If-Match", "W/\"2\"")])
                .await
                .status,
            412
        );
        let r = c
            .put_h("Patient/p1", &body, &[("If-Match", "W/\"1\"")])
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(
            c.put_h("Patient/p1", &body, &[("If-Match", "garbage")])
                .await
                .status,
            400
        );
        assert_eq!(
            c.put_h(
                "Patient/nope",
                &{
                    let mut b = body.clone();
                    b["id"] = json!("nope");
                    b
                },
                &[("If-Match", "W/\"1\"")]
            )
            .await
            .status,
            412
        );
        // If-None-Match: * creates only when absent
        assert_eq!(
            c.put_h("Patient/p1", &body, &[("If-None-Match", "*")])
                .await
                .status,
            412
        );
        let mut fresh = body.clone();
        fresh["id"] = json!("p2");
        assert_eq!(
            c.put_h("Patient/p2", &fresh, &[("If-None-Match", "*")])
                .await
                .status,
            201
        );
        // conditional read
        let r = c.get_h("Patient/p1", &[("If-None-Match", "W/\"2\"")]).await;
        assert_eq!(r.status, 304);
        assert!(r.body.is_empty());
        assert_eq!(
            c.get_h("Patient/p1", &[("If-None-Match", "W/\"1\"")])
                .await
                .status,
            200
        );
        let lm = c.get("Patient/p1").await.header("last-modified").unwrap();
        assert_eq!(
            c.get_h("Patient/p1", &[("If-Modified-Since", &lm)])
                .await
                .status,
            304
        );
        assert_eq!(
            c.get_h(
                "Patient/p1",
                &[("If-Modified-Since", "Mon, 01 Jan 2001 00:00:00 GMT")]
            )
            .await
            .status,
            200
        );
    }
}

#[actix_web::test]
async fn prefer_format_and_negotiation() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        let r = c
            .post_h("Patient", &patient("Min"), &[("Prefer", "return=minimal")])
            .await;
        assert_eq!(r.status, 201);
        assert!(r.body.is_empty());
        assert!(r.header("location").is_some());
        let r = c
            .post_h(
                "Patient",
                &patient("OO"),
                &[("Prefer", "return=OperationOutcome")],
            )
            .await;
        assert_eq!(r.status, 201);
        assert_eq!(r.json()["resourceType"], "OperationOutcome");
        let id = r
            .header("location")
            .unwrap()
            .split('/')
            .nth_back(2)
            .unwrap()
            .to_string();
        // _pretty keeps content, adds whitespace
        let pretty = c.get(&format!("Patient/{id}?_pretty=true")).await;
        assert!(
            pretty.text().contains("\n  \"resourceType\": \"Patient\""),
            "{}",
            pretty.text()
        );
        // _format and Accept
        assert_eq!(
            c.get(&format!("Patient/{id}?_format=json")).await.status,
            200
        );
        assert_eq!(
            c.get(&format!("Patient/{id}?_format=application/fhir%2Bjson"))
                .await
                .status,
            200
        );
        assert_eq!(
            c.get(&format!("Patient/{id}?_format=xml")).await.status,
            406
        );
        assert_eq!(
            c.get_h(
                &format!("Patient/{id}"),
                &[("Accept", "application/fhir+xml")]
            )
            .await
            .status,
            406
        );
        assert_eq!(
            c.get_h(&format!("Patient/{id}"), &[("Accept", "application/json")])
                .await
                .status,
            200
        );
        // request media type
        let r = c
            .post_raw(
                "Patient",
                b"<Patient/>".to_vec(),
                &[("content-type", "application/fhir+xml")],
            )
            .await;
        assert_eq!(r.status, 415);
        assert_eq!(r.json()["resourceType"], "OperationOutcome");
        // metadata
        let cs = c.get("metadata").await.json();
        assert_eq!(cs["resourceType"], "CapabilityStatement");
        assert_eq!(cs["fhirVersion"], "4.0.1");
        let patient_entry = cs["rest"][0]["resource"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["type"] == "Patient")
            .unwrap()
            .clone();
        assert_eq!(patient_entry["conditionalDelete"], "single");
        let params: Vec<&str> = patient_entry["searchParam"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert!(
            params.contains(&"identifier")
                && params.contains(&"birthdate")
                && params.contains(&"name"),
            "{params:?}"
        );
        assert_eq!(cs["rest"][0]["resource"].as_array().unwrap().len(), 146);
    }
}

#[actix_web::test]
async fn search_by_id_and_identifier_with_paging() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        for i in 0..5 {
            let mut p = patient(&format!("S{i}"));
            p["id"] = json!(format!("s{i}"));
            assert_eq!(c.put(&format!("Patient/s{i}"), &p).await.status, 201);
        }
        let r = c.get("Patient?identifier=urn:mrn|S3").await.json();
        assert_eq!(r["type"], "searchset");
        let ids: Vec<&str> = r["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["resource"]["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, vec!["s3"]);
        assert_eq!(r["entry"][0]["search"]["mode"], "match");
        // paging: 2 per page over 5 → 3 pages, no duplicates, no next on the last
        let mut seen = Vec::new();
        let mut url = "Patient?_count=2".to_string();
        let mut pages = 0;
        loop {
            let page = c.get(&url).await.json();
            pages += 1;
            for e in page["entry"].as_array().cloned().unwrap_or_default() {
                seen.push(e["resource"]["id"].as_str().unwrap().to_string());
            }
            match common::next_link(&page) {
                Some(next) => url = next,
                None => break,
            }
        }
        assert_eq!(pages, 3);
        assert_eq!(seen, vec!["s0", "s1", "s2", "s3", "s4"]);
        // exactly full last page → no next link
        let page = c.get("Patient?_count=5").await.json();
        assert!(
            page["link"]
                .as_array()
                .unwrap()
                .iter()
                .all(|l| l["relation"] != "next")
        );
        // unknown parameter: ignored (lenient) and absent from self, or 400 when strict
        let r = c.get("Patient?foo=bar&_id=s1").await.json();
        let entries = r["entry"].as_array().unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0]["resource"]["id"], "s1");
        assert_eq!(entries[1]["search"]["mode"], "outcome");
        assert_eq!(entries[1]["resource"]["issue"][0]["expression"][0], "foo");
        let self_url = r["link"][0]["url"].as_str().unwrap();
        assert!(!self_url.contains("foo"), "{self_url}");
        let r = c
            .get_h("Patient?foo=bar", &[("Prefer", "handling=strict")])
            .await;
        assert_eq!(r.status, 400);
        assert_eq!(r.outcome()[0].2, vec!["foo".to_string()]);
        assert_eq!(c.get("Patient?_count=-1").await.status, 400);
    }
}

#[actix_web::test]
async fn history_type_and_system_with_paging_and_since() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        for i in 0..3 {
            assert_eq!(
                c.post("Patient", &patient(&format!("H{i}"))).await.status,
                201
            );
        }
        let obs = json!({"resourceType":"Observation","status":"final","code":{"text":"x"}});
        assert_eq!(c.post("Observation", &obs).await.status, 201);
        let h = c.get("Patient/_history").await.json();
        assert_eq!(h["total"], 3);
        let sys = c.get("_history?_count=2").await.json();
        assert_eq!(sys["total"], 4);
        assert_eq!(sys["entry"].as_array().unwrap().len(), 2);
        assert_eq!(sys["entry"][0]["resource"]["resourceType"], "Observation");
        let next = common::next_link(&sys).unwrap();
        let page2 = c.get(&next).await.json();
        assert_eq!(page2["entry"].as_array().unwrap().len(), 2);
        assert!(
            page2["link"]
                .as_array()
                .unwrap()
                .iter()
                .all(|l| l["relation"] != "next")
        );
        // _since in the future → nothing
        let r = c.get("_history?_since=2999-01-01T00:00:00Z").await.json();
        assert_eq!(r["total"], 0);
        let r = c.get("_history?_since=2000-01-01T00:00:00Z").await.json();
        assert_eq!(r["total"], 4);
        assert_eq!(c.get("_history?_since=yesterday").await.status, 400);
        // _at: a time before anything existed → nothing
        assert_eq!(c.get("Patient/_history?_at=2001").await.json()["total"], 0);
        assert_eq!(c.get("Patient/_history?_at=2999").await.json()["total"], 3);
    }
}

#[actix_web::test]
async fn errors_are_operation_outcomes() {
    for b in backends() {
        let srv = TestServer::start_with(b, |c| c.max_body_bytes = 64 * 1024);
        let c = srv.client();
        let cases: Vec<(reqwest_like::M, &str, Option<Vec<u8>>, u16)> = vec![
            (reqwest_like::M::Get, "Foo/1", None, 404),
            (reqwest_like::M::Post, "Foo", Some(b"{}".to_vec()), 404),
            (reqwest_like::M::Patch, "Patient", None, 400),
            (reqwest_like::M::Post, "metadata", None, 405),
            (reqwest_like::M::Get, "Patient/a$b", None, 400),
            (
                reqwest_like::M::Post,
                "Patient",
                Some(vec![b'x'; 70 * 1024]),
                413,
            ),
            (
                reqwest_like::M::Post,
                "Patient",
                Some(vec![0xff, 0xfe, b'{']),
                400,
            ),
            (reqwest_like::M::Post, "Patient", Some(Vec::new()), 400),
        ];
        for (m, path, body, status) in cases {
            let r = c
                .send(
                    m.method(),
                    path,
                    &[("content-type", "application/fhir+json")],
                    body,
                )
                .await;
            assert_eq!(r.status, status, "{b:?} {path}: {}", r.text());
            assert_eq!(r.json()["resourceType"], "OperationOutcome", "{path}");
        }
        let r = c.get("/../nothing-here").await;
        assert_eq!(r.status, 404);
    }
}

/// Tiny method enum so the case table above stays readable.
mod reqwest_like {
    pub enum M {
        Get,
        Post,
        Patch,
    }
    impl M {
        pub fn method(&self) -> awc::http::Method {
            match self {
                M::Get => awc::http::Method::GET,
                M::Post => awc::http::Method::POST,
                M::Patch => awc::http::Method::PATCH,
            }
        }
    }
}

/// Bundle.total by default: exact when the first page holds every match or when a criterion
/// narrows the candidates to at most `search_total_cap`; left out otherwise unless
/// `_total=accurate`; `_total=none` never counts.
#[actix_web::test]
async fn search_total_is_counted_when_the_candidates_are_few() {
    for b in backends() {
        let srv = TestServer::start_with(b, |cfg| cfg.search_total_cap = 3);
        let c = srv.client();
        for f in ["Capa", "Capb", "Capc", "Capd", "Other"] {
            assert_eq!(c.post("Patient", &patient(f)).await.status, 201);
        }
        let total = |v: &Value| v.get("total").and_then(Value::as_i64);
        let page_len = |v: &Value| v["entry"].as_array().map_or(0, Vec::len);
        // Four matches, all on the first page: counted from the page, above the cap.
        let r = c.get("Patient?name=cap").await.json();
        assert_eq!((total(&r), page_len(&r)), (Some(4), 4), "{b:?}");
        // Four matches, two per page, four candidates > cap: no total; the next page still links.
        let r = c.get("Patient?name=cap&_count=2").await.json();
        assert_eq!((total(&r), page_len(&r)), (None, 2), "{b:?}: {r}");
        assert!(common::next_link(&r).is_some(), "{b:?}: {r}");
        // Three candidates (= cap), pages of 2: counted.
        let r = c
            .get("Patient?identifier=urn:mrn|Capa,urn:mrn|Capb,urn:mrn|Capc&name=cap&_count=2")
            .await
            .json();
        assert_eq!((total(&r), page_len(&r)), (Some(3), 2), "{b:?}: {r}");
        // No criterion: the candidates are the 5 Patients.
        let r = c.get("Patient?_count=2").await.json();
        assert_eq!((total(&r), page_len(&r)), (None, 2), "{b:?}: {r}");
        let r = c
            .get("Patient?name=cap&_count=2&_total=accurate")
            .await
            .json();
        assert_eq!(total(&r), Some(4), "{b:?}");
        let r = c.get("Patient?_count=1&_total=none").await.json();
        assert_eq!((total(&r), page_len(&r)), (None, 1), "{b:?}");
        let r = c.get("Patient?_summary=count").await.json();
        assert_eq!((total(&r), page_len(&r)), (Some(5), 0), "{b:?}");
    }
    // The default cap counts a small type without any criterion.
    let srv = TestServer::start(backends()[0]);
    let c = srv.client();
    for f in ["A", "B", "C"] {
        assert_eq!(c.post("Patient", &patient(f)).await.status, 201);
    }
    let r = c.get("Patient?_count=2").await.json();
    assert_eq!(r["total"], 3, "{r}");
}
