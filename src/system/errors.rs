//! `GET /v1/errors` and `GET /v1/errors/{code}`: the catalogue, so every `type` resolves.

use axum::Json;
use serde::Serialize;

use crate::api::extract::ApiPath;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::list::{ListParams, Page};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorEntry {
    pub code: u32,
    pub name: &'static str,
    pub status: u16,
    pub description: &'static str,
}

impl From<ErrorCode> for ErrorEntry {
    fn from(c: ErrorCode) -> Self {
        ErrorEntry {
            code: c.code(),
            name: c.name(),
            status: c.status(),
            description: c.description(),
        }
    }
}

/// The error catalogue, ordered by code.
#[utoipa::path(get, path = "/v1/errors", tag = "errors",
    params(("from" = Option<i64>, Query, description = "Offset"), ("limit" = Option<i64>, Query, description = "Page size, 0..=100")),
    responses((status = 200, description = "A page of the catalogue", body = Page<ErrorEntry>)))]
pub async fn list_errors(params: ListParams) -> Json<Page<ErrorEntry>> {
    Json(Page::from_slice(
        &params,
        ErrorCode::ALL.iter().copied().map(ErrorEntry::from),
    ))
}

/// One catalogue entry.
#[utoipa::path(get, path = "/v1/errors/{code}", tag = "errors",
    params(("code" = u32, Path, description = "Six-digit error code")),
    responses((status = 200, body = ErrorEntry)))]
pub async fn get_error(ApiPath(code): ApiPath<String>) -> ApiResult<Json<ErrorEntry>> {
    code.parse::<u32>()
        .ok()
        .and_then(ErrorCode::from_code)
        .map(|c| Json(c.into()))
        .ok_or_else(|| ApiError::not_found("The error code"))
}
