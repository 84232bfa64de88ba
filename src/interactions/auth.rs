//! Builtin authentication use cases: managing users and clients (CLI), and checking a person's
//! password + TOTP with lockout after repeated failures. The OAuth2 grants are in `oauth`.

use crate::auth::credentials;
use crate::auth::token;
use crate::error::Error;
use crate::store::Store;
use crate::store::auth::{self as rows, Kind};

/// Failed attempts before an account is locked.
pub const MAX_FAILURES: i32 = 5;
/// How long a lock lasts.
pub const LOCK_SECS: i64 = 15 * 60;

/// A user as `hms user list` shows it (no secrets).
#[derive(Debug, Clone)]
pub struct UserInfo {
    pub username: String,
    pub scope: String,
    pub patient: Option<String>,
    pub mfa: bool,
    pub disabled: bool,
    pub locked: bool,
}

fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b))
    {
        return Err(Error::invalid(
            None,
            "a name is 1-64 characters of A-Z, a-z, 0-9, '.', '_', '-', '@'",
        ));
    }
    Ok(())
}

pub fn add_user(
    store: &Store,
    username: &str,
    password: &str,
    scope: &str,
    patient: Option<&str>,
) -> Result<(), Error> {
    check_name(username)?;
    if password.chars().count() < 12 {
        return Err(Error::invalid(
            None,
            "the password needs at least 12 characters",
        ));
    }
    let hash = credentials::hash_password(password)?;
    let added = store.write(|c| -> Result<bool, Error> {
        Ok(rows::insert_user(c, username, &hash, scope, patient)?)
    })?;
    if added {
        Ok(())
    } else {
        Err(Error::Conflict(format!("user {username} already exists")))
    }
}

pub fn list_users(store: &Store) -> Result<Vec<UserInfo>, Error> {
    let now = token::now_secs() as i64;
    let users = store.read(|c| -> Result<_, Error> { Ok(rows::list_users(c)?) })?;
    Ok(users
        .into_iter()
        .map(|u| UserInfo {
            username: u.username,
            scope: u.scope,
            patient: u.patient,
            mfa: u.totp_secret.is_some(),
            disabled: u.disabled,
            locked: u.locked_until.is_some_and(|t| t > now),
        })
        .collect())
}

pub fn disable(store: &Store, kind: Kind, name: &str) -> Result<(), Error> {
    let ok = store.write(|c| -> Result<bool, Error> { Ok(rows::disable(c, kind, name)?) })?;
    if ok {
        Ok(())
    } else {
        Err(Error::NotFound(format!("no such account: {name}")))
    }
}

/// Enrols (or re-enrols) TOTP for a user: returns (base32 secret, otpauth:// URL).
pub fn mfa_enroll(store: &Store, username: &str) -> Result<(String, String), Error> {
    let (secret, url) = credentials::new_totp(username)?;
    let ok =
        store.write(|c| -> Result<bool, Error> { Ok(rows::set_totp(c, username, &secret)?) })?;
    if ok {
        Ok((secret, url))
    } else {
        Err(Error::NotFound(format!("no such user: {username}")))
    }
}

/// How a client proves who it is at the token endpoint.
pub enum ClientKind {
    /// A generated secret (client_secret_basic / client_secret_post); shown once, stored hashed.
    Secret,
    /// No credential: a public app (authorization code + PKCE only).
    Public,
    /// private_key_jwt with these registered public keys (JWKS JSON).
    Jwks(String),
    /// private_key_jwt with keys fetched from this URL.
    JwksUrl(String),
}

/// A client to register with `hms client add`.
pub struct ClientSpec {
    pub scope: String,
    /// Exact redirect URIs for the authorization code flow (none: no authorization code).
    pub redirect_uris: Vec<String>,
    pub kind: ClientKind,
}

/// Creates a client for client_credentials with a secret; returns the secret.
pub fn add_client(store: &Store, client_id: &str, scope: &str) -> Result<String, Error> {
    let spec = ClientSpec {
        scope: scope.to_string(),
        redirect_uris: Vec::new(),
        kind: ClientKind::Secret,
    };
    register_client(store, client_id, &spec)?
        .ok_or_else(|| Error::Internal("no secret generated".into()))
}

/// Registers a client; returns its secret when it has one (shown once, stored hashed).
pub fn register_client(
    store: &Store,
    client_id: &str,
    spec: &ClientSpec,
) -> Result<Option<String>, Error> {
    check_name(client_id)?;
    if spec.scope.trim().is_empty() {
        return Err(Error::invalid(None, "a client needs --scope"));
    }
    for uri in &spec.redirect_uris {
        let ok = (uri.starts_with("https://") || uri.starts_with("http://"))
            && !uri.contains('#')
            && !uri.contains(char::is_whitespace);
        if !ok {
            return Err(Error::invalid(
                Some("redirect-uri"),
                format!("{uri:?} is not an absolute http(s) URI without a fragment"),
            ));
        }
    }
    let (secret, jwks, jwks_url) = match &spec.kind {
        ClientKind::Secret => (Some(credentials::random_secret()), None, None),
        ClientKind::Public => (None, None, None),
        ClientKind::Jwks(text) => {
            let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(text).map_err(|e| {
                Error::invalid(Some("jwks"), format!("not a JWKS (JSON Web Key Set): {e}"))
            })?;
            if set.keys.is_empty() {
                return Err(Error::invalid(Some("jwks"), "the JWKS has no keys"));
            }
            (None, Some(text.as_str()), None)
        }
        ClientKind::JwksUrl(url) => {
            if !url.starts_with("https://") && !url.starts_with("http://") {
                return Err(Error::invalid(Some("jwks-url"), "not an http(s) URL"));
            }
            (None, None, Some(url.as_str()))
        }
    };
    if matches!(spec.kind, ClientKind::Public) && spec.redirect_uris.is_empty() {
        return Err(Error::invalid(
            Some("redirect-uri"),
            "a public client needs at least one --redirect-uri",
        ));
    }
    let hash = match &secret {
        Some(s) => credentials::hash_password(s)?,
        None => String::new(),
    };
    let uris = spec.redirect_uris.join(" ");
    let row = rows::NewClient {
        client_id,
        secret_hash: &hash,
        scope: spec.scope.trim(),
        redirect_uris: (!uris.is_empty()).then_some(uris.as_str()),
        jwks,
        jwks_url,
    };
    let added = store.write(|c| -> Result<bool, Error> { Ok(rows::insert_client(c, &row)?) })?;
    if added {
        Ok(secret)
    } else {
        Err(Error::Conflict(format!(
            "client {client_id} already exists"
        )))
    }
}

/// One message for every credential failure, so that callers cannot tell which part was wrong or
/// whether the account exists.
pub const DENIED: &str = "invalid credentials, or the account is locked or disabled";

/// What a checked person may be granted.
pub struct Person {
    pub username: String,
    pub scope: String,
    pub patient: Option<String>,
}

/// Checks a person's password and TOTP code (MFA is required), with lockout after repeated
/// failures. `Ok(Err(message))` is a refusal to pass on to the caller.
pub fn authenticate_person(
    store: &Store,
    username: &str,
    password: &str,
    totp: Option<&str>,
) -> Result<Result<Person, String>, Error> {
    let now = token::now_secs() as i64;
    let Some(user) = store.read(|c| -> Result<_, Error> { Ok(rows::get_user(c, username)?) })?
    else {
        return Ok(Err(DENIED.into()));
    };
    if user.disabled || user.locked_until.is_some_and(|t| t > now) {
        return Ok(Err(DENIED.into()));
    }
    // People must use MFA: without an enrolled TOTP there is no token. A code is accepted once:
    // its step must be later than the last accepted one.
    let step = match (&user.totp_secret, totp) {
        (Some(secret), Some(code)) => credentials::check_totp(secret, code)
            .and_then(|s| i64::try_from(s).ok())
            .filter(|s| user.totp_last_step.is_none_or(|last| *s > last)),
        _ => None,
    };
    let ok = step.is_some() && credentials::verify_password(password, &user.password_hash);
    let Some(step) = step.filter(|_| ok) else {
        // For the operator's log only; the caller gets the same message whatever failed.
        let reason = match (totp, step) {
            (None, _) => "no TOTP code",
            (Some(_), None) => "TOTP code wrong, expired or already used",
            (Some(_), Some(_)) => "wrong password",
        };
        fail(store, Kind::User, username, now, reason)?;
        if user.totp_secret.is_none() {
            return Ok(Err(
                "multi-factor authentication is required: enrol TOTP with `hms user mfa-enroll`"
                    .into(),
            ));
        }
        return Ok(Err(DENIED.into()));
    };
    store.write(|c| -> Result<(), Error> {
        rows::set_totp_step(c, username, step)?;
        Ok(rows::reset_failures(c, Kind::User, username)?)
    })?;
    Ok(Ok(Person {
        username: user.username,
        scope: user.scope,
        patient: user.patient,
    }))
}

/// Whether a person may still get tokens (refresh: a disabled account gets no new ones).
pub fn person_active(store: &Store, username: &str) -> Result<bool, Error> {
    let user = store.read(|c| -> Result<_, Error> { Ok(rows::get_user(c, username)?) })?;
    Ok(user.is_some_and(|u| !u.disabled))
}

/// Counts a failed attempt (lockout after [`MAX_FAILURES`]).
pub fn fail(store: &Store, kind: Kind, name: &str, now: i64, reason: &str) -> Result<(), Error> {
    tracing::warn!(account = %name, reason, "failed authentication attempt");
    store.write(|c| -> Result<(), Error> {
        Ok(rows::record_failure(
            c,
            kind,
            name,
            MAX_FAILURES,
            now + LOCK_SECS,
        )?)
    })
}
