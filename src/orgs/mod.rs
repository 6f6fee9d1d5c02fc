//! Organizations (5): roles decided by one permission table, members, invitations, legal
//! signatories, and the passkey policy (agreements are commerce's).

pub mod access;
pub mod handlers;
pub mod invitations;
pub mod members;
pub mod permissions;
pub mod security;
pub mod store;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::ApiResult;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::create, handlers::list))
        .routes(routes!(handlers::get, handlers::update, handlers::delete))
        .routes(routes!(members::list))
        .routes(routes!(members::update, members::remove))
        .routes(routes!(members::end_recovery_hold))
        .routes(routes!(invitations::create, invitations::list))
        .routes(routes!(invitations::revoke))
        .routes(routes!(invitations::mine))
        .routes(routes!(invitations::accept))
        .routes(routes!(invitations::decline))
        .routes(routes!(security::require, security::relax))
}

/// Serialises changes to one organization's memberships: a row lock on PostgreSQL (SQLite's
/// write transactions are serial already).
pub async fn lock_org(tx: &mut crate::db::Tx, org_id: &str) -> ApiResult<()> {
    sqlx::query("UPDATE orgs SET id = id WHERE id = $1")
        .bind(org_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// `lock_org` inside a unit of work.
pub fn lock_org_in(w: &mut crate::db::Unit<'_>, org_id: &str) -> Result<(), crate::db::UnitError> {
    w.execute(
        "UPDATE orgs SET id = id WHERE id = $1",
        crate::params![org_id],
    )?;
    Ok(())
}

/// Subscriptions that keep an organization from being deleted: every one not yet final
/// (`canceled` or `ended`).
/// Counted inside the deleting transaction, after `lock_org`: a checkout cannot slip in.
pub async fn active_subscriptions(tx: &mut crate::db::Tx, org_id: &str) -> ApiResult<i64> {
    crate::commerce::subscriptions::live_count(&mut **tx, org_id).await
}
