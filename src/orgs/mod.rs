//! Organizations (5): roles decided by one permission table, members, invitations, legal
//! signatories, and the passkey policy (agreements are commerce's).

pub mod access;
pub mod backoffice;
pub mod erasure;
pub mod handlers;
pub mod invitations;
pub mod members;
pub mod permissions;
pub mod security;
pub mod store;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::Infra;

/// What the domains above organizations do when one is deleted, inside the deleting unit after
/// its row lock (`(unit, origin, org_id, now)`): refuse (400002), or wind up what they keep for
/// it (commerce: every subscription ends now, open invoices are voided; the financial records
/// stay). `app` registers commerce's, so organizations name none of the domains above them.
pub type CloseDependents = fn(
    &mut crate::db::Unit<'_>,
    &crate::audit::Origin,
    &str,
    crate::time::Timestamp,
) -> crate::error::ApiResult<()>;

/// What the organization routes need: the infrastructure and the deletion hook.
#[derive(Clone)]
pub struct OrgsState {
    pub infra: Infra,
    pub close_dependents: CloseDependents,
}

impl std::ops::Deref for OrgsState {
    type Target = Infra;

    fn deref(&self) -> &Infra {
        &self.infra
    }
}

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Infra: axum::extract::FromRef<S>,
    OrgsState: axum::extract::FromRef<S>,
{
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
        .routes(routes!(backoffice::list_all))
        .routes(routes!(backoffice::list_of_user))
}

/// Serialises changes to one organization's memberships inside a unit of work: a row lock on
/// PostgreSQL (SQLite's write transactions are serial already). Deleted organizations are
/// locked too (jobs settle their last payments and refunds).
pub fn lock_org_in(w: &mut crate::db::Unit<'_>, org_id: &str) -> Result<(), crate::db::UnitError> {
    store::orgs::lock(w, org_id)
}

/// `lock_org_in` for a write that makes something new in the organization (a checkout, an
/// invitation): 404003 when it has been deleted, also when the deletion committed while this
/// unit waited for the lock.
pub fn lock_live_org_in(w: &mut crate::db::Unit<'_>, org_id: &str) -> crate::error::ApiResult<()> {
    match store::orgs::lock_live(w, org_id)? {
        true => Ok(()),
        false => Err(access::org_not_found()),
    }
}

/// An organization found by id whether or not it was deleted (`deletedAt`).
pub use store::orgs::FoundOrg;

/// The organization `org_id`, deleted ones included: what platform administrators read a
/// deleted organization's invoices and exports by. Every organization route answers 404003 for
/// a deleted organization; this is the only way to find one.
pub async fn find_including_deleted(
    db: &crate::db::Db,
    org_id: &str,
) -> crate::error::ApiResult<Option<FoundOrg>> {
    Ok(store::orgs::find_including_deleted(db, org_id).await?)
}
