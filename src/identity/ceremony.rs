//! WebAuthn ceremonies in progress, kept in the database so any process can finish them:
//! single use (consumed by one conditional update), expiring with the code lifetime.

use serde_json::Value;

use crate::app::AppState;
use crate::crypto::new_id;
use crate::error::ApiResult;
use crate::time::Timestamp;

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

    fn parse(text: &str) -> Option<Purpose> {
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
    pub challenge_id: String,
    /// WebAuthn options in their JSON form (Level 3), ready for `parse…OptionsFromJSON`.
    #[schema(value_type = Object)]
    pub public_key: Value,
}

pub async fn store(
    state: &AppState,
    purpose: Purpose,
    user_id: Option<&str>,
    session_id: Option<&str>,
    ceremony_state: String,
) -> ApiResult<String> {
    let now = state.clock.now();
    let expires_at = now.plus_seconds(state.config.code_ttl_secs);
    let id = new_id("chl");
    let row = (
        id.clone(),
        user_id.map(str::to_string),
        session_id.map(str::to_string),
    );
    state
        .db
        .write(move |w| {
            let (id, user_id, session_id) = row;
            w.execute(
                "INSERT INTO webauthn_challenges (id, purpose, user_id, session_id, state, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                crate::params![id, purpose.as_str(), user_id, session_id, ceremony_state, now, expires_at],
            )?;
            Ok(())
        })
        .await?;
    Ok(id)
}

/// Takes a ceremony for finishing: `None` when unknown, used or expired. Exactly one caller
/// can take it.
pub async fn take(state: &AppState, id: &str, now: Timestamp) -> ApiResult<Option<Ceremony>> {
    let id = id.to_string();
    let row = state
        .db
        .write(move |w| {
            Ok(w.query_opt(
                "UPDATE webauthn_challenges SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND expires_at > $2
                 RETURNING purpose, user_id, session_id, state",
                crate::params![id, now],
            )?)
        })
        .await?;
    let Some(row) = row else { return Ok(None) };
    let Some(purpose) = Purpose::parse(&row.text("purpose")?) else {
        return Ok(None);
    };
    Ok(Some(Ceremony {
        purpose,
        user_id: row.opt_text("user_id")?,
        session_id: row.opt_text("session_id")?,
        state: row.text("state")?,
    }))
}
