//! Erasure (6): `DELETE /v1/users/{userId}` and `DELETE /v1/me` erase a person in one unit of
//! work. Their e-mail, display name, passkeys, sessions, tokens, challenges and address-keyed
//! counters go; the layers above identity remove what they keep of the person through the
//! erasers `app` registers (organizations: memberships and invitations, refusing the last owner
//! of an organization; HTTP: stored idempotent answers); queued mail and audit details are
//! scrubbed, and the file outbox once the unit has committed; the user id stays in financial
//! and audit records as a pseudonym, and a tombstone keeps it from being given again.

use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::audit::{self, Origin};
use crate::db::{Unit, UnitError};
use crate::error::ApiResult;
use crate::identity::IdentityState;
use crate::personal::Personal;
use crate::time::Timestamp;

use super::account::Account;
use super::admin::{TargetUser, user_not_found};
use super::auth::Caller;
use super::store::{accounts, erasure as store};
use super::users::Email;

/// One erasure, as the erasers of the layers above identity see it.
pub struct Erasure {
    /// The person's id, addresses and display name.
    pub person: Personal,
    /// Who erases (for the audit events an eraser records).
    pub origin: Origin,
    pub now: Timestamp,
}

/// What a layer above identity removes of an erased person, inside the erasing unit, before
/// identity's own rows go. An `Err` (the last owner of an organization: 400002) ends the unit:
/// nothing is erased.
pub type Eraser = fn(&mut Unit<'_>, &Erasure) -> ApiResult<()>;

/// Erases a user.
///
/// The e-mail address, display name, passkeys, sessions, access tokens, memberships and
/// invitations go, and the address and name are blanked wherever they were copied; the user
/// id stays in financial and audit records and is never given to another user. Elevated for
/// sessions; an access token with `users:write` needs no elevation. The last owner of an
/// organization cannot be erased (400002).
#[utoipa::path(delete, path = "/v1/users/{userId}", tag = "users", operation_id = "eraseUser",
    params(("userId" = String, Path, description = "The user to erase.")),
    responses((status = 204, description = "The person is erased: e-mail, display name, passkeys, sessions, access tokens, memberships and invitations are gone, and the id answers 404001 from now on (and is never given again).")))]
pub async fn erase_user(
    State(state): State<IdentityState>,
    origin: Origin,
    TargetUser(user): TargetUser,
) -> ApiResult<StatusCode> {
    erase(&state, origin, user.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Erases the caller's own account.
///
/// The same erasure as `DELETE /v1/users/{userId}`, for oneself: an elevated session, also a
/// restricted one, and also while newer terms are not yet accepted. The last owner of an
/// organization cannot be erased (400002).
#[utoipa::path(delete, path = "/v1/me", tag = "me", operation_id = "eraseMe",
    responses((status = 204, description = "The caller's account is erased, as `DELETE /v1/users/{userId}` erases one; this session and every other credential of the account stop working.")))]
pub async fn erase_me(
    State(state): State<IdentityState>,
    caller: Caller,
    origin: Origin,
) -> ApiResult<StatusCode> {
    erase(&state, origin, caller.user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The whole erasure as one unit of work, audited as `user.erased` (actor: who erased;
/// subject: the user id). 404001 when the user is gone by the time the unit runs. Then the
/// file outbox, which no transaction covers, is rewritten without the person.
async fn erase(state: &IdentityState, origin: Origin, user_id: String) -> ApiResult<()> {
    let now = state.clock.now();
    let (erasers, key) = (state.erasers, state.key.clone());
    let person = state
        .db
        .write(move |w| {
            // Serialises erasures, e-mail changes and passkey deletions of this user.
            accounts::lock_row_in(w, &user_id)?;
            let account = accounts::by_id_in(w, &user_id)?.ok_or_else(user_not_found)?;
            let erasure = Erasure {
                person: person_in(w, &account)?,
                origin,
                now,
            };
            for eraser in erasers {
                eraser(w, &erasure)?;
            }
            store::delete_credentials_in(w, &user_id)?;
            for address in erasure.person.addresses() {
                store::delete_address_records_in(w, address)?;
            }
            crate::mail::erase_in(w, &key, &erasure.person)?;
            audit::erase_in(w, &erasure.person)?;
            store::replace_with_tombstone_in(w, &user_id, now)?;
            audit::record_in(
                w,
                &erasure.origin,
                now,
                "user.erased",
                Some(&user_id),
                json!({}),
            )?;
            Ok(erasure.person)
        })
        .await?;
    state.mailer.erase_from_file(&person).await;
    Ok(())
}

/// The person as erasure blanks them: the current address, and the earlier ones the user's own
/// audit events name (a sign-up or e-mail change) unless another account holds that address
/// now; the display name.
fn person_in(w: &mut Unit<'_>, account: &Account) -> Result<Personal, UnitError> {
    let mut addresses = vec![account.email.clone()];
    let mut found = Vec::new();
    for details in audit::details_about_in(w, &account.id)? {
        strings(&details, &mut found);
    }
    for text in found {
        let Some(address) = Email::parse(&text) else {
            continue;
        };
        let address = address.as_str().to_string();
        if addresses.contains(&address) {
            continue;
        }
        let held_by_other = accounts::by_email_in(w, &address)?.is_some_and(|a| a.id != account.id);
        if !held_by_other {
            addresses.push(address);
        }
    }
    let names = account.display_name.iter().cloned().collect();
    Ok(Personal::new(&account.id, addresses, names))
}

/// Every string inside a JSON value.
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(text) => out.push(text.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}
