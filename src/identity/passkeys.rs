//! Passkeys (4.2): registration, listing, renaming, deleting, and the stored credentials the
//! sign-in, second-factor and elevation ceremonies verify against.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::Row as _;

use crate::app::AppState;
use crate::audit::{self, Origin};
use crate::crypto::new_id;
use crate::db::Db;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::extract::{ApiJson, ApiPath};
use crate::list::{ListParams, Page};
use crate::time::Timestamp;

use super::account::{self, Account};
use super::auth::Caller;
use super::ceremony::{self, Purpose, Started};
use super::webauthn::Verified;

/// A stored passkey.
#[derive(Clone)]
pub struct StoredPasskey {
    pub id: String,
    pub credential_id: String,
    pub passkey: String,
}

pub async fn of_user(db: &Db, user_id: &str) -> ApiResult<Vec<StoredPasskey>> {
    let rows = sqlx::query(
        "SELECT id, credential_id, passkey FROM passkeys WHERE user_id = $1 ORDER BY created_at",
    )
    .bind(user_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(StoredPasskey {
                id: r.try_get("id")?,
                credential_id: r.try_get("credential_id")?,
                passkey: r.try_get("passkey")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

pub fn serialized(passkeys: &[StoredPasskey]) -> Vec<String> {
    passkeys.iter().map(|p| p.passkey.clone()).collect()
}

/// Records a successful assertion: the new counter and the time of use. The update is
/// conditional on the stored credential being the one verified against, so of two assertions
/// racing with one counter value only one counts; `false` means this one lost.
pub fn record_use_in(
    w: &mut crate::db::Unit<'_>,
    verified: &Verified,
    stored: &[StoredPasskey],
    now: Timestamp,
) -> Result<bool, crate::db::UnitError> {
    let Some(previous) = stored
        .iter()
        .find(|p| p.credential_id == verified.credential_id)
    else {
        return Ok(false);
    };
    let next = verified
        .updated_passkey
        .as_deref()
        .unwrap_or(&previous.passkey);
    let done = w.execute(
        "UPDATE passkeys SET passkey = $3, last_used_at = $4 WHERE credential_id = $1 AND passkey = $2",
        crate::params![
            verified.credential_id.as_str(),
            previous.passkey.as_str(),
            next,
            now,
        ],
    )?;
    Ok(done == 1)
}

/// [`record_use_in`] as a unit of its own.
pub async fn record_use(
    db: &Db,
    verified: &Verified,
    stored: &[StoredPasskey],
    now: Timestamp,
) -> ApiResult<bool> {
    let (verified, stored) = (verified.clone(), stored.to_vec());
    db.write(move |w| Ok(record_use_in(w, &verified, &stored, now)?))
        .await
}

/// Starts an assertion for a known user (sign-in with e-mail, second factor, elevation).
pub async fn start_assertion(
    state: &AppState,
    purpose: Purpose,
    account: &Account,
    session_id: Option<&str>,
) -> ApiResult<Started> {
    let passkeys = of_user(&state.db, &account.id).await?;
    if passkeys.is_empty() {
        return Err(ApiError::new(
            ErrorCode::NoPasskeysRegistered,
            "No passkeys are registered for this account.",
        ));
    }
    let (public_key, ceremony_state) = state
        .webauthn
        .start_authentication(&serialized(&passkeys))
        .map_err(ApiError::internal)?;
    let challenge_id = ceremony::store(
        state,
        purpose,
        Some(&account.id),
        session_id,
        ceremony_state,
    )
    .await?;
    Ok(Started {
        challenge_id,
        public_key,
    })
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasskeyView {
    pub id: String,
    pub name: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

fn view(row: &crate::db::Row) -> Result<PasskeyView, sqlx::Error> {
    Ok(PasskeyView {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        created_at: Timestamp::from_micros(row.try_get("created_at")?),
        last_used_at: row
            .try_get::<Option<i64>, _>("last_used_at")?
            .map(Timestamp::from_micros),
    })
}

/// Options to register a new passkey for the signed-in user.
#[utoipa::path(post, path = "/v1/me/passkeys/registration/start", tag = "passkeys", responses((status = 200, body = Started)))]
pub async fn registration_start(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Started>> {
    let session_id = caller.session_id()?.to_string();
    let account = account::get(&state.db, &caller.user_id).await?;
    let existing = of_user(&state.db, &account.id).await?;
    let display = account
        .display_name
        .clone()
        .unwrap_or_else(|| account.email.clone());
    let (public_key, ceremony_state) = state
        .webauthn
        .start_registration(
            &account.webauthn_handle,
            &account.email,
            &display,
            &serialized(&existing),
        )
        .map_err(ApiError::internal)?;
    let challenge_id = ceremony::store(
        &state,
        Purpose::Registration,
        Some(&account.id),
        Some(&session_id),
        ceremony_state,
    )
    .await?;
    Ok(Json(Started {
        challenge_id,
        public_key,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RegistrationFinish {
    challenge_id: String,
    /// `credential.toJSON()` of the new credential.
    #[schema(value_type = Object)]
    credential: Value,
    name: Option<String>,
}

fn bad_credential(reason: &str) -> ApiError {
    ApiError::validation("credential", reason)
}

/// A passkey name (see `crate::names`); absent or blank names it "Passkey".
fn passkey_name(name: Option<String>) -> ApiResult<String> {
    match name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        None => Ok("Passkey".into()),
        Some(name) => crate::names::parse(name)
            .ok_or_else(|| ApiError::validation("name", crate::names::RULE)),
    }
}

/// Verifies and stores the new passkey. Lifts a session's restriction but is no
/// authentication: it neither elevates the session nor changes how it last authenticated.
#[utoipa::path(post, path = "/v1/me/passkeys/registration/finish", tag = "passkeys", request_body = RegistrationFinish,
    responses((status = 201, body = PasskeyView)))]
pub async fn registration_finish(
    State(state): State<AppState>,
    caller: Caller,
    origin: Origin,
    ApiJson(body): ApiJson<RegistrationFinish>,
) -> ApiResult<(StatusCode, Json<PasskeyView>)> {
    let session_id = caller.session_id()?.to_string();
    let name = passkey_name(body.name)?;
    let now = state.clock.now();
    let ceremony = ceremony::take(&state, &body.challenge_id, now)
        .await?
        .filter(|c| {
            c.purpose == Purpose::Registration
                && c.user_id.as_deref() == Some(caller.user_id.as_str())
                && c.session_id.as_deref() == Some(session_id.as_str())
        })
        .ok_or_else(|| bad_credential("the challenge is unknown, used or expired"))?;
    let registered = state
        .webauthn
        .finish_registration(&ceremony.state, &body.credential)
        .map_err(|e| bad_credential(&format!("did not verify: {e}")))?;
    let id = new_id("pk");
    let mut tx = state.db.begin_write().await?;
    let inserted = sqlx::query(
        "INSERT INTO passkeys (id, user_id, credential_id, name, passkey, created_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT DO NOTHING",
    )
    .bind(&id)
    .bind(&caller.user_id)
    .bind(&registered.credential_id)
    .bind(&name)
    .bind(&registered.passkey)
    .bind(now.micros())
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(bad_credential("this credential is already registered"));
    }
    // Registering proves only that the caller holds this session, so it lifts the restriction
    // of a session that could do nothing else (4.4) and is not an authentication (4.2): a
    // stolen session must not turn itself into an elevated one this way.
    sqlx::query("UPDATE sessions SET restricted = 0 WHERE id = $1 AND restricted <> 0")
        .bind(&session_id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut *tx,
        &origin,
        now,
        "passkey.registered",
        Some(&caller.user_id),
        json!({ "passkeyId": id, "name": name }),
    )
    .await?;
    tx.commit().await?;
    state
        .security_notice(
            now,
            &caller.email,
            &format!("A passkey named \"{name}\" was added to your account."),
            "passkey-added",
        )
        .await;
    Ok((
        StatusCode::CREATED,
        Json(PasskeyView {
            id,
            name,
            created_at: now,
            last_used_at: None,
        }),
    ))
}

/// The caller's passkeys, newest first.
#[utoipa::path(get, path = "/v1/me/passkeys", tag = "passkeys",
    params(("from" = Option<i64>, Query), ("limit" = Option<i64>, Query)), responses((status = 200, body = Page<PasskeyView>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: ListParams,
) -> ApiResult<Json<Page<PasskeyView>>> {
    let columns = "id, name, created_at, last_used_at";
    let page = crate::db::page::by_key_rows(
        &state.db,
        &params,
        columns,
        "passkeys WHERE user_id = $1",
        "created_at DESC, id DESC",
        &caller.user_id,
        view,
    )
    .await?;
    Ok(Json(page))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenamePasskey {
    name: String,
}

/// Renames a passkey.
#[utoipa::path(patch, path = "/v1/me/passkeys/{id}", tag = "passkeys", params(("id" = String, Path)), request_body = RenamePasskey,
    responses((status = 200, body = PasskeyView)))]
pub async fn rename(
    State(state): State<AppState>,
    caller: Caller,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RenamePasskey>,
) -> ApiResult<Json<PasskeyView>> {
    let name = body.name.trim().to_string();
    if name.is_empty() {
        return Err(ApiError::validation("name", "must not be empty"));
    }
    let name = passkey_name(Some(name))?;
    let now = state.clock.now();
    let mut tx = state.db.begin_write().await?;
    let row = sqlx::query("UPDATE passkeys SET name = $3 WHERE id = $1 AND user_id = $2 RETURNING id, name, created_at, last_used_at")
        .bind(&id)
        .bind(&caller.user_id)
        .bind(&name)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| ApiError::not_found("The passkey"))?;
    audit::record(
        &mut *tx,
        &origin,
        now,
        "passkey.renamed",
        Some(&caller.user_id),
        json!({ "passkeyId": id, "name": name }),
    )
    .await?;
    tx.commit().await?;
    let notice = format!("A passkey of your account was renamed to \"{name}\".");
    state
        .security_notice(now, &caller.email, &notice, "passkey-renamed")
        .await;
    Ok(Json(view(&row)?))
}

/// Deletes a passkey (elevated). The last passkey of a user who must use passkeys stays: 400002.
#[utoipa::path(delete, path = "/v1/me/passkeys/{id}", tag = "passkeys", params(("id" = String, Path)), responses((status = 204)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let now = state.clock.now();
    let mut tx = state.db.begin_write().await?;
    // Lock the user first: two deletes racing cannot both see "another passkey is left".
    sqlx::query("UPDATE users SET id = id WHERE id = $1")
        .bind(&caller.user_id)
        .execute(&mut *tx)
        .await?;
    let sql = format!(
        "SELECT {} FROM users WHERE id = $1",
        account::ACCOUNT_COLUMNS
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&caller.user_id)
        .fetch_one(&mut *tx)
        .await?;
    let required = super::requirement::required(&account::Account::from_row(&row)?);
    let exists = sqlx::query("SELECT id FROM passkeys WHERE id = $1 AND user_id = $2")
        .bind(&id)
        .bind(&caller.user_id)
        .fetch_optional(&mut *tx)
        .await?;
    if exists.is_none() {
        return Err(ApiError::not_found("The passkey"));
    }
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM passkeys WHERE user_id = $1")
        .bind(&caller.user_id)
        .fetch_one(&mut *tx)
        .await?;
    if required && count <= 1 {
        return Err(ApiError::validation(
            "id",
            "passkeys are required for this account; register another passkey before deleting the last one",
        ));
    }
    sqlx::query("DELETE FROM passkeys WHERE id = $1 AND user_id = $2")
        .bind(&id)
        .bind(&caller.user_id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut *tx,
        &origin,
        now,
        "passkey.deleted",
        Some(&caller.user_id),
        json!({ "passkeyId": id }),
    )
    .await?;
    tx.commit().await?;
    state
        .security_notice(
            now,
            &caller.email,
            "A passkey was removed from your account.",
            "passkey-removed",
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}
