//! Synchronisation (issue 6): rest-hook Subscriptions and the mirror, against real receivers
//! (small actix servers on 127.0.0.1:0), on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

use common::{Backend, Client, TestServer, backends, pg_url};

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Got {
    event_id: Option<i64>,
    auth: Option<String>,
    body: Value,
    /// Wall clock at receipt, µs since the epoch.
    at: i64,
}

impl Got {
    /// (id, version) of each event entry of a notification Bundle.
    fn changes(&self) -> Vec<(String, i64)> {
        let entries = self.body["entry"].as_array().cloned().unwrap_or_default();
        entries
            .iter()
            .skip(1)
            .map(|e| {
                let id = e["fullUrl"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_string();
                let etag = e["response"]["etag"].as_str().unwrap();
                let v = etag.trim_start_matches("W/\"").trim_end_matches('"');
                (id, v.parse().unwrap())
            })
            .collect()
    }

    fn status_param(&self, name: &str) -> Value {
        let params = &self.body["entry"][0]["resource"]["parameter"];
        params
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    }
}

#[derive(Clone, Default)]
struct RecvState {
    got: Arc<Mutex<Vec<Got>>>,
    failing: Arc<AtomicBool>,
}

/// A webhook receiver: records every POST; answers 503 while `failing`.
struct Receiver {
    url: String,
    state: RecvState,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

async fn hook(req: HttpRequest, body: web::Bytes, st: web::Data<RecvState>) -> HttpResponse {
    if st.failing.load(Ordering::SeqCst) {
        return HttpResponse::ServiceUnavailable().finish();
    }
    let h = |n: &str| {
        req.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let got = Got {
        event_id: h("x-hms-event-id").and_then(|v| v.parse().ok()),
        auth: h("authorization"),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        at: chrono::Utc::now().timestamp_micros(),
    };
    st.got.lock().unwrap().push(got);
    HttpResponse::Ok().finish()
}

impl Receiver {
    fn start() -> Receiver {
        let state = RecvState::default();
        let st = state.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let data = web::Data::new(st);
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .default_service(web::to(hook))
                })
                .workers(1)
                .bind("127.0.0.1:0")
                .unwrap();
                let addr = server.addrs()[0];
                let server = server.run();
                tx.send((addr, server.handle())).unwrap();
                let _ = server.await;
            });
        });
        let (addr, handle) = rx.recv_timeout(Duration::from_secs(30)).unwrap();
        Receiver {
            url: format!("http://{addr}/hook"),
            state,
            handle,
            thread: Some(thread),
        }
    }

    fn set_failing(&self, f: bool) {
        self.state.failing.store(f, Ordering::SeqCst);
    }

    /// Event notifications (handshakes carry no event id).
    fn events(&self) -> Vec<Got> {
        self.state
            .got
            .lock()
            .unwrap()
            .iter()
            .filter(|g| g.event_id.is_some())
            .cloned()
            .collect()
    }

    fn handshakes(&self) -> usize {
        self.state
            .got
            .lock()
            .unwrap()
            .iter()
            .filter(|g| g.event_id.is_none())
            .count()
    }

    async fn wait_events(&self, n: usize, secs: u64) -> Vec<Got> {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            let ev = self.events();
            if ev.len() >= n || Instant::now() > end {
                return ev;
            }
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        let _ =
            std::thread::spawn(move || actix_web::rt::System::new().block_on(handle.stop(false)))
                .join();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Test settings: loopback receivers allowed, fast polling and retries.
fn fast(c: &mut hms::config::Config) {
    c.sync.allow_private_endpoints = true;
    c.sync.poll_interval = Duration::from_millis(100);
    c.sync.retry_base = Duration::from_millis(50);
    c.sync.retry_max = Duration::from_millis(400);
    c.sync.lease = Duration::from_secs(3);
    // With Redis (CI sets it), nodes wake each other through pub/sub.
    c.sync.redis_url = std::env::var("HMS_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty());
}

fn subscription(endpoint: &str, criteria: &str) -> Value {
    json!({
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "sync test",
        "criteria": criteria,
        "channel": {
            "type": "rest-hook",
            "endpoint": endpoint,
            "header": ["Authorization: Bearer s3cret"],
            "payload": "application/fhir+json",
            "_payload": {"extension": [{
                "url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content",
                "valueCode": "full-resource"
            }]}
        }
    })
}

/// Creates the Subscription and waits until the handshake made it active.
async fn subscribe(c: &Client, endpoint: &str, criteria: &str) -> String {
    let r = c
        .post("Subscription", &subscription(endpoint, criteria))
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    wait_status(c, &id, "active", 30).await;
    id
}

async fn wait_status(c: &Client, id: &str, status: &str, secs: u64) -> Value {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        let s = c.get(&format!("Subscription/{id}")).await.json();
        if s["status"] == status {
            return s;
        }
        assert!(
            Instant::now() < end,
            "Subscription/{id} never became {status}: {s}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

fn patient(family: &str) -> Value {
    json!({"resourceType": "Patient", "name": [{"family": family}]})
}

/// Creates, updates and deletes; returns the expected (id, version) sequence.
async fn churn(c: &Client, n: usize) -> Vec<(String, i64)> {
    let mut expected = Vec::new();
    let mut ids = Vec::new();
    for i in 0..n {
        let r = c.post("Patient", &patient(&format!("Fam{i}"))).await;
        assert_eq!(r.status, 201);
        let id = r.json()["id"].as_str().unwrap().to_string();
        expected.push((id.clone(), 1));
        ids.push(id);
    }
    for (i, id) in ids.iter().enumerate() {
        let mut p = patient(&format!("Changed{i}"));
        p["id"] = json!(id);
        assert_eq!(c.put(&format!("Patient/{id}"), &p).await.status, 200);
        expected.push((id.clone(), 2));
    }
    let last = ids.last().unwrap();
    assert_eq!(c.delete(&format!("Patient/{last}")).await.status, 204);
    expected.push((last.clone(), 3));
    expected
}

#[actix_web::test]
async fn rest_hook_gets_every_change_once_and_in_order() {
    for b in backends() {
        let srv = TestServer::start_with(b, fast);
        let c = srv.client();
        let rx = Receiver::start();
        let sub_id = subscribe(&c, &rx.url, "Patient").await;
        assert_eq!(rx.handshakes(), 1, "{b:?}");
        let expected = churn(&c, 5).await;
        let got = rx.wait_events(expected.len(), 30).await;
        let seq: Vec<(String, i64)> = got.iter().flat_map(Got::changes).collect();
        assert_eq!(seq, expected, "{b:?}: exact sequence of (id, version)");
        // Idempotency keys are unique and increasing; event numbers count from 1; the channel
        // header is sent; full-resource content carries the resource.
        let ids: Vec<i64> = got.iter().map(|g| g.event_id.unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        for (i, g) in got.iter().enumerate() {
            assert_eq!(g.auth.as_deref(), Some("Bearer s3cret"));
            assert_eq!(g.body["type"], "history");
            assert_eq!(
                g.status_param("events-since-subscription-start")["valueString"],
                (i + 1).to_string()
            );
            assert_eq!(g.status_param("type")["valueCode"], "event-notification");
        }
        assert_eq!(
            got[0].body["entry"][1]["resource"]["name"][0]["family"],
            "Fam0"
        );
        assert!(
            got.last().unwrap().body["entry"][1]
                .get("resource")
                .is_none()
        );
        // Nothing more arrives (exactly once).
        actix_web::rt::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(rx.events().len(), expected.len());
        // Each delivery left one Export AuditEvent naming the version sent, by the sync agent.
        let exports: Vec<Value> = common::all_of(&c, "AuditEvent")
            .await
            .into_iter()
            .filter(|e| e["type"]["code"] == "110106")
            .collect();
        let mut sent: Vec<String> = exports
            .iter()
            .flat_map(|e| e["entity"].as_array().cloned().unwrap_or_default())
            .filter_map(|en| en["what"]["reference"].as_str().map(str::to_string))
            .filter(|r| r.contains("/_history/"))
            .collect();
        sent.sort();
        let mut want: Vec<String> = expected
            .iter()
            .map(|(id, v)| format!("Patient/{id}/_history/{v}"))
            .collect();
        want.sort();
        assert_eq!(sent, want, "{b:?}");
        for e in &exports {
            assert_eq!(e["outcome"], "0", "{e}");
            let who = &e["agent"][0]["who"]["identifier"];
            assert_eq!(who["system"], "urn:hms:system", "{e}");
            assert!(who["value"].as_str().unwrap().starts_with("sync:"), "{e}");
        }
        // $status and $events recover what was sent.
        let st = c.get(&format!("Subscription/{sub_id}/$status")).await;
        assert_eq!(st.status, 200);
        let params = &st.json()["entry"][0]["resource"]["parameter"];
        assert!(
            params
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "events-since-subscription-start"
                    && p["valueString"].as_str() == Some(expected.len().to_string().as_str()))
        );
        let ev = c
            .get(&format!(
                "Subscription/{sub_id}/$events?eventsSinceNumber=3"
            ))
            .await;
        assert_eq!(ev.status, 200, "{}", ev.text());
        let ev = Got {
            event_id: None,
            auth: None,
            body: ev.json(),
            at: 0,
        };
        assert_eq!(ev.changes(), expected[2..].to_vec());
    }
}

#[actix_web::test]
async fn receiver_down_then_up_loses_nothing() {
    for b in backends() {
        let srv = TestServer::start_with(b, fast);
        let c = srv.client();
        let rx = Receiver::start();
        subscribe(&c, &rx.url, "Patient").await;
        rx.set_failing(true);
        let expected = churn(&c, 4).await;
        actix_web::rt::time::sleep(Duration::from_millis(800)).await;
        assert!(rx.events().is_empty());
        rx.set_failing(false);
        let got = rx.wait_events(expected.len(), 30).await;
        let seq: Vec<(String, i64)> = got.iter().flat_map(Got::changes).collect();
        if seq != expected {
            dump(&srv);
        }
        assert_eq!(seq, expected, "{b:?}: everything, in order, once");
    }
}

#[actix_web::test]
async fn backlog_is_delivered_after_a_restart() {
    for b in backends() {
        // The first server records events but runs no workers (as if it died before delivering).
        let a = TestServer::start_with(b, |c| {
            fast(c);
            c.sync.enabled = false;
        });
        let rx = Receiver::start();
        let ca = a.client();
        let r = ca
            .post("Subscription", &subscription(&rx.url, "Patient"))
            .await;
        assert_eq!(r.status, 201);
        let expected = churn(&ca, 3).await;
        let db = a.into_db();
        assert!(rx.events().is_empty());
        let srv = TestServer::start_on(db, fast);
        let got = rx.wait_events(expected.len(), 30).await;
        let seq: Vec<(String, i64)> = got.iter().flat_map(Got::changes).collect();
        assert_eq!(seq, expected, "{b:?}");
        drop(srv);
    }
}

#[actix_web::test]
async fn in_flight_deliveries_of_a_killed_node_are_redelivered() {
    for b in backends() {
        let a = TestServer::start_with(b, fast);
        let rx = Receiver::start();
        let ca = a.client();
        subscribe(&ca, &rx.url, "Patient").await;
        rx.set_failing(true);
        let expected = churn(&ca, 3).await;
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
        let db = a.into_db();
        rx.set_failing(false);
        let _b = TestServer::start_on(db, fast);
        let got = rx.wait_events(expected.len(), 30).await;
        let seq: Vec<(String, i64)> = got.iter().flat_map(Got::changes).collect();
        assert_eq!(seq, expected, "{b:?}");
    }
}

#[actix_web::test]
async fn two_nodes_on_one_postgres_schema_deliver_each_event_once() {
    if pg_url().is_none() {
        eprintln!("note: HMS_TEST_DATABASE_URL is not set; test skipped");
        return;
    }
    let a = TestServer::start_with(Backend::Postgres, fast);
    let b = TestServer::start_on(a.share_db(), fast);
    let (ca, cb) = (a.client(), b.client());
    let rx = Receiver::start();
    subscribe(&ca, &rx.url, "Patient").await;
    let n = 60;
    let mut expected: HashMap<String, Vec<i64>> = HashMap::new();
    for i in 0..n {
        let c = if i % 2 == 0 { &ca } else { &cb };
        let r = c.post("Patient", &patient(&format!("N{i}"))).await;
        assert_eq!(r.status, 201);
        let id = r.json()["id"].as_str().unwrap().to_string();
        let mut p = patient("Again");
        p["id"] = json!(id);
        let other = if i % 2 == 0 { &cb } else { &ca };
        assert_eq!(other.put(&format!("Patient/{id}"), &p).await.status, 200);
        expected.insert(id, vec![1, 2]);
    }
    let got = rx.wait_events(2 * n, 60).await;
    actix_web::rt::time::sleep(Duration::from_millis(1000)).await;
    let got_after = rx.events();
    if got_after.len() != 2 * n {
        dump(&a);
    }
    assert_eq!(got_after.len(), got.len(), "late duplicates");
    let mut by_event: HashMap<i64, usize> = HashMap::new();
    for g in &got_after {
        *by_event.entry(g.event_id.unwrap()).or_default() += 1;
    }
    assert_eq!(by_event.len(), 2 * n, "every event delivered");
    assert!(by_event.values().all(|c| *c == 1), "each exactly once");
    // Per resource, version 1 before version 2.
    let mut seen: HashMap<String, Vec<i64>> = HashMap::new();
    for (id, v) in got_after.iter().flat_map(Got::changes) {
        seen.entry(id).or_default().push(v);
    }
    assert_eq!(seen, expected);
}

#[actix_web::test]
async fn mirror_ends_up_equal_to_the_source() {
    for b in backends() {
        let target = TestServer::start(b);
        let turl = target.base.clone();
        let src = TestServer::start_with(b, move |c| {
            fast(c);
            c.sync.mirror_url = Some(turl);
            c.sync.mirror_token = Some("mirror-token".into());
        });
        let (cs, ct) = (src.client(), target.client());
        let mut ids = Vec::new();
        for i in 0..6 {
            let r = cs.post("Patient", &patient(&format!("M{i}"))).await;
            ids.push(r.json()["id"].as_str().unwrap().to_string());
        }
        for id in &ids[..3] {
            let mut p = patient("Updated");
            p["id"] = json!(id);
            p["birthDate"] = json!("1970-01-02");
            assert_eq!(cs.put(&format!("Patient/{id}"), &p).await.status, 200);
        }
        for id in &ids[4..] {
            assert_eq!(cs.delete(&format!("Patient/{id}")).await.status, 204);
        }
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            let mut same = true;
            for id in &ids {
                let s = cs.get(&format!("Patient/{id}")).await;
                let t = ct.get(&format!("Patient/{id}")).await;
                if s.status != t.status
                    || (s.status == 200
                        && common::strip_server_meta(&s.json())
                            != common::strip_server_meta(&t.json()))
                {
                    same = false;
                }
            }
            if same {
                break;
            }
            assert!(Instant::now() < end, "{b:?}: mirror did not converge");
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(ct.get(&format!("Patient/{}", ids[5])).await.status, 410);
    }
}

/// The Synthea corpus of the fixtures (providers and all five patient bundles) loaded into a server
/// mirroring to a second one: the mirror ends with exactly the same number of resources per type.
#[actix_web::test]
async fn synthea_patient_into_mirror_gives_equal_counts() {
    for b in backends() {
        let target = TestServer::start(b);
        let turl = target.base.clone();
        let src = TestServer::start_with(b, move |c| {
            fast(c);
            c.sync.mirror_url = Some(turl);
        });
        let (cs, ct) = (src.client(), target.client());
        let mut types = std::collections::BTreeSet::new();
        for f in [
            "synthea/hospitalInformation1633536936158.json",
            "synthea/practitionerInformation1633536936158.json",
            "synthea/Porsha375_Nienow652_87971181-9885-c79c-b296-5ca2fee37363.json",
            "synthea/Ramona980_Godínez202_6eb9f136-121e-2f36-9115-d450c210dced.json",
            "synthea/Samuel331_Terry864_1e610c5a-ff61-c754-2538-d059748636fc.json",
            "synthea/Soila394_Christiansen251_fbba2017-3ef4-dfe0-714c-c302cd9b8cca.json",
            "synthea/Wally311_Blanda868_879c534d-c512-35c0-58c2-98730ba5f171.json",
        ] {
            let body = common::fixture(f);
            let bundle: Value = serde_json::from_slice(&body).unwrap();
            for e in bundle["entry"].as_array().unwrap() {
                types.insert(e["resource"]["resourceType"].as_str().unwrap().to_string());
            }
            let r = cs
                .post_raw("", body, &[("content-type", "application/fhir+json")])
                .await;
            assert_eq!(r.status, 200, "{f}: {}", r.text());
        }
        assert_eq!(types.len(), 14, "{types:?}");
        let count = |c: Client, t: String| async move {
            c.get(&format!("{t}?_summary=count")).await.json()["total"]
                .as_i64()
                .unwrap()
        };
        let mut want = Vec::new();
        for t in &types {
            want.push((t.clone(), count(cs.clone(), t.clone()).await));
        }
        // Every entry of the seven files is one resource (2,382 + 2,382 + 367 + 623 + 922 + 327 + 416).
        assert_eq!(want.iter().map(|(_, n)| n).sum::<i64>(), 7419, "{want:?}");
        let end = Instant::now() + Duration::from_secs(600);
        loop {
            let mut got = Vec::new();
            for t in &types {
                got.push((t.clone(), count(ct.clone(), t.clone()).await));
            }
            if got == want {
                break;
            }
            assert!(
                Instant::now() < end,
                "{b:?}: mirror has {got:?}, want {want:?}"
            );
            actix_web::rt::time::sleep(Duration::from_millis(500)).await;
        }
        let p = cs.get("Patient").await.json();
        let id = p["entry"][0]["resource"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            common::strip_server_meta(&ct.get(&format!("Patient/{id}")).await.json()),
            common::strip_server_meta(&cs.get(&format!("Patient/{id}")).await.json())
        );
    }
}

#[actix_web::test]
async fn mirror_skips_when_the_remote_is_newer() {
    let b = Backend::Sqlite;
    let target = TestServer::start(b);
    let turl = target.base.clone();
    let src = TestServer::start_with(b, move |c| {
        fast(c);
        c.sync.mirror_url = Some(turl);
        c.sync.mirror_conflict = hms::sync::config::MirrorConflict::SkipIfRemoteNewer;
    });
    let (cs, ct) = (src.client(), target.client());
    let id = cs.post("Patient", &patient("One")).await.json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let wait_family = |want: &'static str| {
        let ct = ct.clone();
        let id = id.clone();
        async move {
            let end = Instant::now() + Duration::from_secs(20);
            loop {
                let t = ct.get(&format!("Patient/{id}")).await;
                if t.status == 200 && t.json()["name"][0]["family"] == want {
                    return;
                }
                assert!(Instant::now() < end, "remote never had {want}");
                actix_web::rt::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    wait_family("One").await;
    // Somebody edits the remote copy; our next update must not overwrite it.
    let mut remote = patient("RemoteEdit");
    remote["id"] = json!(id);
    assert_eq!(ct.put(&format!("Patient/{id}"), &remote).await.status, 200);
    let mut local = patient("LocalEdit");
    local["id"] = json!(id);
    assert_eq!(cs.put(&format!("Patient/{id}"), &local).await.status, 200);
    actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
    let t = ct.get(&format!("Patient/{id}")).await.json();
    assert_eq!(t["name"][0]["family"], "RemoteEdit");
}

#[actix_web::test]
async fn private_endpoints_are_refused_without_the_flag() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        for ep in [
            "http://127.0.0.1:9/hook",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.8/hook",
            "http://[::1]/hook",
            "http://localhost:8080/hook",
            "ftp://example.org/hook",
        ] {
            let r = c.post("Subscription", &subscription(ep, "Patient")).await;
            assert_eq!(r.status, 422, "{ep}: {}", r.text());
            let issues = r.outcome();
            assert!(
                issues
                    .iter()
                    .any(|(_, _, ex)| ex.contains(&"Subscription.channel.endpoint".to_string())),
                "{issues:?}"
            );
        }
        // A public address passes the check.
        let r = c
            .post(
                "Subscription",
                &subscription("https://hooks.example.org/x", "Patient"),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
    }
}

/// Transaction entries and PATCH (plain and inside a transaction) get the same endpoint check
/// as a plain create: 422 naming the field, nothing committed.
#[actix_web::test]
async fn private_endpoints_are_refused_in_transactions_and_patches() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        let names_endpoint = |r: &common::Resp| {
            r.outcome()
                .iter()
                .any(|(_, _, ex)| ex.contains(&"Subscription.channel.endpoint".to_string()))
        };
        let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": patient("TxBefore"), "request": {"method": "POST", "url": "Patient"}},
            {"resource": subscription("http://10.0.0.8/hook", "Patient"),
             "request": {"method": "POST", "url": "Subscription"}}
        ]});
        let r = c.post("", &tx).await;
        assert_eq!(r.status, 422, "{b:?}: {}", r.text());
        assert!(names_endpoint(&r), "{}", r.text());
        assert_eq!(c.get("Patient?_summary=count").await.json()["total"], 0);
        assert_eq!(
            c.get("Subscription?_summary=count").await.json()["total"],
            0
        );

        let r = c
            .post(
                "Subscription",
                &subscription("https://hooks.example.org/x", "Patient"),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        let id = r.json()["id"].as_str().unwrap().to_string();
        let patch = json!([{"op": "replace", "path": "/channel/endpoint", "value": "http://127.0.0.1:9/hook"}]);
        let r = c
            .send(
                awc::http::Method::PATCH,
                &format!("Subscription/{id}"),
                &[("Content-Type", "application/json-patch+json")],
                Some(patch.to_string().into_bytes()),
            )
            .await;
        assert_eq!(r.status, 422, "{b:?}: {}", r.text());
        assert!(names_endpoint(&r), "{}", r.text());

        let fhirpath = json!({"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [
            {"name": "type", "valueCode": "replace"},
            {"name": "path", "valueString": "Subscription.channel.endpoint"},
            {"name": "value", "valueUrl": "http://169.254.169.254/latest/meta-data/"}]}]});
        let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": patient("TxBefore"), "request": {"method": "POST", "url": "Patient"}},
            {"resource": fhirpath, "request": {"method": "PATCH", "url": format!("Subscription/{id}")}}
        ]});
        let r = c.post("", &tx).await;
        assert_eq!(r.status, 422, "{b:?}: {}", r.text());
        assert!(names_endpoint(&r), "{}", r.text());
        let s = c.get(&format!("Subscription/{id}")).await.json();
        assert_eq!(s["channel"]["endpoint"], "https://hooks.example.org/x");
        assert_eq!(s["meta"]["versionId"], "1");
        assert_eq!(c.get("Patient?_summary=count").await.json()["total"], 0);
    }
}

/// Backport heartbeats fill a silent channel; delivered events are pruned after the retention
/// (here 1 s) while the Subscription's event count stays.
#[actix_web::test]
async fn heartbeats_and_retention() {
    for b in backends() {
        let srv = TestServer::start_with(b, |c| {
            fast(c);
            c.sync.outbox_retention = Duration::from_secs(1);
        });
        let c = srv.client();
        let rx = Receiver::start();
        let mut sub = subscription(&rx.url, "Patient");
        sub["channel"]["extension"] = json!([{
            "url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-heartbeat-period",
            "valueUnsignedInt": 1
        }]);
        let r = c.post("Subscription", &sub).await;
        assert_eq!(r.status, 201, "{}", r.text());
        let id = r.json()["id"].as_str().unwrap().to_string();
        wait_status(&c, &id, "active", 30).await;
        let end = Instant::now() + Duration::from_secs(30);
        let beat = loop {
            let all = rx.state.got.lock().unwrap().clone();
            if let Some(g) = all
                .into_iter()
                .find(|g| g.status_param("type")["valueCode"] == "heartbeat")
            {
                break g;
            }
            assert!(Instant::now() < end, "no heartbeat ({b:?})");
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(beat.event_id, None);
        assert_eq!(beat.body["entry"].as_array().unwrap().len(), 1);
        assert_eq!(beat.status_param("status")["valueCode"], "active");
        assert_eq!(
            beat.status_param("events-since-subscription-start")["valueString"],
            "0"
        );

        let r = c.post("Patient", &patient("Kept")).await;
        assert_eq!(r.status, 201);
        assert_eq!(rx.wait_events(1, 30).await.len(), 1);
        // Pruned: $events has nothing left to replay, $status still counts the event.
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            let ev = c.get(&format!("Subscription/{id}/$events")).await.json();
            if ev["entry"].as_array().map(Vec::len) == Some(1) {
                break;
            }
            assert!(Instant::now() < end, "never pruned ({b:?}): {ev}");
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
        let st = c.get(&format!("Subscription/{id}/$status")).await.json();
        let params = st["entry"][0]["resource"]["parameter"]
            .as_array()
            .unwrap()
            .clone();
        let since = params
            .iter()
            .find(|p| p["name"] == "events-since-subscription-start")
            .unwrap();
        assert_eq!(since["valueString"], "1");
    }
}

#[actix_web::test]
async fn commit_to_delivery_latency() {
    for b in backends() {
        let srv = TestServer::start_with(b, fast);
        let c = srv.client();
        let rx = Receiver::start();
        subscribe(&c, &rx.url, "Patient").await;
        let n = 200;
        for i in 0..n {
            let r = c.post("Patient", &patient(&format!("L{i}"))).await;
            assert_eq!(r.status, 201);
            rx.wait_events(i + 1, 30).await;
        }
        let got = rx.events();
        assert_eq!(got.len(), n);
        // Latency = receipt time at the receiver − meta.lastUpdated (set inside the writing
        // transaction, just before COMMIT). Same host clock.
        let mut lat: Vec<f64> = got
            .iter()
            .map(|g| {
                let lu = g.body["entry"][1]["resource"]["meta"]["lastUpdated"]
                    .as_str()
                    .unwrap();
                let t = chrono::DateTime::parse_from_rfc3339(lu)
                    .unwrap()
                    .timestamp_micros();
                (g.at - t) as f64 / 1000.0
            })
            .collect();
        lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let p = |q: f64| lat[((lat.len() as f64 - 1.0) * q).round() as usize];
        println!(
            "sync latency {b:?}: write→receipt over {n} events: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
            p(0.5),
            p(0.95),
            lat[lat.len() - 1]
        );
    }
}

fn dump(srv: &TestServer) {
    use diesel::{Connection, RunQueryDsl};
    let db = srv.share_db();
    let Some(schema) = db.schema else { return };
    let mut c = diesel::pg::PgConnection::establish(&pg_url().unwrap()).unwrap();
    #[derive(diesel::QueryableByName, Debug)]
    struct R {
        #[diesel(sql_type = diesel::sql_types::Text)]
        t: String,
    }
    for q in [
        format!(
            "SELECT CONCAT_WS(' ', event_id, res_id, version, operation, txid) AS t FROM {schema}.change_event ORDER BY event_id"
        ),
        format!(
            "SELECT CONCAT_WS(' ', dest_id, event_id, event_number, res_id, version, status, attempts, last_error) AS t FROM {schema}.sync_delivery ORDER BY event_id"
        ),
        format!("SELECT CONCAT_WS(' ', name, value) AS t FROM {schema}.sync_state"),
    ] {
        let rows: Vec<R> = diesel::sql_query(q).load(&mut c).unwrap();
        for r in rows {
            eprintln!("DUMP {}", r.t);
        }
    }
}
