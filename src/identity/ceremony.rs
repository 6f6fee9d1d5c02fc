//! WebAuthn ceremonies in progress, kept in the database so any process can finish them:
//! single use (consumed by one conditional update), expiring with the code lifetime.

use serde_json::Value;

use crate::crypto::new_id;
use crate::db::{Unit, UnitError};
use crate::error::ApiResult;
use crate::identity::IdentityState;
use crate::time::Timestamp;

use super::store::ceremonies::{self as store, NewCeremony};

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Purpose {
    Registration,
    SignIn,
    Discoverable,
    SecondFactor,
    Elevation,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Registration => "registration",
            Purpose::SignIn => "sign_in",
            Purpose::Discoverable => "discoverable",
            Purpose::SecondFactor => "second_factor",
            Purpose::Elevation => "elevation",
        }
    }

    pub(in crate::identity) fn parse(text: &str) -> Option<Purpose> {
        [
            Purpose::Registration,
            Purpose::SignIn,
            Purpose::Discoverable,
            Purpose::SecondFactor,
            Purpose::Elevation,
        ]
        .into_iter()
        .find(|p| p.as_str() == text)
    }
}

/// A consumed ceremony: what it was for and the library state to finish it with.
pub struct Ceremony {
    pub purpose: Purpose,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub state: String,
}

/// The challenge answer of every `…/start`: `{challengeId, publicKey}`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Started {
    /// The ceremony to finish (single use, valid for 10 minutes).
    pub challenge_id: String,
    /// WebAuthn options in their JSON form (Level 3), ready for `parse…OptionsFromJSON`.
    #[schema(value_type = std::collections::HashMap<String, serde_json::Value>)]
    pub public_key: Value,
}

/// A ceremony to store: what for, whose, and the library's state to finish it with.
pub(crate) struct Pending {
    pub(crate) purpose: Purpose,
    pub(crate) user_id: Option<String>,
    pub(crate) session_id: Option<String>,
    pub(crate) state: String,
}

/// Inside a unit of work: stores the ceremony to finish within `ttl_secs`; its id.
pub(crate) fn store_in(
    w: &mut Unit<'_>,
    pending: &Pending,
    now: Timestamp,
    ttl_secs: i64,
) -> Result<String, UnitError> {
    let id = new_id("chl");
    let ceremony = NewCeremony {
        id: &id,
        purpose: pending.purpose,
        user_id: pending.user_id.as_deref(),
        session_id: pending.session_id.as_deref(),
        state: &pending.state,
        expires_at: now.plus_seconds(ttl_secs),
    };
    store::insert_in(w, &ceremony, now)?;
    Ok(id)
}

/// Stores a ceremony to finish within the code lifetime, as a unit of work; its id.
pub async fn store(
    state: &IdentityState,
    purpose: Purpose,
    user_id: Option<&str>,
    session_id: Option<&str>,
    ceremony_state: String,
) -> ApiResult<String> {
    let now = state.clock.now();
    let ttl = state.config.code_ttl_secs;
    let pending = Pending {
        purpose,
        user_id: user_id.map(str::to_string),
        session_id: session_id.map(str::to_string),
        state: ceremony_state,
    };
    state
        .db
        .write(move |w| Ok(store_in(w, &pending, now, ttl)?))
        .await
}

/// Takes a ceremony for finishing, as a unit of work: `None` when unknown, used or expired.
/// Exactly one caller can take it.
pub async fn take(state: &IdentityState, id: &str, now: Timestamp) -> ApiResult<Option<Ceremony>> {
    let id = id.to_string();
    state
        .db
        .write(move |w| Ok(store::take_in(w, &id, now)?))
        .await
}
