//! Differential test: random well-formed queries over users, compiled and run on a real
//! database (SQLite; PostgreSQL too when `CHARTER_TEST_DATABASE_URL` is set), select exactly
//! the rows that an in-memory evaluator of the same AST selects.

use super::property::{Pool, Rng, random_query};
use super::*;
use crate::db::Db;
use crate::time::Timestamp;

/// The users' fields, plus a nullable text column so that negation over NULL is exercised.
const USERS_AND_NAME: &[Field] = &[
    USERS[0],
    USERS[1],
    USERS[2],
    USERS[3],
    Field {
        name: "displayName",
        column: "display_name",
        kind: FieldKind::Text,
    },
];

/// A row of `users` as the evaluator sees it.
struct UserRow {
    id: String,
    email: String,
    display_name: Option<String>,
    created_at: i64,
    banned_at: Option<i64>,
}

enum Cell<'a> {
    Text(&'a str),
    Int(i64),
}

/// The meaning of a query, evaluated in memory: a term on an absent (NULL) value is false, and
/// its negation true.
fn eval(expr: &Expr, row: &UserRow) -> bool {
    match expr {
        Expr::And(items) => items.iter().all(|e| eval(e, row)),
        Expr::Or(items) => items.iter().any(|e| eval(e, row)),
        Expr::Term(term) => {
            let cell = match term.field.name {
                "id" => Some(Cell::Text(&row.id)),
                "email" => Some(Cell::Text(&row.email)),
                "displayName" => row.display_name.as_deref().map(Cell::Text),
                "createdAt" => Some(Cell::Int(row.created_at)),
                "banned" => row.banned_at.map(Cell::Int),
                other => panic!("no column for {other}"),
            };
            if let (FieldKind::IsSet, Value::Bool(set)) = (&term.field.kind, &term.value) {
                return (cell.is_some() == *set) != term.negated;
            }
            let Some(cell) = cell else {
                return term.negated;
            };
            let holds = match (cell, &term.value) {
                (Cell::Text(a), Value::Text(b)) => match term.op {
                    Op::Eq => a == b,
                    op => panic!("{op:?} on text"),
                },
                (Cell::Int(a), Value::Int(b)) => match term.op {
                    Op::Eq => a == *b,
                    Op::Gt => a > *b,
                    Op::Ge => a >= *b,
                    Op::Lt => a < *b,
                    Op::Le => a <= *b,
                },
                _ => panic!("value of the wrong type in {term:?}"),
            };
            holds != term.negated
        }
    }
}

fn sample_users() -> Vec<UserRow> {
    let start = Timestamp::parse_date("2026-01-10").unwrap().micros();
    let mut ids: Vec<String> = (0..30).map(|i| format!("u{i:02}")).collect();
    ids.extend(["we\"ird", "back\\slash", "sp ace", "(paren)", "é-ü", "x"].map(String::from));
    ids.iter()
        .enumerate()
        .map(|(i, id)| UserRow {
            id: id.clone(),
            email: format!("user{}@{}.example.com", i, ["a", "b", "c"][i % 3]),
            display_name: [None, Some("Ann"), Some("Bob"), None, Some("")][i % 5].map(String::from),
            // Six hours apart, with some users sharing a time; every fourth is at midnight.
            created_at: start + (i as i64 / 2) * 6 * 3_600_000_000,
            banned_at: (i % 3 == 0).then_some(start + i as i64),
        })
        .collect()
}

#[tokio::test]
async fn query_sql_on_sqlite_selects_what_the_evaluator_selects() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("q.db").display());
    let db = Db::connect(&url, 1).await.unwrap();
    compare(&db, 0x5EED_0003).await;
    db.close().await;
}

/// The same on PostgreSQL, in a database of its own, when `CHARTER_TEST_DATABASE_URL` names a
/// server (as in `.ci/run`); otherwise it passes without doing anything.
#[tokio::test]
async fn query_sql_on_postgres_selects_what_the_evaluator_selects() {
    let Some(admin_url) = std::env::var("CHARTER_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        return;
    };
    let name = format!(
        "charter_t_q{}",
        crate::crypto::new_id("x")
            .trim_start_matches("x_")
            .to_lowercase()
    );
    let admin = Db::connect(&admin_url, 1).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(admin.pool())
        .await
        .unwrap();
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    let db = Db::connect(&format!("{base}/{name}"), 1).await.unwrap();
    let outcome = tokio::spawn({
        let db = db.clone();
        async move { compare(&db, 0x5EED_0004).await }
    })
    .await;
    db.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(admin.pool())
    .await
    .unwrap();
    admin.close().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Migrates `db`, loads the sample users and checks 600 random queries against the evaluator.
async fn compare(db: &Db, seed: u64) {
    db.migrate().await.unwrap();
    assert_eq!(&USERS_AND_NAME[..USERS.len()], USERS);
    let rows = sample_users();
    for row in &rows {
        sqlx::query(
            "INSERT INTO users (id, email, display_name, created_at, banned_at, webauthn_handle)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(row.id.clone())
        .bind(row.email.clone())
        .bind(row.display_name.clone())
        .bind(row.created_at)
        .bind(row.banned_at)
        .bind(format!("handle-{}", row.id))
        .execute(db.pool())
        .await
        .unwrap();
    }
    let mut texts: Vec<String> = rows
        .iter()
        .flat_map(|r| [r.id.clone(), r.email.clone()])
        .collect();
    texts.extend(["nobody", "Ann", "Bob", "", "Ann", "Bob"].map(String::from));
    let pool = Pool {
        texts,
        times: rows.iter().map(|r| r.created_at).collect(),
    };

    let mut rng = Rng::new(seed);
    let mut proper_subsets = 0;
    for _ in 0..600 {
        let text = random_query(&mut rng, USERS_AND_NAME, &pool);
        if text.chars().count() > MAX_CHARS {
            continue;
        }
        let expr = parse(&text, USERS_AND_NAME).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        let mut expected: Vec<String> = rows
            .iter()
            .filter(|r| eval(&expr, r))
            .map(|r| r.id.clone())
            .collect();
        expected.sort();

        let filter = compile(&expr, 1);
        let sql = format!("SELECT id FROM users{}", filter.where_clause());
        let mut got: Vec<String> = filter
            .bind_scalar(sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone())))
            .fetch_all(db.pool())
            .await
            .unwrap_or_else(|e| panic!("{text:?} → {sql}: {e}"));
        got.sort();
        assert_eq!(got, expected, "{text:?} → {sql} {:?}", filter.binds);

        let count_sql = format!("SELECT COUNT(*) FROM users{}", filter.where_clause());
        let count: i64 = filter
            .bind_scalar(sqlx::query_scalar(sqlx::AssertSqlSafe(count_sql)))
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(count as usize, expected.len(), "{text:?}");
        proper_subsets += (!expected.is_empty() && expected.len() < rows.len()) as usize;
    }
    // The generator must select interesting subsets, not just all or nothing.
    assert!(
        proper_subsets > 100,
        "only {proper_subsets} queries selected a proper subset"
    );
}
