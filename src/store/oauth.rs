//! Rows of the builtin OAuth2 server: authorization codes, refresh tokens, revocations and seen
//! client-assertion ids. Codes and refresh tokens are looked up by their SHA-256 hash only.

use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use diesel::{QueryableByName, RunQueryDsl, sql_query};

use super::{AnyConnection, StoreError};

/// An authorization code (or a refresh token: same grant fields) as stored.
#[derive(QueryableByName)]
pub struct GrantRow {
    #[diesel(sql_type = Text)]
    pub client_id: String,
    #[diesel(sql_type = Text)]
    pub subject: String,
    #[diesel(sql_type = Text)]
    pub scope: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub patient: Option<String>,
    #[diesel(sql_type = Text)]
    pub family: String,
    #[diesel(sql_type = BigInt)]
    pub expires_at: i64,
    #[diesel(sql_type = Bool)]
    pub used: bool,
}

#[derive(QueryableByName)]
pub struct CodeRow {
    #[diesel(embed)]
    pub grant: GrantRow,
    #[diesel(sql_type = Text)]
    pub redirect_uri: String,
    #[diesel(sql_type = Text)]
    pub code_challenge: String,
}

pub struct NewCode<'a> {
    pub code_hash: &'a str,
    pub client_id: &'a str,
    pub subject: &'a str,
    pub redirect_uri: &'a str,
    pub code_challenge: &'a str,
    pub scope: &'a str,
    pub patient: Option<&'a str>,
    pub family: &'a str,
    pub expires_at: i64,
}

pub fn insert_code(c: &mut AnyConnection, n: &NewCode<'_>) -> Result<(), StoreError> {
    sql_query(
        "INSERT INTO auth_code (code_hash, client_id, subject, redirect_uri, code_challenge, scope, \
         patient, family, expires_at, used) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind::<Text, _>(n.code_hash)
    .bind::<Text, _>(n.client_id)
    .bind::<Text, _>(n.subject)
    .bind::<Text, _>(n.redirect_uri)
    .bind::<Text, _>(n.code_challenge)
    .bind::<Text, _>(n.scope)
    .bind::<Nullable<Text>, _>(n.patient)
    .bind::<Text, _>(n.family)
    .bind::<BigInt, _>(n.expires_at)
    .bind::<Bool, _>(false)
    .execute(c)?;
    Ok(())
}

/// The code with this hash, marked used from now on. In the result, `used` tells whether it had
/// been used before (a replay). The conditional UPDATE comes first so that of two concurrent
/// exchanges only one sees the code unused.
pub fn take_code(c: &mut AnyConnection, code_hash: &str) -> Result<Option<CodeRow>, StoreError> {
    let taken = sql_query("UPDATE auth_code SET used = $1 WHERE code_hash = $2 AND used = $3")
        .bind::<Bool, _>(true)
        .bind::<Text, _>(code_hash)
        .bind::<Bool, _>(false)
        .execute(c)?;
    let rows: Vec<CodeRow> = sql_query(
        "SELECT client_id, subject, scope, patient, family, expires_at, used, redirect_uri, \
         code_challenge FROM auth_code WHERE code_hash = $1",
    )
    .bind::<Text, _>(code_hash)
    .load(c)?;
    Ok(rows.into_iter().next().map(|mut r| {
        r.grant.used = taken == 0;
        r
    }))
}

pub struct NewRefresh<'a> {
    pub token_hash: &'a str,
    pub family: &'a str,
    pub client_id: &'a str,
    pub subject: &'a str,
    pub scope: &'a str,
    pub patient: Option<&'a str>,
    pub expires_at: i64,
}

pub fn insert_refresh(c: &mut AnyConnection, n: &NewRefresh<'_>) -> Result<(), StoreError> {
    sql_query(
        "INSERT INTO auth_refresh (token_hash, family, client_id, subject, scope, patient, \
         expires_at, used) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind::<Text, _>(n.token_hash)
    .bind::<Text, _>(n.family)
    .bind::<Text, _>(n.client_id)
    .bind::<Text, _>(n.subject)
    .bind::<Text, _>(n.scope)
    .bind::<Nullable<Text>, _>(n.patient)
    .bind::<BigInt, _>(n.expires_at)
    .bind::<Bool, _>(false)
    .execute(c)?;
    Ok(())
}

/// The refresh token with this hash, marked used from now on (`used` tells whether it was already;
/// see [`take_code`] for the order).
pub fn take_refresh(
    c: &mut AnyConnection,
    token_hash: &str,
) -> Result<Option<GrantRow>, StoreError> {
    let taken = sql_query("UPDATE auth_refresh SET used = $1 WHERE token_hash = $2 AND used = $3")
        .bind::<Bool, _>(true)
        .bind::<Text, _>(token_hash)
        .bind::<Bool, _>(false)
        .execute(c)?;
    Ok(get_refresh(c, token_hash)?.map(|mut g| {
        g.used = taken == 0;
        g
    }))
}

/// The refresh token with this hash, unchanged (revocation looks up its family and client).
pub fn get_refresh(
    c: &mut AnyConnection,
    token_hash: &str,
) -> Result<Option<GrantRow>, StoreError> {
    let rows: Vec<GrantRow> = sql_query(
        "SELECT client_id, subject, scope, patient, family, expires_at, used FROM auth_refresh \
         WHERE token_hash = $1",
    )
    .bind::<Text, _>(token_hash)
    .load(c)?;
    Ok(rows.into_iter().next())
}

/// Revokes a token id or grant family until `expires_at` (after which its tokens are dead anyway).
pub fn revoke(c: &mut AnyConnection, id: &str, expires_at: i64) -> Result<(), StoreError> {
    sql_query(
        "INSERT INTO auth_revoked (id, expires_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
    )
    .bind::<Text, _>(id)
    .bind::<BigInt, _>(expires_at)
    .execute(c)?;
    Ok(())
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Whether either id (a token id, a family) is revoked.
pub fn is_revoked(c: &mut AnyConnection, a: &str, b: &str) -> Result<bool, StoreError> {
    let rows: Vec<Count> =
        sql_query("SELECT COUNT(*) AS n FROM auth_revoked WHERE id = $1 OR id = $2")
            .bind::<Text, _>(a)
            .bind::<Text, _>(b)
            .load(c)?;
    Ok(rows.first().is_some_and(|r| r.n > 0))
}

/// Records a client assertion's `jti`; false when that client used it before (a replay).
pub fn remember_jti(
    c: &mut AnyConnection,
    client_id: &str,
    jti: &str,
    expires_at: i64,
) -> Result<bool, StoreError> {
    let n = sql_query(
        "INSERT INTO auth_assertion_jti (client_id, jti, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (client_id, jti) DO NOTHING",
    )
    .bind::<Text, _>(client_id)
    .bind::<Text, _>(jti)
    .bind::<BigInt, _>(expires_at)
    .execute(c)?;
    Ok(n == 1)
}

/// Deletes rows whose tokens expired before `before` (they can no longer matter).
pub fn purge_expired(c: &mut AnyConnection, before: i64) -> Result<(), StoreError> {
    for table in [
        "auth_code",
        "auth_refresh",
        "auth_revoked",
        "auth_assertion_jti",
    ] {
        sql_query(format!("DELETE FROM {table} WHERE expires_at < $1"))
            .bind::<BigInt, _>(before)
            .execute(c)?;
    }
    Ok(())
}
