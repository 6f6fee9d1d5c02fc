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
