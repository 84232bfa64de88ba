//! JWT access tokens: issuing (builtin mode, HS256 under a per-database secret) and validating
//! (builtin HS256, external RS256 against a JWKS). Keys and tokens are never logged.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::scopes::{self, Scope};
use crate::error::Error;

/// Lifetime of an access token.
pub const ACCESS_TOKEN_SECS: u64 = 15 * 60;

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// A string or an array of strings (RFC 7519); checked by the JWT library.
    pub aud: serde_json::Value,
    pub sub: String,
    pub exp: u64,
    #[serde(default)]
    pub iat: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient: Option<String>,
    /// AWS Cognito style `token_use` (access / id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_use: Option<String>,
    /// Keycloak style `typ` claim (Bearer / ID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// The OAuth client the token was issued to (RFC 9068); `azp` is the OpenID equivalent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azp: Option<String>,
}

/// Who made a request, from a validated access token.
#[derive(Debug, Clone)]
pub struct Principal {
    pub sub: String,
    pub scopes: Vec<Scope>,
    pub patient: Option<String>,
    /// The client application (`client_id` or `azp` claim), for the audit log.
    pub client_id: Option<String>,
}

/// The keys that validate tokens.
pub enum Keys {
    /// Builtin: one HS256 secret.
    Hmac(DecodingKey),
    /// External: RS256 public keys by `kid`.
    Jwks(JwkSet),
}

fn invalid(reason: &str) -> Error {
    Error::Unauthorized(format!("invalid token: {reason}"))
}

pub fn now_secs() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// Signs `claims` with HS256.
pub fn issue_hs256(secret: &[u8], claims: &Claims) -> Result<String, Error> {
    let key =
        EncodingKey::from_secret(secret).map_err(|e| Error::Internal(format!("token key: {e}")))?;
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    jsonwebtoken::encode(&header, claims, &key)
        .map_err(|e| Error::Internal(format!("cannot sign token: {e}")))
}

/// Validates signature, `exp`, `iss` (one of `issuers`), `aud` (= `audience`), and that the token
/// is an access token (has `scope`, is not an ID token).
pub fn validate(
    token: &str,
    keys: &Keys,
    issuers: &[String],
    audience: &str,
) -> Result<Principal, Error> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed"))?;
    if let Some(t) = &header.typ {
        let t = t.to_ascii_lowercase();
        if !matches!(t.as_str(), "jwt" | "at+jwt" | "application/at+jwt") {
            return Err(invalid("not an access token"));
        }
    }
    let (key, alg) = match keys {
        Keys::Hmac(k) => (k.clone(), Algorithm::HS256),
        Keys::Jwks(set) => {
            if header.alg != Algorithm::RS256 {
                return Err(invalid("unsupported algorithm"));
            }
            let jwk = match &header.kid {
                Some(kid) => set.find(kid),
                None if set.keys.len() == 1 => set.keys.first(),
                None => None,
            }
            .ok_or_else(|| invalid("unknown key"))?;
            (
                DecodingKey::from_jwk(jwk).map_err(|_| invalid("unusable key"))?,
                Algorithm::RS256,
            )
        }
    };
    let mut v = Validation::new(alg);
    v.leeway = 30;
    v.set_issuer(issuers);
    v.set_audience(&[audience]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let data = jsonwebtoken::decode::<Claims>(token, &key, &v).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        match e.kind() {
            ErrorKind::ExpiredSignature => invalid("expired"),
            ErrorKind::InvalidAudience => invalid("wrong audience"),
            ErrorKind::InvalidIssuer => invalid("wrong issuer"),
            ErrorKind::InvalidSignature => invalid("bad signature"),
            _ => invalid("rejected"),
        }
    })?;
    let c = data.claims;
    if c.token_use
        .as_deref()
        .is_some_and(|u| u.eq_ignore_ascii_case("id"))
        || c.typ
            .as_deref()
            .is_some_and(|u| u.eq_ignore_ascii_case("id"))
    {
        return Err(invalid("an ID token is not an access token"));
    }
    let scope = c
        .scope
        .ok_or_else(|| invalid("no scope: not an access token"))?;
    Ok(Principal {
        client_id: c.client_id.or(c.azp).filter(|c| !c.is_empty()),
        sub: c.sub,
        scopes: scopes::parse_all(&scope),
        patient: c.patient.filter(|p| !p.is_empty()),
    })
}

/// Loads a JWKS file (external mode).
pub fn load_jwks(path: &std::path::Path) -> Result<JwkSet, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read JWKS {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("JWKS {} is invalid: {e}", path.display()))
}
