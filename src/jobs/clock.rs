//! The test clock (section 10), only with `--dev`.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use crate::api::extract::ApiJson;
use crate::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::time::Timestamp;

#[derive(Serialize, utoipa::ToSchema)]
pub struct ClockView {
    now: Timestamp,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AdvanceClock {
    /// 1 to 315,360,000 seconds.
    advance_seconds: i64,
}

pub const MAX_ADVANCE_SECONDS: i64 = 315_360_000;

/// The server's current time (404003 without `--dev`, decided by the pipeline).
#[utoipa::path(get, path = "/v1/dev/clock", tag = "dev", responses((status = 200, body = ClockView)))]
pub async fn get_clock(State(state): State<AppState>) -> ApiResult<Json<ClockView>> {
    Ok(Json(ClockView {
        now: state.clock.now(),
    }))
}

/// Moves the clock forward for every process and runs every job now due before answering.
#[utoipa::path(post, path = "/v1/dev/clock", tag = "dev", request_body = AdvanceClock, responses((status = 200, body = ClockView)))]
pub async fn advance_clock(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<AdvanceClock>,
) -> ApiResult<Json<ClockView>> {
    if !(1..=MAX_ADVANCE_SECONDS).contains(&body.advance_seconds) {
        return Err(ApiError::validation(
            "advanceSeconds",
            format!("must be between 1 and {MAX_ADVANCE_SECONDS}"),
        ));
    }
    state.clock.advance(&state.db, body.advance_seconds).await?;
    super::run_due(&state).await?;
    Ok(Json(ClockView {
        now: state.clock.now(),
    }))
}
