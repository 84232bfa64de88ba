//! Authentication and authorisation: SMART scopes, JWT access tokens, password and TOTP checks.
//! Pure code (no SQL, no actix); the token endpoint lives in `interactions::auth`, the HTTP edge in
//! `api::auth`.

pub mod compartment;
pub mod credentials;
pub mod ecdsa_ring;
pub mod pkce;
pub mod scopes;
pub mod token;
