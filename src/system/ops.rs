//! Health, readiness, metrics and the OpenAPI document.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, ApiResult};
use crate::http::state::AppState;

/// What `/healthz` says.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Liveness {
    /// The process is up.
    Ok,
}

/// What `/readyz` says.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Readiness {
    /// The database is reachable and migrated.
    Ready,
}

/// The answer to a health probe.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`: the process answers.
    pub status: Liveness,
}

/// The answer to a readiness probe.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Ready {
    /// Always `ready`; a server that is not answers 500001 instead.
    pub status: Readiness,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", operation_id = "getHealth",
    responses((status = 200, description = "Up.", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: Liveness::Ok,
    })
}

/// The database is reachable and every migration is applied.
#[utoipa::path(get, path = "/readyz", tag = "operations", operation_id = "getReadiness",
    responses((status = 200, description = "Ready.", body = Ready)))]
pub async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Ready>> {
    if state.db.ping().await && state.db.is_migrated().await {
        Ok(Json(Ready {
            status: Readiness::Ready,
        }))
    } else {
        Err(ApiError::internal(
            "not ready: database unreachable or migrations pending",
        ))
    }
}

/// Prometheus metrics (OpenMetrics text).
#[utoipa::path(get, path = "/metrics", tag = "operations", operation_id = "getMetrics",
    responses((status = 200, description = "Request counts and durations by method, route and status.", content_type = "application/openmetrics-text")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// This document: OpenAPI 3.1, generated from the code.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", operation_id = "getOpenApi",
    responses((status = 200, description = "The OpenAPI 3.1 document.", content_type = "application/json")))]
pub async fn openapi_json(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.reference.openapi_json.clone(),
    )
        .into_response()
}
