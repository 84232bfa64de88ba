#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test
//! Issue 7: HTTPS, bearer tokens (builtin and external), SMART scopes, MFA, lockout and the
//! patient compartment. On SQLite and (with HMS_TEST_DATABASE_URL) PostgreSQL where a DB is used.

mod common;

use std::sync::Arc;

use common::{Backend, Resp, TestServer, backends};
use hms::auth::credentials;
use hms::config::AuthMode;
use hms::interactions::auth as iauth;
use serde_json::{Value, json};

const STRONG_PW: &str = "correct horse battery staple";

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

/// A user with TOTP enrolled; returns the TOTP secret.
fn person(st: &hms::store::Store, name: &str, scope: &str, patient: Option<&str>) -> String {
    iauth::add_user(st, name, STRONG_PW, scope, patient).unwrap();
    iauth::mfa_enroll(st, name).unwrap().0
}

async fn login(srv: &TestServer, name: &str, totp_secret: &str) -> String {
    let code = credentials::current_totp(totp_secret).unwrap();
    let r = token_req(
        srv,
        &format!(
            "grant_type=password&username={name}&password=correct+horse+battery+staple&totp={code}"
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 300);
    v["access_token"].as_str().unwrap().to_string()
}

async fn get(srv: &TestServer, path: &str, token: &str) -> Resp {
    let auth = format!("Bearer {token}");
    srv.client().get_h(path, &[("authorization", &auth)]).await
}

async fn post(srv: &TestServer, path: &str, body: &Value, token: &str) -> Resp {
    let auth = format!("Bearer {token}");
    srv.client()
        .post_h(path, body, &[("authorization", &auth)])
        .await
}

async fn put(srv: &TestServer, path: &str, body: &Value, token: &str) -> Resp {
    let auth = format!("Bearer {token}");
    srv.client()
        .put_h(path, body, &[("authorization", &auth)])
        .await
}

fn assert_forbidden(r: &Resp) {
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.outcome()[0].0, "forbidden");
}

fn assert_unauthorized(r: &Resp, what: &str) {
    assert_eq!(r.status, 401, "{what}: {}", r.text());
    assert!(
        r.header("www-authenticate").unwrap().starts_with("Bearer"),
        "{what}"
    );
}

/// The builtin issuer's ES256 key and `kid`, from the server's database.
fn server_key(st: &hms::store::Store) -> (jsonwebtoken::EncodingKey, String) {
    use base64::Engine;
    let b64 = st
        .write(|c| -> Result<String, hms::error::Error> {
            Ok(hms::store::secret::get_or_insert(
                c,
                "access-token-es256",
                "unused",
            )?)
        })
        .unwrap();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let signer = hms::auth::token::SigningKey::from_pkcs8(&der).unwrap();
    let kid = signer.jwks().keys[0].common.key_id.clone().unwrap();
    (jsonwebtoken::EncodingKey::from_ec_der(&der), kid)
}

fn hs256(secret: &[u8], claims: &Value) -> String {
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    h.typ = Some("JWT".into());
    jsonwebtoken::encode(
        &h,
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret).unwrap(),
    )
    .unwrap()
}

fn observation(patient: &str) -> Value {
    json!({"resourceType": "Observation", "status": "final", "code": {"text": "heart rate"},
           "subject": {"reference": format!("Patient/{patient}")},
           "valueQuantity": {"value": 72, "unit": "/min"}})
}

fn ids(bundle: &Value, mode: &str) -> Vec<String> {
    let mut v: Vec<String> = bundle["entry"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .filter(|e| e["search"]["mode"] == mode)
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

#[actix_web::test]
async fn https_serves_metadata_with_security_headers() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.tls = Some((fixtures.join("cert.pem"), fixtures.join("key.pem")));
        c.mllp.addr = None;
    });
    let mut roots = rustls::RootCertStore::empty();
    use rustls_pki_types::pem::PemObject;
    for cert in rustls_pki_types::CertificateDer::pem_file_iter(fixtures.join("ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let client = awc::Client::builder()
        .connector(awc::Connector::new().rustls_0_23(Arc::new(tls)))
        .finish();
    let url = format!("https://127.0.0.1:{}/fhir/metadata", srv.addr.port());
    let mut res = client.get(&url).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let h = res.headers().clone();
    let body: Value = serde_json::from_slice(&res.body().await.unwrap()).unwrap();
    assert_eq!(body["resourceType"], "CapabilityStatement");
    assert_eq!(h.get("x-content-type-options").unwrap(), "nosniff");
    assert_eq!(h.get("cache-control").unwrap(), "no-store");
    assert!(
        h.get("strict-transport-security")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("max-age=")
    );
    // Plain HTTP to the TLS port fails; a client that does not trust the cert fails.
    let untrusting = awc::Client::builder()
        .connector(
            awc::Connector::new().rustls_0_23(Arc::new(
                rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
            )),
        )
        .finish();
    assert!(untrusting.get(&url).send().await.is_err());

    // Without TLS (the default): same headers minus HSTS, and no token needed.
    let plain = TestServer::start(Backend::Sqlite);
    let r = plain.client().get("Patient").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    assert!(r.header("strict-transport-security").is_none());
}

#[actix_web::test]
async fn builtin_tokens_scopes_mfa_and_lockout() {
    for b in backends() {
        let srv = builtin(b);
        let st = store(&srv);
        let c = srv.client();

        // No token → 401 with WWW-Authenticate; metadata stays public.
        let r = c.get("Patient").await;
        assert_unauthorized(&r, "no token");
        assert_eq!(r.outcome()[0].0, "login");
        assert_eq!(c.get("metadata").await.status, 200);
        let r = c
            .get(&format!(
                "http://{}/.well-known/smart-configuration",
                srv.addr
            ))
            .await;
        assert_eq!(r.status, 200);
        assert!(
            r.json()["token_endpoint"]
                .as_str()
                .unwrap()
                .ends_with("/auth/token")
        );

        // A person without TOTP cannot get a token, even with the right password.
        iauth::add_user(&st, "nomfa", STRONG_PW, "user/*.cruds", None).unwrap();
        let r = token_req(
            &srv,
            "grant_type=password&username=nomfa&password=correct+horse+battery+staple",
        )
        .await;
        assert_eq!(r.status, 400, "{}", r.text());
        assert_eq!(r.json()["error"], "invalid_grant");

        // alice: read/search Patient, everything on Observation.
        let secret = person(&st, "alice", "user/Patient.rs user/Observation.cruds", None);
        let token = login(&srv, "alice", &secret).await;
        let r = post(&srv, "Observation", &observation("x"), &token).await;
        assert_eq!(r.status, 201, "{}", r.text());
        let obs_id = r.json()["id"].as_str().unwrap().to_string();
        assert_eq!(
            get(&srv, &format!("Observation/{obs_id}"), &token)
                .await
                .status,
            200
        );
        assert_eq!(get(&srv, "Patient", &token).await.status, 200);
        // Wrong scope → 403 OperationOutcome forbidden.
        assert_forbidden(&post(&srv, "Patient", &json!({"resourceType": "Patient"}), &token).await);
        assert_forbidden(&get(&srv, "Encounter", &token).await);
        // Batch entries are checked one by one: the refused entry gets its own 403.
        let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
            {"request": {"method": "GET", "url": "Observation?status=final"}},
            {"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}}]});
        let r = post(&srv, "", &batch, &token).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        assert_eq!(v["entry"][0]["response"]["status"], "200 OK", "{v}");
        assert_eq!(v["entry"][1]["response"]["status"], "403 Forbidden");
        let o = &v["entry"][1]["response"]["outcome"]["issue"][0];
        assert_eq!(o["code"], "forbidden");
        assert!(
            o["diagnostics"]
                .as_str()
                .unwrap()
                .starts_with("Bundle entry 1: "),
            "{o}"
        );
        // In a transaction the same entry refuses the whole Bundle.
        let mut tx = batch.clone();
        tx["type"] = json!("transaction");
        let r = post(&srv, "", &tx, &token).await;
        assert_forbidden(&r);
        assert!(r.outcome()[0].1.contains("entry 1"), "{}", r.text());

        // Forged, expired, wrong audience, wrong issuer, ID tokens → 401. Tokens made with the
        // server's own ES256 key (from its database) pass unless one thing is wrong.
        let (key, kid) = server_key(&st);
        let es256 = |claims: &Value| {
            let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
            h.kid = Some(kid.clone());
            jsonwebtoken::encode(&h, claims, &key).unwrap()
        };
        let now = jsonwebtoken::get_current_timestamp();
        let iss = format!("http://{}/auth", srv.addr);
        let good = json!({"iss": iss, "aud": srv.base, "sub": "alice", "exp": now + 600,
                          "iat": now, "scope": "user/*.rs"});
        assert_eq!(get(&srv, "Patient", &es256(&good)).await.status, 200);
        let mut cases: Vec<(&str, String)> = Vec::new();
        cases.push((
            "HS256 (the old builtin algorithm) with a guessed secret",
            hs256(b"not-the-server-secret-at-all!!", &good),
        ));
        let mut t = good.clone();
        t["exp"] = json!(now - 3600);
        cases.push(("expired", es256(&t)));
        let mut t = good.clone();
        t["aud"] = json!("https://other.example/fhir");
        cases.push(("wrong audience", es256(&t)));
        let mut t = good.clone();
        t["iss"] = json!("https://evil.example/auth");
        cases.push(("wrong issuer", es256(&t)));
        let mut t = good.clone();
        t.as_object_mut().unwrap().remove("scope");
        cases.push(("ID token without scope", es256(&t)));
        let mut t = good.clone();
        t["token_use"] = json!("id");
        cases.push(("ID token (token_use)", es256(&t)));
        let tampered = {
            let tok = es256(&good);
            let mut parts: Vec<String> = tok.split('.').map(str::to_string).collect();
            use base64::Engine;
            let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            let mut claims: Value = serde_json::from_slice(&e.decode(&parts[1]).unwrap()).unwrap();
            claims["scope"] = json!("user/*.cruds");
            parts[1] = e.encode(serde_json::to_vec(&claims).unwrap());
            parts.join(".")
        };
        cases.push(("tampered claims", tampered));
        cases.push(("garbage", "not.a.jwt".to_string()));
        for (what, tok) in &cases {
            assert_unauthorized(&get(&srv, "Patient", tok).await, what);
        }

        // client_credentials
        let client_secret = iauth::add_client(&st, "exporter", "system/*.read").unwrap();
        let r = token_req(
            &srv,
            &format!(
                "grant_type=client_credentials&client_id=exporter&client_secret={client_secret}"
            ),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let sys = r.json()["access_token"].as_str().unwrap().to_string();
        assert_eq!(
            get(&srv, &format!("Observation/{obs_id}"), &sys)
                .await
                .status,
            200
        );
        assert_forbidden(&post(&srv, "Observation", &observation("x"), &sys).await);
        let r = token_req(
            &srv,
            "grant_type=client_credentials&client_id=exporter&client_secret=wrong",
        )
        .await;
        assert_eq!(r.status, 401);
        assert_eq!(r.json()["error"], "invalid_client");

        // Wrong TOTP → 400 invalid_grant; after 5 failures even the right code is refused (locked).
        let bob = person(&st, "bob", "user/*.rs", None);
        for _ in 0..5 {
            let r = token_req(
                &srv,
                "grant_type=password&username=bob&password=correct+horse+battery+staple&totp=000000",
            )
            .await;
            assert_eq!(r.status, 400);
            assert_eq!(r.json()["error"], "invalid_grant");
        }
        let code = credentials::current_totp(&bob).unwrap();
        let r = token_req(
            &srv,
            &format!(
                "grant_type=password&username=bob&password=correct+horse+battery+staple&totp={code}"
            ),
        )
        .await;
        assert_eq!(r.status, 400, "locked account must be refused");
        let users = iauth::list_users(&st).unwrap();
        let bob_row = users.iter().find(|u| u.username == "bob").unwrap();
        assert!(bob_row.locked && bob_row.mfa);
        // A disabled user gets nothing.
        iauth::disable(&st, hms::store::auth::Kind::User, "alice").unwrap();
        let code = credentials::current_totp(&secret).unwrap();
        let r = token_req(
            &srv,
            &format!("grant_type=password&username=alice&password=correct+horse+battery+staple&totp={code}"),
        )
        .await;
        assert_eq!(r.status, 400);
        assert_eq!(r.json()["error"], "invalid_grant");
    }
}

/// A client_credentials token of a new client holding `system/*.*`.
async fn system_admin(srv: &TestServer, st: &hms::store::Store) -> String {
    let secret = iauth::add_client(st, "admin", "system/*.*").unwrap();
    let r = token_req(
        srv,
        &format!("grant_type=client_credentials&client_id=admin&client_secret={secret}"),
    )
    .await;
    r.json()["access_token"].as_str().unwrap().to_string()
}

#[actix_web::test]
async fn patient_token_sees_only_its_compartment() {
    for b in backends() {
        let srv = builtin(b);
        let st = store(&srv);
        let admin = system_admin(&srv, &st).await;
        for p in ["p1", "p2"] {
            let r = put(
                &srv,
                &format!("Patient/{p}"),
                &json!({"resourceType": "Patient", "id": p, "name": [{"family": p}]}),
                &admin,
            )
            .await;
            assert_eq!(r.status, 201, "{}", r.text());
        }
        let mut obs = Vec::new();
        for p in ["p1", "p2"] {
            let r = post(&srv, "Observation", &observation(p), &admin).await;
            assert_eq!(r.status, 201);
            obs.push(r.json()["id"].as_str().unwrap().to_string());
        }
        let secret = person(&st, "pat", "patient/*.rs launch/patient openid", Some("p1"));
        let code = credentials::current_totp(&secret).unwrap();
        let r = token_req(
            &srv,
            &format!(
                "grant_type=password&username=pat&password=correct+horse+battery+staple&totp={code}"
            ),
        )
        .await;
        assert_eq!(r.json()["patient"], "p1");
        let tok = r.json()["access_token"].as_str().unwrap().to_string();

        // read / vread / history of another patient's data: 404, like an unknown id.
        assert_eq!(
            get(&srv, &format!("Observation/{}", obs[0]), &tok)
                .await
                .status,
            200
        );
        assert_eq!(
            get(&srv, &format!("Observation/{}", obs[1]), &tok)
                .await
                .status,
            404
        );
        assert_eq!(
            get(&srv, &format!("Observation/{}/_history/1", obs[1]), &tok)
                .await
                .status,
            404
        );
        assert_eq!(
            get(&srv, &format!("Observation/{}/_history", obs[1]), &tok)
                .await
                .status,
            404
        );
        assert_eq!(get(&srv, "Patient/p2", &tok).await.status, 404);
        assert_eq!(get(&srv, "Patient/p1", &tok).await.status, 200);
        // search: only its own patient's resources, includes filtered too.
        let r = get(&srv, "Observation", &tok).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(
            ids(&r.json(), "match"),
            vec![format!("Observation/{}", obs[0])]
        );
        let r = get(&srv, "Patient", &tok).await;
        assert_eq!(ids(&r.json(), "match"), vec!["Patient/p1".to_string()]);
        let r = get(&srv, "Observation?subject=Patient/p2", &tok).await;
        assert_eq!(ids(&r.json(), "match"), Vec::<String>::new());
        let r = get(&srv, "Patient?_revinclude=Observation:subject", &tok).await;
        assert_eq!(
            ids(&r.json(), "include"),
            vec![format!("Observation/{}", obs[0])]
        );
        // The admin sees both (the filter is the token's, not the server's).
        let r = get(&srv, "Observation", &admin).await;
        assert_eq!(ids(&r.json(), "match").len(), 2);
        // compartment search of another patient, chains, _has, system search: refused.
        assert_eq!(get(&srv, "Patient/p2/Observation", &tok).await.status, 404);
        assert_eq!(get(&srv, "Patient/p1/Observation", &tok).await.status, 200);
        assert_eq!(
            get(&srv, "Observation?subject.name=p2", &tok).await.status,
            400
        );
        assert_eq!(
            get(&srv, "Patient?_has:Observation:subject:status=final", &tok)
                .await
                .status,
            400
        );
        assert_forbidden(&get(&srv, "?_type=Observation", &tok).await);
        assert_forbidden(&get(&srv, "Observation/_history", &tok).await);
        // patient/*.rs does not allow writes.
        assert_forbidden(&post(&srv, "Observation", &observation("p1"), &tok).await);
    }
}

#[actix_web::test]
async fn patient_write_scope_stays_in_compartment() {
    let srv = builtin(Backend::Sqlite);
    let st = store(&srv);
    let secret = person(
        &st,
        "pw",
        "patient/Observation.cruds patient/Patient.r",
        Some("p1"),
    );
    let tok = login(&srv, "pw", &secret).await;
    // The same TOTP code is accepted once (replay refused), and that counts as a failure.
    let reused = credentials::current_totp(&secret).unwrap();
    let form = format!(
        "grant_type=password&username=pw&password=correct+horse+battery+staple&totp={reused}"
    );
    let first = token_req(&srv, &form).await.status;
    assert_eq!(token_req(&srv, &form).await.status, 400);
    // (The first may have been the code of `login` above, hence refused too.)
    assert!(first == 200 || first == 400);
    let r = post(&srv, "Observation", &observation("p1"), &tok).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert_forbidden(&post(&srv, "Observation", &observation("p2"), &tok).await);
    // Moving its own Observation to another patient is refused.
    let mut moved = observation("p2");
    moved["id"] = json!(id);
    assert_forbidden(&put(&srv, &format!("Observation/{id}"), &moved, &tok).await);

    // PATCH by id: its own resource, as long as it stays in the compartment.
    let ok = json_patch(
        &srv,
        &format!("Observation/{id}"),
        &json!([{"op": "replace", "path": "/status", "value": "amended"}]),
        &tok,
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.json()["status"], "amended");
    let out = json!([{"op": "replace", "path": "/subject/reference", "value": "Patient/p2"}]);
    assert_forbidden(&json_patch(&srv, &format!("Observation/{id}"), &out, &tok).await);
    let now = get(&srv, &format!("Observation/{id}"), &tok).await.json();
    assert_eq!(now["subject"]["reference"], "Patient/p1");
    assert_eq!(now["meta"]["versionId"], "2");
    // Another patient's resource looks unknown, patched or not.
    let admin_secret = person(&st, "pwadmin", "user/*.cruds", None);
    let admin = login(&srv, "pwadmin", &admin_secret).await;
    let r = post(&srv, "Observation", &observation("p2"), &admin).await;
    let other = r.json()["id"].as_str().unwrap().to_string();
    let back = json!([{"op": "replace", "path": "/subject/reference", "value": "Patient/p1"}]);
    let r = json_patch(&srv, &format!("Observation/{other}"), &back, &tok).await;
    assert_eq!(r.status, 404, "{}", r.text());
    let theirs = get(&srv, &format!("Observation/{other}"), &admin)
        .await
        .json();
    assert_eq!(theirs["subject"]["reference"], "Patient/p2");
    assert_eq!(theirs["meta"]["versionId"], "1");
    // Conditional PATCH would match outside the compartment: refused.
    let r = json_patch(&srv, "Observation?subject=Patient/p1", &back, &tok).await;
    assert_forbidden(&r);
}

async fn json_patch(srv: &TestServer, path: &str, ops: &Value, token: &str) -> Resp {
    let auth = format!("Bearer {token}");
    srv.client()
        .send(
            actix_web::http::Method::PATCH,
            path,
            &[
                ("authorization", &auth),
                ("content-type", "application/json-patch+json"),
            ],
            Some(serde_json::to_vec(ops).unwrap()),
        )
        .await
}

#[actix_web::test]
async fn external_rs256_tokens_against_a_jwks() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/auth");
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.auth.mode = AuthMode::External;
        c.auth.external_issuers = vec!["https://idp.example".into()];
        c.auth.jwks_file = Some(fixtures.join("jwks.json"));
        c.mllp.addr = None;
    });
    use rustls_pki_types::pem::PemObject;
    let der = rustls_pki_types::PrivatePkcs1KeyDer::from_pem_file(fixtures.join("rsa-private.pem"))
        .unwrap();
    let key = jsonwebtoken::EncodingKey::from_rsa_der(der.secret_pkcs1_der());
    let now = jsonwebtoken::get_current_timestamp();
    let sign = |claims: &Value, kid: &str| {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        h.kid = Some(kid.into());
        jsonwebtoken::encode(&h, claims, &key).unwrap()
    };
    let good = json!({"iss": "https://idp.example", "aud": srv.base, "sub": "svc", "exp": now + 300,
                      "scope": "system/Patient.read"});
    assert_eq!(
        get(&srv, "Patient", &sign(&good, "test-key-1"))
            .await
            .status,
        200
    );
    assert_forbidden(&get(&srv, "Observation", &sign(&good, "test-key-1")).await);
    assert_unauthorized(
        &get(&srv, "Patient", &sign(&good, "other-key")).await,
        "unknown kid",
    );
    let mut t = good.clone();
    t["iss"] = json!("https://idp.example.evil");
    assert_unauthorized(
        &get(&srv, "Patient", &sign(&t, "test-key-1")).await,
        "issuer",
    );
    let mut t = good.clone();
    t["typ"] = json!("ID");
    assert_unauthorized(
        &get(&srv, "Patient", &sign(&t, "test-key-1")).await,
        "id token",
    );
    // HS256 with the public modulus as secret (algorithm confusion) is refused.
    let hs = hs256(b"whatever-secret-the-attacker-picks", &good);
    assert_unauthorized(&get(&srv, "Patient", &hs).await, "HS256 in external mode");
}

#[actix_web::test]
async fn external_keys_discovered_from_the_issuer() {
    use actix_web::{App, HttpResponse, HttpServer, web};
    let jwks = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/auth/jwks.json"),
    )
    .unwrap();
    // A stand-in OpenID provider: discovery document + JWKS.
    let idp = HttpServer::new(move || {
        let jwks = jwks.clone();
        App::new()
            .route(
                "/.well-known/openid-configuration",
                web::get().to(|req: actix_web::HttpRequest| async move {
                    let host = req.connection_info().host().to_string();
                    HttpResponse::Ok().json(json!({
                        "issuer": format!("http://{host}"),
                        "jwks_uri": format!("http://{host}/keys")
                    }))
                }),
            )
            .route(
                "/keys",
                web::get().to(move || {
                    let jwks = jwks.clone();
                    async move {
                        HttpResponse::Ok()
                            .content_type("application/json")
                            .body(jwks)
                    }
                }),
            )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let issuer = format!("http://{}", idp.addrs()[0]);
    let idp = idp.run();
    let idp_handle = idp.handle();
    actix_web::rt::spawn(idp);

    let iss = issuer.clone();
    let srv = TestServer::start_with(Backend::Sqlite, move |c| {
        c.auth.mode = AuthMode::External;
        c.auth.external_issuers = vec![iss];
        c.auth.jwks_file = None;
        c.mllp.addr = None;
    });
    use rustls_pki_types::pem::PemObject;
    let der = rustls_pki_types::PrivatePkcs1KeyDer::from_pem_file(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/auth/rsa-private.pem"),
    )
    .unwrap();
    let key = jsonwebtoken::EncodingKey::from_rsa_der(der.secret_pkcs1_der());
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    h.kid = Some("test-key-1".into());
    let now = jsonwebtoken::get_current_timestamp();
    let claims = json!({"iss": issuer, "aud": srv.base, "sub": "svc", "exp": now + 300,
                        "scope": "system/*.rs"});
    let tok = jsonwebtoken::encode(&h, &claims, &key).unwrap();
    let r = get(&srv, "Patient", &tok).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // A second request uses the cached keys.
    idp_handle.stop(false).await;
    assert_eq!(get(&srv, "Patient", &tok).await.status, 200);
    let mut expired = claims.clone();
    expired["exp"] = json!(now - 3600);
    let tok = jsonwebtoken::encode(&h, &expired, &key).unwrap();
    assert_unauthorized(&get(&srv, "Patient", &tok).await, "expired");
}

#[actix_web::test]
async fn audit_chain_records_writes_and_detects_tampering() {
    use hms::interactions::audit::{Verified, verify};
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        let r = c.post("Patient", &json!({"resourceType": "Patient"})).await;
        let id = r.json()["id"].as_str().unwrap().to_string();
        let r = c
            .put(
                &format!("Patient/{id}"),
                &json!({"resourceType": "Patient", "id": id, "active": true}),
            )
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(c.delete(&format!("Patient/{id}")).await.status, 204);
        let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}},
            {"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}}]});
        assert_eq!(c.post("", &tx).await.status, 200);
        let st = store(&srv);
        assert_eq!(verify(&st).unwrap(), Verified::Intact { records: 5 });
        // A rolled-back transaction leaves no audit record.
        let bad = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}},
            {"resource": {"resourceType": "Patient", "birthDate": "nope"}, "request": {"method": "POST", "url": "Patient"}}]});
        assert_eq!(c.post("", &bad).await.status, 400);
        assert_eq!(verify(&st).unwrap(), Verified::Intact { records: 5 });
        // Altered, deleted, inserted records are found.
        srv.exec_sql(
            "UPDATE audit_log SET event = replace(event, '\"delete\"', '\"read\"') WHERE seq = 3",
        );
        assert_eq!(verify(&st).unwrap(), Verified::Altered { seq: 3 });
        srv.exec_sql("DELETE FROM audit_log WHERE seq = 3");
        assert_eq!(verify(&st).unwrap(), Verified::Broken { seq: 4 });
    }
}

const CAT: &str = "http://terminology.hl7.org/CodeSystem/observation-category";

/// An Observation of `patient` in one observation-category (`laboratory`, `vital-signs`).
fn categorized(patient: &str, category: &str) -> Value {
    let mut o = observation(patient);
    o["category"] = json!([{"coding": [{"system": CAT, "code": category}]}]);
    o
}

async fn delete(srv: &TestServer, path: &str, token: &str) -> Resp {
    let auth = format!("Bearer {token}");
    srv.client()
        .send(
            awc::http::Method::DELETE,
            path,
            &[("authorization", &auth)],
            None,
        )
        .await
}

/// A password-grant token of a new person holding `scope`.
async fn token_for(
    srv: &TestServer,
    st: &hms::store::Store,
    name: &str,
    scope: &str,
    patient: Option<&str>,
) -> String {
    let secret = person(st, name, scope, patient);
    login(srv, name, &secret).await
}

#[actix_web::test]
async fn granular_scopes_limit_reads_searches_and_writes() {
    for b in backends() {
        let srv = builtin(b);
        let st = store(&srv);
        let admin = system_admin(&srv, &st).await;
        for p in ["p1", "p2"] {
            let body = json!({"resourceType": "Patient", "id": p});
            assert_eq!(
                put(&srv, &format!("Patient/{p}"), &body, &admin)
                    .await
                    .status,
                201
            );
        }
        let mut made = Vec::new();
        for (p, cat) in [
            ("p1", "vital-signs"),
            ("p1", "laboratory"),
            ("p1", "laboratory"),
            ("p2", "laboratory"),
        ] {
            let mut o = categorized(p, cat);
            if let Some(vital) = made.first() {
                // lab1 groups the vital-signs one: `_include` must not show it.
                o["hasMember"] = json!([{"reference": format!("Observation/{vital}")}]);
            }
            let r = post(&srv, "Observation", &o, &admin).await;
            assert_eq!(r.status, 201, "{}", r.text());
            made.push(r.json()["id"].as_str().unwrap().to_string());
        }
        let [vital, lab1, lab2, lab_p2] = [0, 1, 2, 3].map(|i| made[i].clone());
        let obs = |id: &str| format!("Observation/{id}");
        let tok = token_for(
            &srv,
            &st,
            "labby",
            &format!("patient/Observation.cruds?category={CAT}|laboratory patient/Patient.rs"),
            Some("p1"),
        )
        .await;

        // read / vread / history: a vital-signs Observation looks unknown.
        assert_eq!(get(&srv, &obs(&lab1), &tok).await.status, 200);
        assert_eq!(get(&srv, &obs(&vital), &tok).await.status, 404);
        assert_eq!(
            get(&srv, &format!("{}/_history/1", obs(&vital)), &tok)
                .await
                .status,
            404
        );
        assert_eq!(
            get(&srv, &format!("{}/_history", obs(&vital)), &tok)
                .await
                .status,
            404
        );
        // Another patient's lab Observation stays outside the compartment.
        assert_eq!(get(&srv, &obs(&lab_p2), &tok).await.status, 404);
        assert_eq!(get(&srv, &obs(&vital), &admin).await.status, 200);

        // search: exactly the patient's lab Observations, counted as such.
        let mut labs = vec![obs(&lab1), obs(&lab2)];
        labs.sort();
        let r = get(&srv, "Observation?_total=accurate", &tok).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(ids(&r.json(), "match"), labs);
        assert_eq!(r.json()["total"], 2);
        let r = get(
            &srv,
            "Observation?category=vital-signs&_total=accurate",
            &tok,
        )
        .await;
        assert_eq!(ids(&r.json(), "match"), Vec::<String>::new());
        assert_eq!(r.json()["total"], 0);
        let r = get(&srv, "Patient/p1/Observation?_total=accurate", &tok).await;
        assert_eq!(ids(&r.json(), "match"), labs);
        // Paging keeps the restriction: two pages of one.
        let r = get(&srv, "Observation?_count=1&_total=accurate", &tok).await;
        let page1 = r.json();
        assert_eq!(page1["total"], 2);
        let next = common::next_link(&page1).unwrap();
        let page2 = get(&srv, &next, &tok).await.json();
        let mut paged = [ids(&page1, "match"), ids(&page2, "match")].concat();
        paged.sort();
        assert_eq!(paged, labs);
        assert!(
            page2["link"]
                .as_array()
                .unwrap()
                .iter()
                .all(|l| l["relation"] != "next")
        );
        // _include / _revinclude do not leak the vital-signs one (the admin's do show it).
        let r = get(&srv, "Observation?_include=Observation:has-member", &tok).await;
        assert_eq!(ids(&r.json(), "match"), labs);
        assert_eq!(ids(&r.json(), "include"), Vec::<String>::new());
        let r = get(
            &srv,
            "Observation?category=laboratory&_include=Observation:has-member",
            &admin,
        )
        .await;
        assert_eq!(ids(&r.json(), "include"), vec![obs(&vital)]);
        let r = get(&srv, "Patient?_revinclude=Observation:subject", &tok).await;
        assert_eq!(ids(&r.json(), "match"), vec!["Patient/p1".to_string()]);
        assert_eq!(ids(&r.json(), "include"), labs);
        // Criteria that reach around the restriction are refused.
        assert_forbidden(&get(&srv, "?_type=Observation", &tok).await);
        assert_forbidden(&get(&srv, "Patient?_has:Observation:subject:status=final", &tok).await);
        assert_forbidden(&get(&srv, "Observation/_history", &tok).await);

        // writes: the body must match, and so must what is replaced or deleted.
        let r = post(&srv, "Observation", &categorized("p1", "laboratory"), &tok).await;
        assert_eq!(r.status, 201, "{}", r.text());
        assert_forbidden(&post(&srv, "Observation", &categorized("p1", "vital-signs"), &tok).await);
        let mut moved = categorized("p1", "vital-signs");
        moved["id"] = json!(lab2);
        assert_forbidden(&put(&srv, &obs(&lab2), &moved, &tok).await);
        let mut relabel = categorized("p1", "laboratory");
        relabel["id"] = json!(vital);
        assert_forbidden(&put(&srv, &obs(&vital), &relabel, &tok).await);
        assert_forbidden(&delete(&srv, &obs(&vital), &tok).await);
        assert_eq!(
            get(&srv, &obs(&vital), &admin).await.json()["category"][0]["coding"][0]["code"],
            "vital-signs"
        );
        let mut lab2_final = categorized("p1", "laboratory");
        lab2_final["id"] = json!(lab2);
        lab2_final["status"] = json!("amended");
        assert_eq!(put(&srv, &obs(&lab2), &lab2_final, &tok).await.status, 200);

        // batch: each entry on its own.
        let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
            {"request": {"method": "GET", "url": obs(&lab1)}},
            {"request": {"method": "GET", "url": obs(&vital)}},
            {"resource": categorized("p1", "vital-signs"), "request": {"method": "POST", "url": "Observation"}},
            {"request": {"method": "DELETE", "url": obs(&vital)}},
            {"request": {"method": "GET", "url": "Observation?status=final"}}
        ]});
        let r = post(&srv, "", &batch, &tok).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let statuses: Vec<String> = r.json()["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["response"]["status"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            statuses,
            vec![
                "200 OK",
                "404 Not Found",
                "403 Forbidden",
                "403 Forbidden",
                "403 Forbidden"
            ]
        );
        assert_eq!(get(&srv, &obs(&vital), &admin).await.status, 200);
        // A transaction with one non-matching write is refused whole: nothing is created.
        let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": categorized("p1", "laboratory"), "request": {"method": "POST", "url": "Observation"}},
            {"resource": categorized("p1", "vital-signs"), "request": {"method": "POST", "url": "Observation"}}
        ]});
        assert_forbidden(&post(&srv, "", &tx, &tok).await);
        let r = get(
            &srv,
            "Observation?subject=Patient/p1&_total=accurate",
            &admin,
        )
        .await;
        assert_eq!(r.json()["total"], 4);

        // A granular Patient scope: only matching patients, also for $everything.
        let pf = json!({"resourceType": "Patient", "id": "pf", "gender": "female"});
        assert_eq!(put(&srv, "Patient/pf", &pf, &admin).await.status, 201);
        let women = token_for(
            &srv,
            &st,
            "women",
            "user/Patient.rs?gender=female user/Observation.rs",
            None,
        )
        .await;
        assert_eq!(get(&srv, "Patient/pf", &women).await.status, 200);
        assert_eq!(get(&srv, "Patient/p1", &women).await.status, 404);
        let r = get(&srv, "Patient?_total=accurate", &women).await;
        assert_eq!(ids(&r.json(), "match"), vec!["Patient/pf".to_string()]);
        assert_eq!(r.json()["total"], 1);
        assert_eq!(
            get(&srv, "Patient/pf/$everything", &women).await.status,
            200
        );
        assert_eq!(
            get(&srv, "Patient/p1/$everything", &women).await.status,
            404
        );
        assert_forbidden(&get(&srv, "Patient/$everything", &women).await);

        // Alternatives on one parameter are one OR list; over different parameters they allow
        // reads but no search (refused rather than widened).
        let both = token_for(
            &srv,
            &st,
            "both",
            &format!(
                "user/Observation.rs?category={CAT}|laboratory user/Observation.rs?category={CAT}|vital-signs"
            ),
            None,
        )
        .await;
        let r = get(
            &srv,
            "Observation?subject=Patient/p1&_total=accurate",
            &both,
        )
        .await;
        assert_eq!(r.json()["total"], 4, "{}", r.text());
        let mixed = token_for(
            &srv,
            &st,
            "mixed",
            &format!("user/Observation.rs?category={CAT}|laboratory user/Observation.rs?status=preliminary"),
            None,
        )
        .await;
        assert_eq!(get(&srv, &obs(&lab_p2), &mixed).await.status, 200);
        assert_eq!(get(&srv, &obs(&vital), &mixed).await.status, 404);
        assert_forbidden(&get(&srv, "Observation", &mixed).await);

        // Totals that would count what the token cannot see are left out: $everything (its
        // pages hide the vital-signs Observation) and the history of a resource that was
        // vital-signs in one version.
        let r = get(&srv, "Patient/p1/$everything", &tok).await.json();
        assert_eq!(r.get("total"), None, "{r}");
        let mut shown = ids(&r, "match");
        shown.sort();
        let labs = get(
            &srv,
            &format!("Observation?subject=Patient/p1&category={CAT}|laboratory"),
            &admin,
        )
        .await
        .json();
        let mut want = ids(&labs, "match");
        want.push("Patient/p1".to_string());
        want.sort();
        // lab1, lab2, the one the token created, and the patient.
        assert_eq!(want.len(), 4, "{want:?}");
        assert_eq!(shown, want);
        let mut o = categorized("p1", "laboratory");
        o["id"] = json!("hist");
        assert_eq!(put(&srv, "Observation/hist", &o, &admin).await.status, 201);
        o["category"][0]["coding"][0]["code"] = json!("vital-signs");
        assert_eq!(put(&srv, "Observation/hist", &o, &admin).await.status, 200);
        o["category"][0]["coding"][0]["code"] = json!("laboratory");
        assert_eq!(put(&srv, "Observation/hist", &o, &admin).await.status, 200);
        let h = get(&srv, "Observation/hist/_history", &tok).await.json();
        assert_eq!(h.get("total"), None, "{h}");
        assert_eq!(h["entry"].as_array().unwrap().len(), 2, "{h}");
        let h = get(&srv, "Observation/hist/_history", &admin).await.json();
        assert_eq!(h["total"], 3, "{h}");
    }
}

#[actix_web::test]
async fn client_credentials_narrow_to_a_covered_scope() {
    for b in backends() {
        let srv = builtin(b);
        let st = store(&srv);
        let secret = iauth::add_client(&st, "bulk", "system/*.cruds").unwrap();
        let form = |scope: &str| {
            format!(
                "grant_type=client_credentials&client_id=bulk&client_secret={secret}&scope={scope}"
            )
        };
        let r = token_req(&srv, &form("system/Patient.rs")).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["scope"], "system/Patient.rs");
        let tok = r.json()["access_token"].as_str().unwrap().to_string();
        let r = get(&srv, "Patient?_total=accurate", &tok).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["total"], 0);
        assert_forbidden(&post(&srv, "Patient", &json!({"resourceType": "Patient"}), &tok).await);
        assert_forbidden(&get(&srv, "Observation", &tok).await);
        // Only covered scopes are kept; nothing covered is invalid_scope.
        let r = token_req(&srv, &form("system/Observation.read+user/Patient.rs")).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["scope"], "system/Observation.read");
        let r = token_req(&srv, &form("user/Patient.rs")).await;
        assert_eq!(r.status, 400, "{}", r.text());
        assert_eq!(r.json()["error"], "invalid_scope");
    }
}
