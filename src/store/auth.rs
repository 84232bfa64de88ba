//! Rows of `auth_user` and `auth_client` (builtin authentication). Only hashes of passwords and
//! client secrets are stored. Row types deliberately do not derive Debug: they hold secrets.

use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text};
use diesel::{QueryableByName, RunQueryDsl, sql_query};

use super::{AnyConnection, StoreError};

#[derive(QueryableByName)]
pub struct UserRow {
    #[diesel(sql_type = Text)]
    pub username: String,
    #[diesel(sql_type = Text)]
    pub password_hash: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub totp_secret: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub totp_last_step: Option<i64>,
    #[diesel(sql_type = Text)]
    pub scope: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub patient: Option<String>,
    #[diesel(sql_type = Bool)]
    pub disabled: bool,
    #[diesel(sql_type = Integer)]
    pub failed_attempts: i32,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub locked_until: Option<i64>,
}

#[derive(QueryableByName)]
pub struct ClientRow {
    #[diesel(sql_type = Text)]
    pub client_id: String,
    /// '' for a client without a secret (public app, or key-based).
    #[diesel(sql_type = Text)]
    pub secret_hash: String,
    #[diesel(sql_type = Text)]
    pub scope: String,
    /// Registered redirect URIs, space-separated (authorization code flow).
    #[diesel(sql_type = Nullable<Text>)]
    pub redirect_uris: Option<String>,
    /// Registered public keys (JWKS JSON) for private_key_jwt.
    #[diesel(sql_type = Nullable<Text>)]
    pub jwks: Option<String>,
    /// Where the client publishes its JWKS (private_key_jwt).
    #[diesel(sql_type = Nullable<Text>)]
    pub jwks_url: Option<String>,
    #[diesel(sql_type = Bool)]
    pub disabled: bool,
    #[diesel(sql_type = Integer)]
    pub failed_attempts: i32,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub locked_until: Option<i64>,
}

/// Which table a principal lives in.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    User,
    Client,
}

impl Kind {
    fn table_key(self) -> (&'static str, &'static str) {
        match self {
            Kind::User => ("auth_user", "username"),
            Kind::Client => ("auth_client", "client_id"),
        }
    }
}

/// Inserts a user; false when the name is taken.
pub fn insert_user(
    c: &mut AnyConnection,
    username: &str,
    password_hash: &str,
    scope: &str,
    patient: Option<&str>,
) -> Result<bool, StoreError> {
    let n = sql_query(
        "INSERT INTO auth_user (username, password_hash, scope, patient) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (username) DO NOTHING",
    )
    .bind::<Text, _>(username)
    .bind::<Text, _>(password_hash)
    .bind::<Text, _>(scope)
    .bind::<Nullable<Text>, _>(patient)
    .execute(c)?;
    Ok(n == 1)
}

pub fn get_user(c: &mut AnyConnection, username: &str) -> Result<Option<UserRow>, StoreError> {
    let rows: Vec<UserRow> = sql_query(
        "SELECT username, password_hash, totp_secret, totp_last_step, scope, patient, disabled, failed_attempts, \
         locked_until FROM auth_user WHERE username = $1",
    )
    .bind::<Text, _>(username)
    .load(c)?;
    Ok(rows.into_iter().next())
}

pub fn list_users(c: &mut AnyConnection) -> Result<Vec<UserRow>, StoreError> {
    Ok(sql_query(
        "SELECT username, password_hash, totp_secret, totp_last_step, scope, patient, disabled, failed_attempts, \
         locked_until FROM auth_user ORDER BY username",
    )
    .load(c)?)
}

pub fn set_totp(c: &mut AnyConnection, username: &str, secret: &str) -> Result<bool, StoreError> {
    let n = sql_query(
        "UPDATE auth_user SET totp_secret = $1, totp_last_step = NULL WHERE username = $2",
    )
    .bind::<Text, _>(secret)
    .bind::<Text, _>(username)
    .execute(c)?;
    Ok(n == 1)
}

/// Records the TOTP step just used (a later login needs a later step).
pub fn set_totp_step(c: &mut AnyConnection, username: &str, step: i64) -> Result<(), StoreError> {
    sql_query("UPDATE auth_user SET totp_last_step = $1 WHERE username = $2")
        .bind::<BigInt, _>(step)
        .bind::<Text, _>(username)
        .execute(c)?;
    Ok(())
}

pub fn disable(c: &mut AnyConnection, kind: Kind, name: &str) -> Result<bool, StoreError> {
    let (table, key) = kind.table_key();
    let n = sql_query(format!("UPDATE {table} SET disabled = $1 WHERE {key} = $2"))
        .bind::<Bool, _>(true)
        .bind::<Text, _>(name)
        .execute(c)?;
    Ok(n == 1)
}

/// Counts a failed attempt; from `max` failures on, the account is locked until `lock_until`.
pub fn record_failure(
    c: &mut AnyConnection,
    kind: Kind,
    name: &str,
    max: i32,
    lock_until: i64,
) -> Result<(), StoreError> {
    let (table, key) = kind.table_key();
    sql_query(format!(
        "UPDATE {table} SET failed_attempts = failed_attempts + 1, \
         locked_until = CASE WHEN failed_attempts + 1 >= $1 THEN $2 ELSE locked_until END \
         WHERE {key} = $3"
    ))
    .bind::<Integer, _>(max)
    .bind::<BigInt, _>(lock_until)
    .bind::<Text, _>(name)
    .execute(c)?;
    Ok(())
}

pub fn reset_failures(c: &mut AnyConnection, kind: Kind, name: &str) -> Result<(), StoreError> {
    let (table, key) = kind.table_key();
    sql_query(format!(
        "UPDATE {table} SET failed_attempts = 0, locked_until = NULL WHERE {key} = $1"
    ))
    .bind::<Text, _>(name)
    .execute(c)?;
    Ok(())
}

/// A client to register (see [`ClientRow`] for the fields).
pub struct NewClient<'a> {
    pub client_id: &'a str,
    pub secret_hash: &'a str,
    pub scope: &'a str,
    pub redirect_uris: Option<&'a str>,
    pub jwks: Option<&'a str>,
    pub jwks_url: Option<&'a str>,
}

/// Inserts a client; false when the id is taken.
pub fn insert_client(c: &mut AnyConnection, n: &NewClient<'_>) -> Result<bool, StoreError> {
    let count = sql_query(
        "INSERT INTO auth_client (client_id, secret_hash, scope, redirect_uris, jwks, jwks_url) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (client_id) DO NOTHING",
    )
    .bind::<Text, _>(n.client_id)
    .bind::<Text, _>(n.secret_hash)
    .bind::<Text, _>(n.scope)
    .bind::<Nullable<Text>, _>(n.redirect_uris)
    .bind::<Nullable<Text>, _>(n.jwks)
    .bind::<Nullable<Text>, _>(n.jwks_url)
    .execute(c)?;
    Ok(count == 1)
}

pub fn get_client(c: &mut AnyConnection, client_id: &str) -> Result<Option<ClientRow>, StoreError> {
    let rows: Vec<ClientRow> = sql_query(
        "SELECT client_id, secret_hash, scope, redirect_uris, jwks, jwks_url, disabled, \
         failed_attempts, locked_until FROM auth_client WHERE client_id = $1",
    )
    .bind::<Text, _>(client_id)
    .load(c)?;
    Ok(rows.into_iter().next())
}
