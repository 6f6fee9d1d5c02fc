//! Versioned account terms (4.6): publish, show the current version, accept.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::extract::ApiJson;
use crate::audit::{self, Origin};
use crate::db::Db;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::identity::IdentityState;
use crate::time::Timestamp;

use super::account::{self, Account, MeView};
use super::auth::Caller;
use super::store::{accounts, terms as store};

/// A published version of the account terms.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"version": "2026-01", "url": "https://charter.example/terms/2026-01", "publishedAt": "2026-01-05T08:00:00Z"}))]
pub struct TermsView {
    /// The version's name, as accepted with `POST /v1/me/terms/accept`.
    pub(in crate::identity) version: String,
    /// Where the terms' text is.
    pub(in crate::identity) url: String,
    /// When the version was published.
    pub(in crate::identity) published_at: Timestamp,
}

/// The latest published version, if any.
pub async fn current(db: &Db) -> ApiResult<Option<TermsView>> {
    Ok(store::current(db).await?)
}

/// Step 4 of the pipeline: 451001 while the caller has not accepted the current version.
pub fn require_accepted(caller: &Caller) -> ApiResult<()> {
    match &caller.current_terms {
        Some(current) if caller.terms_accepted_version.as_deref() != Some(current.as_str()) => {
            Err(ApiError::new(
                ErrorCode::AccountTermsAcceptanceRequired,
                format!("Accept the account terms version {current} to continue."),
            )
            .with("termsVersion", current))
        }
        _ => Ok(()),
    }
}

/// The current account terms (404003 when none are published).
#[utoipa::path(get, path = "/v1/terms/current", tag = "terms", operation_id = "getCurrentTerms",
    responses((status = 200, description = "The latest published version.", body = TermsView)))]
pub async fn get_current(State(state): State<IdentityState>) -> ApiResult<Json<TermsView>> {
    current(&state.db)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("Published terms"))
}

/// A new version of the account terms.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"version": "2026-03", "url": "https://example.com/legal/terms-2026-03"}))]
pub struct PublishTerms {
    /// A new version's name: 1 to 64 characters, not published before.
    version: String,
    /// Where the text is: an `http` or `https` URL.
    url: String,
}

/// Publishes a new version (platform administrators); the publisher accepts it. Every other
/// user then answers 451001 until accepting it.
#[utoipa::path(post, path = "/v1/terms", tag = "terms", operation_id = "publishTerms", request_body = PublishTerms,
    responses((status = 201, description = "The published version, now the current one.", body = TermsView)))]
pub async fn publish(
    State(state): State<IdentityState>,
    caller: Caller,
    origin: Origin,
    ApiJson(body): ApiJson<PublishTerms>,
) -> ApiResult<(StatusCode, Json<TermsView>)> {
    let version = body.version.trim().to_string();
    let mut errors = Vec::new();
    if version.is_empty() || version.len() > 64 {
        errors.push(crate::error::FieldError {
            field: "version".into(),
            message: "must be 1 to 64 characters".into(),
        });
    }
    let url_ok =
        url::Url::parse(body.url.trim()).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
    if !url_ok {
        errors.push(crate::error::FieldError {
            field: "url".into(),
            message: "must be an http(s) URL".into(),
        });
    }
    if !errors.is_empty() {
        return Err(ApiError::validations(errors));
    }
    let view = TermsView {
        version,
        url: body.url.trim().to_string(),
        published_at: state.clock.now(),
    };
    Ok((
        StatusCode::CREATED,
        Json(publish_version(&state, &caller, origin, view).await?),
    ))
}

/// Publishes the version, accepted by its publisher, audited, as one unit of work; 400 when it
/// was published already.
async fn publish_version(
    state: &IdentityState,
    caller: &Caller,
    origin: Origin,
    view: TermsView,
) -> ApiResult<TermsView> {
    let publisher = caller.user_id.clone();
    state
        .db
        .write(move |w| {
            let (version, now) = (view.version.as_str(), view.published_at);
            if !store::insert_in(w, version, &view.url, &publisher, now)? {
                return Err(ApiError::validation(
                    "version",
                    "this version was already published",
                ));
            }
            accounts::accept_terms_in(w, &publisher, version)?;
            audit::record_in(
                w,
                &origin,
                now,
                "terms.published",
                Some(version),
                json!({ "url": view.url }),
            )?;
            Ok(view)
        })
        .await
}

/// Accepting the current account terms.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"version": "2026-03"}))]
pub struct AcceptTerms {
    /// The current version (the `termsVersion` of a 451001 answer); another answers 400002.
    version: String,
}

/// Accepts the current version (any token, no scope needed).
#[utoipa::path(post, path = "/v1/me/terms/accept", tag = "terms", operation_id = "acceptTerms", request_body = AcceptTerms,
    responses((status = 200, description = "The user, with the accepted version.", body = MeView)))]
pub async fn accept(
    State(state): State<IdentityState>,
    caller: Caller,
    origin: Origin,
    ApiJson(body): ApiJson<AcceptTerms>,
) -> ApiResult<Json<MeView>> {
    let account = accept_version(&state, &caller.user_id, origin, body.version).await?;
    Ok(Json(account::me_view(&account)))
}

/// Records the user's acceptance of `version`, audited, as one unit of work that checks it is
/// the current one (400 otherwise); the account after it.
async fn accept_version(
    state: &IdentityState,
    user_id: &str,
    origin: Origin,
    version: String,
) -> ApiResult<Account> {
    let now = state.clock.now();
    let user_id = user_id.to_string();
    state
        .db
        .write(move |w| {
            let current = store::current_in(w)?;
            if current.as_ref().map(|c| c.version.as_str()) != Some(version.as_str()) {
                return Err(ApiError::validation(
                    "version",
                    "is not the current terms version",
                ));
            }
            accounts::accept_terms_in(w, &user_id, &version)?;
            audit::record_in(
                w,
                &origin,
                now,
                "terms.accepted",
                Some(&user_id),
                json!({ "version": version }),
            )?;
            accounts::by_id_in(w, &user_id)?.ok_or_else(|| ApiError::not_found("The user"))
        })
        .await
}
