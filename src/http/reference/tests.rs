//! The document's enrichment held against the code it describes: the answers table names
//! operations that exist, the `Problem` schema names every extension member the code adds, and
//! the enums written for the document hold the values the code uses.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use super::{answers, catalogue_link};
use crate::error::ErrorCode;

fn document() -> Value {
    crate::app::openapi()
}

fn operations(doc: &Value) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            out.push((op["operationId"].as_str().unwrap().to_string(), op));
        }
    }
    out
}

fn enum_of(doc: &Value, schema: &str) -> BTreeSet<String> {
    doc["components"]["schemas"][schema]["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("{schema} is an enum"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_answers_table_names_operations_of_the_document() {
    let doc = document();
    let ids: BTreeSet<String> = operations(&doc).into_iter().map(|(id, _)| id).collect();
    for id in answers::operation_ids() {
        assert!(ids.contains(id), "answers.rs names `{id}`, no operation");
    }
}

#[test]
fn every_list_with_a_query_names_its_fields() {
    let doc = document();
    for (id, op) in operations(&doc) {
        let takes_query = op["parameters"].as_array().is_some_and(|ps| {
            ps.iter()
                .any(|p| p["$ref"] == "#/components/parameters/query")
        });
        assert_eq!(
            takes_query,
            answers::query_fields(&id).is_some(),
            "`{id}`: a `query` parameter and an entry in answers::QUERY_FIELDS go together"
        );
        if takes_query {
            let description = op["description"].as_str().unwrap_or_default();
            assert!(description.contains("Fields for `query`"), "{id}");
        }
    }
}

/// Every `.with("member", …)` in the code is a member `Problem` documents.
#[test]
fn the_problem_schema_names_every_extension_member() {
    let doc = document();
    let documented = doc["components"]["schemas"]["Problem"]["properties"]
        .as_object()
        .unwrap();
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut found = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.lines().filter(|l| !l.trim_start().starts_with("//"));
        for line in code {
            for (at, _) in line.match_indices(".with(\"") {
                let rest = &line[at + 7..];
                found.insert(rest[..rest.find('"').unwrap()].to_string());
            }
        }
    }
    assert!(found.len() >= 10, "the scan found the members: {found:?}");
    for member in found {
        assert!(
            documented.contains_key(&member),
            "`{member}` is added to problems but not documented in `Problem`"
        );
    }
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The enums written for the document (the wire type stays a `String`) against the values the
/// code uses: the query language's declarations and the domain types.
#[test]
fn documented_enums_hold_the_values_the_code_uses() {
    let doc = document();
    let values = |fields: &[crate::query::Field], name: &str| -> BTreeSet<String> {
        match fields.iter().find(|f| f.name == name).map(|f| f.kind) {
            Some(crate::query::FieldKind::Enum(values)) => {
                values.iter().map(|v| v.to_string()).collect()
            }
            other => panic!("{name} is {other:?}"),
        }
    };
    assert_eq!(
        enum_of(&doc, "InvoiceStatus"),
        values(crate::query::INVOICES, "status")
    );
    assert_eq!(
        enum_of(&doc, "SubscriptionStatus"),
        values(crate::query::SUBSCRIPTIONS, "status")
    );
    let scopes = crate::identity::Scope::ALL
        .iter()
        .map(|s| s.as_str().to_string());
    assert_eq!(enum_of(&doc, "Scope"), scopes.collect());
    let roles = crate::orgs::permissions::Role::ALL.map(|r| r.as_str().to_string());
    assert_eq!(enum_of(&doc, "Role"), roles.into_iter().collect());
    use crate::commerce::interval::Interval;
    let intervals = [Interval::Month, Interval::Year, Interval::Once];
    let intervals = intervals.map(|i| i.as_str().to_string());
    assert_eq!(enum_of(&doc, "Interval"), intervals.into_iter().collect());
    use crate::identity::sessions::AuthMethod;
    let methods = [AuthMethod::Passkey, AuthMethod::EmailOtp].map(|m| m.as_str().to_string());
    assert_eq!(
        enum_of(&doc, "ElevationMethod"),
        methods.into_iter().collect()
    );
}

#[test]
fn every_code_links_to_the_human_catalogue() {
    assert_eq!(catalogue_link(ErrorCode::LockedOut), "/docs/errors#403005");
    let doc = document();
    for (id, op) in operations(&doc) {
        for (status, response) in op["responses"].as_object().unwrap() {
            let Some(codes) = response["content"]["application/problem+json"]["schema"]["allOf"][1]
                ["properties"]["code"]["enum"]
                .as_array()
            else {
                continue;
            };
            let description = response["description"].as_str().unwrap();
            for code in codes {
                let code = ErrorCode::from_code(code.as_u64().unwrap() as u32).unwrap();
                assert_eq!(status, &code.status().to_string(), "{id}");
                assert!(
                    description.contains(&format!("]({})", catalogue_link(code))),
                    "{id} {status}: {description}"
                );
            }
        }
    }
}

#[test]
fn every_operation_has_a_short_title_and_keeps_what_its_handler_says() {
    assert_eq!(
        super::text::title("createPriceCalculation"),
        "Create price calculation"
    );
    assert_eq!(super::text::title("startEmailOtp"), "Start e-mail OTP");
    assert_eq!(
        super::text::title("finishPasskeySignIn"),
        "Finish passkey sign-in"
    );
    let doc = document();
    let mut titles = BTreeSet::new();
    for (id, op) in operations(&doc) {
        let title = op["summary"].as_str().unwrap();
        assert!(title.len() <= 60, "{id}: {title}");
        assert!(titles.insert(title.to_string()), "{id}: {title} twice");
        assert!(
            !op["description"].as_str().unwrap_or_default().is_empty(),
            "{id} has no description"
        );
    }
    let pricing = operations(&doc)
        .into_iter()
        .find(|(id, _)| id == "createPriceCalculation")
        .unwrap()
        .1["description"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(pricing.starts_with("Prices modules"), "{pricing}");
}

/// The schema a `$ref` names, or the schema itself.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(at) => {
            let name = at.trim_start_matches("#/components/schemas/");
            let found = &doc["components"]["schemas"][name];
            assert!(!found.is_null(), "{at} names no schema");
            resolve(doc, found)
        }
        None => schema,
    }
}

/// The members an object schema declares and requires, and whether it takes others;
/// `allOf` parts are merged, as a validator reads them together.
fn object_parts(
    doc: &Value,
    schema: &Value,
) -> (serde_json::Map<String, Value>, BTreeSet<String>, bool) {
    let schema = resolve(doc, schema);
    let mut properties = serde_json::Map::new();
    let mut required = BTreeSet::new();
    // An object with no `additionalProperties` (or `false`) takes no undeclared member here: the
    // example must name only what the type serializes, so a renamed field is caught.
    let mut open = !schema["additionalProperties"].is_null()
        && schema["additionalProperties"] != Value::Bool(false);
    if let Some(parts) = schema["allOf"].as_array() {
        for part in parts {
            let (p, r, o) = object_parts(doc, part);
            properties.extend(p);
            required.extend(r);
            open |= o;
        }
    }
    if let Some(p) = schema["properties"].as_object() {
        properties.extend(p.clone());
    }
    for name in schema["required"].as_array().into_iter().flatten() {
        required.insert(name.as_str().unwrap().to_string());
    }
    (properties, required, open)
}

/// The document's patterns are one character range repeated: `^[A-Z]{3}$`, `^[0-9]{12,19}$`.
fn class_pattern(pattern: &str) -> Option<(char, char, usize, usize)> {
    let rest = pattern.strip_prefix("^[")?.strip_suffix("}$")?;
    let (class, counts) = rest.split_once("]{")?;
    let mut class = class.chars();
    let (low, dash, high) = (class.next()?, class.next()?, class.next()?);
    if dash != '-' || class.next().is_some() {
        return None;
    }
    let (min, max) = match counts.split_once(',') {
        Some((min, max)) => (min.parse().ok()?, max.parse().ok()?),
        None => (counts.parse().ok()?, counts.parse().ok()?),
    };
    Some((low, high, min, max))
}

fn type_fits(name: &str, value: &Value) -> bool {
    match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => true,
    }
}

/// What is wrong with `value` as an instance of `schema` (empty: it fits): required members,
/// undeclared members, types, enum values, formats of timestamps and patterns of codes.
fn misfits(doc: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
    let schema = resolve(doc, schema);
    let mut wrong = Vec::new();
    if let Some(choices) = schema["oneOf"].as_array().or(schema["anyOf"].as_array()) {
        let fitting = choices
            .iter()
            .filter(|c| misfits(doc, c, value, at).is_empty())
            .count();
        if fitting == 0 {
            let why: Vec<String> = choices
                .iter()
                .flat_map(|c| misfits(doc, c, value, at))
                .collect();
            wrong.push(format!("{at}: fits no choice ({})", why.join("; ")));
        }
        return wrong;
    }
    match &schema["type"] {
        Value::String(t) if !type_fits(t, value) => {
            wrong.push(format!("{at}: {value} is not of type {t}"));
            return wrong;
        }
        Value::Array(ts) if !ts.iter().any(|t| type_fits(t.as_str().unwrap(), value)) => {
            wrong.push(format!("{at}: {value} is none of the types {ts:?}"));
            return wrong;
        }
        _ => {}
    }
    if value.is_null() {
        return wrong;
    }
    if let Some(values) = schema["enum"].as_array()
        && !values.contains(value)
    {
        wrong.push(format!("{at}: {value} is not one of {values:?}"));
    }
    if let Some(text) = value.as_str() {
        if schema["format"] == "date-time" && crate::time::Timestamp::parse_rfc3339(text).is_none()
        {
            wrong.push(format!("{at}: {text:?} is not an RFC 3339 timestamp"));
        }
        if let Some(pattern) = schema["pattern"].as_str() {
            let (low, high, min, max) = class_pattern(pattern)
                .unwrap_or_else(|| panic!("{at}: the test does not read the pattern {pattern}"));
            let n = text.chars().count();
            if n < min || n > max || !text.chars().all(|c| (low..=high).contains(&c)) {
                wrong.push(format!("{at}: {text:?} does not match {pattern}"));
            }
        }
    }
    if let Some(items) = value.as_array()
        && !schema["items"].is_null()
    {
        for (i, item) in items.iter().enumerate() {
            wrong.extend(misfits(doc, &schema["items"], item, &format!("{at}/{i}")));
        }
    }
    if let Some(members) = value.as_object() {
        let (properties, required, open) = object_parts(doc, schema);
        if properties.is_empty() && required.is_empty() && schema["allOf"].is_null() {
            return wrong; // a free-form map
        }
        for name in &required {
            if !members.contains_key(name) {
                wrong.push(format!("{at}: the required member {name} is missing"));
            }
        }
        for (name, member) in members {
            match properties.get(name) {
                Some(declared) => {
                    wrong.extend(misfits(doc, declared, member, &format!("{at}/{name}")))
                }
                None if !open => wrong.push(format!("{at}: {name} is not a member of the schema")),
                None => {}
            }
        }
    }
    wrong
}

/// Every `example` in the document's schemas, with the schema that holds it.
fn examples<'a>(schema: &'a Value, at: String, out: &mut Vec<(String, &'a Value, &'a Value)>) {
    match schema {
        Value::Object(members) => {
            if let Some(example) = members.get("example") {
                out.push((at.clone(), schema, example));
            }
            for (name, member) in members {
                if name != "example" {
                    examples(member, format!("{at}/{name}"), out);
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                examples(item, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_example_fits_its_schema() {
    let doc = document();
    let mut found = Vec::new();
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        examples(schema, name.clone(), &mut found);
    }
    let mut wrong = Vec::new();
    for (at, schema, example) in &found {
        wrong.extend(misfits(&doc, schema, example, at));
    }
    assert!(
        wrong.is_empty(),
        "examples that do not fit:\n{}",
        wrong.join("\n")
    );
    // The answers clients see most carry a whole example, not one made of placeholders.
    for name in [
        "MeView",
        "UserView",
        "SessionGrant",
        "SessionView",
        "TokenView",
        "PasskeyView",
        "Org",
        "MyOrg",
        "Member",
        "Invitation",
        "Agreement",
        "Module",
        "Offer",
        "Coupon",
        "PriceCalculation",
        "PriceLine",
        "CheckoutResult",
        "Invoice",
        "InvoiceLine",
        "Payment",
        "Refund",
        "Subscription",
        "AuditEvent",
        "Problem",
    ] {
        assert!(
            doc["components"]["schemas"][name]["example"].is_object(),
            "{name} has no example"
        );
    }
}

#[test]
fn the_example_check_catches_a_renamed_member_and_a_wrong_value() {
    let doc = document();
    let schema = serde_json::json!({"$ref": "#/components/schemas/Invitation"});
    let good = doc["components"]["schemas"]["Invitation"]["example"].clone();
    assert!(misfits(&doc, &schema, &good, "Invitation").is_empty());
    let mut renamed = good.clone();
    let email = renamed.as_object_mut().unwrap().remove("email").unwrap();
    renamed["eMail"] = email;
    let wrong = misfits(&doc, &schema, &renamed, "Invitation").join("\n");
    assert!(
        wrong.contains("email is missing") && wrong.contains("eMail is not a member"),
        "{wrong}"
    );
    let mut bad_role = good;
    bad_role["role"] = "superuser".into();
    assert!(!misfits(&doc, &schema, &bad_role, "Invitation").is_empty());
}
