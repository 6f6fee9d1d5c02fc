//! The test clock (section 10), only with `--dev`.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use crate::api::extract::ApiJson;
use crate::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::time::Timestamp;

/// The test clock's time.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ClockView {
    /// The server's current time, the test clock's offset included.
    now: Timestamp,
}

/// How far to move the test clock.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"advanceSeconds": 86400}))]
pub struct AdvanceClock {
    /// How far to move the clock forward: 1 to 315,360,000 seconds (ten years).
    advance_seconds: i64,
}

pub const MAX_ADVANCE_SECONDS: i64 = 315_360_000;

/// The server's current time (404003 without `--dev`, decided by the pipeline).
#[utoipa::path(get, path = "/v1/dev/clock", tag = "dev", operation_id = "getClock",
    responses((status = 200, description = "The server's time.", body = ClockView)))]
pub async fn get_clock(State(state): State<AppState>) -> ApiResult<Json<ClockView>> {
    Ok(Json(ClockView {
        now: state.clock.now(),
    }))
}

/// Moves the clock forward for every process and runs every job now due before answering.
#[utoipa::path(post, path = "/v1/dev/clock", tag = "dev", operation_id = "advanceClock", request_body = AdvanceClock,
    responses((status = 200, description = "The clock moved and every job now due has run.", body = ClockView)))]
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
