//! The one error type every request path returns, rendered as RFC 9457 problem+json.

mod catalogue;
pub mod request_id;

pub use catalogue::ErrorCode;

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// The most field errors one 400002 lists.
pub const MAX_FIELD_ERRORS: usize = 20;

/// A field-level validation message (400002 `errors`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The member at fault, as a path into the body (`name`, `items[2]`, `price.amount`), or
    /// the header or parameter (`Idempotency-Key`).
    pub field: String,
    /// What is wrong with it, for people.
    pub message: String,
}

/// An error answer: a catalogue code, a human detail, extension members and headers.
/// Internal causes are kept apart and only logged.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub detail: String,
    pub extensions: Map<String, Value>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    cause: Option<String>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        ApiError {
            code,
            detail: detail.into(),
            extensions: Map::new(),
            headers: Vec::new(),
            cause: None,
        }
    }

    /// Adds an extension member (e.g. `lockedUntil`).
    pub fn with(mut self, key: &str, value: impl Serialize) -> Self {
        self.extensions.insert(
            key.to_string(),
            serde_json::to_value(value).unwrap_or(Value::Null),
        );
        self
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// 400001 naming the argument (a JSON pointer or a parameter name).
    pub fn argument(argument: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::ArgumentMissingOrUnparseable, detail).with("argument", argument.into())
    }

    /// 400002 with one field error.
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::validations(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }

    /// 400002 with several field errors, at most [`MAX_FIELD_ERRORS`] of them (section 2: a
    /// megabyte of bad input must not make a larger answer).
    pub fn validations(mut errors: Vec<FieldError>) -> Self {
        let more = errors.len().saturating_sub(MAX_FIELD_ERRORS);
        errors.truncate(MAX_FIELD_ERRORS);
        let mut detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        if more > 0 {
            detail.push_str(&format!("; and {more} more"));
        }
        Self::new(ErrorCode::ValidationError, detail).with("errors", errors)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} was not found."))
    }

    pub fn unauthorized() -> Self {
        Self::new(
            ErrorCode::UserUnauthorized,
            "You are not allowed to do this.",
        )
    }

    /// The internal cause of a 500001, for logs only.
    pub fn cause(&self) -> Option<&str> {
        self.cause.as_deref()
    }

    /// 500001; the cause is logged with the request id, never sent.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        let mut e = Self::new(
            ErrorCode::UnexpectedError,
            "An unexpected error occurred; quote the request id when reporting it.",
        );
        e.cause = Some(cause.to_string());
        e
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The problem+json body, with the request id of the current request.
    pub fn body(&self) -> Value {
        let code = self.code.code();
        let mut body = json!({
            "type": format!("/v1/errors/{code}"),
            "title": self.code.name(),
            "status": self.code.status(),
            "code": code,
            "detail": self.detail,
            "requestId": request_id::current(),
        });
        if let Value::Object(map) = &mut body {
            for (k, v) in &self.extensions {
                map.insert(k.clone(), v.clone());
            }
        }
        body
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.code.code(),
            self.code.name(),
            self.detail
        )
    }
}

impl std::error::Error for ApiError {}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::internal(format!("database: {e}"))
    }
}

impl From<ErrorCode> for ApiError {
    fn from(code: ErrorCode) -> Self {
        ApiError::new(code, code.description())
    }
}

pub const PROBLEM_JSON: &str = "application/problem+json";

impl ApiError {
    /// Status, headers and problem+json body, logging an internal cause. Responses render
    /// through this, and so does the answer to a request hyper rejects (`http::wire`).
    pub(crate) fn render(self) -> (StatusCode, HeaderMap, Vec<u8>) {
        if let Some(cause) = &self.cause {
            tracing::error!(request_id = %request_id::current(), cause = %cause, "request failed");
        }
        let status = self.status();
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        for (name, value) in self.headers {
            headers.append(name, value);
        }
        (status, headers, body)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.render().into_response()
    }
}
