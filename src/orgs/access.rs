//! Section 3 step 6 for organization routes: the organization exists and is not deleted
//! (404003), the caller is a member (403001), the role allows the action (403008–403011) or the
//! caller is a legal signatory (403007), and a nested id in the path belongs to the
//! organization (404003).
//! Between membership and role, a recovery hold (4.5) answers 403005.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::identity::Caller;
use crate::state::Infra;

use super::permissions::{self, Action, Resource, Role};
use super::store::{self, Org};

/// What an organization route (`/v1/orgs/{orgId}/…`) needs of the caller's membership
/// (section 3 step 6).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum OrgRule {
    /// The role must allow this action in the permission table.
    Permission(Resource, Action),
    /// As `Permission`, but a member may always act on themselves (`{userId}` = caller).
    PermissionUnlessSelf(Resource, Action),
    /// A legal signatory of the organization, whatever the role (403007 otherwise).
    LegalSignatory,
}

/// A nested id in the path that must belong to the organization (404003 otherwise).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Nested {
    Member,
    Invitation,
    Agreement,
    Invoice,
    Subscription,
}

impl Nested {
    /// The path parameter naming the nested id.
    pub fn param(self) -> &'static str {
        match self {
            Nested::Member => "userId",
            Nested::Invitation => "invitationId",
            Nested::Agreement => "agreementId",
            Nested::Invoice => "invoiceId",
            Nested::Subscription => "subscriptionId",
        }
    }
}

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
    state: &Infra,
    caller: &Caller,
    org_id: &str,
    rule: OrgRule,
    nested: Option<(Nested, &str)>,
) -> ApiResult<OrgContext> {
    // A deleted organization is not found on any organization route (its financial records
    // stay for platform administrators; see `orgs::find_including_deleted`).
    let standing = store::access::standing(&state.db, org_id, &caller.user_id, nested)
        .await?
        .filter(|standing| standing.deleted_at.is_none())
        .ok_or_else(org_not_found)?;
    let org = standing.org;
    let membership = standing.membership.ok_or_else(|| {
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
    let role =
        Role::parse(&membership.role).ok_or_else(|| ApiError::internal("unknown role stored"))?;
    let legal_signatory = membership.legal_signatory;
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
    if nested.is_some() && !standing.nested_found {
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
