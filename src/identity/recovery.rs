//! The recovery hold (4.5): a mailbox alone must not open an organization that requires
//! passkeys. For `recovery_hold_secs` after a passkey reset (`users.recovered_at`), every
//! route of such an organization answers the user 403005 (step 6, before the role check)
//! unless an owner ended the hold (a `recovery_releases` row for that reset). The hold is
//! decided when a route is called, so a membership accepted or a policy turned on during it is
//! held too. The reset mails the owners of the organizations it holds (the platform
//! administrators where the user is the only owner). A platform administrator is also held out
//! of the administrator routes for as long (step 5).

use crate::audit::{self, Origin};
use crate::db::{Unit, UnitError};
use crate::error::{ApiError, ApiResult};
use crate::mail::{Mailer, templates};
use crate::time::Timestamp;

use super::notices::Notice;
use super::store::recovery as store;

/// An organization the reset holds, and who must hear of it.
pub(crate) struct Held {
    org_name: String,
    notify: Vec<String>,
}

/// Inside the reset's unit of work: records the reset; returns the organizations it holds now.
pub(crate) fn start_in(
    w: &mut Unit<'_>,
    user_id: &str,
    now: Timestamp,
) -> Result<Vec<Held>, UnitError> {
    store::mark_recovered_in(w, user_id, now)?;
    let orgs = store::requiring_passkeys_in(w, user_id)?;
    let mut held = Vec::with_capacity(orgs.len());
    for org in orgs {
        let mut notify = store::other_owner_emails_in(w, &org.id, user_id)?;
        if notify.is_empty() {
            notify = store::other_admin_emails_in(w, user_id)?;
        }
        held.push(Held {
            org_name: org.name,
            notify,
        });
    }
    Ok(held)
}

/// The notices telling the owners (or administrators) of each held organization, to queue in
/// the reset's unit.
pub(crate) fn notices(
    mailer: &Mailer,
    member_email: &str,
    held: &[Held],
    until: Timestamp,
) -> Vec<Notice> {
    held.iter()
        .flat_map(|org| {
            org.notify.iter().map(|to| {
                let mail = templates::member_recovered(to, member_email, &org.org_name, until);
                Notice::new(mailer, mail)
            })
        })
        .collect()
}

/// When a hold that began with the reset at `recovered_at` ends, if it has not yet.
pub fn hold_until(
    recovered_at: Option<Timestamp>,
    hold_secs: i64,
    now: Timestamp,
) -> Option<Timestamp> {
    recovered_at
        .map(|at| at.plus_seconds(hold_secs))
        .filter(|until| now < *until)
}

/// Step 6: whether the caller is held out of `org_id` (which requires passkeys) now.
pub async fn check_org(
    state: &crate::state::Infra,
    org_id: &str,
    user_id: &str,
    recovered_at: Option<Timestamp>,
    now: Timestamp,
) -> ApiResult<()> {
    let Some(until) = hold_until(recovered_at, state.config.recovery_hold_secs, now) else {
        return Ok(());
    };
    if released(state, org_id, user_id, recovered_at).await? {
        return Ok(());
    }
    Err(held(until, now))
}

async fn released(
    state: &crate::state::Infra,
    org_id: &str,
    user_id: &str,
    recovered_at: Option<Timestamp>,
) -> ApiResult<bool> {
    Ok(store::is_released(&state.db, org_id, user_id, recovered_at).await?)
}

/// An owner ends a member's hold in an organization that requires passkeys, audited, as one
/// unit of work; `false` when the member is not held there (no reset within the hold, or
/// already released).
pub async fn release(
    db: &crate::db::Db,
    origin: &Origin,
    org_id: &str,
    user_id: &str,
    owner_id: &str,
    hold_secs: i64,
    now: Timestamp,
) -> ApiResult<bool> {
    let origin = origin.clone();
    let (org_id, user_id, owner_id) = (
        org_id.to_string(),
        user_id.to_string(),
        owner_id.to_string(),
    );
    db.write(move |w| {
        if !release_in(w, &org_id, &user_id, &owner_id, hold_secs, now)? {
            return Ok(false);
        }
        audit::record_in(
            w,
            &origin,
            now,
            "member.recovery_hold_ended",
            Some(&org_id),
            serde_json::json!({ "userId": user_id }),
        )?;
        Ok(true)
    })
    .await
}

/// Inside a unit of work: ends the hold as [`release`] does, without the audit event.
pub fn release_in(
    w: &mut Unit<'_>,
    org_id: &str,
    user_id: &str,
    owner_id: &str,
    hold_secs: i64,
    now: Timestamp,
) -> Result<bool, UnitError> {
    store::release_in(w, org_id, user_id, owner_id, now.minus_seconds(hold_secs))
}

/// Deletes releases of holds that are over (a job).
pub async fn purge(db: &crate::db::Db, hold_secs: i64, now: Timestamp) -> ApiResult<u64> {
    let cutoff = now.minus_seconds(hold_secs);
    db.write(move |w| Ok(store::purge_in(w, cutoff)?)).await
}

/// 403005 for a held user, with `lockedUntil` and `Retry-After`.
pub fn held(until: Timestamp, now: Timestamp) -> ApiError {
    let mut error = super::codes::locked_out(until, now);
    error.detail = format!(
        "Your passkeys were reset recently: this is on hold until {until}, or until an owner ends the hold."
    );
    error
}
