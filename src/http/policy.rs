//! Every route's access rules, in one table: who may call it (section 9), whether terms
//! (4.6) or a restricted session (4.4) block it, and whether it needs elevation (4.3).
//! The pipeline reads this table; a test proves it covers exactly the routes served.

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::identity::Scope;
use crate::orgs::permissions::{Action, Resource};

pub use crate::orgs::access::{Backoffice, Nested, OrgRule};

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Access {
    /// No token needed (and none is looked at).
    Public,
    /// A session or an access token.
    Token,
    /// Sessions only; access tokens get 403001.
    Session,
    /// Platform administrators only (403001 for others).
    PlatformAdmin,
}

/// Whether a route needs an elevated session (4.3; step 7 of section 3).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Elevation {
    /// Not asked.
    No,
    /// An elevated session (403006 otherwise). Access tokens are never elevated, so they get
    /// 403006 with `methods: []`.
    Required,
    /// An elevated session; an access token needs none (section 6: "elevated for sessions").
    ForSessions,
    /// As `Required`, except for a restricted session (4.4) whose user has no passkey: it may
    /// register its first passkey, which 4.2 leaves open to it, and has nothing to elevate with.
    ExceptFirstPasskey,
}

#[derive(Copy, Clone, Debug)]
pub struct Policy {
    pub access: Access,
    pub scope: Option<Scope>,
    /// Answers even when newer terms are not yet accepted (no 451001).
    pub terms_exempt: bool,
    /// Open to a restricted session (4.4).
    pub restricted_ok: bool,
    /// Needs an elevated session (403006 otherwise); see [`Elevation`].
    pub elevation: Elevation,
    /// Exists only with `--dev`; 404003 otherwise.
    pub dev_only: bool,
    /// A platform administrator in a recovery hold (4.5) gets 403005. The spec names the
    /// routes of sections 6 and 12; every administrator route holds, so a new one cannot be
    /// forgotten and a recovered mailbox cannot issue coupons either.
    pub recovery_held: bool,
    /// Organization membership and role (step 6).
    pub org: Option<OrgRule>,
    pub nested: Option<Nested>,
    /// Open to the support back-office (section 6): a platform administrator may call it on
    /// any organization as its owner would. [`route`] gives it to every organization `GET`.
    pub backoffice: Option<Backoffice>,
}

impl Policy {
    pub const PUBLIC: Policy = Policy {
        access: Access::Public,
        scope: None,
        terms_exempt: true,
        restricted_ok: true,
        elevation: Elevation::No,
        dev_only: false,
        recovery_held: false,
        org: None,
        nested: None,
        backoffice: None,
    };

    pub const fn token(scope: Option<Scope>) -> Policy {
        Policy {
            access: Access::Token,
            scope,
            terms_exempt: false,
            restricted_ok: false,
            elevation: Elevation::No,
            dev_only: false,
            recovery_held: false,
            org: None,
            nested: None,
            backoffice: None,
        }
    }

    pub const fn session() -> Policy {
        Policy {
            access: Access::Session,
            scope: None,
            terms_exempt: false,
            restricted_ok: false,
            elevation: Elevation::No,
            dev_only: false,
            recovery_held: false,
            org: None,
            nested: None,
            backoffice: None,
        }
    }

    pub const fn admin(scope: Scope) -> Policy {
        Policy {
            access: Access::PlatformAdmin,
            scope: Some(scope),
            terms_exempt: false,
            restricted_ok: false,
            elevation: Elevation::No,
            dev_only: false,
            recovery_held: true,
            org: None,
            nested: None,
            backoffice: None,
        }
    }

    pub const fn terms_exempt(mut self) -> Policy {
        self.terms_exempt = true;
        self
    }

    pub const fn restricted_ok(mut self) -> Policy {
        self.restricted_ok = true;
        self
    }

    pub const fn org(mut self, resource: Resource, action: Action) -> Policy {
        self.org = Some(OrgRule::Permission(resource, action));
        self
    }

    pub const fn org_rule(mut self, rule: OrgRule) -> Policy {
        self.org = Some(rule);
        self
    }

    pub const fn nested(mut self, nested: Nested) -> Policy {
        self.nested = Some(nested);
        self
    }

    /// Opens an organization write to the support back-office (reads are open already).
    pub const fn backoffice(mut self, kind: Backoffice) -> Policy {
        self.backoffice = Some(kind);
        self
    }

    pub const fn dev_only(mut self) -> Policy {
        self.dev_only = true;
        self
    }

    pub const fn elevated(mut self) -> Policy {
        self.elevation = Elevation::Required;
        self
    }

    pub const fn elevated_for_sessions(mut self) -> Policy {
        self.elevation = Elevation::ForSessions;
        self
    }

    pub const fn elevated_except_first_passkey(mut self) -> Policy {
        self.elevation = Elevation::ExceptFirstPasskey;
        self
    }
}

pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub policy: Policy,
}

/// A row of the table. Every `GET` of an organization is open to the support back-office
/// (section 6: "every `GET` route of any organization"), so a new one cannot be forgotten.
const fn route(method: &'static str, path: &'static str, mut policy: Policy) -> Route {
    if is_get(method) && policy.org.is_some() && policy.backoffice.is_none() {
        policy.backoffice = Some(Backoffice::Read);
    }
    Route {
        method,
        path,
        policy,
    }
}

const fn is_get(method: &str) -> bool {
    matches!(method.as_bytes(), [b'G', b'E', b'T'])
}

use Action::{Create, Delete, Read, Update};
use Resource::{
    Agreements, Checkouts, Invitations, Invoices, Members, Organization, Payments,
    PriceCalculations, RefundRequests, SecurityPolicy, Subscriptions,
};

/// The table. Paths are written as the router matches them.
#[rustfmt::skip]
pub const ROUTES: &[Route] = &[
    // Operations.
    route("GET", "/healthz", Policy::PUBLIC),
    route("GET", "/readyz", Policy::PUBLIC),
    route("GET", "/metrics", Policy::PUBLIC),
    route("GET", "/openapi.json", Policy::PUBLIC),
    // The reference and the error catalogue for people, and their files.
    route("GET", "/docs", Policy::PUBLIC),
    route("GET", "/docs/errors", Policy::PUBLIC),
    route("GET", "/docs/assets/{file}", Policy::PUBLIC),
    // The error catalogue.
    route("GET", "/v1/errors", Policy::PUBLIC),
    route("GET", "/v1/errors/{code}", Policy::PUBLIC),
    // The test clock (answers 404003 without --dev).
    route("GET", "/v1/dev/clock", Policy::PUBLIC.dev_only()),
    route("POST", "/v1/dev/clock", Policy::PUBLIC.dev_only()),
    // Sign-in (4.1, 4.2, 4.5): no token.
    route("POST", "/v1/auth/email-otp/start", Policy::PUBLIC),
    route("POST", "/v1/auth/email-otp/verify", Policy::PUBLIC),
    route("POST", "/v1/auth/passkey/start", Policy::PUBLIC),
    route("POST", "/v1/auth/passkey/finish", Policy::PUBLIC),
    route("POST", "/v1/auth/passkey-reset/start", Policy::PUBLIC),
    route("POST", "/v1/auth/passkey-reset/finish", Policy::PUBLIC),
    // Sessions and elevation (4.3); /v1/auth/* never answers 451001.
    route(
        "POST",
        "/v1/auth/sign-out",
        Policy::session().terms_exempt().restricted_ok(),
    ),
    route(
        "POST",
        "/v1/auth/elevate/start",
        Policy::session().terms_exempt(),
    ),
    route(
        "POST",
        "/v1/auth/elevate/finish",
        Policy::session().terms_exempt(),
    ),
    route("GET", "/v1/me/sessions", Policy::session()),
    route("DELETE", "/v1/me/sessions/{id}", Policy::session()),
    // The signed-in user (4.6).
    route(
        "GET",
        "/v1/me",
        Policy::token(None).terms_exempt().restricted_ok(),
    ),
    route("PATCH", "/v1/me", Policy::session()),
    // Erasing oneself (6): open to a restricted session and before new terms are accepted
    // (4.4, 4.6), and, unlike registering a first passkey, always elevated.
    route(
        "DELETE",
        "/v1/me",
        Policy::session().terms_exempt().restricted_ok().elevated(),
    ),
    route("POST", "/v1/me/email/start", Policy::session().elevated()),
    route("POST", "/v1/me/email/verify", Policy::session()),
    route(
        "POST",
        "/v1/me/terms/accept",
        Policy::token(None).terms_exempt().restricted_ok(),
    ),
    route("GET", "/v1/me/security/require-passkeys", Policy::session()),
    route(
        "POST",
        "/v1/me/security/require-passkeys",
        Policy::session().elevated(),
    ),
    route(
        "DELETE",
        "/v1/me/security/require-passkeys",
        Policy::session().elevated(),
    ),
    route("POST", "/v1/me/tokens", Policy::session().elevated()),
    route("GET", "/v1/me/tokens", Policy::session()),
    route("DELETE", "/v1/me/tokens/{id}", Policy::session()),
    // Passkeys (4.2): registering is elevated, so a stolen session cannot add a passkey of its
    // own; a restricted session (4.4), which exists only to register one, may always.
    route(
        "POST",
        "/v1/me/passkeys/registration/start",
        Policy::session().terms_exempt().restricted_ok().elevated_except_first_passkey(),
    ),
    route(
        "POST",
        "/v1/me/passkeys/registration/finish",
        Policy::session().terms_exempt().restricted_ok(),
    ),
    route("GET", "/v1/me/passkeys", Policy::session()),
    route("PATCH", "/v1/me/passkeys/{id}", Policy::session()),
    route(
        "DELETE",
        "/v1/me/passkeys/{id}",
        Policy::session().elevated(),
    ),
    // Terms (4.6).
    route("GET", "/v1/terms/current", Policy::PUBLIC),
    route("POST", "/v1/terms", Policy::admin(Scope::Admin)),
    // Platform administration (6).
    route("POST", "/v1/users", Policy::admin(Scope::UsersWrite)),
    route("GET", "/v1/users", Policy::admin(Scope::UsersRead)),
    route("GET", "/v1/users/{userId}", Policy::admin(Scope::UsersRead)),
    // Changing the e-mail is elevated for sessions; that depends on the body, so the handler
    // asks (`admin::update`), after the body parses and before its values are checked.
    route("PATCH", "/v1/users/{userId}", Policy::admin(Scope::UsersWrite)),
    route(
        "DELETE",
        "/v1/users/{userId}",
        Policy::admin(Scope::UsersWrite).elevated_for_sessions(),
    ),
    route(
        "POST",
        "/v1/users/{userId}/ban",
        Policy::admin(Scope::UsersWrite),
    ),
    route(
        "DELETE",
        "/v1/users/{userId}/ban",
        Policy::admin(Scope::UsersWrite),
    ),
    route(
        "POST",
        "/v1/users/{userId}/suspend",
        Policy::admin(Scope::UsersWrite),
    ),
    route(
        "DELETE",
        "/v1/users/{userId}/suspend",
        Policy::admin(Scope::UsersWrite),
    ),
    route(
        "POST",
        "/v1/users/{userId}/lock",
        Policy::admin(Scope::UsersWrite),
    ),
    route("GET", "/v1/audit-events", Policy::admin(Scope::Admin)),
    // The support back-office's finding aids (6); its use of organization routes is their
    // `backoffice` rule.
    route("GET", "/v1/admin/orgs", Policy::admin(Scope::Admin)),
    route("GET", "/v1/users/{userId}/orgs", Policy::admin(Scope::UsersRead)),
    // Organizations (5).
    route("POST", "/v1/orgs", Policy::token(Some(Scope::OrgsWrite))),
    route("GET", "/v1/orgs", Policy::token(Some(Scope::OrgsRead))),
    route("GET", "/v1/orgs/{orgId}", Policy::token(Some(Scope::OrgsRead)).org(Organization, Read)),
    route("PATCH", "/v1/orgs/{orgId}", Policy::token(Some(Scope::OrgsWrite)).org(Organization, Update)),
    route("DELETE", "/v1/orgs/{orgId}", Policy::token(Some(Scope::OrgsWrite)).org(Organization, Delete)),
    route("GET", "/v1/orgs/{orgId}/members", Policy::token(Some(Scope::OrgsRead)).org(Members, Read)),
    route("PATCH", "/v1/orgs/{orgId}/members/{userId}", Policy::token(Some(Scope::OrgsWrite)).org(Members, Update).nested(Nested::Member)),
    route("DELETE", "/v1/orgs/{orgId}/members/{userId}/recovery-hold",
        Policy::token(Some(Scope::OrgsWrite)).org(Members, Update).nested(Nested::Member).elevated()),
    route("DELETE", "/v1/orgs/{orgId}/members/{userId}",
        Policy::token(Some(Scope::OrgsWrite)).org_rule(OrgRule::PermissionUnlessSelf(Members, Delete)).nested(Nested::Member)),
    route("POST", "/v1/orgs/{orgId}/invitations", Policy::token(Some(Scope::OrgsWrite)).org(Invitations, Create)),
    route("GET", "/v1/orgs/{orgId}/invitations", Policy::token(Some(Scope::OrgsRead)).org(Invitations, Read)),
    route("DELETE", "/v1/orgs/{orgId}/invitations/{invitationId}",
        Policy::token(Some(Scope::OrgsWrite)).org(Invitations, Delete).nested(Nested::Invitation)),
    route("GET", "/v1/me/invitations", Policy::session()),
    route("POST", "/v1/invitations/{invitationId}/accept", Policy::token(Some(Scope::OrgsWrite))),
    route("POST", "/v1/invitations/{invitationId}/decline", Policy::token(Some(Scope::OrgsWrite))),
    route("GET", "/v1/orgs/{orgId}/agreements", Policy::token(Some(Scope::OrgsRead)).org(Agreements, Read)),
    route("POST", "/v1/orgs/{orgId}/agreements/{agreementId}/sign",
        Policy::token(Some(Scope::OrgsWrite)).org_rule(OrgRule::LegalSignatory).nested(Nested::Agreement).elevated()),
    route("POST", "/v1/orgs/{orgId}/security/require-passkeys",
        Policy::token(Some(Scope::OrgsWrite)).org(SecurityPolicy, Update).elevated()),
    route("DELETE", "/v1/orgs/{orgId}/security/require-passkeys",
        Policy::token(Some(Scope::OrgsWrite)).org(SecurityPolicy, Update).elevated()),
    // The transactions export (7).
    route("GET", "/v1/orgs/{orgId}/exports/transactions.csv", Policy::token(Some(Scope::ExportsRead)).org(Resource::Exports, Read)),
    // Commerce (7).
    route("POST", "/v1/modules", Policy::admin(Scope::CatalogWrite)),
    route("GET", "/v1/modules", Policy::token(Some(Scope::CatalogRead))),
    route("GET", "/v1/modules/{moduleId}", Policy::token(Some(Scope::CatalogRead))),
    route("PATCH", "/v1/modules/{moduleId}", Policy::admin(Scope::CatalogWrite)),
    route("POST", "/v1/modules/{moduleId}/archive", Policy::admin(Scope::CatalogWrite)),
    route("POST", "/v1/modules/{moduleId}/offers", Policy::admin(Scope::CatalogWrite)),
    route("PATCH", "/v1/modules/{moduleId}/offers/{offerId}", Policy::admin(Scope::CatalogWrite)),
    route("GET", "/v1/modules/{moduleId}/offers", Policy::token(Some(Scope::CatalogRead))),
    route("GET", "/v1/modules/{moduleId}/active-offer", Policy::token(Some(Scope::CatalogRead))),
    route("POST", "/v1/coupons", Policy::admin(Scope::CatalogWrite)),
    // Coupon reads, too, are for platform administrators (section 9).
    route("GET", "/v1/coupons", Policy::admin(Scope::CatalogRead)),
    route("GET", "/v1/coupons/{couponId}", Policy::admin(Scope::CatalogRead)),
    route("DELETE", "/v1/coupons/{couponId}", Policy::admin(Scope::CatalogWrite)),
    route("POST", "/v1/orgs/{orgId}/price-calculations",
        Policy::token(Some(Scope::BillingWrite)).org(PriceCalculations, Create)),
    // The calculation's organization is checked by the handler's query (404003).
    route("GET", "/v1/orgs/{orgId}/price-calculations/{priceCalculationId}",
        Policy::token(Some(Scope::BillingRead)).org(PriceCalculations, Read)),
    route("POST", "/v1/orgs/{orgId}/checkouts", Policy::token(Some(Scope::BillingWrite)).org(Checkouts, Create)),
    route("GET", "/v1/orgs/{orgId}/invoices", Policy::token(Some(Scope::BillingRead)).org(Invoices, Read)),
    route("GET", "/v1/orgs/{orgId}/invoices/{invoiceId}",
        Policy::token(Some(Scope::BillingRead)).org(Invoices, Read).nested(Nested::Invoice)),
    route("POST", "/v1/orgs/{orgId}/invoices/{invoiceId}/payments",
        Policy::token(Some(Scope::BillingWrite)).org(Payments, Create).nested(Nested::Invoice)),
    route("GET", "/v1/orgs/{orgId}/subscriptions", Policy::token(Some(Scope::BillingRead)).org(Subscriptions, Read)),
    route("GET", "/v1/orgs/{orgId}/subscriptions/{subscriptionId}",
        Policy::token(Some(Scope::BillingRead)).org(Subscriptions, Read).nested(Nested::Subscription)),
    route("POST", "/v1/orgs/{orgId}/subscriptions/{subscriptionId}/cancel",
        Policy::token(Some(Scope::BillingWrite)).org(Subscriptions, Update).nested(Nested::Subscription)
            .backoffice(Backoffice::CancelSubscription)),
    route("POST", "/v1/orgs/{orgId}/subscriptions/{subscriptionId}/refund-requests",
        Policy::token(Some(Scope::BillingWrite)).org(RefundRequests, Create).nested(Nested::Subscription)
            .backoffice(Backoffice::RequestRefund)),
];

type Index = HashMap<(&'static str, &'static str), &'static Policy>;

static INDEX: LazyLock<Index> = LazyLock::new(|| {
    ROUTES
        .iter()
        .map(|r| ((r.method, r.path), &r.policy))
        .collect()
});

/// The policy of a route, by method and matched path.
pub fn lookup(method: &str, path: &str) -> Option<&'static Policy> {
    // The map is covariant in its key, so it can be searched with borrowed strings.
    let index: &HashMap<(&str, &str), &'static Policy> = &INDEX;
    index.get(&(method, path)).copied()
}

/// The methods the table lists for a path (for `Allow`).
pub fn methods_of(path: &str) -> Vec<&'static str> {
    let mut methods: Vec<&'static str> = ROUTES
        .iter()
        .filter(|r| r.path == path)
        .map(|r| r.method)
        .collect();
    if methods.contains(&"GET") {
        methods.push("HEAD");
    }
    methods
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Section 6: every organization `GET`, and of the writes only cancelling a subscription
    /// and requesting a refund, are open to the back-office; nothing else.
    #[test]
    fn the_backoffice_opens_organization_reads_cancel_and_refunds_only() {
        for r in ROUTES {
            let expected = match (r.method, r.policy.org.is_some()) {
                ("GET", true) => Some(Backoffice::Read),
                ("POST", true) if r.path.ends_with("/subscriptions/{subscriptionId}/cancel") => {
                    Some(Backoffice::CancelSubscription)
                }
                ("POST", true)
                    if r.path
                        .ends_with("/subscriptions/{subscriptionId}/refund-requests") =>
                {
                    Some(Backoffice::RequestRefund)
                }
                _ => None,
            };
            assert_eq!(r.policy.backoffice, expected, "{} {}", r.method, r.path);
        }
    }
}
