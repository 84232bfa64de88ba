//! JWT access tokens: issuing (builtin mode, ES256 under a per-database P-256 key published as a
//! JWKS) and validating (RS256/ES256 against a JWKS: the builtin one or the external issuers').
//! Keys and tokens are never logged.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
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
}

/// Who made a request, from a validated access token.
#[derive(Debug, Clone)]
pub struct Principal {
    pub sub: String,
    pub scopes: Vec<Scope>,
    pub patient: Option<String>,
}

/// The keys that validate tokens: public keys by `kid` (the builtin issuer's own, or external).
pub enum Keys {
    Jwks(JwkSet),
}

/// The builtin issuer's ES256 signing key. Holds the private key: no Debug.
pub struct SigningKey {
    key: EncodingKey,
    kid: String,
    /// The public half, as published at `/.well-known/jwks.json`.
    public: jsonwebtoken::jwk::Jwk,
}

impl SigningKey {
    /// A fresh P-256 key as PKCS#8 DER (stored once per database so every node signs alike).
    pub fn generate_pkcs8() -> Result<Vec<u8>, Error> {
        use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
        let rng = ring::rand::SystemRandom::new();
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map(|d| d.as_ref().to_vec())
            .map_err(|_| Error::Internal("cannot generate the token signing key".into()))
    }

    pub fn from_pkcs8(der: &[u8]) -> Result<SigningKey, Error> {
        use jsonwebtoken::jwk::{Jwk, PublicKeyUse, ThumbprintHash};
        let key = EncodingKey::from_ec_der(der);
        let bad = |e: jsonwebtoken::errors::Error| {
            Error::Internal(format!("the token signing key is unusable: {e}"))
        };
        let mut public = Jwk::from_encoding_key(&key, Algorithm::ES256).map_err(bad)?;
        // RFC 7638 thumbprint: stable, and changes only when the key does.
        let kid = public.thumbprint(ThumbprintHash::SHA256).map_err(bad)?;
        public.common.key_id = Some(kid.clone());
        public.common.public_key_use = Some(PublicKeyUse::Signature);
        Ok(SigningKey { key, kid, public })
    }

    /// The public keys that verify this issuer's tokens.
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: vec![self.public.clone()],
        }
    }

    /// Signs `claims` with ES256 (`kid` in the header, `typ` at+jwt per RFC 9068).
    pub fn sign(&self, claims: &Claims) -> Result<String, Error> {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("at+jwt".into());
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key)
            .map_err(|e| Error::Internal(format!("cannot sign token: {e}")))
    }
}

fn invalid(reason: &str) -> Error {
    Error::Unauthorized(format!("invalid token: {reason}"))
}

pub fn now_secs() -> u64 {
    jsonwebtoken::get_current_timestamp()
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
    let Keys::Jwks(set) = keys;
    let jwk = match &header.kid {
        Some(kid) => set.find(kid),
        None if set.keys.len() == 1 => set.keys.first(),
        None => None,
    }
    .ok_or_else(|| invalid("unknown key"))?;
    // The key decides the algorithm, never the token header (no alg confusion, no HS256 with a
    // public key as the secret).
    let alg = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Algorithm::ES256,
        _ => return Err(invalid("unsupported key type")),
    };
    if header.alg != alg {
        return Err(invalid("unsupported algorithm"));
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|_| invalid("unusable key"))?;
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
