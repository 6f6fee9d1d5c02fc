//! Identity: users and their credentials — e-mail codes, passkeys, sessions, elevation, access
//! tokens, terms — and platform administration of users.

pub mod account;
pub mod admin;
pub mod auth;
pub mod ceremony;
pub mod codes;
pub mod elevation;
pub mod erasure;
pub mod limits;
pub mod me;
mod notices;
pub mod passkeys;
pub mod recovery;
pub mod requirement;
pub mod reset;
pub mod retention;
pub mod scope;
pub mod sessions;
pub mod signin;
pub(crate) mod store;
pub mod terms;
pub mod tokens;
pub mod users;
pub mod webauthn;

pub use auth::{Caller, Credential};
pub use scope::Scope;

use std::sync::Arc;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use axum::extract::FromRef;

use crate::cache::EpochCache;
use crate::state::Infra;

/// What identity's routes need: the infrastructure, the WebAuthn relying party, the caches
/// of the authentication path, and the erasers.
#[derive(Clone)]
pub struct IdentityState {
    pub infra: Infra,
    pub webauthn: Arc<webauthn::Passkeys>,
    pub tokens: Arc<auth::TokenCache>,
    pub me: Arc<EpochCache<account::MeView>>,
    /// What the layers above identity remove of an erased person, run in order inside the
    /// erasing unit. `app` registers them (organizations, then the HTTP layer's idempotency
    /// records), so identity names none of those layers.
    pub erasers: &'static [erasure::Eraser],
}

impl std::ops::Deref for IdentityState {
    type Target = Infra;

    fn deref(&self) -> &Infra {
        &self.infra
    }
}

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    IdentityState: FromRef<S>,
    Infra: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(signin::email_otp_start))
        .routes(routes!(signin::email_otp_verify))
        .routes(routes!(signin::passkey_start))
        .routes(routes!(signin::passkey_finish))
        .routes(routes!(reset::reset_start))
        .routes(routes!(reset::reset_finish))
        .routes(routes!(sessions::sign_out))
        .routes(routes!(elevation::start))
        .routes(routes!(elevation::finish))
        .routes(routes!(me::get, me::update, erasure::erase_me))
        .routes(routes!(me::email_start))
        .routes(routes!(me::email_verify))
        .routes(routes!(
            me::requirement,
            me::require_passkeys,
            me::unrequire_passkeys
        ))
        .routes(routes!(sessions::list))
        .routes(routes!(sessions::delete))
        .routes(routes!(tokens::create, tokens::list))
        .routes(routes!(tokens::delete))
        .routes(routes!(passkeys::registration_start))
        .routes(routes!(passkeys::registration_finish))
        .routes(routes!(passkeys::list))
        .routes(routes!(passkeys::rename, passkeys::delete))
        .routes(routes!(terms::get_current))
        .routes(routes!(terms::publish))
        .routes(routes!(terms::accept))
        .routes(routes!(admin::create, admin::list))
        .routes(routes!(admin::get, admin::update, erasure::erase_user))
        .routes(routes!(admin::ban, admin::unban))
        .routes(routes!(admin::suspend, admin::unsuspend))
        .routes(routes!(admin::lock))
        .routes(routes!(crate::audit::list))
}
