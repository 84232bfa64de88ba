//! The builtin OAuth2 authorization server's use cases: the authorization request (login with
//! password + TOTP, code + PKCE for apps), the token endpoint's grants (authorization_code,
//! refresh_token with rotation, client_credentials with a secret or private_key_jwt, password for
//! tooling) and revocation (RFC 7009). The HTTP edge is `api::oauth`.

use jsonwebtoken::jwk::JwkSet;

use super::auth::{self as accounts, DENIED};
use crate::auth::credentials;
use crate::auth::pkce;
use crate::auth::scopes::Scope;
use crate::auth::token::{self, Claims, SigningKey};
use crate::error::Error;
use crate::store::Store;
use crate::store::auth::{self as rows, ClientRow, Kind};
use crate::store::oauth::{self as grants, GrantRow};

/// Lifetime of an authorization code.
pub const CODE_SECS: i64 = 60;
/// Lifetime of a refresh token (each use replaces it with a new one).
pub const REFRESH_SECS: i64 = 14 * 24 * 3600;

/// RFC 6749 error codes (§4.1.2.1, §5.2) and RFC 7009's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
}

impl OAuthCode {
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthCode::InvalidRequest => "invalid_request",
            OAuthCode::InvalidClient => "invalid_client",
            OAuthCode::InvalidGrant => "invalid_grant",
            OAuthCode::UnauthorizedClient => "unauthorized_client",
            OAuthCode::UnsupportedGrantType => "unsupported_grant_type",
            OAuthCode::UnsupportedResponseType => "unsupported_response_type",
            OAuthCode::InvalidScope => "invalid_scope",
            OAuthCode::AccessDenied => "access_denied",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// Refused: the client gets `error` = the code, and the description.
    #[error("{}: {}", .0.as_str(), .1)]
    Refused(OAuthCode, String),
    /// A fault of ours or of the database, not of the client.
    #[error(transparent)]
    Server(#[from] Error),
}

fn refused(code: OAuthCode, description: impl Into<String>) -> OAuthError {
    OAuthError::Refused(code, description.into())
}

/// How the client authenticates at the token or revocation endpoint.
pub enum ClientAuth<'a> {
    /// Only a client_id: a public app.
    Id(&'a str),
    /// client_secret_basic / client_secret_post.
    Secret { client_id: &'a str, secret: &'a str },
    /// private_key_jwt, with the client's keys (found with [`client_keys`]).
    Assertion {
        client_id: &'a str,
        assertion: &'a str,
        keys: &'a JwkSet,
    },
}

/// Where a private_key_jwt client's public keys are.
pub enum KeySource {
    Registered(JwkSet),
    /// Published by the client at this URL (the caller fetches it).
    Url(String),
}

fn load_client(store: &Store, client_id: &str) -> Result<ClientRow, OAuthError> {
    let now = token::now_secs() as i64;
    match store.read(|c| -> Result<_, Error> { Ok(rows::get_client(c, client_id)?) })? {
        Some(c) if !c.disabled && c.locked_until.is_none_or(|t| t <= now) => Ok(c),
        _ => Err(refused(OAuthCode::InvalidClient, DENIED)),
    }
}

fn is_public(c: &ClientRow) -> bool {
    c.secret_hash.is_empty() && c.jwks.is_none() && c.jwks_url.is_none()
}

/// The keys a private_key_jwt client signs its assertions with.
pub fn client_keys(store: &Store, client_id: &str) -> Result<KeySource, OAuthError> {
    let c = load_client(store, client_id)?;
    if let Some(text) = &c.jwks {
        let set = serde_json::from_str(text)
            .map_err(|e| Error::Internal(format!("the stored JWKS of {client_id}: {e}")))?;
        return Ok(KeySource::Registered(set));
    }
    match c.jwks_url {
        Some(url) => Ok(KeySource::Url(url)),
        None => Err(refused(
            OAuthCode::InvalidClient,
            "this client has no registered keys for private_key_jwt",
        )),
    }
}

/// Authenticates the client of a token or revocation request.
fn authenticate_client(
    store: &Store,
    auth: &ClientAuth<'_>,
    token_endpoint: &str,
) -> Result<ClientRow, OAuthError> {
    match auth {
        ClientAuth::Id(id) => {
            let c = load_client(store, id)?;
            if !is_public(&c) {
                return Err(refused(
                    OAuthCode::InvalidClient,
                    "this client must authenticate (client secret or client assertion)",
                ));
            }
            Ok(c)
        }
        ClientAuth::Secret { client_id, secret } => {
            let c = load_client(store, client_id)?;
            if c.secret_hash.is_empty() || !credentials::verify_password(secret, &c.secret_hash) {
                accounts::fail(
                    store,
                    Kind::Client,
                    client_id,
                    token::now_secs() as i64,
                    "wrong client secret",
                )?;
                return Err(refused(OAuthCode::InvalidClient, DENIED));
            }
            if c.failed_attempts > 0 {
                store.write(|conn| -> Result<(), Error> {
                    Ok(rows::reset_failures(conn, Kind::Client, client_id)?)
                })?;
            }
            Ok(c)
        }
        ClientAuth::Assertion {
            client_id,
            assertion,
            keys,
        } => {
            // Bad assertions do not count towards lockout: keys cannot be guessed, and anyone
            // could otherwise lock a backend service out.
            let c = load_client(store, client_id)?;
            let claims = token::validate_assertion(assertion, keys, client_id, token_endpoint)
                .map_err(|why| refused(OAuthCode::InvalidClient, why))?;
            let exp = i64::try_from(claims.exp).unwrap_or(i64::MAX - 60);
            let fresh = store.write(|conn| -> Result<bool, Error> {
                Ok(grants::remember_jti(
                    conn,
                    client_id,
                    &claims.jti,
                    exp + 60,
                )?)
            })?;
            if !fresh {
                return Err(refused(
                    OAuthCode::InvalidClient,
                    "the client assertion's jti was used before (replay)",
                ));
            }
            Ok(c)
        }
    }
}

/// A token request, parsed.
pub enum Grant<'a> {
    /// Kept for tooling and tests: a person's password + TOTP straight to the token endpoint.
    Password {
        username: &'a str,
        password: &'a str,
        totp: Option<&'a str>,
    },
    ClientCredentials {
        client: ClientAuth<'a>,
    },
    AuthorizationCode {
        client: ClientAuth<'a>,
        code: &'a str,
        redirect_uri: &'a str,
        code_verifier: &'a str,
    },
    RefreshToken {
        client: ClientAuth<'a>,
        refresh_token: &'a str,
    },
}

/// Where issued tokens say they come from and are meant for, and what signs them.
pub struct TokenContext<'a> {
    pub issuer: &'a str,
    /// The FHIR base URL (`aud` of access tokens).
    pub audience: &'a str,
    /// The token endpoint's URL (`aud` of client assertions).
    pub token_endpoint: &'a str,
    pub signer: &'a SigningKey,
    /// Requested scope (optional): the grant is narrowed to the listed scopes it already has.
    pub requested_scope: Option<&'a str>,
}

#[derive(Debug)]
pub struct Issued {
    pub access_token: String,
    pub scope: String,
    pub patient: Option<String>,
    pub expires_in: u64,
    pub refresh_token: Option<String>,
}

/// True when holding the scope list `held` is enough to hand out `wanted`: it lists it, or, for a
/// SMART resource scope, one of its resource scopes covers it (`system/*.cruds` covers
/// `system/Patient.rs`; see `Scope::covers`).
fn holds(held: &str, wanted: &str) -> bool {
    held.split_whitespace().any(|h| h == wanted)
        || Scope::parse(wanted).is_some_and(|w| {
            held.split_whitespace()
                .filter_map(Scope::parse)
                .any(|h| h.covers(&w))
        })
}

/// `granted` narrowed to the `requested` scopes it holds (all of it when none are requested); the
/// token then carries the requested scope text.
fn narrow(granted: &str, requested: Option<&str>) -> Result<String, OAuthError> {
    let scope = match requested.map(str::trim).filter(|r| !r.is_empty()) {
        None => granted.to_string(),
        Some(r) => r
            .split_whitespace()
            .filter(|s| holds(granted, s))
            .collect::<Vec<_>>()
            .join(" "),
    };
    if scope.is_empty() {
        return Err(refused(
            OAuthCode::InvalidScope,
            "none of the requested scopes is granted",
        ));
    }
    Ok(scope)
}

/// Scopes about the launch and the app rather than data: the client's registration decides them.
fn is_app_scope(s: &str) -> bool {
    matches!(
        s,
        "openid" | "fhirUser" | "profile" | "offline_access" | "online_access"
    ) || s.starts_with("launch")
}

/// What an app gets from a person's authorization: the requested scopes its registration allows,
/// and, for data scopes, that the person has too (each held as such or covered, see `holds`).
fn app_scope(requested: &str, client_scope: &str, person_scope: &str) -> String {
    requested
        .split_whitespace()
        .filter(|s| holds(client_scope, s) && (is_app_scope(s) || holds(person_scope, s)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Refresh tokens go to apps that asked for them (SMART `offline_access` / `online_access`).
fn wants_refresh(scope: &str) -> bool {
    scope
        .split_whitespace()
        .any(|s| s == "offline_access" || s == "online_access")
}

/// Who a token is for.
struct Subject {
    sub: String,
    client_id: Option<String>,
    scope: String,
    patient: Option<String>,
    /// The grant family (authorization code → refresh tokens); None for one-off grants.
    family: Option<String>,
}

fn issue(store: &Store, ctx: &TokenContext<'_>, s: Subject) -> Result<Issued, OAuthError> {
    let iat = token::now_secs();
    let claims = Claims {
        iss: ctx.issuer.to_string(),
        aud: serde_json::Value::String(ctx.audience.to_string()),
        sub: s.sub.clone(),
        exp: iat + token::ACCESS_TOKEN_SECS,
        iat,
        scope: Some(s.scope.clone()),
        patient: s.patient.clone(),
        token_use: None,
        typ: None,
        jti: Some(uuid::Uuid::new_v4().to_string()),
        sid: s.family.clone(),
        client_id: s.client_id.clone(),
        azp: None,
    };
    let access_token = ctx.signer.sign(&claims)?;
    let refresh_token = match (&s.family, &s.client_id) {
        (Some(family), Some(client_id)) if wants_refresh(&s.scope) => {
            let t = credentials::random_secret();
            let now = iat as i64;
            store.write(|c| -> Result<(), Error> {
                grants::purge_expired(c, now - 60)?;
                Ok(grants::insert_refresh(
                    c,
                    &grants::NewRefresh {
                        token_hash: &credentials::digest(&t),
                        family,
                        client_id,
                        subject: &s.sub,
                        scope: &s.scope,
                        patient: s.patient.as_deref(),
                        expires_at: now + REFRESH_SECS,
                    },
                )?)
            })?;
            Some(t)
        }
        _ => None,
    };
    Ok(Issued {
        access_token,
        scope: s.scope,
        patient: s.patient,
        expires_in: token::ACCESS_TOKEN_SECS,
        refresh_token,
    })
}

/// A refusal decided inside a write transaction that must still commit (a code or refresh token
/// marked used, a grant family revoked).
type Decided<T> = Result<T, (OAuthCode, &'static str)>;

/// The token endpoint: checks the grant and issues an access token (and a refresh token for apps
/// that asked for offline or online access).
pub fn token(
    store: &Store,
    grant: &Grant<'_>,
    ctx: &TokenContext<'_>,
) -> Result<Issued, OAuthError> {
    let now = token::now_secs() as i64;
    match grant {
        Grant::Password {
            username,
            password,
            totp,
        } => {
            let p = accounts::authenticate_person(store, username, password, *totp)?
                .map_err(|m| refused(OAuthCode::InvalidGrant, m))?;
            let scope = narrow(&p.scope, ctx.requested_scope)?;
            let s = Subject {
                sub: p.username,
                client_id: None,
                scope,
                patient: p.patient,
                family: None,
            };
            issue(store, ctx, s)
        }
        Grant::ClientCredentials { client } => {
            let c = authenticate_client(store, client, ctx.token_endpoint)?;
            if is_public(&c) {
                return Err(refused(
                    OAuthCode::UnauthorizedClient,
                    "a public client cannot use client_credentials",
                ));
            }
            let scope = narrow(&c.scope, ctx.requested_scope)?;
            let s = Subject {
                sub: c.client_id.clone(),
                client_id: Some(c.client_id),
                scope,
                patient: None,
                family: None,
            };
            issue(store, ctx, s)
        }
        Grant::AuthorizationCode {
            client,
            code,
            redirect_uri,
            code_verifier,
        } => {
            let c = authenticate_client(store, client, ctx.token_endpoint)?;
            let hash = credentials::digest(code);
            let decided = store.write(|conn| -> Result<Decided<GrantRow>, Error> {
                let Some(row) = grants::take_code(conn, &hash)? else {
                    return Ok(Err((OAuthCode::InvalidGrant, "unknown authorization code")));
                };
                if row.grant.used {
                    // A replayed code: whatever was issued for it is suspect (RFC 6749 §4.1.2).
                    grants::revoke(conn, &row.grant.family, now + REFRESH_SECS)?;
                    return Ok(Err((
                        OAuthCode::InvalidGrant,
                        "the authorization code was already used; its tokens are revoked",
                    )));
                }
                if row.grant.expires_at < now {
                    return Ok(Err((
                        OAuthCode::InvalidGrant,
                        "the authorization code expired",
                    )));
                }
                if row.grant.client_id != c.client_id {
                    return Ok(Err((
                        OAuthCode::InvalidGrant,
                        "the authorization code was issued to another client",
                    )));
                }
                if row.redirect_uri != *redirect_uri {
                    return Ok(Err((
                        OAuthCode::InvalidGrant,
                        "redirect_uri differs from the authorization request's",
                    )));
                }
                if !pkce::verifies(code_verifier, &row.code_challenge) {
                    return Ok(Err((
                        OAuthCode::InvalidGrant,
                        "code_verifier does not match the code_challenge",
                    )));
                }
                Ok(Ok(row.grant))
            })?;
            let g = decided.map_err(|(code, m)| refused(code, m))?;
            if !accounts::person_active(store, &g.subject)? {
                return Err(refused(OAuthCode::InvalidGrant, DENIED));
            }
            let s = Subject {
                sub: g.subject,
                client_id: Some(c.client_id),
                scope: g.scope,
                patient: g.patient,
                family: Some(g.family),
            };
            issue(store, ctx, s)
        }
        Grant::RefreshToken {
            client,
            refresh_token,
        } => {
            let c = authenticate_client(store, client, ctx.token_endpoint)?;
            let hash = credentials::digest(refresh_token);
            let decided = store.write(|conn| -> Result<Decided<GrantRow>, Error> {
                let Some(g) = grants::take_refresh(conn, &hash)? else {
                    return Ok(Err((OAuthCode::InvalidGrant, "unknown refresh token")));
                };
                if g.used {
                    // Rotation: a used token shows up again only if it leaked. Revoke the grant.
                    grants::revoke(conn, &g.family, now + REFRESH_SECS)?;
                    return Ok(Err((
                        OAuthCode::InvalidGrant,
                        "the refresh token was already used; the grant is revoked",
                    )));
                }
                if g.client_id != c.client_id {
                    return Ok(Err((
                        OAuthCode::InvalidGrant,
                        "the refresh token was issued to another client",
                    )));
                }
                if grants::is_revoked(conn, &g.family, &g.family)? {
                    return Ok(Err((OAuthCode::InvalidGrant, "the grant was revoked")));
                }
                if g.expires_at < now {
                    return Ok(Err((OAuthCode::InvalidGrant, "the refresh token expired")));
                }
                Ok(Ok(g))
            })?;
            let g = decided.map_err(|(code, m)| refused(code, m))?;
            if !accounts::person_active(store, &g.subject)? {
                return Err(refused(OAuthCode::InvalidGrant, DENIED));
            }
            // The scope can only shrink (RFC 6749 §6).
            let scope = narrow(&g.scope, ctx.requested_scope)?;
            let s = Subject {
                sub: g.subject,
                client_id: Some(c.client_id),
                scope,
                patient: g.patient,
                family: Some(g.family),
            };
            issue(store, ctx, s)
        }
    }
}

/// The parameters of an authorization request (RFC 6749 §4.1.1, RFC 7636, SMART App Launch).
#[derive(Debug, Clone, Default)]
pub struct AuthorizeRequest {
    pub response_type: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub code_challenge: String,
    pub code_challenge_method: String,
    /// SMART: the FHIR base URL the app wants to access.
    pub aud: String,
}

#[derive(Debug)]
pub enum AuthorizeError {
    /// The client or its redirect URI cannot be trusted: shown, never redirected (§4.1.2.1).
    Show(OAuthCode, String),
    /// Sent back to the app's redirect URI.
    Redirect {
        redirect_uri: String,
        code: OAuthCode,
        description: String,
        state: Option<String>,
    },
    /// The person's login failed: the form is shown again.
    Login(String),
    Server(Error),
}

impl From<Error> for AuthorizeError {
    fn from(e: Error) -> Self {
        AuthorizeError::Server(e)
    }
}

/// Checks an authorization request before the login form is shown: a known client with this exact
/// redirect URI, response_type=code, PKCE S256, `aud` = this server's FHIR base, some scope.
pub fn check_authorize(
    store: &Store,
    r: &AuthorizeRequest,
    fhir_base: &str,
) -> Result<ClientRow, AuthorizeError> {
    let c = match load_client(store, &r.client_id) {
        Ok(c) => c,
        Err(OAuthError::Server(e)) => return Err(e.into()),
        Err(OAuthError::Refused(..)) => {
            return Err(AuthorizeError::Show(
                OAuthCode::InvalidRequest,
                "unknown or disabled client_id".into(),
            ));
        }
    };
    let registered = c.redirect_uris.as_deref().unwrap_or("");
    if !registered.split_whitespace().any(|u| u == r.redirect_uri) {
        return Err(AuthorizeError::Show(
            OAuthCode::InvalidRequest,
            "redirect_uri is not registered for this client".into(),
        ));
    }
    let back = |code: OAuthCode, description: &str| AuthorizeError::Redirect {
        redirect_uri: r.redirect_uri.clone(),
        code,
        description: description.into(),
        state: r.state.clone(),
    };
    if r.response_type != "code" {
        return Err(back(
            OAuthCode::UnsupportedResponseType,
            "only response_type=code is supported",
        ));
    }
    if r.code_challenge_method != "S256" || !pkce::valid_challenge(&r.code_challenge) {
        return Err(back(
            OAuthCode::InvalidRequest,
            "PKCE is required: code_challenge (43 characters) with code_challenge_method=S256",
        ));
    }
    if r.aud.trim_end_matches('/') != fhir_base {
        return Err(back(
            OAuthCode::InvalidRequest,
            "aud must be this server's FHIR base URL",
        ));
    }
    if app_scope(&r.scope, &c.scope, &c.scope).is_empty() {
        return Err(back(
            OAuthCode::InvalidScope,
            "none of the requested scopes is allowed for this client",
        ));
    }
    Ok(c)
}

/// A successful authorization: where to send the person's browser.
#[derive(Debug)]
pub struct Authorized {
    pub redirect_uri: String,
    pub code: String,
    pub state: Option<String>,
}

/// The login form's submission: checks the request again, then the person's password and TOTP, and
/// issues a single-use authorization code bound to the client, redirect URI and PKCE challenge.
pub fn authorize(
    store: &Store,
    r: &AuthorizeRequest,
    fhir_base: &str,
    username: &str,
    password: &str,
    totp: Option<&str>,
) -> Result<Authorized, AuthorizeError> {
    let c = check_authorize(store, r, fhir_base)?;
    let person = accounts::authenticate_person(store, username, password, totp)?
        .map_err(AuthorizeError::Login)?;
    let scope = app_scope(&r.scope, &c.scope, &person.scope);
    if scope.split_whitespace().all(is_app_scope) {
        return Err(AuthorizeError::Redirect {
            redirect_uri: r.redirect_uri.clone(),
            code: OAuthCode::AccessDenied,
            description: "this user may not grant any of the requested data scopes".into(),
            state: r.state.clone(),
        });
    }
    let code = credentials::random_secret();
    let family = uuid::Uuid::new_v4().to_string();
    let now = token::now_secs() as i64;
    store.write(|conn| -> Result<(), Error> {
        Ok(grants::insert_code(
            conn,
            &grants::NewCode {
                code_hash: &credentials::digest(&code),
                client_id: &c.client_id,
                subject: &person.username,
                redirect_uri: &r.redirect_uri,
                code_challenge: &r.code_challenge,
                scope: &scope,
                patient: person.patient.as_deref(),
                family: &family,
                expires_at: now + CODE_SECS,
            },
        )?)
    })?;
    Ok(Authorized {
        redirect_uri: r.redirect_uri.clone(),
        code,
        state: r.state.clone(),
    })
}

/// Revocation (RFC 7009): a refresh token revokes its whole grant; an access token of ours is
/// revoked by its id. Unknown tokens are not an error (§2.2). `keys` verify our own tokens.
pub fn revoke(
    store: &Store,
    client: &ClientAuth<'_>,
    token_value: &str,
    keys: &JwkSet,
    issuer: &str,
    token_endpoint: &str,
) -> Result<(), OAuthError> {
    let c = authenticate_client(store, client, token_endpoint)?;
    let now = token::now_secs() as i64;
    let hash = credentials::digest(token_value);
    let refresh =
        store.read(|conn| -> Result<_, Error> { Ok(grants::get_refresh(conn, &hash)?) })?;
    if let Some(g) = refresh {
        if g.client_id != c.client_id {
            return Err(refused(
                OAuthCode::UnauthorizedClient,
                "the token was issued to another client",
            ));
        }
        store.write(|conn| -> Result<(), Error> {
            Ok(grants::revoke(conn, &g.family, now + REFRESH_SECS)?)
        })?;
        return Ok(());
    }
    let Some(claims) = token::verify_own(token_value, keys, issuer) else {
        return Ok(());
    };
    if claims.client_id.as_deref() != Some(c.client_id.as_str()) {
        return Err(refused(
            OAuthCode::UnauthorizedClient,
            "the token was issued to another client",
        ));
    }
    if let Some(jti) = &claims.jti {
        let until = i64::try_from(claims.exp).unwrap_or(i64::MAX - 60) + 60;
        store.write(|conn| -> Result<(), Error> { Ok(grants::revoke(conn, jti, until)?) })?;
    }
    Ok(())
}

/// Whether a validated builtin access token (its id or its grant) was revoked.
pub fn is_revoked(store: &Store, jti: Option<&str>, sid: Option<&str>) -> Result<bool, Error> {
    if jti.is_none() && sid.is_none() {
        return Ok(false);
    }
    let (a, b) = (jti.unwrap_or(""), sid.unwrap_or(""));
    store.read(|c| -> Result<bool, Error> { Ok(grants::is_revoked(c, a, b)?) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_scopes_need_the_client_and_data_scopes_the_person_too() {
        let client = "patient/*.rs launch/patient openid offline_access";
        let person = "patient/*.rs user/*.cruds";
        assert_eq!(
            app_scope(
                "patient/*.rs launch/patient offline_access user/*.cruds",
                client,
                person
            ),
            "patient/*.rs launch/patient offline_access"
        );
        assert_eq!(app_scope("patient/*.rs", client, "user/*.rs"), "");
        // Covered data scopes are handed out as requested (narrower).
        assert_eq!(
            app_scope(
                "patient/Observation.rs?category=laboratory launch/patient patient/Claim.c",
                client,
                "patient/*.cruds"
            ),
            "patient/Observation.rs?category=laboratory launch/patient"
        );
        assert!(wants_refresh("patient/*.rs offline_access"));
    }

    #[test]
    fn narrowing_by_coverage() {
        let n = |g: &str, r: &str| narrow(g, Some(r)).map_err(|e| e.to_string());
        assert_eq!(
            n("system/*.cruds", "system/Patient.rs").as_deref(),
            Ok("system/Patient.rs")
        );
        assert_eq!(
            n(
                "system/*.read openid",
                "system/Observation.read openid system/Patient.c"
            )
            .as_deref(),
            Ok("system/Observation.read openid")
        );
        assert_eq!(
            n(
                "user/Observation.rs?category=laboratory",
                "user/Observation.rs?category=laboratory user/Observation.rs?category=vital-signs user/Observation.rs"
            )
            .as_deref(),
            Ok("user/Observation.rs?category=laboratory")
        );
        assert!(n("system/Patient.rs", "system/*.rs").is_err());
        assert!(n("user/*.cruds", "system/Patient.rs").is_err());
        assert_eq!(n("user/*.rs", "").as_deref(), Ok("user/*.rs"));
        assert!(!wants_refresh("patient/*.rs"));
    }
}
