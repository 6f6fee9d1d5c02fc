//! The catalogue codes each operation can answer: the generic ones derived from the policy
//! table and the operation's shape (section 3's order of checks), the route-specific ones from
//! `answers::ANSWERS`, rendered as one problem response per status.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::error::{ErrorCode, PROBLEM_JSON};
use crate::http::policy::{Access, Elevation, Nested, OrgRule, Policy};
use crate::orgs::permissions::{self, Action, Resource, Role};

use super::answers;

/// Where a person reads about `code`: its entry in the human error catalogue.
pub fn catalogue_link(code: ErrorCode) -> String {
    format!("/docs/errors#{}", code.code())
}

/// Every code `op` can answer, each with the situations that lead to it, ordered by code.
pub(crate) fn of_operation(
    operation_id: &str,
    policy: &Policy,
    method: &str,
    op: &Value,
) -> BTreeMap<u32, (ErrorCode, Vec<String>)> {
    let mut codes: BTreeMap<u32, (ErrorCode, Vec<String>)> = BTreeMap::new();
    let mut add = |code: ErrorCode, when: String| {
        let entry = codes.entry(code.code()).or_insert((code, Vec::new()));
        if !entry.1.contains(&when) {
            entry.1.push(when);
        }
    };
    for (code, when) in generic(policy, method, op) {
        add(code, when);
    }
    for (code, when) in answers::of(operation_id) {
        add(*code, when.to_string());
    }
    codes
}

/// The codes that follow from the route's policy and from what the operation takes.
fn generic(policy: &Policy, method: &str, op: &Value) -> Vec<(ErrorCode, String)> {
    use ErrorCode::*;
    let mut out: Vec<(ErrorCode, String)> = Vec::new();
    let mut add = |code: ErrorCode, when: &str| out.push((code, when.to_string()));
    if policy.dev_only {
        add(NotFound, "the server runs without `--dev`");
    }
    if policy.access != Access::Public {
        add(
            AuthenticationRequired,
            "no bearer token, or one that is unknown, expired or revoked",
        );
        add(
            SignInAgainRequired,
            "the token was issued before the account was locked",
        );
        add(UserBanned, "the caller's account is banned");
        add(
            UserSuspended,
            "the caller's account is suspended (until `suspendedUntil`)",
        );
        if !policy.restricted_ok {
            add(
                TwoFactorRequired,
                "a restricted session, which may only register a passkey",
            );
        }
        if !policy.terms_exempt {
            add(
                AccountTermsAcceptanceRequired,
                "newer terms are published and not yet accepted",
            );
        }
    }
    if let Some(scope) = policy.scope {
        let when = format!("an access token without the `{}` scope", scope.as_str());
        add(ScopeMissing, &when);
    }
    match policy.access {
        Access::Session => add(
            UserUnauthorized,
            "an access token: this route is for interactive sessions",
        ),
        Access::PlatformAdmin => add(
            UserUnauthorized,
            "the caller is not a platform administrator",
        ),
        _ => {}
    }
    if policy.recovery_held {
        add(
            LockedOut,
            "the account was recovered by e-mail and the recovery hold has not ended",
        );
    }
    if let Some(rule) = policy.org {
        add(NotFound, "no organization has this id");
        add(
            UserUnauthorized,
            "the caller is not a member of the organization",
        );
        add(
            LockedOut,
            "the organization requires passkeys and the caller's account is in a recovery hold",
        );
        match rule {
            OrgRule::Permission(resource, action) => {
                if let Some(when) = role_denial(resource, action, "") {
                    add(action.denial(), &when);
                }
            }
            OrgRule::PermissionUnlessSelf(resource, action) => {
                if let Some(when) = role_denial(resource, action, " (except on oneself)") {
                    add(action.denial(), &when);
                }
            }
            OrgRule::LegalSignatory => add(
                OnlyLegalSignatoryCanSign,
                "the caller is not a legal signatory of the organization",
            ),
        }
    }
    if let Some(nested) = policy.nested {
        let when = format!(
            "no {} with this id in the organization",
            nested_name(nested)
        );
        add(NotFound, &when);
    }
    match policy.elevation {
        Elevation::No => {}
        Elevation::Required | Elevation::ExceptFirstPasskey => add(
            ElevatedSecurityRequired,
            "the session is not elevated (elevate with `POST /v1/auth/elevate/start`); access tokens never are",
        ),
        Elevation::ForSessions => add(
            ElevatedSecurityRequired,
            "a session that is not elevated (elevate with `POST /v1/auth/elevate/start`); an access token needs no elevation here",
        ),
    }
    let names: Vec<&str> = op["parameters"]
        .as_array()
        .map(|ps| ps.iter().filter_map(|p| p["name"].as_str()).collect())
        .unwrap_or_default();
    if names.contains(&"from") || names.contains(&"limit") {
        add(
            ArgumentMissingOrUnparseable,
            "`from` or `limit` is not an integer",
        );
        add(FromMustBeNonNegative, "`from` is negative");
        add(LimitMustBeNonNegative, "`limit` is negative");
        add(LimitTooLarge, "`limit` is above 100");
    }
    if names.contains(&"query") {
        add(QueryError, "`query` is not a valid filter for this list");
    }
    if op["requestBody"]["content"]["application/json"].is_object() {
        add(
            ArgumentMissingOrUnparseable,
            "the body is not JSON, too large, has a duplicate key, or misses a required member or has one of the wrong type",
        );
        add(
            ValidationError,
            "a member has a value that is not allowed, or the body has an unknown member",
        );
    }
    if method == "post" {
        add(
            ValidationError,
            "an `Idempotency-Key` that is malformed, or reused with another body or for an answer holding a secret",
        );
        // With a key, the body is read (to compare it) even where the route takes none.
        add(
            ArgumentMissingOrUnparseable,
            "with an `Idempotency-Key`: a body over the size limit",
        );
    }
    add(
        UnexpectedError,
        "the server failed unexpectedly (the body shows no internals; quote `requestId`)",
    );
    out
}

/// "a `billing` member" when some role lacks the action; `None` when every role has it.
fn role_denial(resource: Resource, action: Action, except: &str) -> Option<String> {
    let allowed: Vec<&str> = Role::ALL
        .into_iter()
        .filter(|r| permissions::allows(*r, resource, action))
        .map(|r| r.as_str())
        .collect();
    if allowed.len() == Role::ALL.len() {
        return None;
    }
    let allowed = allowed
        .iter()
        .map(|r| format!("`{r}`"))
        .collect::<Vec<_>>()
        .join(", ");
    Some(format!(
        "the caller's role may not {} {}{except} (allowed: {allowed})",
        action.as_str(),
        resource.as_str()
    ))
}

fn nested_name(nested: Nested) -> &'static str {
    match nested {
        Nested::Member => "member",
        Nested::Invitation => "invitation",
        Nested::Agreement => "agreement",
        Nested::Invoice => "invoice",
        Nested::Subscription => "subscription",
    }
}

/// One response per status: `application/problem+json` whose `code` is one of exactly the
/// listed codes, and a description naming each code, its meaning and when it happens here.
pub(crate) fn responses(codes: &BTreeMap<u32, (ErrorCode, Vec<String>)>) -> Map<String, Value> {
    let mut by_status: BTreeMap<u16, Vec<&(ErrorCode, Vec<String>)>> = BTreeMap::new();
    for entry in codes.values() {
        by_status.entry(entry.0.status()).or_default().push(entry);
    }
    let mut out = Map::new();
    for (status, entries) in by_status {
        let mut description = format!("{}. The `code` says which:\n", reason(status));
        for (code, whens) in &entries {
            description.push_str(&format!(
                "\n- [`{}` {}]({}): {} Here: {}.",
                code.code(),
                code.name(),
                catalogue_link(*code),
                code.description(),
                whens.join("; ")
            ));
        }
        let enumerated: Vec<u32> = entries.iter().map(|(c, _)| c.code()).collect();
        out.insert(
            status.to_string(),
            json!({
                "description": description,
                "content": { PROBLEM_JSON: { "schema": {
                    "allOf": [
                        { "$ref": "#/components/schemas/Problem" },
                        { "type": "object", "properties": { "code": { "type": "integer", "enum": enumerated } } }
                    ]
                } } }
            }),
        );
    }
    out
}

fn reason(status: u16) -> &'static str {
    axum::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error")
}
