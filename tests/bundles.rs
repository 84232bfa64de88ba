#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test
//! Transaction and batch Bundles (POST [base]) on SQLite and (with HMS_TEST_DATABASE_URL) PostgreSQL.

mod common;

use std::collections::{BTreeMap, HashSet};

use common::{Client, PROVIDERS, TestServer, backends, fixture, patient_files};
use serde_json::{Value, json};

/// Number of stored versions of a type (every resource here is written once).
async fn count(c: &Client, t: &str) -> i64 {
    let r = c.get(&format!("{t}/_history?_count=0")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["total"].as_i64().unwrap()
}

async fn system_total(c: &Client) -> i64 {
    c.get("_history?_count=0").await.json()["total"]
        .as_i64()
        .unwrap()
}

fn statuses(resp: &Value) -> Vec<String> {
    resp["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["response"]["status"].as_str().unwrap().to_string())
        .collect()
}

fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "reference"
                    && let Some(s) = x.as_str()
                {
                    out.push(s.to_string());
                } else {
                    refs(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

fn type_counts(files: &[&str]) -> BTreeMap<String, i64> {
    let mut m = BTreeMap::new();
    for f in files {
        let b: Value = serde_json::from_slice(&fixture(f)).unwrap();
        for e in b["entry"].as_array().unwrap() {
            *m.entry(e["resource"]["resourceType"].as_str().unwrap().to_string())
                .or_insert(0) += 1;
        }
    }
    m
}

async fn post_bundle(c: &Client, rel: &str) -> Value {
    let r = c
        .post_raw(
            "",
            fixture(rel),
            &[
                ("content-type", "application/fhir+json"),
                ("prefer", "return=minimal"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{rel}: {}", r.text());
    r.json()
}

#[actix_web::test]
async fn synthea_providers_then_patients_load_and_resolve() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        let t0 = std::time::Instant::now();
        for p in PROVIDERS {
            let resp = post_bundle(&c, p).await;
            assert_eq!(resp["type"], "batch-response");
            let st = statuses(&resp);
            assert!(st.iter().all(|s| s == "201 Created"), "{b:?} {p}: {st:?}");
        }
        eprintln!("{b:?}: providers loaded in {:?}", t0.elapsed());
        let patients = patient_files();
        assert_eq!(patients.len(), 5);
        let mut per_patient: Vec<(String, HashSet<String>)> = Vec::new();
        for p in &patients {
            let t = std::time::Instant::now();
            let r = c
                .post_raw("", fixture(p), &[("content-type", "application/fhir+json")])
                .await;
            assert_eq!(r.status, 200, "{p}: {}", r.text());
            let resp = r.json();
            let mut expected: HashSet<String> = HashSet::new();
            let mut pid = String::new();
            for e in resp["entry"].as_array().unwrap() {
                let res = &e["resource"];
                let key = format!(
                    "{}/{}",
                    res["resourceType"].as_str().unwrap(),
                    res["id"].as_str().unwrap()
                );
                if res["resourceType"] == "Patient" {
                    pid = res["id"].as_str().unwrap().to_string();
                }
                let mut rs = Vec::new();
                refs(res, &mut rs);
                for s in rs {
                    if ["Practitioner/", "Organization/", "Location/", "Medication/"]
                        .iter()
                        .any(|pre| s.starts_with(pre))
                    {
                        expected.insert(s);
                    }
                }
                expected.insert(key);
            }
            per_patient.push((pid, expected));
            eprintln!("{b:?}: {p} in {:?}", t.elapsed());
            assert_eq!(resp["type"], "transaction-response");
            let st = statuses(&resp);
            assert!(st.iter().all(|s| s == "201 Created"), "{p}: {st:?}");
            let locs: Vec<&str> = resp["entry"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["response"]["location"].as_str().unwrap())
                .collect();
            assert!(locs.iter().all(|l| l.ends_with("/_history/1")), "{locs:?}");
        }
        let mut files: Vec<&str> = PROVIDERS.to_vec();
        files.extend(patients.iter().map(String::as_str));
        let expected = type_counts(&files);
        let mut stored: HashSet<String> = HashSet::new();
        let mut all = Vec::new();
        for (t, n) in &expected {
            assert_eq!(count(&c, t).await, *n, "{b:?}: count of {t}");
            for r in common::all_of(&c, t).await {
                stored.insert(format!("{t}/{}", r["id"].as_str().unwrap()));
                all.push(r);
            }
        }
        assert_eq!(stored.len() as i64, expected.values().sum::<i64>());
        // Every reference in every stored resource resolves to a stored resource.
        let mut checked = 0;
        for r in &all {
            let mut rs = Vec::new();
            refs(r, &mut rs);
            for s in rs {
                if s.starts_with('#') {
                    continue;
                }
                assert!(
                    stored.contains(&s),
                    "{b:?}: dangling reference {s} in {}",
                    r["id"]
                );
                checked += 1;
            }
        }
        assert!(checked > 10_000, "only {checked} references checked");
        // Patient ids are server ids, not the bundle's.
        let pats = common::all_of(&c, "Patient").await;
        assert!(
            pats.iter()
                .all(|p| p["id"] != "fbba2017-3ef4-dfe0-714c-c302cd9b8cca")
        );
        // A second POST of the provider bundles creates no Organization, Location or Practitioner.
        for p in PROVIDERS {
            let resp = post_bundle(&c, p).await;
            for e in resp["entry"].as_array().unwrap() {
                let loc = e["response"]["location"].as_str().unwrap();
                if !loc.starts_with("PractitionerRole/") {
                    assert_eq!(e["response"]["status"], "200 OK", "{loc}");
                }
            }
        }
        for t in ["Organization", "Location", "Practitioner"] {
            assert_eq!(count(&c, t).await, expected[t], "{b:?}: second load of {t}");
        }
        // Patient/[id]/$everything: exactly the patient's resources plus referenced providers.
        let mut union: HashSet<String> = HashSet::new();
        for (pid, want) in &per_patient {
            let got = everything(&c, &format!("Patient/{pid}/$everything?_count=250")).await;
            let got_set: HashSet<String> = got.iter().cloned().collect();
            assert_eq!(got.len(), got_set.len(), "duplicates in $everything");
            assert_eq!(&got_set, want, "{b:?}: $everything of {pid}");
            union.extend(got_set);
            let only = everything(
                &c,
                &format!("Patient/{pid}/$everything?_type=Patient,Encounter"),
            )
            .await;
            assert_eq!(
                only.len(),
                want.iter()
                    .filter(|k| k.starts_with("Patient/") || k.starts_with("Encounter/"))
                    .count()
            );
            let future = everything(
                &c,
                &format!("Patient/{pid}/$everything?_since=2100-01-01T00:00:00Z"),
            )
            .await;
            assert!(future.is_empty());
        }
        let all_patients = everything(&c, "Patient/$everything?_count=1000").await;
        assert_eq!(all_patients.iter().cloned().collect::<HashSet<_>>(), union);
        assert_eq!(c.get("Patient/unknown/$everything").await.status, 404);
    }
}

/// Every resource of a $everything result, following the next links.
async fn everything(c: &Client, first: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut url = first.to_string();
    let mut total = None;
    loop {
        let r = c.get(&url).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let b = r.json();
        total = total.or(b["total"].as_i64());
        for e in b["entry"].as_array().into_iter().flatten() {
            let res = &e["resource"];
            out.push(format!(
                "{}/{}",
                res["resourceType"].as_str().unwrap(),
                res["id"].as_str().unwrap()
            ));
        }
        match common::next_link(&b) {
            Some(next) => url = next,
            None => break,
        }
    }
    assert_eq!(Some(out.len() as i64), total);
    out
}

#[actix_web::test]
async fn references_are_rewritten_everywhere() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        let org = c
            .post(
                "Organization",
                &json!({"resourceType": "Organization", "identifier": [{"system": "urn:org", "value": "o1"}], "name": "Org"}),
            )
            .await
            .json();
        let org_id = org["id"].as_str().unwrap().to_string();
        let existing = c
            .post(
                "Practitioner",
                &json!({"resourceType": "Practitioner", "identifier": [{"system": "urn:npi", "value": "1"}]}),
            )
            .await
            .json();
        let pr_id = existing["id"].as_str().unwrap().to_string();
        let bundle = json!({
            "resourceType": "Bundle", "type": "transaction",
            "entry": [
                {"fullUrl": "urn:uuid:11111111-1111-1111-1111-111111111111",
                 "resource": {"resourceType": "Patient", "id": "client-id",
                    "managingOrganization": {"reference": "Organization?identifier=urn:org|o1"},
                    "generalPractitioner": [{"reference": "urn:uuid:22222222-2222-2222-2222-222222222222"}],
                    "extension": [{"url": "http://x/ext", "valueReference": {"reference": format!("{}/Organization/{org_id}", srv.base)}}],
                    "contained": [{"resourceType": "RelatedPerson", "id": "rp", "patient": {"reference": "urn:uuid:11111111-1111-1111-1111-111111111111"}}],
                    "contact": [{"organization": {"reference": "#rp"}}]},
                 "request": {"method": "POST", "url": "Patient"}},
                {"fullUrl": "urn:uuid:22222222-2222-2222-2222-222222222222",
                 "resource": {"resourceType": "Practitioner", "identifier": [{"system": "urn:npi", "value": "1"}]},
                 "request": {"method": "POST", "url": "Practitioner", "ifNoneExist": "identifier=urn:npi|1"}},
                {"fullUrl": "urn:uuid:33333333-3333-3333-3333-333333333333",
                 "resource": {"resourceType": "Organization", "identifier": [{"system": "urn:org", "value": "o2"}], "name": "New"},
                 "request": {"method": "PUT", "url": "Organization?identifier=urn:org|o2"}},
                {"fullUrl": "urn:uuid:44444444-4444-4444-4444-444444444444",
                 "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                    "subject": {"reference": "urn:uuid:11111111-1111-1111-1111-111111111111"},
                    "performer": [{"reference": "urn:uuid:33333333-3333-3333-3333-333333333333"}, {"reference": "urn:uuid:22222222-2222-2222-2222-222222222222"}]},
                 "request": {"method": "POST", "url": "Observation"}}
            ]
        });
        let r = c.post("", &bundle).await;
        assert_eq!(r.status, 200, "{b:?}: {}", r.text());
        let resp = r.json();
        assert_eq!(resp["type"], "transaction-response");
        assert_eq!(
            statuses(&resp),
            vec!["201 Created", "200 OK", "201 Created", "201 Created"]
        );
        let pat = &resp["entry"][0]["resource"];
        let pat_id = pat["id"].as_str().unwrap();
        assert_ne!(pat_id, "client-id");
        assert_eq!(
            pat["managingOrganization"]["reference"],
            format!("Organization/{org_id}")
        );
        assert_eq!(
            pat["generalPractitioner"][0]["reference"],
            format!("Practitioner/{pr_id}")
        );
        assert_eq!(
            pat["extension"][0]["valueReference"]["reference"],
            format!("Organization/{org_id}")
        );
        assert_eq!(
            pat["contained"][0]["patient"]["reference"],
            format!("Patient/{pat_id}")
        );
        assert_eq!(pat["contact"][0]["organization"]["reference"], "#rp");
        let new_org = resp["entry"][2]["resource"]["id"].as_str().unwrap();
        let obs = &resp["entry"][3]["resource"];
        assert_eq!(obs["subject"]["reference"], format!("Patient/{pat_id}"));
        assert_eq!(
            obs["performer"][0]["reference"],
            format!("Organization/{new_org}")
        );
        assert_eq!(
            obs["performer"][1]["reference"],
            format!("Practitioner/{pr_id}")
        );
        assert_eq!(
            resp["entry"][0]["response"]["location"],
            format!("Patient/{pat_id}/_history/1")
        );
        assert_eq!(resp["entry"][0]["response"]["etag"], "W/\"1\"");
        assert!(resp["entry"][0]["response"]["lastModified"].is_string());
        // The same bundle again: the conditional create and conditional update hit the same ids.
        let resp2 = c.post("", &bundle).await.json();
        assert_eq!(
            statuses(&resp2),
            vec!["201 Created", "200 OK", "200 OK", "201 Created"]
        );
        let obs2 = &resp2["entry"][3]["resource"];
        assert_eq!(
            obs2["performer"][0]["reference"],
            format!("Organization/{new_org}")
        );
        assert_eq!(
            obs2["performer"][1]["reference"],
            format!("Practitioner/{pr_id}")
        );
        assert_eq!(count(&c, "Practitioner").await, 1);
        // Prefer: return=minimal drops the resources; return=OperationOutcome adds outcomes.
        let r = c.post_h("", &bundle, &[("prefer", "return=minimal")]).await;
        assert!(r.json()["entry"][0].get("resource").is_none());
        let r = c
            .post_h("", &bundle, &[("prefer", "return=OperationOutcome")])
            .await
            .json();
        assert_eq!(
            r["entry"][0]["response"]["outcome"]["resourceType"],
            "OperationOutcome"
        );
    }
}

#[actix_web::test]
async fn a_bad_entry_rolls_the_whole_transaction_back() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        c.post(
            "Patient",
            &json!({"resourceType": "Patient", "identifier": [{"system": "urn:mrn", "value": "seed"}]}),
        )
        .await;
        let before = system_total(&c).await;
        let good = |n: &str| {
            json!({"fullUrl": format!("urn:uuid:{n}"), "resource": {"resourceType": "Patient", "identifier": [{"system": "urn:mrn", "value": n}]},
                   "request": {"method": "POST", "url": "Patient"}})
        };
        // Fails while executing (after the POSTs ran): a PUT with ifMatch on a missing resource.
        let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            good("a0000000-0000-0000-0000-000000000001"),
            {"resource": {"resourceType": "Patient", "id": "nope"}, "request": {"method": "PUT", "url": "Patient/nope", "ifMatch": "W/\"3\""}},
            good("a0000000-0000-0000-0000-000000000002"),
        ]});
        let r = c.post("", &bundle).await;
        assert_eq!(r.status, 412, "{b:?}: {}", r.text());
        let o = r.outcome();
        assert!(o[0].1.contains("Bundle.entry[1]"), "{o:?}");
        // Fails in the pre-pass: an invalid resource.
        let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            good("a0000000-0000-0000-0000-000000000003"),
            {"resource": {"resourceType": "Patient", "gender": "sometimes"}, "request": {"method": "POST", "url": "Patient"}},
        ]});
        let r = c.post("", &bundle).await;
        assert_eq!(r.status, 400);
        assert!(
            r.outcome()[0].1.contains("Bundle.entry[1]"),
            "{:?}",
            r.outcome()
        );
        // A conditional reference with no match: 412 naming the entry.
        let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            good("a0000000-0000-0000-0000-000000000004"),
            {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "performer": [{"reference": "Practitioner?identifier=urn:npi|none"}]},
             "request": {"method": "POST", "url": "Observation"}},
        ]});
        let r = c.post("", &bundle).await;
        assert_eq!(r.status, 412);
        assert!(
            r.outcome()[0].1.contains("Bundle.entry[1]"),
            "{:?}",
            r.outcome()
        );
        assert_eq!(system_total(&c).await, before, "{b:?}: history changed");
        assert_eq!(count(&c, "Patient").await, 1);
        let r = c
            .get("Patient?identifier=urn:mrn|a0000000-0000-0000-0000-000000000001")
            .await;
        assert!(
            r.json().get("entry").is_none(),
            "index rows were left behind"
        );
    }
}

#[actix_web::test]
async fn batch_entries_are_independent() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        let existing = c
            .post(
                "Patient",
                &json!({"resourceType": "Patient", "identifier": [{"system": "urn:mrn", "value": "x"}]}),
            )
            .await
            .json();
        let id = existing["id"].as_str().unwrap();
        let other = c
            .post(
                "Patient",
                &json!({"resourceType": "Patient", "identifier": [{"system": "urn:mrn", "value": "y"}]}),
            )
            .await
            .json();
        let bundle = json!({"resourceType": "Bundle", "type": "batch", "entry": [
            {"resource": {"resourceType": "Patient", "active": true}, "request": {"method": "POST", "url": "Patient"}},
            {"resource": {"resourceType": "Patient", "gender": "sometimes"}, "request": {"method": "POST", "url": "Patient"}},
            {"request": {"method": "GET", "url": "Patient/unknown"}},
            {"resource": {"resourceType": "Patient", "id": "other"}, "request": {"method": "PUT", "url": "Patient/p1"}},
            {"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient", "ifNoneExist": "identifier=urn:mrn|y"}},
            {"request": {"method": "GET", "url": format!("Patient/{id}")}},
            {"resource": {"resourceType": "Patient", "id": "p2"}, "request": {"method": "PUT", "url": "Patient/p2", "ifMatch": "W/\"7\""}},
            {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}, "request": {"method": "POST", "url": "Patient"}},
            {"request": {"method": "DELETE", "url": format!("Patient/{id}")}},
            {"resource": {"resourceType": "Patient", "id": "p3"}, "request": {"method": "PUT", "url": "Patient/p3"}},
        ]});
        let r = c.post("", &bundle).await;
        assert_eq!(r.status, 200, "{b:?}: {}", r.text());
        let resp = r.json();
        assert_eq!(resp["type"], "batch-response");
        assert_eq!(
            statuses(&resp),
            vec![
                "201 Created",
                "400 Bad Request",
                "404 Not Found",
                "400 Bad Request",
                "200 OK",
                // GET runs after DELETE (processing order), so it sees the deletion.
                "410 Gone",
                "412 Precondition Failed",
                "400 Bad Request",
                "204 No Content",
                "201 Created",
            ],
            "{b:?}"
        );
        assert_eq!(
            resp["entry"][1]["response"]["outcome"]["resourceType"],
            "OperationOutcome"
        );
        assert_eq!(resp["entry"][4]["resource"]["id"], other["id"]);
        assert_eq!(c.get("Patient/p3").await.status, 200);
        assert_eq!(c.get("Patient/p2").await.status, 404);
    }
}

#[actix_web::test]
async fn malformed_bundles_are_refused() {
    for b in backends() {
        let srv = TestServer::start_with(b, |cfg| cfg.max_bundle_entries = 3);
        let c = srv.client();
        let e = |u: &str| json!({"fullUrl": u, "resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}});
        let dup = json!({"resourceType": "Bundle", "type": "transaction", "entry": [e("urn:uuid:1"), e("urn:uuid:1")]});
        let r = c.post("", &dup).await;
        assert_eq!(r.status, 400);
        assert!(
            r.outcome()[0].1.contains("repeats the fullUrl"),
            "{:?}",
            r.outcome()
        );
        let big = json!({"resourceType": "Bundle", "type": "batch", "entry": [e("urn:uuid:1"), e("urn:uuid:2"), e("urn:uuid:3"), e("urn:uuid:4")]});
        assert_eq!(c.post("", &big).await.status, 413);
        let wrong_type = json!({"resourceType": "Bundle", "type": "collection", "entry": []});
        assert_eq!(c.post("", &wrong_type).await.status, 400);
        let mismatch = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": {"resourceType": "Observation"}, "request": {"method": "POST", "url": "Patient"}}]});
        let r = c.post("", &mismatch).await;
        assert_eq!(r.status, 400);
        let put_id = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": {"resourceType": "Patient", "id": "a"}, "request": {"method": "PUT", "url": "Patient/b"}}]});
        assert_eq!(c.post("", &put_id).await.status, 400);
        let post_id_url = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient/x"}}]});
        assert_eq!(c.post("", &post_id_url).await.status, 400);
        let circular = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"fullUrl": "urn:uuid:a", "resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient", "ifNoneExist": "_id=urn:uuid:b"}},
            {"fullUrl": "urn:uuid:b", "resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient", "ifNoneExist": "_id=urn:uuid:a"}}]});
        let r = c.post("", &circular).await;
        assert_eq!(r.status, 400);
        assert!(r.outcome()[0].1.contains("circular"), "{:?}", r.outcome());
        let dangling = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": {"resourceType": "Patient", "link": [{"type": "seealso", "other": {"reference": "urn:uuid:nowhere"}}]}, "request": {"method": "POST", "url": "Patient"}}]});
        assert_eq!(c.post("", &dangling).await.status, 400);
        assert_eq!(system_total(&c).await, 0);
    }
}

#[actix_web::test]
async fn everything_small() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"fullUrl": "urn:uuid:a1", "resource": {"resourceType": "Practitioner", "name": [{"family": "Doc"}]}, "request": {"method": "POST", "url": "Practitioner"}},
            {"fullUrl": "urn:uuid:a2", "resource": {"resourceType": "Patient", "generalPractitioner": [{"reference": "urn:uuid:a1"}]}, "request": {"method": "POST", "url": "Patient"}},
            {"fullUrl": "urn:uuid:a3", "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "subject": {"reference": "urn:uuid:a2"}}, "request": {"method": "POST", "url": "Observation"}},
            {"fullUrl": "urn:uuid:a4", "resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}},
            {"fullUrl": "urn:uuid:a5", "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "y"}, "subject": {"reference": "urn:uuid:a4"}}, "request": {"method": "POST", "url": "Observation"}}
        ]});
        let resp = c.post("", &bundle).await.json();
        let id = |i: usize| {
            let r = &resp["entry"][i]["resource"];
            format!(
                "{}/{}",
                r["resourceType"].as_str().unwrap(),
                r["id"].as_str().unwrap()
            )
        };
        let got: HashSet<String> = everything(&c, &format!("{}/$everything", id(1)))
            .await
            .into_iter()
            .collect();
        assert_eq!(
            got,
            [id(0), id(1), id(2)].into_iter().collect::<HashSet<_>>(),
            "{b:?}"
        );
        let paged = everything(&c, &format!("{}/$everything?_count=1", id(1))).await;
        assert_eq!(paged.len(), 3);
        let all: HashSet<String> = everything(&c, "Patient/$everything?_count=2")
            .await
            .into_iter()
            .collect();
        assert_eq!(all.len(), 5);
        let only: Vec<String> =
            everything(&c, &format!("{}/$everything?_type=Observation", id(1))).await;
        assert_eq!(only, vec![id(2)]);
    }
}
