//! The queryable fields of each list. Offering a query on a new list is one more declaration
//! here (and a row in docs/query.md); the columns must exist in the table the list reads.

use super::{Field, FieldKind};

/// `GET /v1/users`.
pub const USERS: &[Field] = &[
    Field {
        name: "id",
        column: "id",
        kind: FieldKind::Text,
    },
    Field {
        name: "email",
        column: "email",
        kind: FieldKind::Email,
    },
    Field {
        name: "createdAt",
        column: "created_at",
        kind: FieldKind::Time,
    },
    Field {
        name: "banned",
        column: "banned_at",
        kind: FieldKind::IsSet,
    },
];

/// `GET /v1/audit-events`.
pub const AUDIT_EVENTS: &[Field] = &[
    Field {
        name: "action",
        column: "action",
        kind: FieldKind::Text,
    },
    Field {
        name: "actor",
        column: "actor",
        kind: FieldKind::Text,
    },
    Field {
        name: "subject",
        column: "subject",
        kind: FieldKind::Text,
    },
    Field {
        name: "createdAt",
        column: "created_at",
        kind: FieldKind::Time,
    },
];

/// `GET /v1/orgs/{orgId}/invoices` (the commerce work adds the list).
pub const INVOICES: &[Field] = &[
    Field {
        name: "status",
        column: "status",
        kind: FieldKind::Enum(&["open", "paid", "void"]),
    },
    Field {
        name: "total",
        column: "total",
        kind: FieldKind::Money,
    },
    Field {
        name: "currency",
        column: "currency",
        kind: FieldKind::Text,
    },
    Field {
        name: "createdAt",
        column: "created_at",
        kind: FieldKind::Time,
    },
];

/// `GET /v1/orgs/{orgId}/subscriptions` (the commerce work adds the list).
pub const SUBSCRIPTIONS: &[Field] = &[
    Field {
        name: "status",
        column: "status",
        kind: FieldKind::Enum(&["pending", "active", "past_due", "canceled", "ended"]),
    },
    Field {
        name: "moduleId",
        column: "module_id",
        kind: FieldKind::Text,
    },
    Field {
        name: "createdAt",
        column: "created_at",
        kind: FieldKind::Time,
    },
];

/// `GET /v1/admin/orgs`.
pub const ORGS: &[Field] = &[
    Field {
        name: "name",
        column: "name",
        kind: FieldKind::Text,
    },
    Field {
        name: "country",
        column: "country",
        kind: FieldKind::Text,
    },
    Field {
        name: "createdAt",
        column: "created_at",
        kind: FieldKind::Time,
    },
];
