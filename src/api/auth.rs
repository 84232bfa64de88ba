//! The authentication edge: bearer-token checking for /fhir, scope checks per interaction, the
//! token endpoint (`POST /auth/token`) and SMART discovery (`/.well-known/smart-configuration`).

use actix_web::http::StatusCode;
use actix_web::web::{self, Payload};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Value, json};

use crate::auth::compartment;
use crate::auth::scopes::{self, Access, Perm};
use crate::auth::token::{self, Keys, Principal};
use crate::config::{AuthConfig, AuthMode};
use crate::error::Error;
use crate::fhir::audit_event::{Action, Kind, Outcome, Record};
use crate::interactions::Stored;
use crate::interactions::auth::{self as iauth, Grant, TokenContext};
use crate::store::Store;

use super::AppState;
use super::error::ApiError;
use super::negotiate::read_body;
use super::routes::blocking;

/// Token validation state, built once at start-up. Holds key material: no Debug.
pub struct Authenticator {
    mode: AuthMode,
    issuer: Option<String>,
    external_issuers: Vec<String>,
    keys: Option<Keys>,
    /// External without a JWKS file: keys discovered from the issuers, refreshed on unknown `kid`.
    remote: Option<Remote>,
    /// Builtin: HS256 signing secret (per database, so every node agrees).
    secret: Vec<u8>,
}

impl Authenticator {
    pub fn new(config: &AuthConfig, store: &Store) -> Result<Authenticator, String> {
        let (keys, secret) = match config.mode {
            AuthMode::None => (None, Vec::new()),
            AuthMode::Builtin => {
                let s = store
                    .write(|c| -> Result<String, Error> {
                        Ok(crate::store::secret::get_or_create(
                            c,
                            "access-token-hs256",
                        )?)
                    })
                    .map_err(|e| e.to_string())?
                    .into_bytes();
                let key = jsonwebtoken::DecodingKey::from_secret(&s).map_err(|e| e.to_string())?;
                (Some(Keys::Hmac(key)), s)
            }
            AuthMode::External => match config.jwks_file.as_deref() {
                Some(path) => (Some(Keys::Jwks(token::load_jwks(path)?)), Vec::new()),
                None => (None, Vec::new()),
            },
        };
        let remote = (config.mode == AuthMode::External && keys.is_none()).then(Remote::default);
        Ok(Authenticator {
            mode: config.mode,
            issuer: config.issuer.clone(),
            external_issuers: config.external_issuers.clone(),
            keys,
            remote,
            secret,
        })
    }

    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    fn builtin_issuer(&self, req: &HttpRequest) -> String {
        match &self.issuer {
            Some(i) => i.trim_end_matches('/').to_string(),
            None => {
                let info = req.connection_info();
                format!("{}://{}/auth", info.scheme(), info.host())
            }
        }
    }
}

/// Least time between two JWKS downloads (an unknown `kid` must not let clients flood the issuer).
const JWKS_REFRESH_SECS: u64 = 60;

/// Keys discovered from the external issuers.
#[derive(Default)]
struct Remote {
    /// The keys and when they were last fetched (None: never).
    state: std::sync::RwLock<(jsonwebtoken::jwk::JwkSet, Option<std::time::Instant>)>,
}

impl Remote {
    /// The current keys; downloaded first when none are known or `kid` is unknown (rate-limited).
    async fn keys(&self, issuers: &[String], kid: Option<&str>) -> Result<Keys, Error> {
        let (set, fresh_needed) = {
            let g = self
                .state
                .read()
                .map_err(|_| Error::Internal("JWKS lock poisoned".into()))?;
            let known = match kid {
                Some(k) => g.0.find(k).is_some(),
                None => !g.0.keys.is_empty(),
            };
            let may_fetch =
                g.1.is_none_or(|t| t.elapsed().as_secs() >= JWKS_REFRESH_SECS);
            (g.0.clone(), !known && may_fetch)
        };
        if !fresh_needed {
            return Ok(Keys::Jwks(set));
        }
        let fetched = fetch_jwks(issuers).await;
        let mut g = self
            .state
            .write()
            .map_err(|_| Error::Internal("JWKS lock poisoned".into()))?;
        g.1 = Some(std::time::Instant::now());
        match fetched {
            Ok(set) => {
                g.0 = set.clone();
                Ok(Keys::Jwks(set))
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot fetch the issuers' JWKS");
                if g.0.keys.is_empty() {
                    Err(Error::Unavailable(
                        "the token issuer's keys cannot be fetched; try again later".into(),
                    ))
                } else {
                    Ok(Keys::Jwks(g.0.clone()))
                }
            }
        }
    }
}

/// OpenID discovery: `{issuer}/.well-known/openid-configuration` → `jwks_uri` → keys, for every
/// issuer (merged).
async fn fetch_jwks(issuers: &[String]) -> Result<jsonwebtoken::jwk::JwkSet, String> {
    let client = awc::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .finish();
    let mut all = jsonwebtoken::jwk::JwkSet::default();
    for iss in issuers {
        let url = format!("{iss}/.well-known/openid-configuration");
        let mut res = client
            .get(&url)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if !res.status().is_success() {
            return Err(format!("{url}: HTTP {}", res.status().as_u16()));
        }
        let conf: Value = res.json().await.map_err(|e| format!("{url}: {e}"))?;
        let jwks_uri = conf
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{url}: no jwks_uri"))?
            .to_string();
        let mut res = client
            .get(&jwks_uri)
            .send()
            .await
            .map_err(|e| format!("{jwks_uri}: {e}"))?;
        if !res.status().is_success() {
            return Err(format!("{jwks_uri}: HTTP {}", res.status().as_u16()));
        }
        let set: jsonwebtoken::jwk::JwkSet =
            res.json().await.map_err(|e| format!("{jwks_uri}: {e}"))?;
        all.keys.extend(set.keys);
    }
    Ok(all)
}

/// The caller of a /fhir request: None when authentication is off (everything allowed).
#[derive(Debug, Clone, Default)]
pub struct Guard(pub Option<Principal>);

impl Guard {
    /// What the token allows for (type, perm), or 403.
    pub fn check(&self, resource_type: &str, perm: Perm) -> Result<Access, Error> {
        let Some(p) = &self.0 else {
            return Ok(Access::Full);
        };
        scopes::access(&p.scopes, p.patient.as_deref(), resource_type, perm).ok_or_else(|| {
            Error::Forbidden(format!(
                "the access token's scopes do not allow {} on {resource_type}",
                match perm {
                    Perm::Read => "read",
                    Perm::Search => "search",
                    Perm::Create => "create",
                    Perm::Update => "update",
                    Perm::Delete => "delete",
                }
            ))
        })
    }

    /// Like [`check`](Self::check), but patient-context access is refused (403): for interactions
    /// whose results cannot be limited to one patient's compartment.
    pub fn check_full(&self, resource_type: &str, perm: Perm) -> Result<(), Error> {
        match self.check(resource_type, perm)? {
            Access::Full => Ok(()),
            Access::Patient(_) => Err(Error::Forbidden(format!(
                "this interaction on {resource_type} is not available to patient-context tokens"
            ))),
        }
    }

    /// Patient-context reads: a resource outside the compartment looks unknown (404).
    pub fn visible(&self, access: &Access, s: &Stored) -> Result<(), Error> {
        match access {
            Access::Full => Ok(()),
            Access::Patient(pid) => {
                let inside = match &s.body {
                    Some(b) => serde_json::from_slice::<Value>(b)
                        .map(|v| compartment::contains(&v, pid))
                        .unwrap_or(false),
                    None => false,
                };
                if inside {
                    Ok(())
                } else {
                    Err(Error::NotFound(format!(
                        "{}/{} is not known",
                        s.res_type, s.id
                    )))
                }
            }
        }
    }

    /// Whether an included resource may be shown (read scope on its type, and in the compartment
    /// for patient-context access).
    pub fn may_include(&self, s: &Stored) -> bool {
        match self.check(&s.res_type, Perm::Read) {
            Ok(a) => self.visible(&a, s).is_ok(),
            Err(_) => false,
        }
    }
}

/// Paths under /fhir that need no token.
fn exempt(req: &HttpRequest, segs: &[&str]) -> bool {
    req.method() == actix_web::http::Method::GET && matches!(segs, ["metadata"])
}

/// Checks the bearer token of a /fhir request (401 when missing or invalid).
pub async fn authenticate(req: &HttpRequest, st: &AppState, segs: &[&str]) -> Result<Guard, Error> {
    let a = &st.auth;
    if a.mode == AuthMode::None || exempt(req, segs) {
        return Ok(Guard(None));
    }
    let value = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            Error::Unauthorized("an access token is required (Authorization: Bearer)".into())
        })?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            Error::Unauthorized("an access token is required (Authorization: Bearer)".into())
        })?;
    let issuers = match a.mode {
        AuthMode::Builtin => vec![a.builtin_issuer(req)],
        _ => a.external_issuers.clone(),
    };
    let audience = super::routes::base_url(req, st);
    let fetched;
    let keys = match (&a.keys, &a.remote) {
        (Some(k), _) => k,
        (None, Some(r)) => {
            let kid = jsonwebtoken::decode_header(token)
                .map_err(|_| Error::Unauthorized("invalid token: malformed".into()))?
                .kid;
            fetched = r.keys(&a.external_issuers, kid.as_deref()).await?;
            &fetched
        }
        (None, None) => return Err(Error::Internal("no token keys configured".into())),
    };
    let p = token::validate(token, keys, &issuers, &audience)?;
    Ok(Guard(Some(p)))
}

/// Per-entry scope check of a batch/transaction Bundle. Patient-context access is refused for
/// Bundles (entries are not compartment-checked).
pub fn check_bundle(guard: &Guard, bundle: &Value) -> Result<(), Error> {
    if guard.0.is_none() {
        return Ok(());
    }
    let entries = bundle
        .get("entry")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    for (i, e) in entries.iter().enumerate() {
        let req = e.get("request");
        let method = req
            .and_then(|r| r.get("method"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let url = req
            .and_then(|r| r.get("url"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let path = url.split('?').next().unwrap_or("");
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let t = segs.first().copied().unwrap_or("");
        let perm = match (method, segs.len(), url.contains('?')) {
            ("GET" | "HEAD", 1, _) => Perm::Search,
            ("GET" | "HEAD", _, _) => Perm::Read,
            ("POST", _, _) => Perm::Create,
            ("PUT" | "PATCH", _, _) => Perm::Update,
            ("DELETE", _, _) => Perm::Delete,
            _ => {
                return Err(Error::Forbidden(format!(
                    "Bundle entry {i}: cannot authorise request {method} {url}"
                )));
            }
        };
        if t.is_empty() || t.starts_with('$') || t.starts_with('_') {
            return Err(Error::Forbidden(format!(
                "Bundle entry {i}: cannot authorise request {method} {url}"
            )));
        }
        guard
            .check_full(t, perm)
            .map_err(|e| Error::Forbidden(format!("Bundle entry {i}: {e}")))?;
    }
    Ok(())
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/auth/token", web::post().to(token_endpoint))
        .route(
            "/.well-known/smart-configuration",
            web::get().to(smart_configuration),
        );
}

async fn smart_configuration(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let a = &state.auth;
    let body = match a.mode {
        AuthMode::None => {
            return Err(
                Error::NotFound("authentication is not enabled on this server".into()).into(),
            );
        }
        AuthMode::Builtin => {
            let issuer = a.builtin_issuer(&req);
            let info = req.connection_info();
            json!({
                "issuer": issuer,
                "token_endpoint": format!("{}://{}/auth/token", info.scheme(), info.host()),
                "grant_types_supported": ["password", "client_credentials"],
                "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
                "scopes_supported": ["patient/*.rs", "user/*.cruds", "system/*.read"],
                "capabilities": ["client-confidential-symmetric", "permission-v1", "permission-v2", "context-standalone-patient"],
                "code_challenge_methods_supported": []
            })
        }
        AuthMode::External => json!({
            "issuer": a.external_issuers.first(),
            "capabilities": ["permission-v1", "permission-v2"],
        }),
    };
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(serde_json::to_vec(&body).unwrap_or_default()))
}

/// OAuth error body (RFC 6749 §5.2).
fn oauth_error(status: StatusCode, code: &str, description: &str) -> HttpResponse {
    let mut r = HttpResponse::build(status);
    if status == StatusCode::UNAUTHORIZED {
        r.insert_header(("WWW-Authenticate", "Bearer"));
    }
    r.content_type("application/json").body(
        serde_json::to_vec(&json!({"error": code, "error_description": description}))
            .unwrap_or_default(),
    )
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
    Some((id.to_string(), secret.to_string()))
}

async fn token_endpoint(
    req: HttpRequest,
    payload: Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let st = state.get_ref().clone();
    if st.auth.mode != AuthMode::Builtin {
        return Err(
            Error::NotFound("this server does not issue tokens (--auth builtin)".into()).into(),
        );
    }
    let body = read_body(payload, 64 * 1024).await?;
    let text =
        String::from_utf8(body).map_err(|_| Error::invalid(None, "form body is not UTF-8"))?;
    let form = crate::search::criteria::form_pairs(&text);
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let grant_type = get("grant_type").unwrap_or_default();
    let basic = basic_credentials(&req);
    let (username, password, totp) = (get("username"), get("password"), get("totp"));
    let (client_id, client_secret) = match &basic {
        Some((id, s)) => (Some(id.clone()), Some(s.clone())),
        None => (get("client_id"), get("client_secret")),
    };
    let requested = get("scope");
    // The login's audit agent: who tried, from where (the name as given, also when unknown).
    let mut who = crate::fhir::audit_event::Actor {
        source_ip: super::audit::source_ip(&req),
        ..Default::default()
    };
    match grant_type.as_str() {
        "password" => who.user = username.clone().filter(|u| !u.is_empty()),
        _ => who.client = client_id.clone().filter(|c| !c.is_empty()),
    }
    let issuer = st.auth.builtin_issuer(&req);
    let audience = super::routes::base_url(&req, &st);
    let store = st.services.store.clone();
    let auth = st.auth.clone();
    let result = blocking(move || {
        let grant = match grant_type.as_str() {
            "password" => Grant::Password {
                username: username.as_deref().unwrap_or(""),
                password: password.as_deref().unwrap_or(""),
                totp: totp.as_deref(),
            },
            "client_credentials" => Grant::ClientCredentials {
                client_id: client_id.as_deref().unwrap_or(""),
                client_secret: client_secret.as_deref().unwrap_or(""),
            },
            _ => {
                return Err(Error::invalid(
                    Some("grant_type"),
                    "unsupported_grant_type: use password or client_credentials",
                ));
            }
        };
        let ctx = TokenContext {
            issuer: &issuer,
            audience: &audience,
            secret: &auth.secret,
            requested_scope: requested.as_deref(),
        };
        iauth::token(&store, &grant, &ctx)
    })
    .await;
    let login = |outcome: Outcome, desc: Option<String>| {
        let mut r = Record::new(
            Kind::Login,
            Action::E,
            crate::store::now_micros(),
            who.clone(),
        );
        r.outcome = outcome;
        r.outcome_desc = desc;
        r
    };
    match &result {
        // A token is handed out only once its login is on record (fail closed).
        Ok(_) => {
            st.services
                .audit
                .record(&login(Outcome::Success, None))
                .await?
        }
        Err(Error::Unauthorized(m)) => {
            if let Err(e) = st
                .services
                .audit
                .record(&login(Outcome::Minor, Some(m.clone())))
                .await
            {
                tracing::error!(error = %e, "failed login not audited");
            }
        }
        Err(_) => {}
    }
    match result {
        Ok(t) => {
            let mut body = json!({
                "access_token": t.access_token,
                "token_type": "Bearer",
                "expires_in": t.expires_in,
                "scope": t.scope,
            });
            if let Some(p) = t.patient {
                body["patient"] = Value::String(p);
            }
            Ok(HttpResponse::Ok()
                .content_type("application/json")
                .insert_header(("Pragma", "no-cache"))
                .body(serde_json::to_vec(&body).unwrap_or_default()))
        }
        Err(Error::Unauthorized(m)) => {
            Ok(oauth_error(StatusCode::UNAUTHORIZED, "invalid_grant", &m))
        }
        Err(Error::Invalid(issues)) => Ok(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &issues
                .first()
                .map(|i| i.diagnostics.clone())
                .unwrap_or_default(),
        )),
        Err(e) => Err(e.into()),
    }
}
