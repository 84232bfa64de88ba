//! Builtin authentication use cases: managing users and clients (CLI), and the token endpoint's
//! checks (password + TOTP for people, secret for clients, lockout after repeated failures).

use crate::auth::credentials;
use crate::auth::token::{self, Claims};
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

/// Creates a client for client_credentials; returns its secret (shown once, stored hashed).
pub fn add_client(store: &Store, client_id: &str, scope: &str) -> Result<String, Error> {
    check_name(client_id)?;
    if scope.trim().is_empty() {
        return Err(Error::invalid(None, "a client needs --scope"));
    }
    let secret = credentials::random_secret();
    let hash = credentials::hash_password(&secret)?;
    let added = store.write(|c| -> Result<bool, Error> {
        Ok(rows::insert_client(c, client_id, &hash, scope)?)
    })?;
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
fn denied() -> Error {
    Error::Unauthorized("invalid credentials, or the account is locked or disabled".into())
}

/// Token request parameters (already parsed from the form).
pub enum Grant<'a> {
    Password {
        username: &'a str,
        password: &'a str,
        totp: Option<&'a str>,
    },
    ClientCredentials {
        client_id: &'a str,
        client_secret: &'a str,
    },
}

/// Where issued tokens say they come from and are meant for.
pub struct TokenContext<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
    /// HS256 signing secret.
    pub secret: &'a [u8],
    /// Requested scope (optional): the grant is narrowed to the listed scopes it already has.
    pub requested_scope: Option<&'a str>,
}

pub struct Issued {
    pub access_token: String,
    pub scope: String,
    pub patient: Option<String>,
    pub expires_in: u64,
}

fn narrow(granted: &str, requested: Option<&str>) -> String {
    match requested.map(str::trim).filter(|r| !r.is_empty()) {
        None => granted.to_string(),
        Some(r) => {
            let have: Vec<&str> = granted.split_whitespace().collect();
            r.split_whitespace()
                .filter(|s| have.contains(s))
                .collect::<Vec<_>>()
                .join(" ")
        }
    }
}

/// Checks the credentials of a grant and issues an access token.
pub fn token(store: &Store, grant: &Grant<'_>, ctx: &TokenContext<'_>) -> Result<Issued, Error> {
    let now = token::now_secs() as i64;
    let (kind, name, scope, patient) = match grant {
        Grant::Password {
            username,
            password,
            totp,
        } => {
            let user = store
                .read(|c| -> Result<_, Error> { Ok(rows::get_user(c, username)?) })?
                .ok_or_else(denied)?;
            if user.disabled || user.locked_until.is_some_and(|t| t > now) {
                return Err(denied());
            }
            // People must use MFA: without an enrolled TOTP there is no token. A code is
            // accepted once: its step must be later than the last accepted one.
            let step = match (&user.totp_secret, totp) {
                (Some(secret), Some(code)) => credentials::check_totp(secret, code)
                    .and_then(|s| i64::try_from(s).ok())
                    .filter(|s| user.totp_last_step.is_none_or(|last| *s > last)),
                _ => None,
            };
            let ok = step.is_some() && credentials::verify_password(password, &user.password_hash);
            if !ok {
                fail(store, Kind::User, username, now)?;
                if user.totp_secret.is_none() {
                    return Err(Error::Unauthorized(
                        "multi-factor authentication is required: enrol TOTP with `hms user mfa-enroll`"
                            .into(),
                    ));
                }
                return Err(denied());
            }
            if let Some(step) = step {
                store.write(|c| -> Result<(), Error> {
                    Ok(rows::set_totp_step(c, username, step)?)
                })?;
            }
            (Kind::User, *username, user.scope, user.patient)
        }
        Grant::ClientCredentials {
            client_id,
            client_secret,
        } => {
            let client = store
                .read(|c| -> Result<_, Error> { Ok(rows::get_client(c, client_id)?) })?
                .ok_or_else(denied)?;
            if client.disabled || client.locked_until.is_some_and(|t| t > now) {
                return Err(denied());
            }
            if !credentials::verify_password(client_secret, &client.secret_hash) {
                fail(store, Kind::Client, client_id, now)?;
                return Err(denied());
            }
            (Kind::Client, *client_id, client.scope, None)
        }
    };
    store.write(|c| -> Result<(), Error> { Ok(rows::reset_failures(c, kind, name)?) })?;
    let scope = narrow(&scope, ctx.requested_scope);
    if scope.is_empty() {
        return Err(Error::invalid(
            None,
            "invalid_scope: none of the requested scopes is granted",
        ));
    }
    let iat = token::now_secs();
    let claims = Claims {
        iss: ctx.issuer.to_string(),
        aud: serde_json::Value::String(ctx.audience.to_string()),
        sub: name.to_string(),
        exp: iat + token::ACCESS_TOKEN_SECS,
        iat,
        scope: Some(scope.clone()),
        patient: patient.clone(),
        token_use: None,
        typ: None,
        jti: Some(uuid::Uuid::new_v4().to_string()),
        // A system client's token names it as its client; a person's token has no app yet.
        client_id: matches!(kind, Kind::Client).then(|| name.to_string()),
        azp: None,
    };
    Ok(Issued {
        access_token: token::issue_hs256(ctx.secret, &claims)?,
        scope,
        patient,
        expires_in: token::ACCESS_TOKEN_SECS,
    })
}

fn fail(store: &Store, kind: Kind, name: &str, now: i64) -> Result<(), Error> {
    tracing::warn!(account = %name, "failed authentication attempt");
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
