//! The recovery hold (4.5): a mailbox alone must not open an organization that requires
//! passkeys. A passkey reset holds the user out of each such organization for
//! `recovery_hold_secs` (403005 on its routes, checked in step 6) and tells its owners, or the
//! platform administrators when the user is its only owner. A platform administrator is also
//! held out of the operator routes for as long (step 5).

use sqlx::Row as _;

use crate::app::AppState;
use crate::db::Tx;
use crate::error::ApiResult;
use crate::time::Timestamp;

/// An organization the reset put on hold, and who must hear of it.
pub struct Held {
    org_name: String,
    notify: Vec<String>,
}

/// In the reset's transaction: records the reset and holds the user out of every organization
/// of theirs that requires passkeys until `until`.
pub async fn hold(
    tx: &mut Tx,
    user_id: &str,
    now: Timestamp,
    until: Timestamp,
) -> ApiResult<Vec<Held>> {
    sqlx::query("UPDATE users SET recovered_at = $2 WHERE id = $1")
        .bind(user_id)
        .bind(now.micros())
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO recovery_holds (org_id, user_id, held_until)
         SELECT m.org_id, m.user_id, $2 FROM memberships m JOIN orgs o ON o.id = m.org_id
         WHERE m.user_id = $1 AND o.passkeys_required <> 0
         ON CONFLICT (org_id, user_id) DO UPDATE SET held_until = excluded.held_until",
    )
    .bind(user_id)
    .bind(until.micros())
    .execute(&mut **tx)
    .await?;
    let orgs = sqlx::query(
        "SELECT o.id, o.name FROM recovery_holds h JOIN orgs o ON o.id = h.org_id
         WHERE h.user_id = $1 AND h.held_until = $2 ORDER BY o.created_at",
    )
    .bind(user_id)
    .bind(until.micros())
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

/// When the caller's own hold as a platform administrator ends, if it has not.
pub fn admin_hold_until(
    recovered_at: Option<Timestamp>,
    hold_secs: i64,
    now: Timestamp,
) -> Option<Timestamp> {
    recovered_at
        .map(|at| at.plus_seconds(hold_secs))
        .filter(|until| now < *until)
}

/// 403005 for a held user, with `lockedUntil` and `Retry-After`.
pub fn held(until: Timestamp, now: Timestamp) -> crate::error::ApiError {
    let mut error = super::codes::locked_out(until, now);
    error.detail = format!(
        "Your passkeys were reset recently: this is on hold until {until}, or until an owner ends the hold."
    );
    error
}
