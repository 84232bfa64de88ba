//! JWT access tokens: issuing (builtin mode, ES256 under a per-database P-256 key published as a
//! JWKS) and validating (RS256/ES256 against a JWKS: the builtin one or the external issuers').
//! Keys and tokens are never logged.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::scopes::{self, Scope};
use crate::error::Error;

/// Lifetime of an access token.
pub const ACCESS_TOKEN_SECS: u64 = 5 * 60;

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
    /// Builtin: the grant family (authorization code → refresh chain) the token belongs to, so
    /// that revoking the family also stops its access tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The client the token was issued to (RFC 9068), when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// Who made a request, from a validated access token.
#[derive(Debug, Clone)]
pub struct Principal {
    pub sub: String,
    pub scopes: Vec<Scope>,
    pub patient: Option<String>,
    /// Token id and grant family (builtin tokens): what revocation is checked against.
    pub jti: Option<String>,
    pub sid: Option<String>,
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

/// Algorithms access tokens may be signed with (SMART: RS256 or ES256).
pub const ACCESS_TOKEN_ALGS: &[Algorithm] = &[Algorithm::RS256, Algorithm::ES256];

/// The key (by `kid`) and algorithm that verify a JWS. The header names the algorithm, but it must
/// be in `allowed` and fit the key's type and curve (and the key's own `alg`, when it has one): a
/// token cannot choose how it is checked (no HS256 with a public key as the secret, no `none`).
pub fn key_for(
    header: &Header,
    set: &JwkSet,
    allowed: &[Algorithm],
) -> Result<(DecodingKey, Algorithm), &'static str> {
    let jwk = match &header.kid {
        Some(kid) => set.find(kid),
        None if set.keys.len() == 1 => set.keys.first(),
        None => None,
    }
    .ok_or("unknown key")?;
    let alg = header.alg;
    if !allowed.contains(&alg) {
        return Err("unsupported algorithm");
    }
    let fits = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => {
            matches!(alg, Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512)
        }
        AlgorithmParameters::EllipticCurve(p) => matches!(
            (&p.curve, alg),
            (EllipticCurve::P256, Algorithm::ES256) | (EllipticCurve::P384, Algorithm::ES384)
        ),
        _ => false,
    };
    let declared_ok = jwk
        .common
        .key_algorithm
        .is_none_or(|a| a.to_string().parse::<Algorithm>().is_ok_and(|a| a == alg));
    if !fits || !declared_ok {
        return Err("algorithm does not match the key");
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|_| "unusable key")?;
    Ok((key, alg))
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
    let (key, alg) = key_for(&header, set, ACCESS_TOKEN_ALGS).map_err(invalid)?;
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
        jti: c.jti,
        sid: c.sid,
    })
}

/// The claims of a token signed with one of `keys` (ES256) by `issuer`, expired or not: what
/// revocation needs to know about an access token it is handed.
pub fn verify_own(token: &str, keys: &JwkSet, issuer: &str) -> Option<Claims> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    let (key, alg) = key_for(&header, keys, &[Algorithm::ES256]).ok()?;
    let mut v = Validation::new(alg);
    v.validate_exp = false;
    v.validate_aud = false;
    v.set_issuer(&[issuer]);
    v.set_required_spec_claims(&["iss"]);
    jsonwebtoken::decode::<Claims>(token, &key, &v)
        .ok()
        .map(|d| d.claims)
}

/// Algorithms a client assertion may be signed with (SMART Backend Services).
pub const ASSERTION_ALGS: &[Algorithm] = &[Algorithm::RS384, Algorithm::ES384];
/// How far in the future an assertion's `exp` may lie (SMART: at most five minutes).
pub const ASSERTION_MAX_SECS: u64 = 300;

/// The claims of a client assertion (RFC 7523 §3) that matter once its signature is checked.
#[derive(Debug, Deserialize)]
pub struct AssertionClaims {
    pub exp: u64,
    pub jti: String,
}

/// The client an assertion claims to come from (`sub`, or `iss`), read before its signature is
/// checked only to find the client's keys.
pub fn assertion_subject(assertion: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Who {
        sub: Option<String>,
        iss: Option<String>,
    }
    let who: Who = jsonwebtoken::dangerous::insecure_decode_claims(assertion).ok()?;
    who.sub.or(who.iss)
}

/// Checks a `private_key_jwt` client assertion: signed (RS384/ES384) by one of the client's keys,
/// `iss` = `sub` = `client_id`, `aud` = the token endpoint, not expired, `exp` at most five minutes
/// ahead, with a `jti` (replay is checked by the caller). The error says why, for the client.
pub fn validate_assertion(
    assertion: &str,
    keys: &JwkSet,
    client_id: &str,
    token_endpoint: &str,
) -> Result<AssertionClaims, String> {
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| "malformed assertion")?;
    let (key, alg) = key_for(&header, keys, ASSERTION_ALGS)?;
    let mut v = Validation::new(alg);
    v.leeway = 30;
    v.set_issuer(&[client_id]);
    v.sub = Some(client_id.to_string());
    v.set_audience(&[token_endpoint]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let data = jsonwebtoken::decode::<AssertionClaims>(assertion, &key, &v).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        match e.kind() {
            ErrorKind::ExpiredSignature => "the assertion has expired".to_string(),
            ErrorKind::InvalidAudience => "the assertion's aud is not the token endpoint".into(),
            ErrorKind::InvalidIssuer | ErrorKind::InvalidSubject => {
                "the assertion's iss and sub must be the client_id".into()
            }
            ErrorKind::InvalidSignature => "the assertion's signature is invalid".into(),
            _ => "the assertion is invalid (exp, iss, sub, aud and jti are required)".into(),
        }
    })?;
    if data.claims.exp > now_secs() + ASSERTION_MAX_SECS + 30 {
        return Err("the assertion's exp is more than five minutes ahead".into());
    }
    if data.claims.jti.is_empty() {
        return Err("the assertion needs a jti".into());
    }
    Ok(data.claims)
}

/// Loads a JWKS file (external mode).
pub fn load_jwks(path: &std::path::Path) -> Result<JwkSet, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read JWKS {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("JWKS {} is invalid: {e}", path.display()))
}
