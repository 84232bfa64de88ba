#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test
//! Issue 7 item 4: every interaction that touches PHI leaves exactly one AuditEvent (BALP) with the
//! real principal, durable before the answer; an audit outage fails reads closed (503); AuditEvent
//! is searchable but not writable; `hms audit verify` covers read records too. SQLite and (with
//! HMS_TEST_DATABASE_URL) PostgreSQL.

mod common;

use awc::http::Method;
use base64::Engine;
use common::{Backend, Resp, TestServer, backends};
use hms::auth::credentials;
use hms::config::AuthMode;
use hms::interactions::audit::{Verified, verify};
use hms::interactions::auth as iauth;
use serde_json::{Value, json};

fn builtin(b: Backend) -> TestServer {
    TestServer::start_with(b, |c| {
        c.auth.mode = AuthMode::Builtin;
        c.mllp.addr = None;
    })
}

fn store(srv: &TestServer) -> hms::store::Store {
    hms::app::open_store(&srv.config).unwrap()
}

async fn token_req(srv: &TestServer, form: &str) -> Resp {
    srv.client()
        .post_raw(
            &format!("http://{}/auth/token", srv.addr),
            form.as_bytes().to_vec(),
            &[("content-type", "application/x-www-form-urlencoded")],
        )
        .await
}

/// Adds `name` with TOTP and logs in; returns (token, totp secret).
async fn login(srv: &TestServer, name: &str, scope: &str, patient: Option<&str>) -> String {
    let st = store(srv);
    iauth::add_user(&st, name, "correct horse battery staple", scope, patient).unwrap();
    let secret = iauth::mfa_enroll(&st, name).unwrap().0;
    let code = credentials::current_totp(&secret).unwrap();
    let r = token_req(
        srv,
        &format!(
            "grant_type=password&username={name}&password=correct+horse+battery+staple&totp={code}"
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["access_token"].as_str().unwrap().to_string()
}

struct Api<'a> {
    srv: &'a TestServer,
    auth: String,
}

impl Api<'_> {
    async fn send(&self, m: Method, path: &str, body: Option<&Value>) -> Resp {
        let headers = [
            ("authorization", self.auth.as_str()),
            ("content-type", "application/fhir+json"),
        ];
        self.srv
            .client()
            .send(
                m,
                path,
                &headers,
                body.map(|b| serde_json::to_vec(b).unwrap()),
            )
            .await
    }

    async fn get(&self, path: &str) -> Resp {
        self.send(Method::GET, path, None).await
    }

    async fn put(&self, path: &str, body: &Value) -> Resp {
        self.send(Method::PUT, path, Some(body)).await
    }

    async fn post(&self, path: &str, body: &Value) -> Resp {
        self.send(Method::POST, path, Some(body)).await
    }

    /// AuditEvents (newest first) matching `query`, following every `next` link.
    async fn events(&self, query: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut path = format!("AuditEvent?{query}");
        loop {
            let r = self.get(&path).await;
            assert_eq!(r.status, 200, "{path}: {}", r.text());
            let b = r.json();
            for e in b["entry"].as_array().cloned().unwrap_or_default() {
                out.push(e["resource"].clone());
            }
            match common::next_link(&b) {
                Some(next) => path = next,
                None => return out,
            }
        }
    }
}

fn subtype(e: &Value) -> String {
    e["subtype"][0]["code"].as_str().unwrap_or("").to_string()
}

fn entity_refs(e: &Value) -> Vec<String> {
    e["entity"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["what"]["reference"].as_str().map(str::to_string))
        .collect()
}

fn query_of(e: &Value) -> Option<String> {
    e["entity"].as_array().unwrap().iter().find_map(|x| {
        x["query"].as_str().map(|q| {
            String::from_utf8(base64::engine::general_purpose::STANDARD.decode(q).unwrap()).unwrap()
        })
    })
}

/// The requestor agent's name and network address.
fn requestor(e: &Value) -> (String, String) {
    let a = e["agent"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["requestor"] == true)
        .unwrap();
    (
        a["who"]["identifier"]["value"]
            .as_str()
            .unwrap_or("")
            .to_string(),
        a["network"]["address"].as_str().unwrap_or("").to_string(),
    )
}

/// Runs `act`, then returns the AuditEvents for patient `pid` that it added (exactly `n`).
async fn added(api: &Api<'_>, pid: &str, before: usize, n: usize) -> Vec<Value> {
    let all = api.events(&format!("patient={pid}")).await;
    assert_eq!(all.len(), before + n, "new AuditEvents for Patient/{pid}");
    all[..n].to_vec()
}

fn check(e: &Value, action: &str, sub: &str, entities: &[&str], pid: &str, user: &str) {
    assert_eq!(e["resourceType"], "AuditEvent");
    assert_eq!(e["action"], action, "{e}");
    assert_eq!(subtype(e), sub, "{e}");
    assert_eq!(e["outcome"], "0", "{e}");
    assert_eq!(e["source"]["observer"]["display"], "HMS Interop");
    let refs = entity_refs(e);
    assert_eq!(refs[0], format!("Patient/{pid}"), "{e}");
    assert_eq!(refs[1..].to_vec(), entities, "{e}");
    assert_eq!(
        requestor(e),
        (user.to_string(), "127.0.0.1".to_string()),
        "{e}"
    );
    assert!(e["recorded"].as_str().unwrap().ends_with('Z'));
}

#[actix_web::test]
async fn every_phi_read_leaves_exactly_one_audit_event() {
    for b in backends() {
        let srv = builtin(b);
        let token = login(&srv, "alice", "user/*.cruds", None).await;
        let api = Api {
            srv: &srv,
            auth: format!("Bearer {token}"),
        };
        // Writes (audited in their transaction, with the user as agent).
        assert_eq!(
            api.put(
                "Patient/p1",
                &json!({"resourceType": "Patient", "id": "p1"})
            )
            .await
            .status,
            201
        );
        assert_eq!(
            api.put(
                "Patient/p2",
                &json!({"resourceType": "Patient", "id": "p2"})
            )
            .await
            .status,
            201
        );
        let obs = json!({"resourceType": "Observation", "id": "o1", "status": "final",
            "code": {"text": "hr"}, "subject": {"reference": "Patient/p1"}});
        assert_eq!(api.put("Observation/o1", &obs).await.status, 201);
        let writes = api.events("patient=p1").await;
        assert_eq!(writes.len(), 2);
        check(
            &writes[0],
            "C",
            "create",
            &["Observation/o1/_history/1"],
            "p1",
            "alice",
        );
        check(
            &writes[1],
            "C",
            "create",
            &["Patient/p1/_history/1"],
            "p1",
            "alice",
        );
        let mut n = 2;

        // read (twice: the second is a cache hit, audited the same).
        for _ in 0..2 {
            assert_eq!(api.get("Patient/p1").await.status, 200);
            let e = added(&api, "p1", n, 1).await;
            check(
                &e[0],
                "R",
                "read",
                &["Patient/p1/_history/1"],
                "p1",
                "alice",
            );
            n += 1;
        }
        // vread
        assert_eq!(api.get("Observation/o1/_history/1").await.status, 200);
        let e = added(&api, "p1", n, 1).await;
        check(
            &e[0],
            "R",
            "vread",
            &["Observation/o1/_history/1"],
            "p1",
            "alice",
        );
        n += 1;
        // search: the query and the patients whose data was returned.
        let r = api.get("Observation?subject=Patient/p1").await;
        assert_eq!(r.json()["entry"].as_array().unwrap().len(), 1);
        let e = added(&api, "p1", n, 1).await;
        check(&e[0], "E", "search-type", &[], "p1", "alice");
        assert_eq!(
            query_of(&e[0]).as_deref(),
            Some("Observation?subject=Patient/p1")
        );
        n += 1;
        // history
        assert_eq!(api.get("Patient/p1/_history").await.status, 200);
        let e = added(&api, "p1", n, 1).await;
        check(
            &e[0],
            "R",
            "history-instance",
            &["Patient/p1"],
            "p1",
            "alice",
        );
        n += 1;
        // $everything
        let r = api.get("Patient/p1/$everything").await;
        assert_eq!(r.status, 200, "{}", r.text());
        let e = added(&api, "p1", n, 1).await;
        check(&e[0], "E", "operation", &["Patient/p1"], "p1", "alice");
        assert_eq!(e[0]["subtype"][1]["code"], "$everything");
        n += 1;
        // Transaction entries: one AuditEvent each (a read and a create).
        let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"request": {"method": "GET", "url": "Patient/p1"}},
            {"resource": {"resourceType": "Observation", "id": "o2", "status": "final",
                          "code": {"text": "bp"}, "subject": {"reference": "Patient/p1"}},
             "request": {"method": "PUT", "url": "Observation/o2"}}]});
        let r = api.post("", &tx).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let e = added(&api, "p1", n, 2).await;
        let (read, create) = if e[0]["action"] == "R" {
            (&e[0], &e[1])
        } else {
            (&e[1], &e[0])
        };
        check(read, "R", "read", &["Patient/p1/_history/1"], "p1", "alice");
        check(
            create,
            "C",
            "create",
            &["Observation/o2/_history/1"],
            "p1",
            "alice",
        );
        n += 2;
        // A batch search entry.
        let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
            {"request": {"method": "GET", "url": "Observation?subject=Patient/p1"}}]});
        assert_eq!(api.post("", &batch).await.status, 200);
        let e = added(&api, "p1", n, 1).await;
        check(&e[0], "E", "search-type", &[], "p1", "alice");
        n += 1;
        // update and delete
        let obs2 = json!({"resourceType": "Observation", "id": "o1", "status": "amended",
            "code": {"text": "hr"}, "subject": {"reference": "Patient/p1"}});
        assert_eq!(api.put("Observation/o1", &obs2).await.status, 200);
        let e = added(&api, "p1", n, 1).await;
        check(
            &e[0],
            "U",
            "update",
            &["Observation/o1/_history/2"],
            "p1",
            "alice",
        );
        n += 1;
        assert_eq!(
            api.send(Method::DELETE, "Observation/o1", None)
                .await
                .status,
            204
        );
        let e = added(&api, "p1", n, 1).await;
        check(
            &e[0],
            "D",
            "delete",
            &["Observation/o1/_history/3"],
            "p1",
            "alice",
        );
        n += 1;
        // A refused read is audited as a failed attempt (no patient: nothing was shown).
        assert_eq!(api.get("Observation/o1").await.status, 410);
        let failed = api.events("agent=alice&action=R").await;
        assert_eq!(failed[0]["outcome"], "4", "{}", failed[0]);
        assert_eq!(entity_refs(&failed[0]), vec!["Observation/o1"]);
        let _ = added(&api, "p1", n, 0).await;
        // A request without a valid token is audited as a failed attempt by an unknown agent.
        let anon = srv
            .client()
            .get_h("Observation/o1", &[("authorization", "Bearer forged")])
            .await;
        assert_eq!(anon.status, 401);
        let latest = api.events("action=R").await;
        assert_eq!(latest[0]["outcome"], "4", "{}", latest[0]);
        assert_eq!(latest[0]["outcomeDesc"], "401", "{}", latest[0]);
        assert_eq!(entity_refs(&latest[0]), vec!["Observation/o1"]);
        assert!(!latest[0].to_string().contains("alice"), "{}", latest[0]);
        // Nothing of this touched the other patient.
        assert_eq!(api.events("patient=Patient/p2").await.len(), 1);

        // Search parameters: action, agent, date, paging without duplicates.
        let reads = api.events("patient=p1&action=R").await;
        assert_eq!(reads.len(), 5, "read ×2, vread, history, tx read");
        let paged = api.events("patient=p1&action=R&_count=2").await;
        let ids = |v: &[Value]| v.iter().map(|e| e["id"].clone()).collect::<Vec<_>>();
        assert_eq!(ids(&paged), ids(&reads));
        assert_eq!(api.events("patient=p1&agent=bob").await.len(), 0);
        assert_eq!(api.events("patient=p1&date=ge2000-01-01").await.len(), n);
        assert_eq!(api.events("patient=p1&date=lt2000-01-01").await.len(), 0);
        let one = &reads[0];
        let r = api
            .get(&format!("AuditEvent/{}", one["id"].as_str().unwrap()))
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json(), *one);
        let r = api.get("AuditEvent?subtype=read").await;
        assert_eq!(r.status, 400);

        // Logins: success and failure, with the account named.
        let r = token_req(
            &srv,
            "grant_type=password&username=alice&password=wrong&totp=000000",
        )
        .await;
        assert_eq!(r.status, 400, "{}", r.text());
        assert_eq!(r.json()["error"], "invalid_grant");
        let logins: Vec<Value> = api
            .events("agent=alice&action=E")
            .await
            .into_iter()
            .filter(|e| e["type"]["code"] == "110114")
            .collect();
        assert_eq!(logins.len(), 2, "{logins:?}");
        assert_eq!(logins[0]["outcome"], "4");
        assert_eq!(logins[1]["outcome"], "0");
        assert_eq!(logins[1]["subtype"][0]["code"], "110122");
        assert_eq!(requestor(&logins[0]).0, "alice");

        // A patient-context token cannot read the audit log.
        let pt = login(&srv, "pat", "patient/*.rs", Some("p1")).await;
        let r = srv
            .client()
            .get_h(
                "AuditEvent?patient=p1",
                &[("authorization", &format!("Bearer {pt}"))],
            )
            .await;
        assert_eq!(r.status, 403);

        // `hms audit verify` covers the read records, and finds one altered.
        let st = store(&srv);
        let Verified::Intact { records } = verify(&st).unwrap() else {
            panic!("chain broken")
        };
        assert!(records > i64::try_from(n).unwrap());
        let seq = one["id"].as_str().unwrap();
        srv.exec_sql(&format!(
            "UPDATE audit_log SET event = replace(event, '\"alice\"', '\"mallory\"') WHERE seq = {seq}"
        ));
        assert_eq!(
            verify(&st).unwrap(),
            Verified::Altered {
                seq: seq.parse().unwrap()
            }
        );
    }
}

#[actix_web::test]
async fn audit_outage_fails_closed_with_503() {
    for b in backends() {
        let srv = TestServer::start_with(b, |c| c.mllp.addr = None);
        let c = srv.client();
        let p = json!({"resourceType": "Patient", "id": "p1", "name": [{"family": "Secret"}]});
        assert_eq!(c.put("Patient/p1", &p).await.status, 201);
        assert_eq!(c.get("Patient/p1").await.status, 200);
        srv.exec_sql("ALTER TABLE audit_log RENAME TO audit_log_off");
        for path in [
            "Patient/p1",
            "Patient/p1/_history/1",
            "Patient?name=Secret",
            "Patient/p1/_history",
            "Patient/p1/$everything",
        ] {
            let r = c.get(path).await;
            assert_eq!(r.status, 503, "{path}: {}", r.text());
            assert_eq!(r.json()["resourceType"], "OperationOutcome", "{path}");
            assert!(!r.text().contains("Secret"), "{path} leaked data");
        }
        // Writes fail closed too, and leave nothing behind.
        let r = c
            .put(
                "Patient/p2",
                &json!({"resourceType": "Patient", "id": "p2"}),
            )
            .await;
        assert_eq!(r.status, 503, "{}", r.text());
        srv.exec_sql("ALTER TABLE audit_log_off RENAME TO audit_log");
        assert_eq!(c.get("Patient/p2").await.status, 404);
        assert_eq!(c.get("Patient/p1").await.status, 200);
        assert!(matches!(
            verify(&store(&srv)).unwrap(),
            Verified::Intact { .. }
        ));
    }
}

#[actix_web::test]
async fn audit_events_cannot_be_written_through_the_api() {
    for b in backends() {
        let srv = TestServer::start_with(b, |c| c.mllp.addr = None);
        let c = srv.client();
        let ev = json!({"resourceType": "AuditEvent", "type": {"code": "rest"},
            "recorded": "2026-01-01T00:00:00Z", "agent": [{"requestor": true}],
            "source": {"observer": {"display": "x"}}});
        assert_eq!(
            c.put(
                "Patient/p1",
                &json!({"resourceType": "Patient", "id": "p1"})
            )
            .await
            .status,
            201
        );
        let seq = {
            let r = c.get("AuditEvent?patient=p1").await;
            r.json()["entry"][0]["resource"]["id"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let h = [("content-type", "application/fhir+json")];
        let body = Some(serde_json::to_vec(&ev).unwrap());
        for (m, path) in [
            (Method::POST, "AuditEvent".to_string()),
            (Method::PUT, format!("AuditEvent/{seq}")),
            (Method::PUT, "AuditEvent?patient=p1".to_string()),
            (Method::PATCH, format!("AuditEvent/{seq}")),
            (Method::DELETE, format!("AuditEvent/{seq}")),
            (Method::DELETE, "AuditEvent?patient=p1".to_string()),
        ] {
            let r = c.send(m.clone(), &path, &h, body.clone()).await;
            assert_eq!(r.status, 405, "{m} {path}: {}", r.text());
            assert_eq!(r.outcome()[0].0, "not-supported", "{m} {path}");
        }
        let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": ev, "request": {"method": "POST", "url": "AuditEvent"}}]});
        let r = c.post("", &tx).await;
        assert_eq!(r.status, 405, "{}", r.text());
        let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
            {"request": {"method": "DELETE", "url": format!("AuditEvent/{seq}")}}]});
        let r = c.post("", &batch).await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.json()["entry"][0]["response"]["status"]
                .as_str()
                .unwrap()
                .split(' ')
                .next(),
            Some("405")
        );
        // The record is still there, unchanged, and the chain intact.
        assert_eq!(c.get(&format!("AuditEvent/{seq}")).await.status, 200);
        assert!(matches!(
            verify(&store(&srv)).unwrap(),
            Verified::Intact { .. }
        ));
    }
}

#[actix_web::test]
async fn hl7_ingest_is_audited_with_the_sending_system() {
    for b in backends() {
        let srv = TestServer::start(b);
        let raw = common::fixture("hl7v2/adt_a01_lfh_unix.hl7");
        let payload = hms_hl7v2::normalize_segment_terminators(&raw).into_owned();
        let mut client =
            hms::mllp::client::MllpClient::connect(&srv.mllp(), std::time::Duration::from_secs(60))
                .await
                .unwrap();
        let ack = client.send(&payload).await.unwrap();
        assert_eq!(
            hms::mllp::client::msa_code(&ack).as_deref(),
            Some("CA"),
            "{}",
            String::from_utf8_lossy(&ack)
        );
        let api = Api {
            srv: &srv,
            auth: String::new(),
        };
        let events = api.events("agent=hl7v2:SE050%5E050").await;
        let imports: Vec<&Value> = events
            .iter()
            .filter(|e| e["type"]["code"] == "110107")
            .collect();
        assert_eq!(imports.len(), 1, "{events:?}");
        assert_eq!(imports[0]["action"], "C");
        assert_eq!(imports[0]["outcome"], "0");
        let written = entity_refs(imports[0]);
        assert!(
            written.iter().any(|r| r.starts_with("Patient/")),
            "{written:?}"
        );
        // One create per resource written, by the same agent, naming the patient.
        let creates: Vec<&Value> = events
            .iter()
            .filter(|e| e["action"] == "C" && e["type"]["code"] == "rest")
            .collect();
        assert_eq!(creates.len(), written.len(), "{events:?}");
        let pid = written
            .iter()
            .find(|r| r.starts_with("Patient/"))
            .unwrap()
            .split('/')
            .nth(1)
            .unwrap()
            .to_string();
        for c in &creates {
            assert_eq!(requestor(c).0, "hl7v2:SE050^050");
            let refs = entity_refs(c);
            let what = refs.last().unwrap();
            if what.starts_with("Patient/") || what.starts_with("Encounter/") {
                assert_eq!(refs[0], format!("Patient/{pid}"), "{c}");
            }
        }
    }
}
