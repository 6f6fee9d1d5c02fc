//! The request pipeline: section 3's order of checks, once, for every matched route.
//!
//! Step 1 (route and method, 404003) is the router's and the policy table's. Then:
//! 2 token (401001, 403003, 403004, 403002), 3 restricted session (403013), 4 terms (451001),
//! 5 scope (403014) and session-only or administrator routes (403001), 6 organization (404003,
//! 403001, 403007–403011, nested ids 404003; see `orgs::access`, which also admits the support
//! back-office), 7 elevation (403006). A back-office call is audited once it has passed them.
//! Step 8 (parameters) follows in the handler's extractors, which run in argument order;
//! step 9 is the domain.
//!
//! An `Idempotency-Key` on a POST is honoured after these checks, before the handler.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::audit::Origin;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::policy::{self, Access, Elevation};
use crate::http::state::AppState;
use crate::http::{idempotency, request_id};
use crate::identity::auth::{self, Caller};
use crate::orgs::access::OrgContext;
use axum::extract::{FromRequestParts, RawPathParams};

pub async fn middleware(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let writes = !matches!(*request.method(), Method::GET | Method::HEAD);
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let method = if request.method() == Method::HEAD {
        "GET"
    } else {
        request.method().as_str()
    };
    let policy = policy::lookup(method, &path);
    let private = is_private(&path, policy);
    let epoch = state.epoch.clone();
    let mut response = match run(state, &path, policy, request, next).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    if private {
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-store"),
        );
    }
    if writes {
        // After the handler committed: reads cached before now may be stale.
        epoch.bump();
    }
    response
}

/// Answers that may hold a token, a code or personal data (section 2): everything under
/// `/v1/auth` and `/v1/me`, and every route that needs a token, refusals included.
fn is_private(path: &str, policy: Option<&policy::Policy>) -> bool {
    path.starts_with("/v1/auth/")
        || path == "/v1/me"
        || path.starts_with("/v1/me/")
        || policy.is_some_and(|p| p.access != Access::Public)
}

async fn run(
    state: AppState,
    path: &str,
    policy: Option<&'static policy::Policy>,
    request: Request,
    next: Next,
) -> ApiResult<Response> {
    let Some(policy) = policy else {
        // A method this path does not serve. Failing closed here also means a handler that was
        // routed but left out of the table can never run (a test keeps the two equal).
        let allow = policy::methods_of(path).join(",");
        return Err(ApiError::new(
            ErrorCode::NotFound,
            "This route does not answer that method; see the Allow header.",
        )
        .with_header(
            header::ALLOW,
            axum::http::HeaderValue::from_str(&allow)
                .unwrap_or(axum::http::HeaderValue::from_static("")),
        ));
    };
    if policy.dev_only && !state.clock.is_dev() {
        return Err(ApiError::new(ErrorCode::NotFound, "No such route."));
    }
    state.clock.sync(&state.db).await?;

    let (mut parts, body) = request.into_parts();
    let source_address = crate::api::extract::client_addr(&parts, &state.proxies);
    let mut origin = Origin {
        actor: None,
        request_id: Some(request_id::current()),
        source_address: Some(source_address.clone()),
    };

    let caller = if policy.access == Access::Public {
        None
    } else {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let caller = auth::authenticate(
            &state.db,
            &state.clock,
            &state.tokens,
            &state.epoch,
            auth::bearer(header),
            state.config.session_idle_secs,
        )
        .await?;
        let org = check_caller(&state, policy, &caller, &mut parts).await?;
        origin.actor = Some(caller.user_id.clone());
        if let Some(org) = org {
            if let Some(kind) = org.backoffice {
                // Before the handler, so a call is on record whatever it then answers.
                let call = crate::orgs::backoffice::Call {
                    kind,
                    subject: Some(org.org.id.clone()),
                    method: parts.method.to_string(),
                    route: path.to_string(),
                    path: parts.uri.path().to_string(),
                };
                crate::orgs::backoffice::record(&state, &origin, call).await?;
            }
            parts.extensions.insert(org);
        }
        Some(caller)
    };

    let idempotency_scope = match &caller {
        Some(c) => idempotency::user_scope(&c.user_id),
        None => format!("addr:{source_address}"),
    };
    parts.extensions.insert(origin);
    if let Some(caller) = caller {
        parts.extensions.insert(caller);
    }
    let request = Request::from_parts(parts, body);
    if request.method() == Method::POST
        && let Some(key) = request.headers().get(idempotency::HEADER)
    {
        let key = key.to_str().map(str::to_string).unwrap_or_default();
        return idempotency::run(&state, idempotency_scope, key, request, next).await;
    }
    Ok(next.run(request).await)
}

/// Steps 3 to 7 for an authenticated caller.
async fn check_caller(
    state: &AppState,
    policy: &policy::Policy,
    caller: &Caller,
    parts: &mut axum::http::request::Parts,
) -> ApiResult<Option<OrgContext>> {
    if caller.is_restricted() && !policy.restricted_ok {
        return Err(ApiError::new(
            ErrorCode::TwoFactorRequired,
            "This session may only register a passkey; sign in with a passkey to continue.",
        ));
    }
    if !policy.terms_exempt {
        crate::identity::terms::require_accepted(caller)?;
    }
    if let Some(scope) = policy.scope
        && !caller.has_scope(scope)
    {
        return Err(ApiError::new(
            ErrorCode::ScopeMissing,
            format!("This token lacks the `{}` scope.", scope.as_str()),
        )
        .with("requiredScope", scope.as_str()));
    }
    match policy.access {
        Access::Session if !caller.is_session() => {
            return Err(ApiError::new(
                ErrorCode::UserUnauthorized,
                "This route is for interactive sessions; access tokens cannot use it.",
            ));
        }
        Access::PlatformAdmin if !caller.platform_admin => {
            return Err(ApiError::new(
                ErrorCode::UserUnauthorized,
                "This route is for platform administrators.",
            ));
        }
        _ => {}
    }
    if policy.recovery_held {
        let now = state.clock.now();
        if let Some(until) = crate::identity::recovery::hold_until(
            caller.recovered_at,
            state.config.recovery_hold_secs,
            now,
        ) {
            return Err(crate::identity::recovery::held(until, now));
        }
    }
    let org = match policy.org {
        Some(rule) => {
            let params = RawPathParams::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::internal("organization route without path parameters"))?;
            let param = |name: &str| {
                params
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            };
            let org_id = param("orgId")
                .ok_or_else(|| ApiError::internal("organization route without {orgId}"))?;
            let nested = match policy.nested {
                Some(kind) => Some((
                    kind,
                    param(kind.param())
                        .ok_or_else(|| ApiError::internal("nested id missing from path"))?,
                )),
                None => None,
            };
            let nested = nested.as_ref().map(|(kind, id)| (*kind, id.as_str()));
            Some(
                crate::orgs::access::authorize(
                    state,
                    caller,
                    &org_id,
                    rule,
                    nested,
                    policy.backoffice,
                )
                .await?,
            )
        }
        None => None,
    };
    let elevate = match policy.elevation {
        Elevation::No => false,
        Elevation::Required => true,
        Elevation::ForSessions => caller.is_session(),
        Elevation::ExceptFirstPasskey => {
            !crate::identity::elevation::waived_for_restricted(state, caller).await?
        }
    };
    if elevate {
        crate::identity::elevation::require(state, caller).await?;
    }
    Ok(org)
}
