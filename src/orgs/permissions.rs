//! The organization permission table of section 9 — the only place roles are decided.
//! Every organization and commerce route names a (resource, action) here through the policy
//! table; `docs/permissions.md` is rendered from this table by a test.

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;

#[derive(
    Copy,
    Clone,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
/// A member's role in an organization. `owner`: everything, including deleting the
/// organization, changing roles and its passkey policy; `admin`: the organization's details,
/// members (not owners) and invitations, and billing except cancelling and refunds; `billing`:
/// price calculations, checkouts, invoices, payments, subscriptions, refunds and exports;
/// `member`: reads the organization, its members and subscriptions. A legal signatory signs
/// agreements whatever the role.
pub enum Role {
    Owner,
    Admin,
    Billing,
    Member,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::Billing, Role::Member];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Billing => "billing",
            Role::Member => "member",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// Rank for "no one invites above their own role": owner > admin > billing > member.
    pub fn rank(self) -> u8 {
        match self {
            Role::Owner => 3,
            Role::Admin => 2,
            Role::Billing => 1,
            Role::Member => 0,
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Resource {
    Organization,
    Members,
    Invitations,
    SecurityPolicy,
    Agreements,
    PriceCalculations,
    Checkouts,
    Invoices,
    Payments,
    Subscriptions,
    RefundRequests,
    Exports,
}

impl Resource {
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Organization => "organization",
            Resource::Members => "members",
            Resource::Invitations => "invitations",
            Resource::SecurityPolicy => "security policy",
            Resource::Agreements => "agreements",
            Resource::PriceCalculations => "price calculations",
            Resource::Checkouts => "checkouts",
            Resource::Invoices => "invoices",
            Resource::Payments => "payments",
            Resource::Subscriptions => "subscriptions",
            Resource::RefundRequests => "refund requests",
            Resource::Exports => "exports",
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Create,
    Read,
    Update,
    Delete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Read => "read",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }

    /// The answer when a member's role lacks the action (403008–403011).
    pub fn denial(self) -> ErrorCode {
        match self {
            Action::Create => ErrorCode::CreateForbidden,
            Action::Read => ErrorCode::ReadForbidden,
            Action::Update => ErrorCode::UpdateForbidden,
            Action::Delete => ErrorCode::DeleteForbidden,
        }
    }
}

/// Who may do what: `[owner, admin, billing, member]`.
pub struct Rule {
    pub resource: Resource,
    pub action: Action,
    pub allowed: [bool; 4],
    /// A note the table shows (e.g. "not owners").
    pub note: &'static str,
}

const fn rule(resource: Resource, action: Action, allowed: [bool; 4], note: &'static str) -> Rule {
    Rule {
        resource,
        action,
        allowed,
        note,
    }
}

use Action::*;
use Resource::*;

const ALL: [bool; 4] = [true, true, true, true];
const OWNER: [bool; 4] = [true, false, false, false];
const OWNER_ADMIN: [bool; 4] = [true, true, false, false];
const NOT_MEMBER: [bool; 4] = [true, true, true, false];
const OWNER_BILLING: [bool; 4] = [true, false, true, false];

pub const TABLE: &[Rule] = &[
    rule(Organization, Read, ALL, ""),
    rule(Organization, Update, OWNER_ADMIN, ""),
    rule(Organization, Delete, OWNER, ""),
    rule(Members, Read, ALL, ""),
    rule(Members, Update, OWNER, "role and legal signatory"),
    rule(
        Members,
        Delete,
        OWNER_ADMIN,
        "others; an admin cannot remove owners; anyone may remove themselves",
    ),
    rule(
        Invitations,
        Create,
        OWNER_ADMIN,
        "never above the inviter's own role",
    ),
    rule(Invitations, Read, OWNER_ADMIN, ""),
    rule(Invitations, Delete, OWNER_ADMIN, ""),
    rule(SecurityPolicy, Update, OWNER, ""),
    rule(
        Agreements,
        Read,
        NOT_MEMBER,
        "a legal signatory may sign whatever the role",
    ),
    rule(PriceCalculations, Create, NOT_MEMBER, ""),
    rule(PriceCalculations, Read, NOT_MEMBER, ""),
    rule(Checkouts, Create, NOT_MEMBER, ""),
    rule(Invoices, Read, NOT_MEMBER, ""),
    rule(Payments, Create, NOT_MEMBER, ""),
    rule(Subscriptions, Read, ALL, ""),
    rule(Subscriptions, Update, OWNER_BILLING, "cancel"),
    rule(RefundRequests, Create, OWNER_BILLING, ""),
    rule(Exports, Read, NOT_MEMBER, ""),
];

fn index(role: Role) -> usize {
    Role::ALL.iter().position(|r| *r == role).unwrap_or(3)
}

/// Whether `role` may do `action` on `resource`. A pair missing from the table is denied.
pub fn allows(role: Role, resource: Resource, action: Action) -> bool {
    TABLE
        .iter()
        .any(|r| r.resource == resource && r.action == action && r.allowed[index(role)])
}

/// The table as Markdown (docs/permissions.md).
pub fn markdown() -> String {
    let mut out = String::from(
        "# Organization permissions\n\nGenerated from `src/orgs/permissions.rs` by a test; do not edit by hand.\n\n\
         A non-member gets 403001; a member whose role lacks the action gets 403008 (create), 403009 (read),\n\
         403010 (update) or 403011 (delete). Signing an agreement needs a legal signatory (403007), whatever the role.\n\n\
         Platform administrators (the support back-office): where their own membership does not allow it, they may\n\
         read everything of any organization as its owner would, cancel its subscriptions and request its refunds,\n\
         each call audited; nothing else (403001 for a non-member, the role's code for a member). An access token\n\
         needs the `admin` scope for this, beside the route's own. The policy table (`src/http/policy.rs`) says\n\
         which routes are open to it.\n\n\
         | resource · action | owner | admin | billing | member | note |\n|---|---|---|---|---|---|\n",
    );
    for r in TABLE {
        let cells: Vec<&str> = r
            .allowed
            .iter()
            .map(|a| if *a { "✓" } else { "" })
            .collect();
        out.push_str(&format!(
            "| {} · {} | {} | {} | {} | {} | {} |\n",
            r.resource.as_str(),
            r.action.as_str(),
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            r.note
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_permissions_document_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/permissions.md");
        let current = std::fs::read_to_string(path).unwrap_or_default();
        let wanted = markdown();
        if current != wanted {
            std::fs::write(path, &wanted).expect("write docs/permissions.md");
            panic!("docs/permissions.md was out of date and has been regenerated; commit it");
        }
    }

    #[test]
    fn every_pair_is_listed_once() {
        for (i, a) in TABLE.iter().enumerate() {
            for b in &TABLE[i + 1..] {
                assert!(
                    !(a.resource == b.resource && a.action == b.action),
                    "{} {} twice",
                    a.resource.as_str(),
                    a.action.as_str()
                );
            }
        }
        assert!(allows(Role::Owner, Resource::Organization, Action::Delete));
        assert!(!allows(Role::Admin, Resource::Organization, Action::Delete));
        assert!(!allows(Role::Member, Resource::Invoices, Action::Read));
        assert!(
            !allows(Role::Owner, Resource::Exports, Action::Delete),
            "unlisted pairs are denied"
        );
    }
}
