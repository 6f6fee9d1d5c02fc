//! Section 3 step 6 for organization routes: the organization exists and is not deleted
//! (404003), the caller is a member (403001), the role allows the action (403008–403011) or the
//! caller is a legal signatory (403007), and a nested id in the path belongs to the
//! organization (404003).
//! Between membership and role, a recovery hold (4.5) answers 403005.
//!
//! The support back-office (section 6) is decided here too, once: on a route the policy table
//! opens to it, a platform administrator whose own membership does not allow the call counts
//! as the organization's owner (see [`Backoffice`]).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::identity::{Caller, Scope};
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

/// A use of the support back-office (section 6) a route allows: a platform administrator may
/// call it on any organization as its owner would. The policy table gives every `GET` of an
/// organization `Read`; the only writes are cancelling a subscription and requesting a refund.
/// Each names the action of the audit event every such call records.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Backoffice {
    Read,
    CancelSubscription,
    RequestRefund,
}

impl Backoffice {
    /// The audit action of a call.
    pub fn action(self) -> &'static str {
        match self {
            Backoffice::Read => "backoffice.read",
            Backoffice::CancelSubscription => "backoffice.subscription.cancel",
            Backoffice::RequestRefund => "backoffice.refund.request",
        }
    }
}

/// The organization of the request and the caller's standing in it.
#[derive(Clone, Debug)]
pub struct OrgContext {
    pub org: Org,
    /// The caller's role; `Owner` for a back-office call.
    pub role: Role,
    pub legal_signatory: bool,
    /// Set when the call goes through the support back-office rather than a membership.
    pub backoffice: Option<Backoffice>,
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

/// Applies `rule` for `caller` on `org_id`; `nested` is the nested path id, if the route has
/// one; `backoffice` is what the route opens to the support back-office, if anything.
pub async fn authorize(
    state: &Infra,
    caller: &Caller,
    org_id: &str,
    rule: OrgRule,
    nested: Option<(Nested, &str)>,
    backoffice: Option<Backoffice>,
) -> ApiResult<OrgContext> {
    // An access token acts as an administrator here only with the `admin` scope, beside the
    // route's own; without it the caller is answered as any other user would be.
    let support = backoffice.filter(|_| caller.platform_admin && caller.has_scope(Scope::Admin));
    // A deleted organization is not found on any organization route, except its financial
    // records (invoices and their export), which stay readable to the back-office (5).
    let standing = store::access::standing(&state.db, org_id, &caller.user_id, nested)
        .await?
        .filter(|standing| standing.deleted_at.is_none() || keeps_records(rule, support))
        .ok_or_else(org_not_found)?;
    let org = standing.org;
    let own = match standing.membership {
        Some(membership) => {
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
            let role = Role::parse(&membership.role)
                .ok_or_else(|| ApiError::internal("unknown role stored"))?;
            check_rule(rule, role, membership.legal_signatory, caller, nested)
                .map(|()| (role, membership.legal_signatory))
        }
        None => Err(not_a_member(caller, backoffice)),
    };
    let (role, legal_signatory, backoffice) = match (own, support) {
        // What the caller may do by their own membership is never a back-office call.
        (Ok((role, legal_signatory)), _) => (role, legal_signatory, None),
        (Err(denial), None) => return Err(denial),
        (Err(denial), Some(kind)) => {
            // Section 6's operator routes hold a recovered administrator out (4.5).
            let now = state.clock.now();
            if let Some(until) = crate::identity::recovery::hold_until(
                caller.recovered_at,
                state.config.recovery_hold_secs,
                now,
            ) {
                return Err(crate::identity::recovery::held(until, now));
            }
            // As the owner would: a route opened by mistake to what no owner may do stays shut.
            if check_rule(rule, Role::Owner, false, caller, nested).is_err() {
                return Err(denial);
            }
            (Role::Owner, false, Some(kind))
        }
    };
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
        backoffice,
    })
}

/// Whether a deleted organization still answers this call: the back-office reading the
/// financial records that outlive it.
fn keeps_records(rule: OrgRule, support: Option<Backoffice>) -> bool {
    support == Some(Backoffice::Read)
        && matches!(
            rule,
            OrgRule::Permission(Resource::Invoices | Resource::Exports, Action::Read)
        )
}

/// 403001, saying why to an administrator whose token lacks the back-office scope.
fn not_a_member(caller: &Caller, backoffice: Option<Backoffice>) -> ApiError {
    let detail = if backoffice.is_some() && caller.platform_admin {
        "You are not a member of this organization; support access with an access token needs the `admin` scope."
    } else {
        "You are not a member of this organization."
    };
    ApiError::new(ErrorCode::UserUnauthorized, detail)
}

/// Whether a member in `role` passes `rule` (the role and signatory part of step 6).
fn check_rule(
    rule: OrgRule,
    role: Role,
    legal_signatory: bool,
    caller: &Caller,
    nested: Option<(Nested, &str)>,
) -> ApiResult<()> {
    let (resource, action) = match rule {
        OrgRule::Permission(resource, action) => (resource, action),
        OrgRule::PermissionUnlessSelf(resource, action) => {
            if matches!(nested, Some((Nested::Member, id)) if id == caller.user_id) {
                return Ok(());
            }
            (resource, action)
        }
        OrgRule::LegalSignatory => {
            if legal_signatory {
                return Ok(());
            }
            return Err(ApiError::new(
                ErrorCode::OnlyLegalSignatoryCanSign,
                "Only a legal signatory of the organization can sign.",
            ));
        }
    };
    if permissions::allows(role, resource, action) {
        return Ok(());
    }
    Err(ApiError::new(
        action.denial(),
        format!(
            "Your role ({}) may not {} {}.",
            role.as_str(),
            action.as_str(),
            resource.as_str()
        ),
    ))
}
