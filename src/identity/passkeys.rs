//! Passkeys (4.2): registration, listing, renaming, deleting, and the stored credentials the
//! sign-in, second-factor and elevation ceremonies verify against.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::extract::{ApiJson, ApiPath};
use crate::audit::{self, Origin};
use crate::crypto::new_id;
use crate::db::{Db, Unit, UnitError};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::identity::IdentityState;
use crate::list::{ListParams, Page};
use crate::time::Timestamp;

use super::account::{self, Account};
use super::auth::Caller;
use super::ceremony::{self, Purpose, Started};
use super::notices::Notice;
use super::store::passkeys::{self as store, NewPasskey};
use super::store::{accounts, sessions as session_store};
use super::webauthn::Verified;

/// A stored passkey.
#[derive(Clone)]
pub struct StoredPasskey {
    pub id: String,
    pub credential_id: String,
    pub passkey: String,
}

/// The user's passkeys, oldest first.
pub async fn of_user(db: &Db, user_id: &str) -> ApiResult<Vec<StoredPasskey>> {
    Ok(store::of_user(db, user_id).await?)
}

pub fn serialized(passkeys: &[StoredPasskey]) -> Vec<String> {
    passkeys.iter().map(|p| p.passkey.clone()).collect()
}

/// Records a successful assertion: the new counter and the time of use. The update is
/// conditional on the stored credential being the one verified against, so of two assertions
/// racing with one counter value only one counts; `false` means this one lost.
pub fn record_use_in(
    w: &mut Unit<'_>,
    verified: &Verified,
    stored: &[StoredPasskey],
    now: Timestamp,
) -> Result<bool, UnitError> {
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
    store::record_use_in(w, &verified.credential_id, &previous.passkey, next, now)
}

/// The options of an assertion by one of the account's passkeys and the ceremony state to
/// finish it with; 400 when it has none.
pub(crate) async fn assertion_options(
    state: &IdentityState,
    account: &Account,
) -> ApiResult<(Value, String)> {
    let passkeys = of_user(&state.db, &account.id).await?;
    if passkeys.is_empty() {
        return Err(ApiError::new(
            ErrorCode::NoPasskeysRegistered,
            "No passkeys are registered for this account.",
        ));
    }
    state
        .webauthn
        .start_authentication(&serialized(&passkeys))
        .map_err(ApiError::internal)
}

/// Starts an assertion for a known user (second factor, elevation).
pub async fn start_assertion(
    state: &IdentityState,
    purpose: Purpose,
    account: &Account,
    session_id: Option<&str>,
) -> ApiResult<Started> {
    let (public_key, ceremony_state) = assertion_options(state, account).await?;
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

/// A passkey of the signed-in user.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"id": "pk_35rjfj2xbahw0gqnmf2kdpb0nr", "name": "MacBook Touch ID", "createdAt": "2026-11-02T09:20:11Z", "lastUsedAt": "2026-11-24T10:15:00Z"}))]
pub struct PasskeyView {
    /// The passkey's id (`pk_…`).
    pub id: String,
    /// A name to recognise it by.
    pub name: String,
    /// When it was registered.
    pub created_at: Timestamp,
    /// When it last signed in or elevated; `null` if never.
    pub last_used_at: Option<Timestamp>,
}

/// Options to register a new passkey for the signed-in user (elevated, except for a restricted
/// session registering the account's first passkey).
#[utoipa::path(post, path = "/v1/me/passkeys/registration/start", tag = "passkeys", operation_id = "startPasskeyRegistration",
    responses((status = 200, description = "The WebAuthn creation options for `navigator.credentials.create`.", body = Started)))]
pub async fn registration_start(
    State(state): State<IdentityState>,
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

/// The new credential that finishes a passkey registration.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({
    "challengeId": "chl_35rjfj2xbahw0gqnmf2kdpb0nr",
    "credential": {
        "id": "b3Bh...", "rawId": "b3Bh...", "type": "public-key",
        "response": {"clientDataJSON": "eyJ0...", "attestationObject": "o2Nm...", "transports": ["internal"]},
        "clientExtensionResults": {}
    },
    "name": "MacBook Touch ID"
}))]
pub struct RegistrationFinish {
    /// The `challengeId` of `POST /v1/me/passkeys/registration/start`.
    challenge_id: String,
    /// `credential.toJSON()` of the new credential.
    #[schema(value_type = std::collections::HashMap<String, serde_json::Value>)]
    credential: Value,
    /// A name to recognise it by: 1 to 100 characters; absent or blank names it "Passkey".
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
#[utoipa::path(post, path = "/v1/me/passkeys/registration/finish", tag = "passkeys", operation_id = "finishPasskeyRegistration",
    request_body = RegistrationFinish,
    responses((status = 201, description = "The new passkey.", body = PasskeyView)))]
pub async fn registration_finish(
    State(state): State<IdentityState>,
    caller: Caller,
    origin: Origin,
    ApiJson(body): ApiJson<RegistrationFinish>,
) -> ApiResult<(StatusCode, Json<PasskeyView>)> {
    let session_id = caller.session_id()?.to_string();
    let name = passkey_name(body.name)?;
    let view = register(
        &state,
        &caller,
        origin,
        session_id,
        &body.challenge_id,
        &body.credential,
        name,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Takes the registration ceremony of the caller's session and verifies the credential, then
/// one unit of work stores the passkey, lifts the session's restriction, audits and notices.
async fn register(
    state: &IdentityState,
    caller: &Caller,
    origin: Origin,
    session_id: String,
    challenge_id: &str,
    credential: &Value,
    name: String,
) -> ApiResult<PasskeyView> {
    let now = state.clock.now();
    let ceremony = ceremony::take(state, challenge_id, now)
        .await?
        .filter(|c| {
            c.purpose == Purpose::Registration
                && c.user_id.as_deref() == Some(caller.user_id.as_str())
                && c.session_id.as_deref() == Some(session_id.as_str())
        })
        .ok_or_else(|| bad_credential("the challenge is unknown, used or expired"))?;
    let registered = state
        .webauthn
        .finish_registration(&ceremony.state, credential)
        .map_err(|e| bad_credential(&format!("did not verify: {e}")))?;
    let view = PasskeyView {
        id: new_id("pk"),
        name,
        created_at: now,
        last_used_at: None,
    };
    let what = format!(
        "A passkey named \"{}\" was added to your account.",
        view.name
    );
    let notice = Notice::security(state, &caller.email, &what, "passkey-added");
    let (user_id, queued) = (caller.user_id.clone(), notice.clone());
    let view = state
        .db
        .write(move |w| {
            let passkey = NewPasskey {
                id: &view.id,
                user_id: &user_id,
                credential_id: &registered.credential_id,
                name: &view.name,
                passkey: &registered.passkey,
            };
            if !store::insert_in(w, &passkey, now)? {
                return Err(bad_credential("this credential is already registered"));
            }
            // Registering proves only that the caller holds this session, so it lifts the
            // restriction of a session that could do nothing else (4.4) and is not an
            // authentication (4.2): a stolen session must not turn itself into an elevated one
            // this way.
            session_store::unrestrict_in(w, &session_id)?;
            audit::record_in(
                w,
                &origin,
                now,
                "passkey.registered",
                Some(&user_id),
                json!({ "passkeyId": view.id, "name": view.name }),
            )?;
            queued.queue_in(w, now)?;
            Ok(view)
        })
        .await?;
    notice.send(now).await;
    Ok(view)
}

/// The caller's passkeys, newest first.
#[utoipa::path(get, path = "/v1/me/passkeys", tag = "passkeys", operation_id = "listPasskeys",
    params(("from" = Option<i64>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, description = "A page of the caller's passkeys.", body = Page<PasskeyView>)))]
pub async fn list(
    State(state): State<IdentityState>,
    caller: Caller,
    params: ListParams,
) -> ApiResult<Json<Page<PasskeyView>>> {
    let page = store::page(&state.db, &caller.user_id, &params).await?;
    Ok(Json(page))
}

/// A passkey's new name.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "YubiKey 5C"}))]
pub struct RenamePasskey {
    /// The new name: 1 to 100 characters without control characters.
    name: String,
}

/// Renames a passkey.
#[utoipa::path(patch, path = "/v1/me/passkeys/{id}", tag = "passkeys", operation_id = "renamePasskey",
    params(("id" = String, Path, description = "The passkey's id (`pk_…`).")), request_body = RenamePasskey,
    responses((status = 200, description = "The renamed passkey.", body = PasskeyView)))]
pub async fn rename(
    State(state): State<IdentityState>,
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
    Ok(Json(
        rename_passkey(&state, &caller, origin, id, name).await?,
    ))
}

/// Renames one of the caller's passkeys, audited and noticed, as one unit of work.
async fn rename_passkey(
    state: &IdentityState,
    caller: &Caller,
    origin: Origin,
    id: String,
    name: String,
) -> ApiResult<PasskeyView> {
    let now = state.clock.now();
    let what = format!("A passkey of your account was renamed to \"{name}\".");
    let notice = Notice::security(state, &caller.email, &what, "passkey-renamed");
    let (user_id, queued) = (caller.user_id.clone(), notice.clone());
    let view = state
        .db
        .write(move |w| {
            let view = store::rename_in(w, &id, &user_id, &name)?
                .ok_or_else(|| ApiError::not_found("The passkey"))?;
            audit::record_in(
                w,
                &origin,
                now,
                "passkey.renamed",
                Some(&user_id),
                json!({ "passkeyId": id, "name": name }),
            )?;
            queued.queue_in(w, now)?;
            Ok(view)
        })
        .await?;
    notice.send(now).await;
    Ok(view)
}

/// Deletes a passkey (elevated). The last passkey of a user who must use passkeys stays: 400002.
#[utoipa::path(delete, path = "/v1/me/passkeys/{id}", tag = "passkeys", operation_id = "deletePasskey",
    params(("id" = String, Path, description = "The passkey's id (`pk_…`).")),
    responses((status = 204, description = "The passkey is removed; it can no longer sign in.")))]
pub async fn delete(
    State(state): State<IdentityState>,
    caller: Caller,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    remove(&state, &caller, origin, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes one of the caller's passkeys, audited and noticed, as one unit of work: the user's
/// row is locked first, so two deletes racing cannot both see "another passkey is left".
async fn remove(
    state: &IdentityState,
    caller: &Caller,
    origin: Origin,
    id: String,
) -> ApiResult<()> {
    let now = state.clock.now();
    let what = "A passkey was removed from your account.";
    let notice = Notice::security(state, &caller.email, what, "passkey-removed");
    let (user_id, queued) = (caller.user_id.clone(), notice.clone());
    state
        .db
        .write(move |w| {
            accounts::lock_row_in(w, &user_id)?;
            let account =
                accounts::by_id_in(w, &user_id)?.ok_or_else(|| ApiError::not_found("The user"))?;
            if !store::is_users_in(w, &id, &user_id)? {
                return Err(ApiError::not_found("The passkey"));
            }
            if super::requirement::required(&account) && store::count_in(w, &user_id)? <= 1 {
                return Err(ApiError::validation(
                    "id",
                    "passkeys are required for this account; register another passkey before deleting the last one",
                ));
            }
            store::delete_in(w, &id, &user_id)?;
            audit::record_in(
                w,
                &origin,
                now,
                "passkey.deleted",
                Some(&user_id),
                json!({ "passkeyId": id }),
            )?;
            Ok(queued.queue_in(w, now)?)
        })
        .await?;
    notice.send(now).await;
    Ok(())
}
