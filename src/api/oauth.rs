//! The builtin authorization server's HTTP edge: `/auth/authorize` (login form, code + PKCE),
//! `/auth/token`, `/auth/revoke` (RFC 7009), `/.well-known/jwks.json` and SMART discovery
//! (`/.well-known/smart-configuration`). OAuth errors are RFC 6749 JSON (`error`,
//! `error_description`), not OperationOutcomes.

use actix_web::http::StatusCode;
use actix_web::web::{self, Payload};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Value, json};

use crate::config::AuthMode;
use crate::error::Error;
use crate::fhir::audit_event::{Action, Actor, Kind, Outcome, Record};
use crate::interactions::oauth::{
    self as ioauth, AuthorizeError, AuthorizeRequest, ClientAuth, Grant, KeySource, OAuthCode,
    OAuthError, TokenContext,
};

use super::AppState;
use super::error::ApiError;
use super::negotiate::read_body;
use super::routes::{base_url, blocking};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/auth/token", web::post().to(token_endpoint))
        .route("/auth/revoke", web::post().to(revoke_endpoint))
        .route("/auth/authorize", web::get().to(authorize_form))
        .route("/auth/authorize", web::post().to(authorize_submit))
        .route("/.well-known/jwks.json", web::get().to(jwks))
        .route(
            "/.well-known/smart-configuration",
            web::get().to(smart_configuration),
        );
}

fn builtin_only(st: &AppState) -> Result<(), ApiError> {
    if st.auth.mode() == AuthMode::Builtin {
        Ok(())
    } else {
        Err(Error::NotFound("this server does not issue tokens (--auth builtin)".into()).into())
    }
}

fn server_root(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

/// The token endpoint's URL: what client assertions name as `aud`.
fn token_endpoint_url(req: &HttpRequest) -> String {
    format!("{}/auth/token", server_root(req))
}

fn json_response(status: StatusCode, body: &Value) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .body(serde_json::to_vec(body).unwrap_or_default())
}

/// OAuth error body (RFC 6749 §5.2): 401 for client authentication failures, 400 otherwise.
fn oauth_error(code: OAuthCode, description: &str) -> HttpResponse {
    let status = if code == OAuthCode::InvalidClient {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    let mut r = HttpResponse::build(status);
    if status == StatusCode::UNAUTHORIZED {
        r.insert_header(("WWW-Authenticate", "Basic realm=\"hms\""));
    }
    r.content_type("application/json").body(
        serde_json::to_vec(&json!({"error": code.as_str(), "error_description": description}))
            .unwrap_or_default(),
    )
}

async fn form_of(payload: Payload) -> Result<Vec<(String, String)>, Error> {
    let body = read_body(payload, 64 * 1024).await?;
    let text =
        String::from_utf8(body).map_err(|_| Error::invalid(None, "form body is not UTF-8"))?;
    Ok(crate::search::criteria::form_pairs(&text))
}

/// A request refused before any account is looked at (shown with [`oauth_error`]).
struct BadRequest(OAuthCode, String);

impl BadRequest {
    fn response(&self) -> HttpResponse {
        oauth_error(self.0, &self.1)
    }
}

/// A form parameter; RFC 6749 §3.1: parameters must not repeat.
fn param(form: &[(String, String)], name: &str) -> Result<Option<String>, BadRequest> {
    let mut found = form.iter().filter(|(n, _)| n == name);
    let first = found.next().map(|(_, v)| v.clone());
    if found.next().is_some() {
        return Err(BadRequest(
            OAuthCode::InvalidRequest,
            format!("{name} is repeated"),
        ));
    }
    Ok(first)
}

fn basic_credentials(req: &HttpRequest) -> Option<(String, String)> {
    use base64::Engine;
    let v = req.headers().get("authorization")?.to_str().ok()?;
    let b64 = v.strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    // RFC 6749 §2.3.1: both parts are form-encoded inside the Basic credentials.
    let decode = |s: &str| {
        crate::search::criteria::form_pairs(&format!("x={s}"))
            .pop()
            .map(|(_, v)| v)
            .unwrap_or_default()
    };
    Some((decode(id), decode(secret)))
}

/// How the client of a token/revoke request authenticates, before keys are looked up.
enum ClientCreds {
    None,
    Id(String),
    Secret(String, String),
    Assertion(String, String),
}

fn client_creds(req: &HttpRequest, form: &[(String, String)]) -> Result<ClientCreds, BadRequest> {
    let id = param(form, "client_id")?;
    if let Some((basic_id, secret)) = basic_credentials(req) {
        if id.as_deref().is_some_and(|i| i != basic_id) {
            return Err(BadRequest(
                OAuthCode::InvalidRequest,
                "client_id differs from the Basic credentials".into(),
            ));
        }
        return Ok(ClientCreds::Secret(basic_id, secret));
    }
    if let Some(assertion) = param(form, "client_assertion")? {
        if param(form, "client_assertion_type")?.as_deref() != Some(ASSERTION_TYPE) {
            return Err(BadRequest(
                OAuthCode::InvalidRequest,
                format!("client_assertion_type must be {ASSERTION_TYPE}"),
            ));
        }
        let Some(client_id) = id.or_else(|| crate::auth::token::assertion_subject(&assertion))
        else {
            return Err(BadRequest(
                OAuthCode::InvalidClient,
                "the client assertion names no client (sub)".into(),
            ));
        };
        return Ok(ClientCreds::Assertion(client_id, assertion));
    }
    if let Some(secret) = param(form, "client_secret")? {
        let Some(id) = id else {
            return Err(BadRequest(
                OAuthCode::InvalidRequest,
                "client_secret without client_id".into(),
            ));
        };
        return Ok(ClientCreds::Secret(id, secret));
    }
    Ok(id.map_or(ClientCreds::None, ClientCreds::Id))
}

/// The keys of a private_key_jwt client: registered ones, or fetched from its JWKS URL.
async fn assertion_keys(
    st: &AppState,
    client_id: &str,
    assertion: &str,
) -> Result<Result<jsonwebtoken::jwk::JwkSet, HttpResponse>, ApiError> {
    let store = st.services.store.clone();
    let id = client_id.to_string();
    let source = blocking(move || Ok(ioauth::client_keys(&store, &id))).await?;
    match source {
        Ok(KeySource::Registered(set)) => Ok(Ok(set)),
        Ok(KeySource::Url(url)) => match st
            .auth
            .jwks
            .keys(
                &url,
                jsonwebtoken::decode_header(assertion)
                    .ok()
                    .and_then(|h| h.kid)
                    .as_deref(),
                super::auth::fetch_jwks_url(&url),
            )
            .await
        {
            Ok(set) => Ok(Ok(set)),
            Err(e) => {
                tracing::warn!(error = %e, client = %client_id, "cannot fetch a client's JWKS");
                Ok(Err(oauth_error(
                    OAuthCode::InvalidClient,
                    "the client's JWKS URL cannot be fetched",
                )))
            }
        },
        Err(e) => Ok(Err(refusal(e)?)),
    }
}

/// A refusal as an OAuth error response; faults stay errors (OperationOutcome, 5xx).
fn refusal(e: OAuthError) -> Result<HttpResponse, ApiError> {
    match e {
        OAuthError::Refused(code, m) => Ok(oauth_error(code, &m)),
        OAuthError::Server(e) => Err(e.into()),
    }
}

/// Resolves the form's client credentials into a [`ClientAuth`] (the keys of an assertion are
/// fetched first) and runs `f` with it on the blocking pool.
async fn with_client<T: Send + 'static>(
    req: &HttpRequest,
    st: &AppState,
    form: &[(String, String)],
    f: impl FnOnce(Option<ClientAuth<'_>>) -> Result<T, OAuthError> + Send + 'static,
) -> Result<Result<T, HttpResponse>, ApiError> {
    let creds = match client_creds(req, form) {
        Ok(c) => c,
        Err(bad) => return Ok(Err(bad.response())),
    };
    let keys = match &creds {
        ClientCreds::Assertion(id, assertion) => match assertion_keys(st, id, assertion).await? {
            Ok(k) => Some(k),
            Err(r) => return Ok(Err(r)),
        },
        _ => None,
    };
    let result = blocking(move || {
        let auth = match (&creds, &keys) {
            (ClientCreds::None, _) => None,
            (ClientCreds::Id(id), _) => Some(ClientAuth::Id(id)),
            (ClientCreds::Secret(id, s), _) => Some(ClientAuth::Secret {
                client_id: id,
                secret: s,
            }),
            (ClientCreds::Assertion(id, a), Some(k)) => Some(ClientAuth::Assertion {
                client_id: id,
                assertion: a,
                keys: k,
            }),
            (ClientCreds::Assertion(..), None) => None,
        };
        Ok(f(auth))
    })
    .await?;
    match result {
        Ok(v) => Ok(Ok(v)),
        Err(e) => Ok(Err(refusal(e)?)),
    }
}

fn no_client() -> OAuthError {
    OAuthError::Refused(
        OAuthCode::InvalidClient,
        "client authentication is required (client_id, client secret or client assertion)".into(),
    )
}

async fn token_endpoint(
    req: HttpRequest,
    payload: Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let st = state.get_ref().clone();
    builtin_only(&st)?;
    let form = form_of(payload).await?;
    let mut p = std::collections::HashMap::new();
    for name in [
        "grant_type",
        "username",
        "password",
        "totp",
        "scope",
        "code",
        "redirect_uri",
        "code_verifier",
        "refresh_token",
    ] {
        match param(&form, name) {
            Ok(Some(v)) => {
                p.insert(name, v);
            }
            Ok(None) => {}
            Err(bad) => return Ok(bad.response()),
        }
    }
    // The grant's audit agent: who asked (names as given, also when unknown), from where.
    let mut who = crate::fhir::audit_event::Actor {
        source_ip: super::audit::source_ip(&req),
        ..Default::default()
    };
    if p.get("grant_type").map(String::as_str) == Some("password") {
        who.user = p.get("username").filter(|u| !u.is_empty()).cloned();
    }
    who.client = match client_creds(&req, &form) {
        Ok(ClientCreds::Id(id) | ClientCreds::Secret(id, _) | ClientCreds::Assertion(id, _)) => {
            Some(id)
        }
        _ => None,
    };
    let issuer = st.auth.builtin_issuer(&req);
    let audience = base_url(&req, &st);
    let token_endpoint = token_endpoint_url(&req);
    let store = st.services.store.clone();
    let auth = st.auth.clone();
    let issued = with_client(&req, &st, &form, move |client| {
        let get = |k: &str| p.get(k).map(String::as_str);
        let need = |k: &'static str| {
            get(k).filter(|v| !v.is_empty()).ok_or_else(|| {
                OAuthError::Refused(OAuthCode::InvalidRequest, format!("{k} is required"))
            })
        };
        let grant = match get("grant_type").unwrap_or("") {
            "password" => Grant::Password {
                username: get("username").unwrap_or(""),
                password: get("password").unwrap_or(""),
                totp: get("totp"),
            },
            "client_credentials" => Grant::ClientCredentials {
                client: client.ok_or_else(no_client)?,
            },
            "authorization_code" => Grant::AuthorizationCode {
                client: client.ok_or_else(no_client)?,
                code: need("code")?,
                redirect_uri: need("redirect_uri")?,
                code_verifier: need("code_verifier")?,
            },
            "refresh_token" => Grant::RefreshToken {
                client: client.ok_or_else(no_client)?,
                refresh_token: need("refresh_token")?,
            },
            "" => {
                return Err(OAuthError::Refused(
                    OAuthCode::InvalidRequest,
                    "grant_type is required".into(),
                ));
            }
            _ => {
                return Err(OAuthError::Refused(
                    OAuthCode::UnsupportedGrantType,
                    "use authorization_code, refresh_token, client_credentials or password".into(),
                ));
            }
        };
        let signer = auth
            .signer()
            .ok_or_else(|| Error::Internal("no token signing key".into()))?;
        let ctx = TokenContext {
            issuer: &issuer,
            audience: &audience,
            token_endpoint: &token_endpoint,
            signer,
            requested_scope: get("scope"),
        };
        ioauth::token(&store, &grant, &ctx)
    })
    .await?;
    let t = match issued {
        Ok(t) => t,
        Err(r) => {
            let desc = format!("token request refused ({})", r.status().as_u16());
            if let Err(e) = st
                .services
                .audit
                .record(&login(who, Outcome::Minor, Some(desc)))
                .await
            {
                tracing::error!(error = %e, "refused token request not audited");
            }
            return Ok(r);
        }
    };
    // A token is handed out only once its grant is on record (fail closed).
    st.services
        .audit
        .record(&login(who, Outcome::Success, None))
        .await?;
    let mut body = json!({
        "access_token": t.access_token,
        "token_type": "Bearer",
        "expires_in": t.expires_in,
        "scope": t.scope,
    });
    if let Some(p) = t.patient {
        body["patient"] = Value::String(p);
    }
    if let Some(r) = t.refresh_token {
        body["refresh_token"] = Value::String(r);
    }
    let mut r = json_response(StatusCode::OK, &body);
    r.headers_mut().insert(
        actix_web::http::header::PRAGMA,
        actix_web::http::header::HeaderValue::from_static("no-cache"),
    );
    Ok(r)
}

/// The AuditEvent of a token request (BALP: DICOM User Authentication / Login).
fn login(who: Actor, outcome: Outcome, desc: Option<String>) -> Record {
    let mut r = Record::new(Kind::Login, Action::E, crate::store::now_micros(), who);
    r.outcome = outcome;
    r.outcome_desc = desc;
    r
}

async fn revoke_endpoint(
    req: HttpRequest,
    payload: Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let st = state.get_ref().clone();
    builtin_only(&st)?;
    let form = form_of(payload).await?;
    let token = match param(&form, "token") {
        Ok(Some(t)) if !t.is_empty() => t,
        Ok(_) => return Ok(oauth_error(OAuthCode::InvalidRequest, "token is required")),
        Err(bad) => return Ok(bad.response()),
    };
    let keys = st.auth.own_jwks();
    let issuer = st.auth.builtin_issuer(&req);
    let token_endpoint = token_endpoint_url(&req);
    let store = st.services.store.clone();
    let done = with_client(&req, &st, &form, move |client| {
        let client = client.ok_or_else(no_client)?;
        ioauth::revoke(&store, &client, &token, &keys, &issuer, &token_endpoint)
    })
    .await?;
    Ok(match done {
        Ok(()) => HttpResponse::Ok().finish(),
        Err(r) => r,
    })
}

async fn jwks(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    builtin_only(&state)?;
    let body = serde_json::to_value(state.auth.own_jwks())
        .map_err(|e| Error::Internal(format!("JWKS: {e}")))?;
    let mut r = json_response(StatusCode::OK, &body);
    // Public keys: caching is fine (and spares the issuer), unlike the default no-store here.
    r.headers_mut().insert(
        actix_web::http::header::CACHE_CONTROL,
        actix_web::http::header::HeaderValue::from_static("public, max-age=300"),
    );
    Ok(r)
}

async fn smart_configuration(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let a = &state.auth;
    let body = match a.mode() {
        AuthMode::None => {
            return Err(
                Error::NotFound("authentication is not enabled on this server".into()).into(),
            );
        }
        AuthMode::Builtin => {
            let root = server_root(&req);
            json!({
                "issuer": a.builtin_issuer(&req),
                "jwks_uri": format!("{root}/.well-known/jwks.json"),
                "authorization_endpoint": format!("{root}/auth/authorize"),
                "token_endpoint": format!("{root}/auth/token"),
                "revocation_endpoint": format!("{root}/auth/revoke"),
                "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials", "password"],
                "response_types_supported": ["code"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
                "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
                "scopes_supported": ["openid", "fhirUser", "launch/patient", "offline_access", "online_access", "patient/*.rs", "user/*.cruds", "system/*.rs"],
                "code_challenge_methods_supported": ["S256"],
                "capabilities": [
                    "launch-standalone", "context-standalone-patient", "client-public",
                    "client-confidential-symmetric", "client-confidential-asymmetric",
                    "permission-offline", "permission-online", "permission-patient",
                    "permission-user", "permission-v1", "permission-v2"
                ]
            })
        }
        AuthMode::External => json!({
            "issuer": a.external_issuers().first(),
            "capabilities": ["permission-v1", "permission-v2"],
        }),
    };
    Ok(json_response(StatusCode::OK, &body))
}

/// `CapabilityStatement.rest.security` (SMART App Launch): the SMART-on-FHIR service, and in
/// builtin mode the endpoints as the `oauth-uris` extension. None without authentication.
pub(super) fn capability_security(req: &HttpRequest, st: &AppState) -> Option<Value> {
    let service = json!([{"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
        "code": "SMART-on-FHIR"}]}]);
    match st.auth.mode() {
        AuthMode::None => None,
        AuthMode::External => Some(json!({"service": service})),
        AuthMode::Builtin => {
            let root = server_root(req);
            Some(json!({
                "service": service,
                "extension": [{
                    "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                    "extension": [
                        {"url": "authorize", "valueUri": format!("{root}/auth/authorize")},
                        {"url": "token", "valueUri": format!("{root}/auth/token")},
                        {"url": "revoke", "valueUri": format!("{root}/auth/revoke")}
                    ]
                }]
            }))
        }
    }
}

/// The authorization request's parameters, from the query (GET) or the form (POST).
fn authorize_request(pairs: &[(String, String)]) -> AuthorizeRequest {
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    AuthorizeRequest {
        response_type: get("response_type").unwrap_or_default(),
        client_id: get("client_id").unwrap_or_default(),
        redirect_uri: get("redirect_uri").unwrap_or_default(),
        scope: get("scope").unwrap_or_default(),
        state: get("state"),
        code_challenge: get("code_challenge").unwrap_or_default(),
        code_challenge_method: get("code_challenge_method").unwrap_or_default(),
        aud: get("aud").unwrap_or_default(),
    }
}

/// application/x-www-form-urlencoded encoding of one value.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A redirect back to the app with these query parameters added to its redirect URI.
fn redirect_to(uri: &str, params: &[(&str, Option<&str>)]) -> HttpResponse {
    let mut url = uri.to_string();
    let mut sep = if uri.contains('?') { '&' } else { '?' };
    for (k, v) in params {
        if let Some(v) = v {
            url.push(sep);
            url.push_str(k);
            url.push('=');
            url.push_str(&form_encode(v));
            sep = '&';
        }
    }
    HttpResponse::Found()
        .insert_header((actix_web::http::header::LOCATION, url))
        .finish()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The login form; the authorization request travels in hidden fields.
fn login_page(status: StatusCode, r: &AuthorizeRequest, message: Option<&str>) -> HttpResponse {
    let hidden = [
        ("response_type", r.response_type.as_str()),
        ("client_id", r.client_id.as_str()),
        ("redirect_uri", r.redirect_uri.as_str()),
        ("scope", r.scope.as_str()),
        ("state", r.state.as_deref().unwrap_or("")),
        ("code_challenge", r.code_challenge.as_str()),
        ("code_challenge_method", r.code_challenge_method.as_str()),
        ("aud", r.aud.as_str()),
    ]
    .iter()
    .filter(|(k, _)| *k != "state" || r.state.is_some())
    .map(|(k, v)| {
        format!(
            "<input type=\"hidden\" name=\"{k}\" value=\"{}\">",
            html_escape(v)
        )
    })
    .collect::<String>();
    let message = message
        .map(|m| format!("<p role=\"alert\">{}</p>", html_escape(m)))
        .unwrap_or_default();
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>HMS Interop sign-in</title></head>\
         <body><h1>Sign in</h1><p><b>{client}</b> asks for: {scope}</p>{message}\
         <form method=\"post\" action=\"/auth/authorize\">{hidden}\
         <label>User <input name=\"username\" autocomplete=\"username\" required></label><br>\
         <label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label><br>\
         <label>Authenticator code <input name=\"totp\" inputmode=\"numeric\" autocomplete=\"one-time-code\" required></label><br>\
         <button type=\"submit\">Sign in and allow</button></form></body></html>",
        client = html_escape(&r.client_id),
        scope = html_escape(&r.scope),
    );
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        // Credentials are typed here: never inside another site's frame.
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header((
            "Content-Security-Policy",
            "frame-ancestors 'none'; default-src 'none'; form-action 'self'",
        ))
        .body(page)
}

fn authorize_failure(e: AuthorizeError, r: &AuthorizeRequest) -> Result<HttpResponse, ApiError> {
    match e {
        AuthorizeError::Show(code, m) => Ok(oauth_error(code, &m)),
        AuthorizeError::Redirect {
            redirect_uri,
            code,
            description,
            state,
        } => Ok(redirect_to(
            &redirect_uri,
            &[
                ("error", Some(code.as_str())),
                ("error_description", Some(description.as_str())),
                ("state", state.as_deref()),
            ],
        )),
        AuthorizeError::Login(m) => Ok(login_page(StatusCode::FORBIDDEN, r, Some(&m))),
        AuthorizeError::Server(e) => Err(e.into()),
    }
}

async fn authorize_form(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let st = state.get_ref().clone();
    builtin_only(&st)?;
    let r = authorize_request(&crate::search::criteria::form_pairs(req.query_string()));
    let fhir_base = base_url(&req, &st);
    let store = st.services.store.clone();
    let checked = r.clone();
    let result =
        blocking(move || Ok(ioauth::check_authorize(&store, &checked, &fhir_base))).await?;
    match result {
        Ok(_) => Ok(login_page(StatusCode::OK, &r, None)),
        Err(e) => authorize_failure(e, &r),
    }
}

async fn authorize_submit(
    req: HttpRequest,
    payload: Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let st = state.get_ref().clone();
    builtin_only(&st)?;
    let form = form_of(payload).await?;
    let r = authorize_request(&form);
    let get = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (username, password, totp) = (get("username"), get("password"), get("totp"));
    let fhir_base = base_url(&req, &st);
    let store = st.services.store.clone();
    let checked = r.clone();
    let result = blocking(move || {
        Ok(ioauth::authorize(
            &store,
            &checked,
            &fhir_base,
            &username,
            &password,
            Some(totp.as_str()),
        ))
    })
    .await?;
    match result {
        Ok(a) => Ok(redirect_to(
            &a.redirect_uri,
            &[
                ("code", Some(a.code.as_str())),
                ("state", a.state.as_deref()),
            ],
        )),
        Err(e) => authorize_failure(e, &r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_keep_the_apps_query_and_encode_values() {
        let r = redirect_to(
            "https://app.example/cb?x=1",
            &[("code", Some("a b&c")), ("state", None)],
        );
        assert_eq!(
            r.headers().get("location").unwrap(),
            "https://app.example/cb?x=1&code=a%20b%26c"
        );
        assert_eq!(
            html_escape("<a href=\"x\">"),
            "&lt;a href=&quot;x&quot;&gt;"
        );
    }
}
