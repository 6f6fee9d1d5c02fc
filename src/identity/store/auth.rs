//! The bearer-token lookup of every request: a session or access token that is not revoked,
//! with its user's standing and the latest terms version, in one read.

use crate::db::{Db, Record, UnitError};
use crate::identity::auth::{Caller, Credential, TokenRecord};
use crate::identity::scope;

/// The user's columns (as `u`) every token lookup reads.
macro_rules! user_columns {
    () => {
        "u.email, u.platform_admin, u.terms_accepted_version, u.banned_at, u.suspended_until, u.locked_at, u.recovered_at,
         (SELECT version FROM terms ORDER BY published_at DESC, version DESC LIMIT 1) AS current_terms"
    };
}

const SESSION: &str = concat!(
    "SELECT s.id, s.user_id, s.created_at, s.expires_at, s.last_used_at, s.auth_at, s.auth_method, s.restricted, ",
    user_columns!(),
    " FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1 AND s.revoked_at IS NULL"
);

const ACCESS_TOKEN: &str = concat!(
    "SELECT t.id, t.user_id, COALESCE(t.issued_under, t.created_at) AS created_at, t.scopes, t.expires_at, ",
    user_columns!(),
    " FROM access_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1 AND t.revoked_at IS NULL"
);

/// The live session whose token hashes to `hash`.
pub(crate) async fn session(db: &Db, hash: &str) -> Result<Option<TokenRecord>, UnitError> {
    let Some(row) = db.read_opt::<Record>(SESSION, crate::params![hash]).await? else {
        return Ok(None);
    };
    let credential = Credential::Session {
        id: row.text("id")?,
        auth_at: row.time("auth_at")?,
        auth_method: row.text("auth_method")?,
        restricted: row.flag("restricted")?,
    };
    let last_used_at = Some(row.int("last_used_at")?);
    record(&row, credential, last_used_at).map(Some)
}

/// The live access token whose secret hashes to `hash`.
pub(crate) async fn access_token(db: &Db, hash: &str) -> Result<Option<TokenRecord>, UnitError> {
    let Some(row) = db
        .read_opt::<Record>(ACCESS_TOKEN, crate::params![hash])
        .await?
    else {
        return Ok(None);
    };
    let credential = Credential::AccessToken {
        id: row.text("id")?,
        scopes: scope::decode(&row.text("scopes")?),
    };
    record(&row, credential, None).map(Some)
}

fn record(
    row: &Record,
    credential: Credential,
    last_used_at: Option<i64>,
) -> Result<TokenRecord, UnitError> {
    Ok(TokenRecord {
        caller: Caller {
            user_id: row.text("user_id")?,
            email: row.text("email")?,
            platform_admin: row.flag("platform_admin")?,
            terms_accepted_version: row.opt_text("terms_accepted_version")?,
            current_terms: row.opt_text("current_terms")?,
            recovered_at: row.opt_time("recovered_at")?,
            issued_at: row.time("created_at")?,
            credential,
        },
        issued_at: row.int("created_at")?,
        expires_at: row.opt_int("expires_at")?,
        last_used_at,
        banned: row.opt_int("banned_at")?.is_some(),
        suspended_until: row.opt_int("suspended_until")?,
        locked_at: row.opt_int("locked_at")?,
    })
}
