//! The error body as the document describes it. Errors are rendered by `ApiError`; this type
//! exists for the schema only; a test holds its extension members against the ones the code
//! adds (`ApiError::with`).

use serde_json::Value;

use crate::commerce::payments::DeclineCode;
use crate::error::FieldError;
use crate::identity::Scope;
use crate::identity::elevation::ElevationMethod;
use crate::time::Timestamp;

/// An error answer (`application/problem+json`, RFC 9457 with extension members). Clients
/// match on `code`; `detail` is for people. The extension members after `requestId` appear
/// only with the codes their descriptions name.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)] // documentation only
#[schema(example = json!({"type": "/v1/errors/403005", "title": "LockedOut", "status": 403, "code": 403005, "detail": "Too many failed attempts; try again after 2026-11-25T12:05:00Z.", "requestId": "req_qezzs1a0zwsk9tprm7n0mns7c0", "lockedUntil": "2026-11-25T12:05:00Z"}))]
pub struct Problem {
    /// The catalogue entry of the code, `/v1/errors/{code}`, readable without a token.
    #[schema(example = "/v1/errors/403005")]
    r#type: String,
    /// The catalogue name of the code.
    #[schema(example = "LockedOut")]
    title: String,
    /// The HTTP status: the first three digits of `code`.
    #[schema(example = 403)]
    status: u16,
    /// The catalogue code.
    #[schema(example = 403005)]
    code: u32,
    /// What happened, for people; it may change between versions.
    #[schema(example = "Too many failed attempts; try again after 2026-11-25T12:05:00Z.")]
    detail: String,
    /// The request's id, as in `X-Request-Id`; quote it when reporting a problem.
    request_id: String,
    /// 400001: the argument that is missing or does not parse: a JSON pointer into the body
    /// (`""` for the whole body), a query parameter name, or `body`.
    #[schema(required = false, example = "/items/0/quantity")]
    argument: String,
    /// 400002: what is wrong, member by member (at most 20).
    #[schema(required = false)]
    errors: Vec<FieldError>,
    /// 400005: the largest `limit` a list takes.
    #[schema(required = false, example = 100)]
    max_limit: i64,
    /// 400011: the most days one export may span.
    #[schema(required = false, example = 366)]
    max_days: i64,
    /// 400013 for a declined payment: the payment provider's reason.
    #[schema(required = false)]
    decline_code: DeclineCode,
    /// 400015: the 0-based index, in characters, of the first character of `query` that cannot
    /// continue a valid query.
    #[schema(required = false, example = 6)]
    position: u32,
    /// 403004: when the suspension ends.
    #[schema(required = false)]
    suspended_until: Timestamp,
    /// 403005: when the lock ends; the `Retry-After` header says the same in seconds.
    #[schema(required = false)]
    locked_until: Timestamp,
    /// 403006: the ways this session can elevate (`[]` for an access token, which cannot).
    #[schema(required = false)]
    methods: Vec<ElevationMethod>,
    /// 403013 after an e-mail code, for an account that signs in with a passkey as well: the
    /// challenge to answer with `POST /v1/auth/passkey/finish`.
    #[schema(required = false)]
    challenge_id: String,
    /// 403013 with `challengeId`: the WebAuthn request options (JSON form) for
    /// `navigator.credentials.get`.
    #[schema(required = false, value_type = std::collections::HashMap<String, serde_json::Value>)]
    public_key: Value,
    /// 403014: the scope the access token lacks.
    #[schema(required = false)]
    required_scope: Scope,
    /// 409001: the price calculation to calculate again.
    #[schema(required = false, example = "pc_01JD8Y7K9V2F3M4N5P6Q7R8S9T")]
    price_calculation_id: String,
    /// 451001: the terms version to accept with `POST /v1/me/terms/accept`.
    #[schema(required = false, example = "2026-01")]
    terms_version: String,
}
