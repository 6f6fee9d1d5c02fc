//! The router's state: the identity state (which holds the infrastructure) and what only the
//! HTTP layer uses. Each domain takes its own state from it through `FromRef`; it derefs to
//! the identity state, and so to the infrastructure, for the pipeline and the jobs.

use std::sync::Arc;

use axum::extract::FromRef;

use crate::http::metrics::Metrics;
use crate::http::reference::Reference;
use crate::identity::IdentityState;
use crate::orgs::OrgsState;
use crate::state::Infra;

#[derive(Clone)]
pub struct AppState {
    pub identity: IdentityState,
    pub orgs: OrgsState,
    pub metrics: Arc<Metrics>,
    pub reference: Arc<Reference>,
    pub proxies: Arc<crate::net::ProxyList>,
}

impl std::ops::Deref for AppState {
    type Target = IdentityState;

    fn deref(&self) -> &IdentityState {
        &self.identity
    }
}

impl FromRef<AppState> for IdentityState {
    fn from_ref(state: &AppState) -> IdentityState {
        state.identity.clone()
    }
}

impl FromRef<AppState> for Infra {
    fn from_ref(state: &AppState) -> Infra {
        state.identity.infra.clone()
    }
}

impl FromRef<AppState> for OrgsState {
    fn from_ref(state: &AppState) -> OrgsState {
        state.orgs.clone()
    }
}
