//! `X-Request-Id`: echoed when well-formed, otherwise generated; carried in the task-local of
//! `error::request_id` so every error body and log line of the request can name it.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub(crate) use crate::error::request_id::scope;
pub use crate::error::request_id::{HEADER, current};

fn is_acceptable(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

pub async fn middleware(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_acceptable(v))
        .map(str::to_string)
        .unwrap_or_else(|| crate::crypto::new_id("req"));
    let value =
        HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("req_invalid"));
    request.headers_mut().insert(HEADER, value.clone());
    let span = tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path());
    let mut response =
        crate::error::request_id::within(id, next.run(request).instrument(span)).await;
    response.headers_mut().insert(HEADER, value);
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn accepts_only_the_documented_alphabet() {
        assert!(super::is_acceptable("abc-DEF_1.2"));
        assert!(!super::is_acceptable(""));
        assert!(!super::is_acceptable("a b"));
        assert!(!super::is_acceptable(&"a".repeat(129)));
    }
}
