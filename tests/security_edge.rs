#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test
//! Issue 7, the HTTP edge: rate limits per IP and per client (in-process, in Redis across two
//! nodes, Redis down), CORS, allowed hosts, admin operations behind system scopes, and
//! patient-context tokens on batch/transaction entries, paging links and $everything. On SQLite
//! and (with HMS_TEST_DATABASE_URL) PostgreSQL; the Redis test needs HMS_TEST_REDIS_URL.

mod common;

use awc::http::Method;
use common::{Backend, Resp, TestServer, backends};
use hms::api::edge::cors::Origins;
use hms::api::edge::ratelimit::Rate;
use hms::config::{AuthMode, Config};
use serde_json::{Value, json};

const ISSUER: &str = "https://idp.example";

fn fixtures() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/auth")
}

/// External auth against the test JWKS, so tests mint any token they need.
fn with_auth(c: &mut Config) {
    c.auth.mode = AuthMode::External;
    c.auth.external_issuers = vec![ISSUER.into()];
    c.auth.jwks_file = Some(fixtures().join("jwks.json"));
    c.mllp.addr = None;
}

fn token(srv: &TestServer, sub: &str, scope: &str, patient: Option<&str>) -> String {
    use rustls_pki_types::pem::PemObject;
    let der =
        rustls_pki_types::PrivatePkcs1KeyDer::from_pem_file(fixtures().join("rsa-private.pem"))
            .unwrap();
    let key = jsonwebtoken::EncodingKey::from_rsa_der(der.secret_pkcs1_der());
    let now = jsonwebtoken::get_current_timestamp();
    let mut claims = json!({"iss": ISSUER, "aud": srv.base, "sub": sub, "exp": now + 600,
                            "iat": now, "scope": scope});
    if let Some(p) = patient {
        claims["patient"] = json!(p);
    }
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    h.kid = Some("test-key-1".into());
    jsonwebtoken::encode(&h, &claims, &key).unwrap()
}

async fn get(srv: &TestServer, path: &str, tok: &str) -> Resp {
    let auth = format!("Bearer {tok}");
    srv.client().get_h(path, &[("authorization", &auth)]).await
}

async fn post(srv: &TestServer, path: &str, body: &Value, tok: &str) -> Resp {
    let auth = format!("Bearer {tok}");
    srv.client()
        .post_h(path, body, &[("authorization", &auth)])
        .await
}

async fn put(srv: &TestServer, path: &str, body: &Value, tok: &str) -> Resp {
    let auth = format!("Bearer {tok}");
    srv.client()
        .put_h(path, body, &[("authorization", &auth)])
        .await
}

fn assert_throttled(r: &Resp) -> u64 {
    assert_eq!(r.status, 429, "{}", r.text());
    let o = r.outcome();
    assert_eq!(o[0].0, "throttled", "{}", r.text());
    r.header("retry-after")
        .expect("Retry-After")
        .parse::<u64>()
        .expect("Retry-After in seconds")
}

fn observation(patient: &str) -> Value {
    json!({"resourceType": "Observation", "status": "final", "code": {"text": "heart rate"},
           "subject": {"reference": format!("Patient/{patient}")},
           "valueQuantity": {"value": 72, "unit": "/min"}})
}

fn statuses(bundle: &Value) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["response"]["status"].as_str().unwrap().to_string())
        .collect()
}

fn match_ids(bundle: &Value) -> Vec<String> {
    let mut v: Vec<String> = bundle["entry"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .filter(|e| e["search"]["mode"] == "match")
        .map(|e| {
            format!(
                "{}/{}",
                e["resource"]["resourceType"].as_str().unwrap(),
                e["resource"]["id"].as_str().unwrap()
            )
        })
        .collect();
    v.sort();
    v
}

fn link(bundle: &Value, rel: &str) -> Option<String> {
    bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == rel)
        .and_then(|l| l["url"].as_str())
        .map(str::to_string)
}

#[actix_web::test]
async fn per_ip_limit_answers_429_with_retry_after() {
    for b in backends() {
        let srv = TestServer::start_with(b, |c| {
            c.edge.per_ip = Rate::parse("3/m", None).unwrap();
            c.mllp.addr = None;
        });
        let c = srv.client();
        for _ in 0..3 {
            assert_eq!(c.get("Patient").await.status, 200);
        }
        let r = c.get("Patient").await;
        let wait = assert_throttled(&r);
        // 3 per minute: the next request is allowed 20 s after the first.
        assert!((1..=20).contains(&wait), "Retry-After {wait}");
        assert!(
            r.header("content-type")
                .unwrap()
                .starts_with("application/fhir+json")
        );
        assert_eq!(
            r.header("x-content-type-options").as_deref(),
            Some("nosniff")
        );
        // Every path is limited (the metadata too), health probes are not.
        assert_throttled(&c.get("metadata").await);
        let live = c.get(&format!("http://{}/health/live", srv.addr)).await;
        assert_eq!(live.status, 200);
    }
    // Off by default: 50 quick requests all pass.
    let srv = TestServer::start_with(Backend::Sqlite, |c| c.mllp.addr = None);
    assert!(srv.config.edge.per_ip.is_none() && srv.config.edge.per_client.is_none());
    let c = srv.client();
    for _ in 0..50 {
        assert_eq!(c.get("metadata").await.status, 200);
    }
}

#[actix_web::test]
async fn per_client_limit_counts_each_token_subject() {
    for b in backends() {
        let srv = TestServer::start_with(b, |c| {
            with_auth(c);
            c.edge.per_client = Rate::parse("2/m", None).unwrap();
        });
        let a = token(&srv, "app-a", "system/*.rs", None);
        let a2 = token(&srv, "app-a", "system/Patient.rs", None);
        let bt = token(&srv, "app-b", "system/*.rs", None);
        assert_eq!(get(&srv, "Patient", &a).await.status, 200);
        // Another token of the same client shares its bucket.
        assert_eq!(get(&srv, "Patient", &a2).await.status, 200);
        let wait = assert_throttled(&get(&srv, "Patient", &a).await);
        assert!((1..=30).contains(&wait), "Retry-After {wait}");
        // Another client on the same address is not affected; no token → 401, not 429.
        assert_eq!(get(&srv, "Patient", &bt).await.status, 200);
        assert_eq!(srv.client().get("Patient").await.status, 401);
    }
}

#[actix_web::test]
async fn redis_limits_hold_across_two_nodes_and_fall_back_when_redis_is_down() {
    let Some(redis) = std::env::var("HMS_TEST_REDIS_URL")
        .ok()
        .filter(|s| !s.is_empty())
    else {
        eprintln!("note: HMS_TEST_REDIS_URL is not set; Redis rate-limit test skipped");
        return;
    };
    for b in backends() {
        let tweak = |c: &mut Config| {
            c.edge.per_ip = Rate::parse("4/m", None).unwrap();
            c.sync.redis_url = Some(redis.clone());
            c.mllp.addr = None;
        };
        let one = TestServer::start_with(b, tweak);
        let two = TestServer::start_on(one.share_db(), tweak);
        for srv in [&one, &two, &one, &two] {
            assert_eq!(srv.client().get("Patient").await.status, 200);
        }
        // The fifth request from this address is over the limit on either node.
        assert_throttled(&two.client().get("Patient").await);
        assert_throttled(&one.client().get("Patient").await);
        // A node on another database shares the Redis but not the buckets.
        let other = TestServer::start_with(b, tweak);
        assert_eq!(other.client().get("Patient").await.status, 200);
    }
    // Redis unreachable: each process counts on its own, and nothing fails.
    let down = TestServer::start_with(Backend::Sqlite, |c| {
        c.edge.per_ip = Rate::parse("2/m", None).unwrap();
        c.sync.redis_url = Some("redis://127.0.0.1:1".into());
        c.cache.size_mib = 0;
        c.mllp.addr = None;
    });
    let c = down.client();
    assert_eq!(c.get("Patient").await.status, 200);
    assert_eq!(c.get("Patient").await.status, 200);
    assert_throttled(&c.get("Patient").await);
}

#[actix_web::test]
async fn cors_preflight_and_exposed_headers() {
    for b in backends() {
        let srv = TestServer::start_with(b, |c| {
            with_auth(c);
            c.edge.cors = Origins::parse(&["https://app.example.org".into()]).unwrap();
        });
        let c = srv.client();
        // A preflight carries no token: answered before authentication.
        let r = c
            .send(
                Method::OPTIONS,
                "Patient",
                &[
                    ("origin", "https://app.example.org"),
                    ("access-control-request-method", "POST"),
                    (
                        "access-control-request-headers",
                        "authorization, content-type, prefer",
                    ),
                ],
                None,
            )
            .await;
        assert_eq!(r.status, 204, "{}", r.text());
        assert_eq!(
            r.header("access-control-allow-origin").as_deref(),
            Some("https://app.example.org")
        );
        assert_eq!(
            r.header("access-control-allow-methods").as_deref(),
            Some("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
        );
        let allow = r.header("access-control-allow-headers").unwrap();
        for h in [
            "Authorization",
            "Prefer",
            "If-Match",
            "If-None-Exist",
            "Content-Type",
        ] {
            assert!(allow.split(", ").any(|x| x == h), "{h} in {allow}");
        }
        assert_eq!(r.header("access-control-max-age").as_deref(), Some("600"));
        // A preflight from another origin: 403, without allow headers.
        let r = c
            .send(
                Method::OPTIONS,
                "Patient",
                &[
                    ("origin", "https://evil.example"),
                    ("access-control-request-method", "GET"),
                ],
                None,
            )
            .await;
        assert_eq!(r.status, 403);
        assert_eq!(r.outcome()[0].0, "forbidden");
        assert!(r.header("access-control-allow-origin").is_none());
        // The actual request: the origin is allowed and the headers a client needs are exposed.
        let tok = token(&srv, "spa", "user/*.cruds", None);
        let auth = format!("Bearer {tok}");
        let r = c
            .post_h(
                "Patient",
                &json!({"resourceType": "Patient"}),
                &[
                    ("authorization", &auth),
                    ("origin", "https://app.example.org"),
                ],
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        assert_eq!(
            r.header("access-control-allow-origin").as_deref(),
            Some("https://app.example.org")
        );
        assert_eq!(
            r.header("access-control-expose-headers").as_deref(),
            Some(
                "ETag, Location, Content-Location, Last-Modified, Retry-After, X-Request-Id, X-HMS-Read-After"
            )
        );
        assert_eq!(r.header("vary").as_deref(), Some("Origin"));
        // Errors carry the CORS headers too (a browser app can read the 401).
        let r = c
            .get_h("Patient", &[("origin", "https://app.example.org")])
            .await;
        assert_eq!(r.status, 401);
        assert_eq!(
            r.header("access-control-allow-origin").as_deref(),
            Some("https://app.example.org")
        );
        let r = c
            .get_h(
                "Patient",
                &[("origin", "https://evil.example"), ("authorization", &auth)],
            )
            .await;
        assert_eq!(r.status, 200);
        assert!(r.header("access-control-allow-origin").is_none());
    }
    // `*` and the default (no CORS at all).
    let any = TestServer::start_with(Backend::Sqlite, |c| {
        c.edge.cors = Origins::Any;
        c.mllp.addr = None;
    });
    let r = any
        .client()
        .get_h("metadata", &[("origin", "https://whoever.example")])
        .await;
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("*")
    );
    let none = TestServer::start_with(Backend::Sqlite, |c| c.mllp.addr = None);
    let r = none
        .client()
        .send(
            Method::OPTIONS,
            "Patient",
            &[
                ("origin", "https://app.example.org"),
                ("access-control-request-method", "GET"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, 405);
    assert!(r.header("access-control-allow-origin").is_none());
}

#[actix_web::test]
async fn allowed_hosts_refuse_other_host_headers() {
    for b in backends() {
        let srv = TestServer::start_with(b, |c| {
            c.edge.allowed_hosts = Some(vec!["fhir.example.org".into(), "127.0.0.1".into()]);
            c.mllp.addr = None;
        });
        let c = srv.client();
        let r = c
            .post_h(
                "Patient",
                &json!({"resourceType": "Patient"}),
                &[("host", "fhir.example.org")],
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        assert!(
            r.header("location")
                .unwrap()
                .starts_with("http://fhir.example.org/fhir/Patient/"),
            "{:?}",
            r.header("location")
        );
        // The test client's own Host (127.0.0.1:port) matches `127.0.0.1` (any port).
        assert_eq!(c.get("Patient").await.status, 200);
        for (h, v) in [
            ("host", "evil.example"),
            ("x-forwarded-host", "evil.example"),
        ] {
            let r = c.get_h("Patient", &[(h, v)]).await;
            assert_eq!(r.status, 400, "{h}: {}", r.text());
            let o = r.outcome();
            assert_eq!(o[0].0, "invalid");
            assert_eq!(o[0].2, vec!["Host".to_string()]);
            assert!(o[0].1.contains("evil.example"), "{}", o[0].1);
        }
        // Health probes come by IP address from orchestrators: not checked.
        let r = c
            .get_h(
                &format!("http://{}/health/live", srv.addr),
                &[("host", "10.1.2.3:8080")],
            )
            .await;
        assert_eq!(r.status, 200);
    }
    // The default accepts every host.
    let srv = TestServer::start_with(Backend::Sqlite, |c| c.mllp.addr = None);
    let r = srv
        .client()
        .get_h("Patient", &[("host", "anything.example")])
        .await;
    assert_eq!(r.status, 200);
}

#[actix_web::test]
async fn admin_operations_need_system_scopes() {
    for b in backends() {
        let srv = TestServer::start_with(b, with_auth);
        let user = token(&srv, "clerk", "user/*.cruds", None);
        let system = token(&srv, "backend", "system/*.rs", None);
        let narrow = token(&srv, "svc", "system/Patient.rs system/Observation.rs", None);
        let r = put(
            &srv,
            "Patient/p1",
            &json!({"resourceType": "Patient", "id": "p1"}),
            &user,
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text());
        for path in ["_history", "?_id=p1", "Subscription/s1/$events"] {
            for (who, tok) in [("user", &user), ("narrow", &narrow)] {
                let r = get(&srv, path, tok).await;
                assert_eq!(r.status, 403, "{who} {path}: {}", r.text());
                assert_eq!(r.outcome()[0].0, "forbidden");
                assert!(r.outcome()[0].1.contains("system/*"), "{}", r.text());
            }
        }
        let r = get(&srv, "_history", &system).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["total"], 1);
        let r = get(&srv, "?_id=p1", &system).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(match_ids(&r.json()), vec!["Patient/p1".to_string()]);
        // Naming the types keeps it a per-type search: the type scopes decide.
        let r = get(&srv, "?_type=Patient&_id=p1", &user).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(match_ids(&r.json()), vec!["Patient/p1".to_string()]);
        // The Subscription's events need the system scope; a missing one is then a 404.
        assert_eq!(
            get(&srv, "Subscription/s1/$events", &system).await.status,
            404
        );
    }
}

/// An admin (system/*.*) token, two patients with one Observation each, and p1's patient token
/// (patient/*.cruds). Returns (admin, patient token, [obs of p1, obs of p2]).
async fn two_patients(srv: &TestServer) -> (String, String, Vec<String>) {
    let admin = token(srv, "admin", "system/*.*", None);
    for p in ["p1", "p2"] {
        let r = put(
            srv,
            &format!("Patient/{p}"),
            &json!({"resourceType": "Patient", "id": p, "name": [{"family": p}]}),
            &admin,
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let mut obs = Vec::new();
    for p in ["p1", "p2"] {
        let r = post(srv, "Observation", &observation(p), &admin).await;
        assert_eq!(r.status, 201, "{}", r.text());
        obs.push(r.json()["id"].as_str().unwrap().to_string());
    }
    let pat = token(srv, "pat", "patient/*.cruds", Some("p1"));
    (admin, pat, obs)
}

async fn count(srv: &TestServer, admin: &str, q: &str) -> i64 {
    let r = get(srv, &format!("{q}&_total=accurate&_summary=count"), admin).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["total"].as_i64().unwrap()
}

#[actix_web::test]
async fn patient_token_batch_entries_are_checked_one_by_one() {
    for b in backends() {
        let srv = TestServer::start_with(b, with_auth);
        let (admin, pat, obs) = two_patients(&srv).await;
        let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
            {"request": {"method": "GET", "url": format!("Observation/{}", obs[0])}},
            {"request": {"method": "GET", "url": format!("Observation/{}", obs[1])}},
            {"resource": observation("p2"), "request": {"method": "POST", "url": "Observation"}},
            {"resource": observation("p1"), "request": {"method": "POST", "url": "Observation"}},
            {"request": {"method": "DELETE", "url": format!("Observation/{}", obs[1])}},
            {"request": {"method": "GET", "url": "Observation?code=x"}},
            {"resource": {"resourceType": "Patient", "id": "p2"},
             "request": {"method": "PUT", "url": "Patient/p2"}},
            {"request": {"method": "GET", "url": "Patient/p2"}},
            {"request": {"method": "GET", "url": format!("{}/Patient/p1", srv.base)}}
        ]});
        let r = post(&srv, "", &batch, &pat).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        assert_eq!(v["type"], "batch-response");
        assert_eq!(
            statuses(&v),
            vec![
                "200 OK",
                "404 Not Found",
                "403 Forbidden",
                "201 Created",
                "404 Not Found",
                "403 Forbidden",
                "403 Forbidden",
                "404 Not Found",
                "200 OK"
            ]
        );
        let e = v["entry"].as_array().unwrap();
        assert_eq!(e[0]["resource"]["id"], obs[0].as_str());
        assert!(e[1].get("resource").is_none());
        assert_eq!(e[1]["response"]["outcome"]["issue"][0]["code"], "not-found");
        assert_eq!(e[2]["response"]["outcome"]["issue"][0]["code"], "forbidden");
        assert_eq!(e[3]["resource"]["subject"]["reference"], "Patient/p1");
        assert!(e[7].get("resource").is_none());
        assert_eq!(e[8]["resource"]["id"], "p1");
        // Nothing of p2 changed: still one Observation, and its Patient unchanged.
        assert_eq!(
            count(&srv, &admin, "Observation?subject=Patient/p2").await,
            1
        );
        assert_eq!(
            count(&srv, &admin, "Observation?subject=Patient/p1").await,
            2
        );
        let p2 = get(&srv, "Patient/p2", &admin).await.json();
        assert_eq!(p2["meta"]["versionId"], "1");
        // Every entry refused: still one answer per entry.
        let all_refused = json!({"resourceType": "Bundle", "type": "batch", "entry": [
            {"request": {"method": "DELETE", "url": format!("Observation/{}", obs[1])}},
            {"request": {"method": "GET", "url": "Observation?code=x"}}
        ]});
        let r = post(&srv, "", &all_refused, &pat).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(statuses(&r.json()), vec!["404 Not Found", "403 Forbidden"]);
    }
}

#[actix_web::test]
async fn patient_token_transaction_touching_another_patient_is_refused_whole() {
    for b in backends() {
        let srv = TestServer::start_with(b, with_auth);
        let (admin, pat, obs) = two_patients(&srv).await;
        let tx = |extra: Value| {
            json!({"resourceType": "Bundle", "type": "transaction", "entry": [
                {"resource": observation("p1"), "request": {"method": "POST", "url": "Observation"}},
                extra
            ]})
        };
        // Writing into another compartment: 403; reading or deleting another patient's: 404.
        let cases = [
            (
                json!({"resource": observation("p2"), "request": {"method": "POST", "url": "Observation"}}),
                403,
            ),
            (
                json!({"request": {"method": "GET", "url": format!("Observation/{}", obs[1])}}),
                404,
            ),
            (
                json!({"request": {"method": "DELETE", "url": format!("Observation/{}", obs[1])}}),
                404,
            ),
            (
                json!({"request": {"method": "DELETE", "url": "Observation?subject=Patient/p2"}}),
                403,
            ),
        ];
        for (entry, status) in cases {
            let r = post(&srv, "", &tx(entry.clone()), &pat).await;
            assert_eq!(r.status, status, "{entry}: {}", r.text());
            let o = r.outcome();
            assert!(o[0].1.starts_with("Bundle entry 1: "), "{}", o[0].1);
        }
        // Nothing was written by any of them.
        assert_eq!(
            count(&srv, &admin, "Observation?subject=Patient/p1").await,
            1
        );
        assert_eq!(
            count(&srv, &admin, "Observation?subject=Patient/p2").await,
            1
        );
        // Inside the compartment it runs.
        let ok =
            tx(json!({"request": {"method": "GET", "url": format!("Observation/{}", obs[0])}}));
        let r = post(&srv, "", &ok, &pat).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(statuses(&r.json()), vec!["201 Created", "200 OK"]);
        assert_eq!(
            count(&srv, &admin, "Observation?subject=Patient/p1").await,
            2
        );
    }
}

#[actix_web::test]
async fn patient_token_cannot_follow_paging_links_of_other_searches() {
    for b in backends() {
        let srv = TestServer::start_with(b, with_auth);
        let (admin, pat, obs) = two_patients(&srv).await;
        let r = post(&srv, "Observation", &observation("p1"), &admin).await;
        let second = r.json()["id"].as_str().unwrap().to_string();
        // The admin's paging link (all patients) replayed with the patient token: refused.
        let r = get(&srv, "Observation?_count=1&_sort=_lastUpdated", &admin).await;
        let next = link(&r.json(), "next").unwrap();
        let r = get(&srv, &next, &pat).await;
        assert_eq!(r.status, 400, "{}", r.text());
        assert_eq!(r.outcome()[0].2, vec!["_cursor".to_string()]);
        // Its own paging walks only its compartment: obs[0], then `second`, then no next.
        let r = get(&srv, "Observation?_count=1&_sort=_lastUpdated", &pat).await;
        assert_eq!(
            match_ids(&r.json()),
            vec![format!("Observation/{}", obs[0])]
        );
        let next = link(&r.json(), "next").unwrap();
        let r = get(&srv, &next, &pat).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(match_ids(&r.json()), vec![format!("Observation/{second}")]);
        assert_eq!(link(&r.json(), "next"), None);
    }
}

#[actix_web::test]
async fn patient_token_everything_of_another_patient_is_404() {
    for b in backends() {
        let srv = TestServer::start_with(b, with_auth);
        let (admin, _, obs) = two_patients(&srv).await;
        let pat = token(&srv, "pat", "patient/*.rs", Some("p1"));
        let r = get(&srv, "Patient/p2/$everything", &pat).await;
        assert_eq!(r.status, 404, "{}", r.text());
        let expected = vec![format!("Observation/{}", obs[0]), "Patient/p1".to_string()];
        for path in ["Patient/p1/$everything", "Patient/$everything"] {
            let r = get(&srv, path, &pat).await;
            assert_eq!(r.status, 200, "{path}: {}", r.text());
            assert_eq!(match_ids(&r.json()), expected, "{path}");
        }
        // A token that may read Patients only gets the Patient, and no total that counts more.
        let narrow = token(&srv, "narrow", "user/Patient.rs", None);
        let r = get(&srv, "Patient/p2/$everything", &narrow).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(match_ids(&r.json()), vec!["Patient/p2".to_string()]);
        assert!(r.json().get("total").is_none());
        // Without read on Patient: 403.
        let obs_only = token(&srv, "o", "user/Observation.rs", None);
        assert_eq!(
            get(&srv, "Patient/p2/$everything", &obs_only).await.status,
            403
        );
        let r = get(&srv, "Patient/p2/$everything", &admin).await;
        assert_eq!(r.json()["total"], 2);
    }
}

#[actix_web::test]
async fn count_above_the_maximum_is_clamped_and_said() {
    for b in backends() {
        let srv = TestServer::start_with(b, |c| c.mllp.addr = None);
        let c = srv.client();
        let r = c.get("Patient?_count=5000").await;
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        assert!(
            link(&v, "self").unwrap().contains("_count=1000"),
            "{}",
            link(&v, "self").unwrap()
        );
        let outcome = v["entry"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["search"]["mode"] == "outcome")
            .expect("an outcome entry");
        let issue = &outcome["resource"]["issue"][0];
        assert_eq!(issue["severity"], "information");
        assert_eq!(issue["code"], "informational");
        assert_eq!(issue["expression"], json!(["_count"]));
        assert_eq!(
            issue["diagnostics"],
            "_count=5000 exceeds the maximum page size; 1000 results per page are returned"
        );
        // Within the maximum: no outcome entry.
        let v = c.get("Patient?_count=1000").await.json();
        assert_eq!(v["entry"].as_array().map_or(0, Vec::len), 0, "{v}");
    }
}

#[actix_web::test]
async fn iterate_stops_at_the_depth_cap_and_says_so() {
    for b in backends() {
        let srv = TestServer::start_with(b, |c| c.mllp.addr = None);
        let c = srv.client();
        // o1 → o2 → ... → o6 through Organization.partOf.
        for i in 1..=6 {
            let mut org = json!({"resourceType": "Organization", "id": format!("o{i}")});
            if i < 6 {
                org["partOf"] = json!({"reference": format!("Organization/o{}", i + 1)});
            }
            assert_eq!(c.put(&format!("Organization/o{i}"), &org).await.status, 201);
        }
        let included = |v: &Value| -> Vec<String> {
            let mut ids: Vec<String> = v["entry"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["search"]["mode"] == "include")
                .map(|e| e["resource"]["id"].as_str().unwrap().to_string())
                .collect();
            ids.sort();
            ids
        };
        let outcome = |v: &Value| -> Vec<Value> {
            v["entry"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["search"]["mode"] == "outcome")
                .map(|e| e["resource"]["issue"][0].clone())
                .collect()
        };
        // The page, then :iterate three levels deeper at most: o2 (first pass) .. o5.
        let v = c
            .get("Organization?_id=o1&_include:iterate=Organization:partof")
            .await
            .json();
        assert_eq!(included(&v), vec!["o2", "o3", "o4", "o5"]);
        let o = outcome(&v);
        assert_eq!(o.len(), 1, "{v}");
        assert_eq!(o[0]["code"], "too-costly");
        assert_eq!(
            o[0]["diagnostics"],
            ":iterate was stopped after 3 levels; deeper resources, if any, are not included"
        );
        // A chain that ends within the cap: everything, and no warning.
        let v = c
            .get("Organization?_id=o3&_include:iterate=Organization:partof")
            .await
            .json();
        assert_eq!(included(&v), vec!["o4", "o5", "o6"]);
        assert!(outcome(&v).is_empty(), "{v}");
    }
}
