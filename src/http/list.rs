//! `ListParams` as an extractor: a bad `from`, `limit` or `query` is a catalogue error.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::ApiError;
use crate::list::ListParams;

impl<S: Send + Sync> FromRequestParts<S> for ListParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        ListParams::parse(parts.uri.query().unwrap_or(""))
    }
}
