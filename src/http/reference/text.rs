//! The prose of the document that no single handler owns: the API's introduction, the list
//! parameters every list shares, and the query language, so that a reader of the document
//! needs nothing else.

use serde_json::{Value, json};

use crate::list::{DEFAULT_LIMIT, MAX_LIMIT};
use crate::query::{self, Field, FieldKind};

/// `info.description`.
pub(crate) fn introduction() -> String {
    format!(
        "Self-hosted accounts, organizations and subscription commerce.\n\n\
## Conventions\n\n\
- JSON bodies and member names in camelCase; times are RFC 3339 in UTC; money is an integer in minor units with an ISO 4217 currency: `{{\"amount\":1999,\"currency\":\"EUR\"}}` is 19.99 EUR.\n\
- Ids are opaque strings with a type prefix (`org_`, `mod_`, `off_`, `cpn_`, `pc_`, `inv_` invoices, `ivt_` invitations, `pay_`, `sub_`, `rf_`, `agr_`, `pk_`, `tok_`, `ses_`, `usr_`).\n\
- Authentication: `Authorization: Bearer <token>`, either a session token (`chs_…`) from an interactive sign-in, which acts with all the user's rights, or an access token (`cht_…`) made by a session with a subset of scopes. Routes under `/v1/me` and `/v1/auth/elevate` are for sessions only (except `GET /v1/me` and `POST /v1/me/terms/accept`).\n\
- Creations answer 201 with the resource, actions (`…/accept`, `…/ban`, `…/sign`, …) 200 with the resource they changed, `DELETE` 204.\n\
- Lists take `from` (offset, default 0) and `limit` (default {DEFAULT_LIMIT}, at most {MAX_LIMIT}; `0` answers no items with the `total`) and answer `{{\"items\":[…],\"from\":0,\"limit\":{DEFAULT_LIMIT},\"total\":123}}`, newest first. Some lists take a `query` filter (see the parameter).\n\
- `Idempotency-Key` on any `POST`: the same key with the same JSON body within 24 hours replays the first answer (with `Idempotent-Replayed: true`); another body answers 400002. Answers holding a secret (sign-ins, token creation) are not stored, so reusing their key answers 400002.\n\
- Every answer carries `X-Request-Id` (yours when it matches `^[A-Za-z0-9._-]{{1,128}}$`). Answers under `/v1/auth`, `/v1/me` and every answer that needs a token carry `Cache-Control: no-store`.\n\n\
## Errors\n\n\
Every answer with a status of 400 or more is `application/problem+json` (the `Problem` schema) with a catalogue `code`; clients match on `code`, `detail` is for people. Each operation lists the codes it can answer, per status. `GET /v1/errors` lists the whole catalogue, and the human catalogue is at `/docs/errors`.\n\n\
Checks run in this order, the first that applies wins: the route and method (404003); the token (401001, then 403003 banned, 403004 suspended, 403002 locked); a restricted session outside passkey registration (403013); terms not accepted (451001); the access token's scope (403014), or a route for sessions or platform administrators (403001); the organization (404003 unknown, 403001 not a member, 403005 recovery hold, 403008–403011 role, 403007 legal signatory, 404003 nested id not in it); elevation (403006); then the parameters `from`, `limit`, `query` and the body (400001–400005, 400015, 400002); then the operation's own rules."
    )
}

/// `components.parameters`: `from`, `limit` and `query`, described once and referenced by
/// every list.
pub(crate) fn list_parameters() -> Value {
    json!({
        "from": {
            "name": "from", "in": "query", "required": false,
            "description": "How many items to skip (an offset, not a cursor). A negative value answers 400003; one that is not an integer 400001.",
            "schema": { "type": "integer", "format": "int64", "minimum": 0, "default": 0 }
        },
        "limit": {
            "name": "limit", "in": "query", "required": false,
            "description": format!("How many items to answer at most: 0 to {MAX_LIMIT} (400004 below, 400005 above, with `maxLimit`; 400001 when not an integer). `0` answers only the `total`."),
            "schema": { "type": "integer", "format": "int64", "minimum": 0, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT }
        },
        "query": {
            "name": "query", "in": "query", "required": false,
            "description": query_language(),
            "schema": { "type": "string", "maxLength": query::MAX_CHARS },
            "example": "status:open AND createdAt>=2026-01-01"
        }
    })
}

/// The query language, as the `query` parameter's description.
fn query_language() -> String {
    format!(
        "A filter; absent or blank means none. The fields a list offers are in the operation's description.\n\n\
- A term is `field:value` (equal), `field>value`, `field>=value`, `field<value` or `field<=value`, or `-field:value` (not equal; a row without a value matches). No spaces inside a term.\n\
- Terms are joined by `AND` and `OR` (upper-case, with whitespace or a parenthesis on each side); `AND` binds tighter than `OR`; parentheses group, at most {depth} levels deep.\n\
- A value with whitespace, `(`, `)`, `\"`, `<` or `>`, or an empty one, is quoted: `\"…\"`, with `\\\"` and `\\\\` as the only escapes.\n\
- By kind of field: text compares exactly (`:` only); e-mail is trimmed and lower-cased first (`:` only); an enum takes one of its values, exact case (`:` only); a time is an RFC 3339 time with any offset or a date meaning its midnight UTC (all operators); money is an integer in minor units (all operators); a boolean is `true` or `false` (`:` only).\n\
- At most {chars} characters and {terms} terms. In a URL, encode it as usual (`+` means a space, so send a time offset `+01:00` as `%2B01:00`).\n\n\
A query that cannot be read answers 400015 with `position`, the 0-based index in characters of the first character that cannot continue a valid query (`total>>1` → 6).\n\n\
Example: `status:open AND createdAt>=2026-01-01 AND createdAt<2026-02-01`.",
        depth = query::MAX_DEPTH,
        chars = query::MAX_CHARS,
        terms = query::MAX_TERMS,
    )
}

/// "Filter fields for `query`: …", appended to a list operation's description.
pub(crate) fn query_fields(fields: &[Field]) -> String {
    let fields: Vec<String> = fields
        .iter()
        .map(|f| format!("`{}` ({})", f.name, kind(f.kind)))
        .collect();
    format!("Fields for `query`: {}.", fields.join(", "))
}

fn kind(kind: FieldKind) -> String {
    match kind {
        FieldKind::Text => "text".into(),
        FieldKind::Email => "e-mail".into(),
        FieldKind::Time => "time".into(),
        FieldKind::Money => "money in minor units".into(),
        FieldKind::Integer => "integer".into(),
        FieldKind::Bool | FieldKind::IsSet => "boolean".into(),
        FieldKind::Enum(values) => {
            let values: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
            format!("one of {}", values.join(", "))
        }
    }
}

/// The tags, in the order a reader meets them, each with what it groups.
pub(crate) fn tags() -> Value {
    json!([
        { "name": "sign-in", "description": "Signing in without a token: e-mail one-time codes, passkeys and passkey reset. Each answers a session token." },
        { "name": "sessions", "description": "The caller's sessions, signing out, and elevation: a recent proof of presence that sensitive actions need." },
        { "name": "me", "description": "The signed-in user: profile, e-mail change and the user's own passkey requirement." },
        { "name": "passkeys", "description": "Registering, naming and removing the signed-in user's passkeys (WebAuthn)." },
        { "name": "tokens", "description": "Access tokens: bearer tokens with a subset of scopes, for scripts and integrations." },
        { "name": "terms", "description": "The account terms: the current version, accepting it, and publishing a new one." },
        { "name": "organizations", "description": "Organizations and their passkey policy." },
        { "name": "members", "description": "The members of an organization, their roles and legal signatories." },
        { "name": "invitations", "description": "Invitations to join an organization, by e-mail." },
        { "name": "agreements", "description": "Agreements an organization signs before a module that needs one becomes active." },
        { "name": "catalogue", "description": "Modules, their offers (prices over time) and coupons." },
        { "name": "billing", "description": "Price calculations, checkouts, invoices, payments, subscriptions and refunds of an organization." },
        { "name": "exports", "description": "CSV exports of an organization's transactions." },
        { "name": "users", "description": "Platform administration of user accounts." },
        { "name": "audit", "description": "The audit log of sensitive actions, for platform administrators." },
        { "name": "errors", "description": "The error catalogue: every code the API can answer." },
        { "name": "dev", "description": "The test clock; these routes exist only when the server runs with `--dev`." },
        { "name": "operations", "description": "Health, readiness, metrics and this reference." }
    ])
}

/// Titles that the operationId alone would say badly.
const TITLES: &[(&str, &str)] = &[
    ("getDocs", "Get the API reference page"),
    ("getOpenApi", "Get the OpenAPI document"),
    ("getMe", "Get the signed-in user"),
    ("updateMe", "Update the signed-in user"),
    ("eraseMe", "Erase the signed-in user"),
    ("unrequireMyPasskeys", "Stop requiring my passkeys"),
    ("requireOrgPasskeys", "Require passkeys in an organization"),
    (
        "unrequireOrgPasskeys",
        "Stop requiring passkeys in an organization",
    ),
    ("listAdminOrgs", "List every organization"),
    ("listUserOrgs", "List a user's organizations"),
];

/// An operation's short title, for navigation and headings: its operationId in words
/// (`createPriceCalculation` → "Create price calculation").
pub(crate) fn title(operation_id: &str) -> String {
    if let Some((_, title)) = TITLES.iter().find(|(id, _)| *id == operation_id) {
        return (*title).to_string();
    }
    let mut words: Vec<String> = Vec::new();
    for c in operation_id.chars() {
        match words.last_mut() {
            Some(word) if !c.is_ascii_uppercase() => word.push(c),
            _ => words.push(c.to_ascii_lowercase().to_string()),
        }
    }
    let words: Vec<&str> = words
        .iter()
        .map(|word| match word.as_str() {
            "otp" => "OTP",
            "email" => "e-mail",
            "org" => "organization",
            "orgs" => "organizations",
            "sign" if operation_id.ends_with("SignIn") => "sign-in",
            other => other,
        })
        .collect();
    let mut title = words.join(" ").replace("sign-in in", "sign-in");
    if let Some(first) = title.get(..1) {
        title = first.to_ascii_uppercase() + &title[1..];
    }
    title
}
