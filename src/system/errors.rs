//! `GET /v1/errors` and `GET /v1/errors/{code}`: the catalogue, so every `type` resolves.

use axum::Json;
use serde::Serialize;

use crate::api::extract::ApiPath;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::list::{ListParams, Page};

/// One entry of the error catalogue.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorEntry {
    /// The six-digit code; its first three digits are the HTTP status.
    pub code: u32,
    /// The code's name, the `title` of its problems.
    pub name: &'static str,
    /// The HTTP status it answers with.
    pub status: u16,
    /// What it means.
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
#[utoipa::path(get, path = "/v1/errors", tag = "errors", operation_id = "listErrors",
    params(("from" = Option<i64>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, description = "A page of the catalogue.", body = Page<ErrorEntry>)))]
pub async fn list_errors(params: ListParams) -> Json<Page<ErrorEntry>> {
    Json(Page::from_slice(
        &params,
        ErrorCode::ALL.iter().copied().map(ErrorEntry::from),
    ))
}

/// One catalogue entry.
#[utoipa::path(get, path = "/v1/errors/{code}", tag = "errors", operation_id = "getError",
    params(("code" = u32, Path, description = "The six-digit code, as in a problem's `code`.")),
    responses((status = 200, description = "The catalogue entry.", body = ErrorEntry)))]
pub async fn get_error(ApiPath(code): ApiPath<String>) -> ApiResult<Json<ErrorEntry>> {
    code.parse::<u32>()
        .ok()
        .and_then(ErrorCode::from_code)
        .map(|c| Json(c.into()))
        .ok_or_else(|| ApiError::not_found("The error code"))
}
