//! The access log: one `info` line per request, target `charter::access`, with the method, the
//! matched route (its template, so no id or token of the path; the raw path only when no route
//! matched), the status, the time to the response head in ms and the request id. Never the
//! query string, headers or bodies. With `info` off for the target (`CHARTER_LOG=warn`), the
//! middleware only asks tracing's cached interest and passes the request on.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Level;

/// The target of the access log lines, to filter them (`CHARTER_LOG=info,charter::access=off`).
pub const TARGET: &str = "charter::access";

pub async fn middleware(request: Request, next: Next) -> Response {
    if !tracing::enabled!(target: TARGET, Level::INFO) {
        return next.run(request).await;
    }
    let start = Instant::now();
    let method = request.method().clone();
    let route = match request.extensions().get::<MatchedPath>() {
        Some(matched) => matched.as_str().to_string(),
        // `http::Uri` admits no space or control character, so the path cannot forge a line.
        None => request.uri().path().to_string(),
    };
    let response = next.run(request).await;
    let duration_ms = (start.elapsed().as_micros() as f64) / 1000.0;
    tracing::info!(
        target: TARGET,
        method = %method,
        route = %route,
        status = response.status().as_u16(),
        duration_ms,
        request_id = %super::request_id::current(),
        "request"
    );
    response
}
