//! `access_tokens`: created, listed and revoked by their user.

use crate::db::{Db, FromRecord, Record, Unit, UnitError};
use crate::error::ApiResult;
use crate::identity::scope;
use crate::identity::tokens::TokenView;
use crate::list::{ListParams, Page};
use crate::time::Timestamp;

/// A new token's row; the secret is stored only as its hash.
pub(crate) struct NewToken<'a> {
    pub(crate) id: &'a str,
    pub(crate) user_id: &'a str,
    pub(crate) name: &'a str,
    pub(crate) token_hash: &'a str,
    pub(crate) scopes: &'a str,
    pub(crate) expires_at: Option<Timestamp>,
    /// The start of the session that made it.
    pub(crate) issued_under: Timestamp,
}

pub(crate) fn insert_in(
    w: &mut Unit<'_>,
    token: &NewToken<'_>,
    now: Timestamp,
) -> Result<(), UnitError> {
    w.execute(
        "INSERT INTO access_tokens (id, user_id, name, token_hash, scopes, created_at, expires_at, issued_under)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        crate::params![
            token.id,
            token.user_id,
            token.name,
            token.token_hash,
            token.scopes,
            now,
            token.expires_at,
            token.issued_under,
        ],
    )?;
    Ok(())
}

/// Revokes one of the user's tokens; `false` when it is not theirs or already revoked.
pub(crate) fn revoke_in(
    w: &mut Unit<'_>,
    id: &str,
    user_id: &str,
    now: Timestamp,
) -> Result<bool, UnitError> {
    Ok(w.execute(
        "UPDATE access_tokens SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
        crate::params![id, user_id, now],
    )? == 1)
}

impl FromRecord for TokenView {
    fn from_record(r: &Record) -> Result<TokenView, UnitError> {
        Ok(TokenView {
            id: r.text("id")?,
            name: r.text("name")?,
            scopes: scope::decode(&r.text("scopes")?),
            expires_at: r.opt_time("expires_at")?,
            created_at: r.time("created_at")?,
            token: None,
        })
    }
}

/// A page of the user's tokens that are not revoked, newest first (without secrets).
pub(crate) async fn page(
    db: &Db,
    user_id: &str,
    params: &ListParams,
) -> ApiResult<Page<TokenView>> {
    crate::db::page::by_key(
        db,
        params,
        "id, name, scopes, expires_at, created_at",
        "access_tokens WHERE user_id = $1 AND revoked_at IS NULL",
        "created_at DESC, id DESC",
        user_id,
    )
    .await
}
