//! The current request's id, carried in a task-local so every error body and log line of the
//! request can name it (`X-Request-Id`; the HTTP layer sets it, see `http/request_id.rs`).

use axum::http::HeaderName;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The current request's id ("" outside a request).
pub fn current() -> String {
    REQUEST_ID.try_with(|id| id.clone()).unwrap_or_default()
}

/// Runs `f` as part of the request `id`, for an answer made outside the router.
pub(crate) fn scope<R>(id: String, f: impl FnOnce() -> R) -> R {
    REQUEST_ID.sync_scope(id, f)
}

/// Runs a request's future as part of the request `id`.
pub(crate) async fn within<F: std::future::Future>(id: String, future: F) -> F::Output {
    REQUEST_ID.scope(id, future).await
}
