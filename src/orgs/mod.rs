//! Organizations (5): roles decided by one permission table, members, invitations, legal
//! signatories, and the passkey policy (agreements are commerce's).

pub mod access;
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

/// What blocks deleting an organization, counted inside the deleting unit after its row
/// lock. The domains above organizations register it (commerce: subscriptions not yet final),
/// so organizations name none of them.
pub type LiveDependents = fn(&mut crate::db::Unit<'_>, &str) -> Result<i64, crate::db::UnitError>;

/// What the organization routes need: the infrastructure and the deletion guard.
#[derive(Clone)]
pub struct OrgsState {
    pub infra: Infra,
    pub live_dependents: LiveDependents,
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
}

/// Serialises changes to one organization's memberships inside a unit of work: a row lock on
/// PostgreSQL (SQLite's write transactions are serial already).
pub fn lock_org_in(w: &mut crate::db::Unit<'_>, org_id: &str) -> Result<(), crate::db::UnitError> {
    store::orgs::lock(w, org_id)
}
