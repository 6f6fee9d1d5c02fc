//! Section 3 step 6 for organization routes: the organization exists (404003), the caller is
//! a member (403001), the role allows the action (403008–403011) or the caller is a legal
//! signatory (403007), and a nested id in the path belongs to the organization (404003).
//! Between membership and role, a recovery hold (4.5) answers 403005.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sqlx::Row as _;

use crate::app::AppState;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::policy::{Nested, OrgRule};
use crate::identity::Caller;

use super::permissions::{self, Role};
use super::store::{self, Org};

/// The organization of the request and the caller's membership in it.
#[derive(Clone, Debug)]
pub struct OrgContext {
    pub org: Org,
    pub role: Role,
    pub legal_signatory: bool,
}

impl<S: Send + Sync> FromRequestParts<S> for OrgContext {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<OrgContext>()
            .cloned()
            .ok_or_else(|| ApiError::internal("organization route without an organization rule"))
    }
}

pub fn org_not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "The organization was not found.")
}

/// Applies `rule` for `caller` on `org_id`; `nested` is the nested path id, if the route has one.
pub async fn authorize(
    state: &AppState,
    caller: &Caller,
    org_id: &str,
    rule: OrgRule,
    nested: Option<(Nested, &str)>,
) -> ApiResult<OrgContext> {
    let org = store::find(&state.db, org_id)
        .await?
        .ok_or_else(org_not_found)?;
    let membership = sqlx::query(
        "SELECT role, legal_signatory FROM memberships WHERE org_id = $1 AND user_id = $2",
    )
    .bind(org_id)
    .bind(&caller.user_id)
    .fetch_optional(state.db.pool())
    .await?
    .ok_or_else(|| {
        ApiError::new(
            ErrorCode::UserUnauthorized,
            "You are not a member of this organization.",
        )
    })?;
    // A member recovered by mailbox alone is held out before any role check (4.5).
    if org.passkeys_required {
        crate::identity::recovery::check_org(
            state,
            org_id,
            &caller.user_id,
            caller.recovered_at,
            state.clock.now(),
        )
        .await?;
    }
    let role = Role::parse(&membership.try_get::<String, _>("role")?)
        .ok_or_else(|| ApiError::internal("unknown role stored"))?;
    let legal_signatory = membership.try_get::<i64, _>("legal_signatory")? != 0;
    let allowed = match rule {
        OrgRule::Permission(resource, action) => permissions::allows(role, resource, action)
            .then_some(())
            .ok_or((resource, action)),
        OrgRule::PermissionUnlessSelf(resource, action) => {
            let is_self = matches!(nested, Some((Nested::Member, id)) if id == caller.user_id);
            (is_self || permissions::allows(role, resource, action))
                .then_some(())
                .ok_or((resource, action))
        }
        OrgRule::LegalSignatory => {
            if !legal_signatory {
                return Err(ApiError::new(
                    ErrorCode::OnlyLegalSignatoryCanSign,
                    "Only a legal signatory of the organization can sign.",
                ));
            }
            Ok(())
        }
    };
    if let Err((resource, action)) = allowed {
        return Err(ApiError::new(
            action.denial(),
            format!(
                "Your role ({}) may not {} {}.",
                role.as_str(),
                action.as_str(),
                resource.as_str()
            ),
        ));
    }
    if let Some((kind, id)) = nested
        && !nested_belongs(state, kind, org_id, id).await?
    {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            "The requested entity was not found in this organization.",
        ));
    }
    Ok(OrgContext {
        org,
        role,
        legal_signatory,
    })
}

async fn nested_belongs(state: &AppState, kind: Nested, org_id: &str, id: &str) -> ApiResult<bool> {
    let sql = match kind {
        Nested::Member => "SELECT 1 FROM memberships WHERE org_id = $1 AND user_id = $2",
        Nested::Invitation => "SELECT 1 FROM invitations WHERE org_id = $1 AND id = $2",
        Nested::Agreement => "SELECT 1 FROM agreements WHERE org_id = $1 AND id = $2",
        Nested::Invoice => "SELECT 1 FROM invoices WHERE org_id = $1 AND id = $2",
        Nested::Subscription => "SELECT 1 FROM subscriptions WHERE org_id = $1 AND id = $2",
    };
    Ok(sqlx::query(sql)
        .bind(org_id)
        .bind(id)
        .fetch_optional(state.db.pool())
        .await?
        .is_some())
}
