#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test
//! Issue 7, the builtin authorization server: ES256 tokens published as a JWKS, authorization
//! code with PKCE, refresh-token rotation, revocation (RFC 7009) and private_key_jwt client
//! assertions (SMART Backend Services). Each flow ends with its token reading a Patient; each
//! refusal is checked for its exact status and RFC 6749 `error`. On SQLite and (with
//! HMS_TEST_DATABASE_URL) PostgreSQL.

mod common;

use common::{Backend, Resp, TestServer, backends};
use hms::auth::{credentials, pkce};
use hms::config::AuthMode;
use hms::interactions::auth::{self as iauth, ClientKind, ClientSpec};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const STRONG_PW: &str = "correct horse battery staple";
const REDIRECT: &str = "https://app.example/cb";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn builtin(b: Backend) -> TestServer {
    TestServer::start_with(b, |c| {
        c.auth.mode = AuthMode::Builtin;
        c.mllp.addr = None;
    })
}

fn store(srv: &TestServer) -> hms::store::Store {
    hms::app::open_store(&srv.config).unwrap()
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn form_body(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

async fn post_form(srv: &TestServer, path: &str, pairs: &[(&str, &str)]) -> Resp {
    srv.client()
        .post_raw(
            &format!("http://{}{path}", srv.addr),
            form_body(pairs).into_bytes(),
            &[("content-type", "application/x-www-form-urlencoded")],
        )
        .await
}

async fn get_with(srv: &TestServer, path: &str, token: &str) -> Resp {
    let auth = format!("Bearer {token}");
    srv.client().get_h(path, &[("authorization", &auth)]).await
}

/// An RFC 6749 error response: status and `error`.
fn assert_oauth_error(r: &Resp, status: u16, error: &str, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.text());
    assert_eq!(r.json()["error"], error, "{what}: {}", r.text());
}

fn assert_401(r: &Resp, what: &str) {
    assert_eq!(r.status, 401, "{what}: {}", r.text());
    assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
}

/// A client_credentials token for a secret client with all rights (to set up data).
async fn admin_token(srv: &TestServer, st: &hms::store::Store) -> String {
    let secret = iauth::add_client(st, "admin", "system/*.*").unwrap();
    let r = post_form(
        srv,
        "/auth/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "admin"),
            ("client_secret", &secret),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["access_token"].as_str().unwrap().to_string()
}

async fn seed_patients(srv: &TestServer, admin: &str) {
    for p in ["p1", "p2"] {
        let auth = format!("Bearer {admin}");
        let r = srv
            .client()
            .put_h(
                &format!("Patient/{p}"),
                &json!({"resourceType": "Patient", "id": p, "name": [{"family": p}]}),
                &[("authorization", &auth)],
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
    }
}

fn header_of(token: &str) -> Header {
    jsonwebtoken::decode_header(token).unwrap()
}

/// The server's own signing key, read from its database (to forge tokens it would accept, and so
/// prove that each refusal below is about the one thing changed).
fn server_key(st: &hms::store::Store) -> EncodingKey {
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
    EncodingKey::from_ec_der(&der)
}

fn sign(alg: Algorithm, kid: Option<&str>, claims: &Value, key: &EncodingKey) -> String {
    let mut h = Header::new(alg);
    h.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&h, claims, key).unwrap()
}

fn ec_key(alg: &'static ring::signature::EcdsaSigningAlgorithm) -> EncodingKey {
    let rng = ring::rand::SystemRandom::new();
    let der = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
    EncodingKey::from_ec_der(der.as_ref())
}

#[actix_web::test]
async fn builtin_tokens_are_es256_checked_against_the_published_jwks() {
    for b in backends() {
        let srv = builtin(b);
        let st = store(&srv);
        let c = srv.client();
        let root = format!("http://{}", srv.addr);

        let r = c.get(&format!("{root}/.well-known/jwks.json")).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let jwks = r.json();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
        let key = &jwks["keys"][0];
        assert_eq!(
            (&key["kty"], &key["crv"], &key["alg"], &key["use"]),
            (
                &json!("EC"),
                &json!("P-256"),
                &json!("ES256"),
                &json!("sig")
            )
        );
        assert!(key.get("d").is_none(), "no private part");
        let kid = key["kid"].as_str().unwrap().to_string();
        let conf = c
            .get(&format!("{root}/.well-known/smart-configuration"))
            .await
            .json();
        assert_eq!(conf["jwks_uri"], format!("{root}/.well-known/jwks.json"));
        assert_eq!(
            conf["authorization_endpoint"],
            format!("{root}/auth/authorize")
        );
        assert_eq!(conf["revocation_endpoint"], format!("{root}/auth/revoke"));
        assert_eq!(conf["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(
            conf["grant_types_supported"],
            json!([
                "authorization_code",
                "refresh_token",
                "client_credentials",
                "password"
            ])
        );

        let meta = c.get("metadata").await.json();
        let sec = &meta["rest"][0]["security"];
        assert_eq!(sec["service"][0]["coding"][0]["code"], "SMART-on-FHIR");
        assert_eq!(
            sec["extension"][0]["extension"],
            json!([{"url": "authorize", "valueUri": format!("{root}/auth/authorize")},
                   {"url": "token", "valueUri": format!("{root}/auth/token")},
                   {"url": "revoke", "valueUri": format!("{root}/auth/revoke")}])
        );

        let admin = admin_token(&srv, &st).await;
        let h = header_of(&admin);
        assert_eq!(h.alg, Algorithm::ES256);
        assert_eq!(h.kid.as_deref(), Some(kid.as_str()));
        assert_eq!(h.typ.as_deref(), Some("at+jwt"));
        seed_patients(&srv, &admin).await;
        assert_eq!(get_with(&srv, "Patient/p1", &admin).await.status, 200);

        // Tokens made with the server's own key pass; change one thing and they fail.
        let own = server_key(&st);
        let now = jsonwebtoken::get_current_timestamp();
        let good = json!({"iss": format!("{root}/auth"), "aud": srv.base, "sub": "x",
                          "exp": now + 300, "iat": now, "scope": "system/*.rs"});
        let r = get_with(
            &srv,
            "Patient/p1",
            &sign(Algorithm::ES256, Some(&kid), &good, &own),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let other = ec_key(&ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING);
        let jwks_text = serde_json::to_vec(&jwks).unwrap();
        let x = key["x"].as_str().unwrap().as_bytes().to_vec();
        let mut id_token = good.clone();
        id_token["typ"] = json!("ID");
        let mut no_scope = good.clone();
        no_scope.as_object_mut().unwrap().remove("scope");
        let mut expired = good.clone();
        expired["exp"] = json!(now - 3600);
        let mut wrong_aud = good.clone();
        wrong_aud["aud"] = json!("https://other.example/fhir");
        let cases = [
            (
                "re-signed with another key",
                sign(Algorithm::ES256, Some(&kid), &good, &other),
            ),
            (
                "HS256 with the JWKS as secret (alg confusion)",
                sign(
                    Algorithm::HS256,
                    Some(&kid),
                    &good,
                    &EncodingKey::from_secret(&jwks_text).unwrap(),
                ),
            ),
            (
                "HS256 with the public x as secret (alg confusion)",
                sign(
                    Algorithm::HS256,
                    Some(&kid),
                    &good,
                    &EncodingKey::from_secret(&x).unwrap(),
                ),
            ),
            (
                "unknown kid",
                sign(Algorithm::ES256, Some("nope"), &good, &own),
            ),
            (
                "ID token",
                sign(Algorithm::ES256, Some(&kid), &id_token, &own),
            ),
            (
                "no scope",
                sign(Algorithm::ES256, Some(&kid), &no_scope, &own),
            ),
            (
                "expired",
                sign(Algorithm::ES256, Some(&kid), &expired, &own),
            ),
            (
                "wrong audience",
                sign(Algorithm::ES256, Some(&kid), &wrong_aud, &own),
            ),
        ];
        for (what, tok) in &cases {
            assert_401(&get_with(&srv, "Patient/p1", tok).await, what);
        }
        // The key survives a restart: it lives in the database, not in the process.
        let kid_again = {
            let srv2 = TestServer::start_on(srv.share_db(), |c| {
                c.auth.mode = AuthMode::Builtin;
                c.mllp.addr = None;
            });
            let r = srv2
                .client()
                .get(&format!("http://{}/.well-known/jwks.json", srv2.addr))
                .await;
            r.json()["keys"][0]["kid"].as_str().unwrap().to_string()
        };
        assert_eq!(kid_again, kid);
    }
}

struct App {
    verifier: String,
    challenge: String,
}

fn pkce_pair() -> App {
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = pkce::s256(&verifier);
    App {
        verifier,
        challenge,
    }
}

/// A person with TOTP; each login needs a fresh TOTP step, so each login uses its own person.
fn person(st: &hms::store::Store, name: &str) -> String {
    iauth::add_user(st, name, STRONG_PW, "patient/*.rs", Some("p1")).unwrap();
    iauth::mfa_enroll(st, name).unwrap().0
}

fn authorize_params<'a>(srv: &'a TestServer, app: &'a App) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", "app"),
        ("redirect_uri", REDIRECT),
        ("scope", "patient/*.rs launch/patient offline_access"),
        ("state", "st-42"),
        ("code_challenge", &app.challenge),
        ("code_challenge_method", "S256"),
        ("aud", &srv.base),
    ]
}

/// Query parameters of a redirect's Location.
fn location_params(r: &Resp) -> (String, Vec<(String, String)>) {
    let loc = r.header("location").unwrap();
    let (base, query) = loc.split_once('?').unwrap();
    let pairs = query
        .split('&')
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap();
            (k.to_string(), v.replace("%20", " "))
        })
        .collect();
    (base.to_string(), pairs)
}

/// Logs `name` in through the authorization endpoint; returns the code.
async fn authorize(srv: &TestServer, st: &hms::store::Store, app: &App, name: &str) -> String {
    let totp_secret = person(st, name);
    let totp = credentials::current_totp(&totp_secret).unwrap();
    let mut params = authorize_params(srv, app);
    params.extend([("username", name), ("password", STRONG_PW), ("totp", &totp)]);
    let r = post_form(srv, "/auth/authorize", &params).await;
    assert_eq!(r.status, 302, "{}", r.text());
    let (base, q) = location_params(&r);
    assert_eq!(base, REDIRECT);
    assert_eq!(q[1], ("state".to_string(), "st-42".to_string()));
    assert_eq!(q[0].0, "code");
    q[0].1.clone()
}

async fn exchange(srv: &TestServer, code: &str, verifier: &str, redirect: &str) -> Resp {
    post_form(
        srv,
        "/auth/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
            ("client_id", "app"),
            ("code_verifier", verifier),
        ],
    )
    .await
}

async fn refresh(srv: &TestServer, token: &str) -> Resp {
    post_form(
        srv,
        "/auth/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", "app"),
        ],
    )
    .await
}

async fn revoke(srv: &TestServer, token: &str) -> Resp {
    post_form(
        srv,
        "/auth/revoke",
        &[("token", token), ("client_id", "app")],
    )
    .await
}

fn tokens(r: &Resp) -> (String, String) {
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    (
        v["access_token"].as_str().unwrap().to_string(),
        v["refresh_token"].as_str().unwrap().to_string(),
    )
}

#[actix_web::test]
async fn authorization_code_pkce_refresh_rotation_and_revocation() {
    for b in backends() {
        let srv = builtin(b);
        let st = store(&srv);
        let admin = admin_token(&srv, &st).await;
        seed_patients(&srv, &admin).await;
        let spec = ClientSpec {
            scope: "patient/*.rs launch/patient openid offline_access".into(),
            redirect_uris: vec![REDIRECT.into()],
            kind: ClientKind::Public,
        };
        assert_eq!(iauth::register_client(&st, "app", &spec).unwrap(), None);
        let app = pkce_pair();

        // The login form, then the whole flow: code → tokens → the patient's own data only.
        let query = form_body(&authorize_params(&srv, &app));
        let r = srv
            .client()
            .get(&format!("http://{}/auth/authorize?{query}", srv.addr))
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.text().contains("name=\"totp\""));
        assert_eq!(r.header("x-frame-options").as_deref(), Some("DENY"));
        let code = authorize(&srv, &st, &app, "u1").await;
        let r = exchange(&srv, &code, &app.verifier, REDIRECT).await;
        let v = r.json();
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(v["expires_in"], 300);
        assert_eq!(v["scope"], "patient/*.rs launch/patient offline_access");
        assert_eq!(v["patient"], "p1");
        let (access, refresh1) = tokens(&r);
        assert_eq!(get_with(&srv, "Patient/p1", &access).await.status, 200);
        assert_eq!(get_with(&srv, "Patient/p2", &access).await.status, 404);

        // Rotation: a refresh token works once and is replaced.
        let (access2, refresh2) = tokens(&refresh(&srv, &refresh1).await);
        assert_ne!(refresh2, refresh1);
        assert_eq!(get_with(&srv, "Patient/p1", &access2).await.status, 200);
        let (access3, refresh3) = tokens(&refresh(&srv, &refresh2).await);
        // Reusing a rotated token revokes the whole family: its newest tokens too.
        let r = refresh(&srv, &refresh1).await;
        assert_oauth_error(&r, 400, "invalid_grant", "reused refresh token");
        assert_oauth_error(
            &refresh(&srv, &refresh3).await,
            400,
            "invalid_grant",
            "revoked family",
        );
        assert_401(
            &get_with(&srv, "Patient/p1", &access3).await,
            "family revoked",
        );
        assert_401(
            &get_with(&srv, "Patient/p1", &access).await,
            "family revoked",
        );

        // A code is single-use; reusing it revokes what it gave.
        let code = authorize(&srv, &st, &app, "u2").await;
        let (access, refresh_t) = tokens(&exchange(&srv, &code, &app.verifier, REDIRECT).await);
        let r = exchange(&srv, &code, &app.verifier, REDIRECT).await;
        assert_oauth_error(&r, 400, "invalid_grant", "reused code");
        assert_401(
            &get_with(&srv, "Patient/p1", &access).await,
            "after code reuse",
        );
        assert_oauth_error(
            &refresh(&srv, &refresh_t).await,
            400,
            "invalid_grant",
            "after code reuse",
        );

        // Wrong verifier, wrong redirect_uri, expired code, unknown code, another client.
        let code = authorize(&srv, &st, &app, "u3").await;
        let wrong = pkce_pair();
        let r = exchange(&srv, &code, &wrong.verifier, REDIRECT).await;
        assert_oauth_error(&r, 400, "invalid_grant", "wrong verifier");
        let code = authorize(&srv, &st, &app, "u4").await;
        let r = exchange(&srv, &code, &app.verifier, "https://app.example/other").await;
        assert_oauth_error(&r, 400, "invalid_grant", "wrong redirect_uri");
        let code = authorize(&srv, &st, &app, "u5").await;
        srv.exec_sql("UPDATE auth_code SET expires_at = 1");
        let r = exchange(&srv, &code, &app.verifier, REDIRECT).await;
        assert_oauth_error(&r, 400, "invalid_grant", "expired code");
        let r = exchange(&srv, "0123abcd", &app.verifier, REDIRECT).await;
        assert_oauth_error(&r, 400, "invalid_grant", "unknown code");
        let r = post_form(
            &srv,
            "/auth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &app.verifier),
            ],
        )
        .await;
        assert_oauth_error(&r, 401, "invalid_client", "no client");
        let r = post_form(&srv, "/auth/token", &[("grant_type", "implicit")]).await;
        assert_oauth_error(&r, 400, "unsupported_grant_type", "unknown grant");

        // Revocation (RFC 7009): of a refresh token (its family), of an access token.
        let code = authorize(&srv, &st, &app, "u6").await;
        let (access, refresh_t) = tokens(&exchange(&srv, &code, &app.verifier, REDIRECT).await);
        assert_eq!(revoke(&srv, &refresh_t).await.status, 200);
        assert_oauth_error(
            &refresh(&srv, &refresh_t).await,
            400,
            "invalid_grant",
            "revoked refresh",
        );
        assert_401(
            &get_with(&srv, "Patient/p1", &access).await,
            "revoked family",
        );
        let code = authorize(&srv, &st, &app, "u7").await;
        let (access, refresh_t) = tokens(&exchange(&srv, &code, &app.verifier, REDIRECT).await);
        assert_eq!(revoke(&srv, &access).await.status, 200);
        assert_401(
            &get_with(&srv, "Patient/p1", &access).await,
            "revoked access token",
        );
        // ... which leaves the refresh token usable.
        let (access, _) = tokens(&refresh(&srv, &refresh_t).await);
        assert_eq!(get_with(&srv, "Patient/p1", &access).await.status, 200);
        // Unknown tokens: nothing to do, still 200. Another client's token: refused.
        assert_eq!(revoke(&srv, "no-such-token").await.status, 200);
        let r = post_form(
            &srv,
            "/auth/revoke",
            &[("token", &access), ("client_id", "admin")],
        )
        .await;
        assert_oauth_error(
            &r,
            401,
            "invalid_client",
            "confidential client without its secret",
        );

        // Authorization endpoint refusals: never redirect to an unregistered URI.
        let mut params = authorize_params(&srv, &app);
        params[2] = ("redirect_uri", "https://evil.example/cb");
        let r = post_form(&srv, "/auth/authorize", &params).await;
        assert_oauth_error(&r, 400, "invalid_request", "unregistered redirect_uri");
        assert!(r.header("location").is_none());
        let mut params = authorize_params(&srv, &app);
        params[6] = ("code_challenge_method", "plain");
        let r = post_form(&srv, "/auth/authorize", &params).await;
        assert_eq!(r.status, 302);
        let (base, q) = location_params(&r);
        assert_eq!(base, REDIRECT);
        assert_eq!(q[0], ("error".to_string(), "invalid_request".to_string()));
        assert_eq!(q[2], ("state".to_string(), "st-42".to_string()));
        // A wrong TOTP shows the form again (403), with no code.
        person(&st, "u8");
        let mut params = authorize_params(&srv, &app);
        params.extend([
            ("username", "u8"),
            ("password", STRONG_PW),
            ("totp", "000000"),
        ]);
        let r = post_form(&srv, "/auth/authorize", &params).await;
        assert_eq!(r.status, 403, "{}", r.text());
        assert!(r.header("location").is_none());
        assert!(r.text().contains("invalid credentials"));
    }
}

/// A private_key_jwt client assertion (SMART Backend Services).
fn assertion(
    srv: &TestServer,
    client: &str,
    alg: Algorithm,
    kid: &str,
    key: &EncodingKey,
) -> String {
    let now = jsonwebtoken::get_current_timestamp();
    let claims = json!({"iss": client, "sub": client,
                        "aud": format!("http://{}/auth/token", srv.addr),
                        "exp": now + 240, "jti": uuid::Uuid::new_v4().to_string()});
    sign(alg, Some(kid), &claims, key)
}

async fn backend_token(srv: &TestServer, assertion: &str) -> Resp {
    post_form(
        srv,
        "/auth/token",
        &[
            ("grant_type", "client_credentials"),
            ("scope", "system/*.rs"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion),
        ],
    )
    .await
}

fn public_jwk(key: &EncodingKey, alg: Algorithm, kid: &str) -> Jwk {
    let mut j = Jwk::from_encoding_key(key, alg).unwrap();
    j.common.key_id = Some(kid.into());
    j
}

#[actix_web::test]
async fn backend_services_private_key_jwt() {
    use rustls_pki_types::pem::PemObject;
    for b in backends() {
        let srv = builtin(b);
        let st = store(&srv);
        let admin = admin_token(&srv, &st).await;
        seed_patients(&srv, &admin).await;
        let es = ec_key(&ring::signature::ECDSA_P384_SHA384_FIXED_SIGNING);
        let der = rustls_pki_types::PrivatePkcs1KeyDer::from_pem_file(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/auth/rsa-private.pem"),
        )
        .unwrap();
        let rs = EncodingKey::from_rsa_der(der.secret_pkcs1_der());
        let set = JwkSet {
            keys: vec![
                public_jwk(&es, Algorithm::ES384, "es-1"),
                public_jwk(&rs, Algorithm::RS384, "rs-1"),
            ],
        };
        let spec = ClientSpec {
            scope: "system/*.rs".into(),
            redirect_uris: Vec::new(),
            kind: ClientKind::Jwks(serde_json::to_string(&set).unwrap()),
        };
        assert_eq!(iauth::register_client(&st, "backend", &spec).unwrap(), None);

        // ES384 and RS384 assertions get tokens that read a Patient.
        for (alg, kid, key) in [
            (Algorithm::ES384, "es-1", &es),
            (Algorithm::RS384, "rs-1", &rs),
        ] {
            let a = assertion(&srv, "backend", alg, kid, key);
            let r = backend_token(&srv, &a).await;
            assert_eq!(r.status, 200, "{alg:?}: {}", r.text());
            assert_eq!(r.json()["scope"], "system/*.rs");
            assert!(r.json().get("refresh_token").is_none());
            let tok = r.json()["access_token"].as_str().unwrap().to_string();
            assert_eq!(get_with(&srv, "Patient/p1", &tok).await.status, 200);
            // The same assertion again: a replayed jti.
            let r = backend_token(&srv, &a).await;
            assert_oauth_error(&r, 401, "invalid_client", "replayed jti");
        }

        let now = jsonwebtoken::get_current_timestamp();
        let claims = |aud: String, exp: u64| {
            json!({"iss": "backend", "sub": "backend", "aud": aud, "exp": exp,
                   "jti": uuid::Uuid::new_v4().to_string()})
        };
        let aud = format!("http://{}/auth/token", srv.addr);
        let forger = ec_key(&ring::signature::ECDSA_P384_SHA384_FIXED_SIGNING);
        let set_text = serde_json::to_vec(&set).unwrap();
        let cases = [
            (
                "forged (another key, same kid)",
                sign(
                    Algorithm::ES384,
                    Some("es-1"),
                    &claims(aud.clone(), now + 240),
                    &forger,
                ),
            ),
            (
                "wrong aud",
                sign(
                    Algorithm::ES384,
                    Some("es-1"),
                    &claims(srv.base.clone(), now + 240),
                    &es,
                ),
            ),
            (
                "exp too far ahead",
                sign(
                    Algorithm::ES384,
                    Some("es-1"),
                    &claims(aud.clone(), now + 3600),
                    &es,
                ),
            ),
            (
                "expired",
                sign(
                    Algorithm::ES384,
                    Some("es-1"),
                    &claims(aud.clone(), now - 600),
                    &es,
                ),
            ),
            (
                "RS256 is not an assertion algorithm",
                sign(
                    Algorithm::RS256,
                    Some("rs-1"),
                    &claims(aud.clone(), now + 240),
                    &rs,
                ),
            ),
            (
                "HS256 with the public keys as secret (alg confusion)",
                sign(
                    Algorithm::HS256,
                    Some("es-1"),
                    &claims(aud.clone(), now + 240),
                    &EncodingKey::from_secret(&set_text).unwrap(),
                ),
            ),
        ];
        for (what, a) in &cases {
            assert_oauth_error(&backend_token(&srv, a).await, 401, "invalid_client", what);
        }
        // Another client's assertion names itself: it cannot borrow backend's keys.
        let a = assertion(&srv, "admin", Algorithm::ES384, "es-1", &es);
        assert_oauth_error(
            &backend_token(&srv, &a).await,
            401,
            "invalid_client",
            "no keys",
        );
        // A confidential client cannot skip authentication.
        let r = post_form(
            &srv,
            "/auth/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "backend"),
            ],
        )
        .await;
        assert_oauth_error(&r, 401, "invalid_client", "no assertion");
    }
}

#[actix_web::test]
async fn backend_keys_from_a_jwks_url() {
    use actix_web::{App, HttpResponse, HttpServer, web};
    let es = ec_key(&ring::signature::ECDSA_P384_SHA384_FIXED_SIGNING);
    let set = JwkSet {
        keys: vec![public_jwk(&es, Algorithm::ES384, "k")],
    };
    let body = serde_json::to_vec(&set).unwrap();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    let keys_srv = HttpServer::new(move || {
        let body = body.clone();
        let counter = counter.clone();
        App::new().route(
            "/jwks",
            web::get().to(move || {
                let body = body.clone();
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async move {
                    HttpResponse::Ok()
                        .content_type("application/json")
                        .body(body)
                }
            }),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let url = format!("http://{}/jwks", keys_srv.addrs()[0]);
    let running = keys_srv.run();
    let handle = running.handle();
    actix_web::rt::spawn(running);

    let srv = builtin(Backend::Sqlite);
    let st = store(&srv);
    let admin = admin_token(&srv, &st).await;
    seed_patients(&srv, &admin).await;
    let spec = ClientSpec {
        scope: "system/Patient.rs".into(),
        redirect_uris: Vec::new(),
        kind: ClientKind::JwksUrl(url),
    };
    iauth::register_client(&st, "remote", &spec).unwrap();
    let a = assertion(&srv, "remote", Algorithm::ES384, "k", &es);
    let r = backend_token(&srv, &a).await;
    // The requested system/*.rs is not in its registration: invalid_scope.
    assert_oauth_error(&r, 400, "invalid_scope", "scope outside the registration");
    let a = assertion(&srv, "remote", Algorithm::ES384, "k", &es);
    let r = post_form(
        &srv,
        "/auth/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &a),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let tok = r.json()["access_token"].as_str().unwrap().to_string();
    assert_eq!(get_with(&srv, "Patient/p1", &tok).await.status, 200);
    // Two token requests, one download: the key set is cached per URL.
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    // An unknown kid right after a download does not make the server fetch again.
    let a = assertion(&srv, "remote", Algorithm::ES384, "other", &es);
    let r = backend_token(&srv, &a).await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    handle.stop(false).await;
}

#[actix_web::test]
async fn confidential_app_authenticates_with_its_secret() {
    use base64::Engine;
    for b in backends() {
        let srv = builtin(b);
        let st = store(&srv);
        let admin = admin_token(&srv, &st).await;
        seed_patients(&srv, &admin).await;
        let spec = ClientSpec {
            scope: "patient/*.rs launch/patient".into(),
            redirect_uris: vec![REDIRECT.into()],
            kind: ClientKind::Secret,
        };
        let secret = iauth::register_client(&st, "webapp", &spec)
            .unwrap()
            .unwrap();
        let app = pkce_pair();
        let totp_secret = person(&st, "w1");
        let totp = credentials::current_totp(&totp_secret).unwrap();
        let mut params = authorize_params(&srv, &app);
        params[1] = ("client_id", "webapp");
        params[3] = ("scope", "patient/*.rs launch/patient offline_access");
        params.extend([("username", "w1"), ("password", STRONG_PW), ("totp", &totp)]);
        let r = post_form(&srv, "/auth/authorize", &params).await;
        assert_eq!(r.status, 302, "{}", r.text());
        let code = location_params(&r).1[0].1.clone();
        let form = form_body(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &app.verifier),
        ]);
        let send = |basic: String| {
            let form = form.clone();
            let c = srv.client();
            let url = format!("http://{}/auth/token", srv.addr);
            async move {
                c.post_raw(
                    &url,
                    form.into_bytes(),
                    &[
                        ("content-type", "application/x-www-form-urlencoded"),
                        ("authorization", &format!("Basic {basic}")),
                    ],
                )
                .await
            }
        };
        let b64 = base64::engine::general_purpose::STANDARD;
        // Without its secret (or with a wrong one) the code is not exchanged (and not spent).
        let r = send(b64.encode("webapp:wrong")).await;
        assert_oauth_error(&r, 401, "invalid_client", "wrong secret");
        assert_eq!(
            r.header("www-authenticate").as_deref(),
            Some("Basic realm=\"hms\"")
        );
        let r = send(b64.encode(format!("webapp:{secret}"))).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        // offline_access is not in webapp's registration: no refresh token.
        assert_eq!(v["scope"], "patient/*.rs launch/patient");
        assert!(v.get("refresh_token").is_none());
        let tok = v["access_token"].as_str().unwrap();
        assert_eq!(get_with(&srv, "Patient/p1", tok).await.status, 200);
        assert_eq!(get_with(&srv, "Patient/p2", tok).await.status, 404);
    }
}
