//! Password hashing (argon2id, PHC strings), client secrets and TOTP (RFC 6238, SHA-1, 6 digits,
//! 30 s steps, ±1 step).

use argon2::password_hash::phc::PasswordHash;
use argon2::{Argon2, PasswordHasher, PasswordVerifier};

use crate::error::Error;

/// An argon2id PHC hash with a random salt.
pub fn hash_password(password: &str) -> Result<String, Error> {
    let h: PasswordHash = Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|e| Error::Internal(format!("cannot hash password: {e}")))?;
    Ok(h.to_string())
}

/// True when `password` matches `phc` (false for a malformed hash).
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(h) => Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

/// A random secret of 256 bits, hex-encoded (client secrets, generated passwords).
pub fn random_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// SHA-256 (hex) of a high-entropy bearer secret (authorization code, refresh token): what is
/// stored, so a database leak does not hand out usable tokens. Unsalted on purpose: it is looked up.
pub fn digest(secret: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn totp_for(secret_b32: &str, account: &str) -> Result<totp_rs::Totp, Error> {
    let secret = totp_rs::Secret::try_from_base32(secret_b32)
        .map_err(|_| Error::Internal("stored TOTP secret is not base32".into()))?;
    totp_rs::Builder::new()
        .with_secret(secret)
        .with_account_name(account)
        .with_issuer(Some("HMS Interop"))
        .build()
        .map_err(|e| Error::Internal(format!("TOTP: {e}")))
}

/// A new TOTP secret (base32) and its otpauth:// URL for an authenticator app.
pub fn new_totp(account: &str) -> Result<(String, String), Error> {
    let b32 = totp_rs::Secret::generate().to_base32();
    let url = totp_for(&b32, account)?
        .to_url()
        .map_err(|e| Error::Internal(format!("TOTP: {e}")))?;
    Ok((b32, url))
}

/// The time step `code` belongs to when it is a current code (±1 step) for the secret.
pub fn check_totp(secret_b32: &str, code: &str) -> Option<u64> {
    totp_for(secret_b32, "user")
        .ok()?
        .check_current(code.trim())
}

/// The current code (for tests and tooling).
pub fn current_totp(secret_b32: &str) -> Result<String, Error> {
    Ok(totp_for(secret_b32, "user")?.generate_current().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_and_totp() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        let (secret, url) = new_totp("alice").unwrap();
        assert!(url.starts_with("otpauth://totp/"));
        let code = current_totp(&secret).unwrap();
        assert!(check_totp(&secret, &code).is_some());
        assert!(check_totp(&secret, "000000x").is_none());
    }
}
