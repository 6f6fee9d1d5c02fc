//! Framework-level failures in the problem shape: unknown routes, wrong methods, too-large
//! bodies, time-outs and panics (section 3's framework mapping).

use std::any::Any;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, ErrorCode, PROBLEM_JSON};

/// Unknown routes.
pub async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "No such route.")
}

/// Rewrites any error answer the framework produced in its own shape (405, 413, 415, …).
pub async fn normalize(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if status.as_u16() < 400 || is_problem {
        return response;
    }
    let error = match status {
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            ErrorCode::NotFound,
            "This route does not answer that method; see the Allow header.",
        ),
        StatusCode::NOT_FOUND => ApiError::new(ErrorCode::NotFound, "No such route."),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::argument("body", "The body is too large."),
        s if s.is_client_error() && s != StatusCode::REQUEST_TIMEOUT => {
            ApiError::argument("body", "The request could not be read.")
        }
        s => ApiError::internal(format!("framework answered {s}")),
    };
    let allow = response.headers().get(header::ALLOW).cloned();
    let mut problem = error.into_response();
    if let Some(allow) = allow {
        problem.headers_mut().insert(header::ALLOW, allow);
    }
    problem
}

/// A request that runs longer than the configured time answers 500001.
pub async fn timeout(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::internal(format!("request timed out after {limit:?}")).into_response(),
    }
}

/// A panic answers 500001 without internals; the message is logged with the request id.
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into());
    let mut response = ApiError::internal(format!("panic: {message}")).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
