//! Unit tests of the query language: AST shape, error positions, compiled SQL.

use super::*;
use crate::time::Timestamp;

fn position(text: &str, fields: &'static [Field]) -> usize {
    match parse(text, fields) {
        Ok(expr) => panic!("`{text}` parsed as {expr:?}"),
        Err(e) => e.position,
    }
}

fn users(text: &str) -> usize {
    position(text, USERS)
}

/// A compact rendering of an AST: `id:a` terms, `&[…]` and `|[…]`.
fn shape(expr: &Expr) -> String {
    match expr {
        Expr::Term(t) => {
            let value = match &t.value {
                Value::Text(s) => s.clone(),
                Value::Int(i) => i.to_string(),
                Value::Bool(b) => b.to_string(),
            };
            let neg = if t.negated { "-" } else { "" };
            format!("{neg}{}{}{value}", t.field.name, t.op.symbol())
        }
        Expr::And(items) => format!(
            "&[{}]",
            items.iter().map(shape).collect::<Vec<_>>().join(" ")
        ),
        Expr::Or(items) => format!(
            "|[{}]",
            items.iter().map(shape).collect::<Vec<_>>().join(" ")
        ),
    }
}

fn ast(text: &str) -> String {
    shape(&parse(text, USERS).unwrap_or_else(|e| panic!("`{text}`: {e}")))
}

#[test]
fn query_comparison_after_comparison_fails_at_the_second_operator() {
    assert_eq!(position("total>>1", INVOICES), 6);
    assert_eq!(position("total<<1", INVOICES), 6);
    assert_eq!(position("total>=>1", INVOICES), 7);
}

#[test]
fn query_and_binds_tighter_than_or() {
    assert_eq!(ast("id:a OR id:b AND id:c"), "|[id:a &[id:b id:c]]");
    assert_eq!(ast("id:a AND id:b OR id:c"), "|[&[id:a id:b] id:c]");
    assert_eq!(
        ast("id:a AND id:b OR id:c AND id:d"),
        "|[&[id:a id:b] &[id:c id:d]]"
    );
    assert_eq!(ast("(id:a OR id:b) AND id:c"), "&[|[id:a id:b] id:c]");
    assert_eq!(ast("id:a AND (id:b AND id:c)"), "&[id:a &[id:b id:c]]");
    assert_eq!(ast(" \t( id:a )\n"), "id:a");
    assert_eq!(ast("(id:a)AND(id:b)"), "&[id:a id:b]");
    assert_eq!(ast("id:a OR(id:b)"), "|[id:a id:b]");
    assert_eq!(ast("-id:a"), "-id:a");
    assert_eq!(ast("banned:true"), "banned:true");
    assert_eq!(
        ast("createdAt>=2026-01-31"),
        format!(
            "createdAt>={}",
            Timestamp::parse_date("2026-01-31").unwrap().micros()
        )
    );
}

#[test]
fn query_unknown_fields_fail_at_their_name() {
    assert_eq!(users("nope:1"), 0);
    assert_eq!(users("email:a AND -nope:1"), 13);
    assert_eq!(users("Email:a"), 0);
    assert_eq!(position("email:a", AUDIT_EVENTS), 0);
    assert_eq!(users("AND:1"), 0);
}

#[test]
fn query_values_that_do_not_fit_fail_at_the_value() {
    assert_eq!(users("createdAt>2026-13-01"), 10);
    assert_eq!(users("createdAt>=\"2026-02-30\""), 11);
    assert_eq!(users("createdAt:yesterday"), 10);
    assert_eq!(users("banned:yes"), 7);
    assert_eq!(position("status:PAID", INVOICES), 7);
    assert_eq!(position("status:pending", INVOICES), 7);
    assert_eq!(position("total:1.5", INVOICES), 6);
    assert_eq!(position("total:+1", INVOICES), 6);
    assert!(parse("total>=-5 AND currency:EUR", INVOICES).is_ok());
    assert!(parse("status:past_due AND moduleId:mod_1", SUBSCRIPTIONS).is_ok());
}

#[test]
fn query_operators_a_field_does_not_take_fail_at_the_operator() {
    assert_eq!(users("email>a"), 5);
    assert_eq!(users("id<=a"), 2);
    assert_eq!(users("banned>true"), 6);
    assert_eq!(position("status>open", INVOICES), 6);
    assert_eq!(users("-createdAt>2026-01-01"), 10);
    assert_eq!(users("email=a"), 5);
    assert_eq!(users("email"), 5);
    assert_eq!(users("email a"), 5);
}

#[test]
fn query_unbalanced_parentheses() {
    assert_eq!(users("(email:a"), 8);
    assert_eq!(users("((email:a)"), 10);
    assert_eq!(users("email:a)"), 7);
    assert_eq!(users("(email:a))"), 9);
    assert_eq!(users("(email:a) )"), 10);
    assert_eq!(users(")"), 0);
    assert_eq!(users("()"), 1);
    assert_eq!(users("(email:a id:b)"), 9);
}

#[test]
fn query_terms_must_be_joined() {
    assert_eq!(users("email:a id:b"), 8);
    assert_eq!(users("(email:a)(id:b)"), 9);
    assert_eq!(users("(email:a) id:b"), 10);
    assert_eq!(users("email:a and id:b"), 8);
    assert_eq!(users("email:a ANDid:b"), 11);
    assert_eq!(users("email:a AXD id:b"), 9);
    assert_eq!(users("email:a ORDER id:b"), 10);
    assert_eq!(users("email:a\"b\" AND id:b"), 7);
    assert_eq!(users("email:\"a\"AND id:b"), 9);
    assert_eq!(users("email:a>b"), 7);
    assert_eq!(users("email:a AND AND id:b"), 12);
    assert_eq!(users("email:a AND -(id:b)"), 13);
}

#[test]
fn query_unexpected_end_is_the_length() {
    assert_eq!(users(""), 0);
    assert_eq!(users("   "), 3);
    assert_eq!(users("email:"), 6);
    assert_eq!(users("email:a OR"), 10);
    assert_eq!(users("email:a AND "), 12);
    assert_eq!(users("email:a AN"), 10);
    assert_eq!(users("-"), 1);
    assert_eq!(users("id:\"abc"), 7);
    assert_eq!(users("id:\"abc\\"), 8);
}

#[test]
fn query_quoting() {
    assert_eq!(ast(r#"id:"a \"b\" \\ c""#), r#"id:a "b" \ c"#);
    assert_eq!(ast(r#"id:"""#), "id:");
    assert_eq!(ast(r#"id:"x(y) AND z""#), "id:x(y) AND z");
    assert_eq!(users(r#"id:"a\n""#), 6);
    assert_eq!(users(r#"id:"x"y"#), 6);
    assert_eq!(users(r#"id:a"b""#), 4);
    assert_eq!(users("id: a"), 3);
    assert_eq!(users("id:)"), 3);
    assert_eq!(ast("email:Alice@Example.COM"), "email:alice@example.com");
    assert_eq!(ast("id:a:b=c"), "id:a:b=c");
}

#[test]
fn query_positions_count_characters_not_bytes() {
    assert_eq!(users("id:\"é\" nope:1"), 7);
    assert_eq!(users("id:éé nope:1"), 6);
    assert_eq!(users("id:é>"), 4);
}

#[test]
fn query_limits() {
    let terms = |n: usize| vec!["id:x"; n].join(" AND ");
    assert!(parse(&terms(20), USERS).is_ok());
    assert_eq!(users(&terms(21)), 20 * 9);
    assert_eq!(users(&terms(30)), 20 * 9);
    assert_eq!(
        users(&format!("{} OR -id:y", terms(20))),
        terms(20).len() + 4
    );

    let nested = |n: usize| format!("{}id:x{}", "(".repeat(n), ")".repeat(n));
    assert!(parse(&nested(5), USERS).is_ok());
    assert_eq!(users(&nested(6)), 5);
    assert_eq!(users(&nested(9)), 5);
    let chain = "id:a OR (id:b OR (id:c OR (id:d OR (id:e OR (id:f OR (id:g))))))";
    assert_eq!(users(chain), chain.match_indices('(').nth(5).unwrap().0);
    // Siblings are not nesting.
    let siblings = vec![nested(5); 4].join(" OR ");
    assert!(parse(&siblings, USERS).is_ok());

    let long = |n: usize| format!("id:{}", "x".repeat(n - 3));
    assert!(parse(&long(500), USERS).is_ok());
    assert_eq!(users(&long(501)), 500);
    assert_eq!(users(&"(".repeat(600)), 500);
    // 500 characters of two bytes each are still 500 characters.
    assert!(parse(&format!("id:{}", "é".repeat(497)), USERS).is_ok());
    // A syntax error before the 21st term wins.
    assert_eq!(users(&format!("id:a id:b AND {}", terms(25))), 5);
}

#[test]
fn query_compiles_to_placeholders_and_binds() {
    let expr = parse(
        "email:Alice@Example.com AND (createdAt>=2026-01-31 OR -id:x) AND banned:true",
        USERS,
    )
    .unwrap();
    let filter = compile(&expr, 3);
    assert_eq!(
        filter.sql,
        "(email = $3 AND (created_at >= $4 OR (id IS NULL OR id <> $5)) AND banned_at IS NOT NULL)"
    );
    let midnight = Timestamp::parse_date("2026-01-31").unwrap().micros();
    assert_eq!(
        filter.binds,
        vec![
            Bind::Text("alice@example.com".into()),
            Bind::Int(midnight),
            Bind::Text("x".into())
        ]
    );
    assert_eq!(filter.next_placeholder(), 6);
    assert_eq!(filter.where_clause(), format!(" WHERE ({})", filter.sql));

    let sql = |q: &str| compile(&parse(q, USERS).unwrap(), 1).sql;
    assert_eq!(sql("banned:false"), "banned_at IS NULL");
    assert_eq!(sql("-banned:true"), "banned_at IS NULL");
    assert_eq!(sql("-banned:false"), "banned_at IS NOT NULL");
    assert_eq!(sql("createdAt<2026-01-01"), "created_at < $1");

    let none = filter_for(Some("  \t"));
    assert!(none.is_empty());
    assert_eq!(
        (none.where_clause(), none.and_clause()),
        (String::new(), String::new())
    );
    assert_eq!(filter_for(None).next_placeholder(), 1);
}

fn filter_for(query: Option<&str>) -> Filter {
    super::filter(query, USERS, 1).unwrap()
}

#[test]
fn query_errors_are_400015_with_position() {
    let e = super::filter(Some("email:a id:b"), USERS, 1).unwrap_err();
    assert_eq!(e.code.code(), 400015);
    assert_eq!(e.extensions["position"], 8);
    assert!(e.detail.contains("position 8"), "{}", e.detail);
}

#[test]
fn query_field_declarations_are_sound() {
    for fields in [USERS, AUDIT_EVENTS, INVOICES, SUBSCRIPTIONS, ORGS] {
        for (i, f) in fields.iter().enumerate() {
            assert!(
                f.name.chars().all(|c| c.is_ascii_alphanumeric()),
                "{}",
                f.name
            );
            assert!(
                f.column
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || matches!(c, '_' | '.')),
                "{}",
                f.column
            );
            assert!(fields[..i].iter().all(|g| g.name != f.name));
        }
    }
}
