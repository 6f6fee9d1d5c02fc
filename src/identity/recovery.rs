//! The recovery hold (4.5): a mailbox alone must not open an organization that requires
//! passkeys. For `recovery_hold_secs` after a passkey reset (`users.recovered_at`), every
//! route of such an organization answers the user 403005 (step 6, before the role check)
//! unless an owner ended the hold (a `recovery_releases` row for that reset). The hold is
//! decided when a route is called, so a membership accepted or a policy turned on during it is
//! held too. The reset mails the owners of the organizations it holds (the platform
//! administrators where the user is the only owner). A platform administrator is also held out
//! of the administrator routes for as long (step 5).

use sqlx::Row as _;

use crate::app::AppState;
use crate::db::Tx;
use crate::error::{ApiError, ApiResult};
use crate::time::Timestamp;

/// An organization the reset holds, and who must hear of it.
pub struct Held {
    org_name: String,
    notify: Vec<String>,
}

/// In the reset's transaction: records the reset; returns the organizations it holds now.
pub async fn start(tx: &mut Tx, user_id: &str, now: Timestamp) -> ApiResult<Vec<Held>> {
    sqlx::query("UPDATE users SET recovered_at = $2 WHERE id = $1")
        .bind(user_id)
        .bind(now.micros())
        .execute(&mut **tx)
        .await?;
    let orgs = sqlx::query(
        "SELECT o.id, o.name FROM memberships m JOIN orgs o ON o.id = m.org_id
         WHERE m.user_id = $1 AND o.passkeys_required <> 0 ORDER BY o.created_at",
    )
    .bind(user_id)
    .fetch_all(&mut **tx)
    .await?;
    let mut held = Vec::with_capacity(orgs.len());
    for org in orgs {
        let org_id: String = org.try_get("id")?;
        let mut notify: Vec<String> = sqlx::query_scalar(
            "SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id
             WHERE m.org_id = $1 AND m.role = 'owner' AND m.user_id <> $2 ORDER BY m.joined_at",
        )
        .bind(&org_id)
        .bind(user_id)
        .fetch_all(&mut **tx)
        .await?;
        if notify.is_empty() {
            notify = sqlx::query_scalar(
                "SELECT email FROM users WHERE platform_admin <> 0 AND id <> $1 ORDER BY created_at",
            )
            .bind(user_id)
            .fetch_all(&mut **tx)
            .await?;
        }
        held.push(Held {
            org_name: org.try_get("name")?,
            notify,
        });
    }
    Ok(held)
}

/// After the commit: mails the owners (or administrators) of each held organization.
pub async fn notify(
    state: &AppState,
    member_email: &str,
    held: &[Held],
    until: Timestamp,
    now: Timestamp,
) {
    for org in held {
        for to in &org.notify {
            let mail =
                crate::mail::templates::member_recovered(to, member_email, &org.org_name, until);
            state.mailer.notify(&state.db, now, mail).await;
        }
    }
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
    state: &AppState,
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
    state: &AppState,
    org_id: &str,
    user_id: &str,
    recovered_at: Option<Timestamp>,
) -> ApiResult<bool> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM recovery_releases WHERE org_id = $1 AND user_id = $2 AND recovered_at = $3",
    )
    .bind(org_id)
    .bind(user_id)
    .bind(recovered_at.map(|t| t.micros()))
    .fetch_optional(state.db.pool())
    .await?;
    Ok(found.is_some())
}

/// An owner ends a member's hold in an organization that requires passkeys; `false` when the
/// member is not held there (no reset within the hold, or already released).
pub async fn release(
    tx: &mut Tx,
    org_id: &str,
    user_id: &str,
    owner_id: &str,
    hold_secs: i64,
    now: Timestamp,
) -> ApiResult<bool> {
    let done = sqlx::query(
        "INSERT INTO recovery_releases (org_id, user_id, recovered_at, released_by)
         SELECT o.id, u.id, u.recovered_at, $3 FROM orgs o, users u
         WHERE o.id = $1 AND u.id = $2 AND o.passkeys_required <> 0
           AND u.recovered_at IS NOT NULL AND u.recovered_at > $4
         ON CONFLICT DO NOTHING",
    )
    .bind(org_id)
    .bind(user_id)
    .bind(owner_id)
    .bind(now.minus_seconds(hold_secs).micros())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// `release` inside a unit of work.
pub fn release_in(
    w: &mut crate::db::Unit<'_>,
    org_id: &str,
    user_id: &str,
    owner_id: &str,
    hold_secs: i64,
    now: Timestamp,
) -> Result<bool, crate::db::UnitError> {
    let done = w.execute(
        "INSERT INTO recovery_releases (org_id, user_id, recovered_at, released_by)
         SELECT o.id, u.id, u.recovered_at, $3 FROM orgs o, users u
         WHERE o.id = $1 AND u.id = $2 AND o.passkeys_required <> 0
           AND u.recovered_at IS NOT NULL AND u.recovered_at > $4
         ON CONFLICT DO NOTHING",
        crate::params![org_id, user_id, owner_id, now.minus_seconds(hold_secs)],
    )?;
    Ok(done == 1)
}

/// Deletes releases of holds that are over (a job).
pub async fn purge(db: &crate::db::Db, hold_secs: i64, now: Timestamp) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM recovery_releases WHERE recovered_at <= $1")
        .bind(now.minus_seconds(hold_secs).micros())
        .execute(db.writer())
        .await?;
    Ok(done.rows_affected())
}

/// 403005 for a held user, with `lockedUntil` and `Retry-After`.
pub fn held(until: Timestamp, now: Timestamp) -> ApiError {
    let mut error = super::codes::locked_out(until, now);
    error.detail = format!(
        "Your passkeys were reset recently: this is on hold until {until}, or until an owner ends the hold."
    );
    error
}
