//! The query language (7) on `GET /v1/users` and `GET /v1/audit-events`: filters, their
//! combinations, paging over a filter, and 400015 with `position`.

use charter::time::Timestamp;
use serde_json::{Value, json};

use crate::support::TestApp;

const DAY: i64 = 86_400;

fn encode(query: &str) -> String {
    form_urlencoded::byte_serialize(query.as_bytes()).collect()
}

/// The ids of a filtered list (newest first) and its total.
async fn ids(app: &TestApp, token: &str, list: &str, query: &str) -> (Vec<String>, i64) {
    let path = format!("{list}?limit=100&query={}", encode(query));
    let res = app.get_as(token, &path).await;
    let body = res.assert_status(200);
    let ids = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_string())
        .collect();
    (ids, body["total"].as_i64().unwrap())
}

async fn users(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    let (ids, total) = ids(app, token, "/v1/users", query).await;
    assert_eq!(total, ids.len() as i64, "{query}");
    ids
}

async fn create_user(app: &TestApp, token: &str, id: &str, email: &str) -> Value {
    let res = app
        .post_as(token, "/v1/users", &json!({"id": id, "email": email}))
        .await;
    res.assert_status(201).clone()
}

#[tokio::test]
async fn users_are_filtered_by_email_creation_time_and_ban() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let t = admin.token.as_str();
    let alice = create_user(&app, t, "alice", "Alice@Example.com").await;
    app.advance(DAY).await;
    let bob = create_user(&app, t, "bob", "bob@example.com").await;
    app.advance(DAY).await;
    create_user(&app, t, "carol", "carol@example.com").await;
    app.post_as(t, "/v1/users/bob/ban", &json!({"reason": "spam"}))
        .await
        .assert_status(200);
    let admin_id = admin.id.as_str();

    // E-mail addresses compare lower-cased, bare or quoted.
    assert_eq!(users(&app, t, "email:ALICE@example.com").await, ["alice"]);
    assert_eq!(users(&app, t, "email:\"Bob@Example.com\"").await, ["bob"]);
    assert_eq!(users(&app, t, "email:nobody@example.com").await, [""; 0]);
    assert_eq!(users(&app, t, "id:carol").await, ["carol"]);

    // `banned` is whether a ban is in force, read right after the write.
    assert_eq!(users(&app, t, "banned:true").await, ["bob"]);
    assert_eq!(
        users(&app, t, "banned:false").await,
        ["carol", "alice", admin_id]
    );
    assert_eq!(
        users(&app, t, "-banned:true").await,
        ["carol", "alice", admin_id]
    );

    // Times: RFC 3339 (any offset) or a date, which is its midnight UTC.
    let bob_created = bob["createdAt"].as_str().unwrap();
    assert_eq!(
        users(&app, t, &format!("createdAt>={bob_created}")).await,
        ["carol", "bob"]
    );
    assert_eq!(
        users(&app, t, &format!("createdAt<\"{bob_created}\"")).await,
        ["alice", admin_id]
    );
    assert_eq!(
        users(&app, t, &format!("createdAt:{bob_created}")).await,
        ["bob"]
    );
    let alice_at = Timestamp::parse_rfc3339(alice["createdAt"].as_str().unwrap()).unwrap();
    let day_us = DAY * 1_000_000;
    let next_midnight =
        Timestamp::from_micros(alice_at.micros() - alice_at.micros().rem_euclid(day_us) + day_us);
    let next_day = &next_midnight.to_rfc3339()[..10];
    assert_eq!(
        users(&app, t, &format!("createdAt>={next_day}")).await,
        ["carol", "bob"]
    );
    assert_eq!(
        users(&app, t, &format!("createdAt<{next_day}")).await,
        ["alice", admin_id]
    );
    let shifted = next_midnight
        .to_rfc3339()
        .replace("T00:00:00Z", "T01:00:00+01:00");
    assert_eq!(
        users(&app, t, &format!("createdAt<{shifted}")).await,
        ["alice", admin_id]
    );

    // Combinations: AND binds tighter than OR; parentheses group.
    assert_eq!(
        users(&app, t, "email:alice@example.com OR banned:true").await,
        ["bob", "alice"]
    );
    assert_eq!(
        users(&app, t, "-email:alice@example.com AND banned:false").await,
        ["carol", admin_id]
    );
    assert_eq!(
        users(
            &app,
            t,
            &format!("id:carol OR id:bob AND createdAt<{bob_created}")
        )
        .await,
        ["carol"]
    );
    assert_eq!(
        users(
            &app,
            t,
            &format!("(id:carol OR id:bob) AND createdAt>={bob_created} AND -banned:true")
        )
        .await,
        ["carol"]
    );

    // Paging applies to the filtered rows; `total` counts them all.
    let res = app
        .get_as(
            t,
            &format!("/v1/users?from=1&limit=1&query={}", encode("banned:false")),
        )
        .await;
    let page = res.assert_status(200);
    assert_eq!(page["total"], 3);
    assert_eq!(page["items"][0]["id"], "alice");
    let res = app
        .get_as(
            t,
            &format!("/v1/users?limit=0&query={}", encode("banned:false")),
        )
        .await;
    assert_eq!(res.assert_status(200)["total"], 3);

    // Read-after-write: lifting the ban shows at once.
    app.delete_as(t, "/v1/users/bob/ban")
        .await
        .assert_status(204);
    assert_eq!(users(&app, t, "banned:true").await, [""; 0]);
    // A blank query is no query.
    assert_eq!(users(&app, t, "  ").await.len(), 4);
}

#[tokio::test]
async fn audit_events_are_filtered_by_action_actor_subject_and_time() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let t = admin.token.as_str();
    let member = app.sign_in("member@example.com").await;
    create_user(&app, t, "alice", "alice@example.com").await;
    app.advance(60).await;
    let ban = app
        .post_as(
            t,
            &format!("/v1/users/{}/ban", member.id),
            &json!({"reason": "test"}),
        )
        .await;
    ban.assert_status(200);

    let res = app.get_as(t, "/v1/audit-events?limit=100").await;
    let all = res.assert_status(200)["items"].as_array().unwrap().clone();
    assert!(all.len() >= 5, "{all:?}");
    let expect = |keep: &dyn Fn(&Value) -> bool| -> Vec<String> {
        all.iter()
            .filter(|e| keep(e))
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect()
    };
    let events = |query: String| {
        let app = &app;
        async move {
            let (ids, total) = ids(app, t, "/v1/audit-events", &query).await;
            assert_eq!(total, ids.len() as i64, "{query}");
            ids
        }
    };

    let banned = events("action:user.banned".into()).await;
    assert_eq!(banned, expect(&|e| e["action"] == "user.banned"));
    assert_eq!(banned.len(), 1);
    let by_admin = events(format!("actor:{}", admin.id)).await;
    assert_eq!(by_admin, expect(&|e| e["actor"] == admin.id.as_str()));
    assert!(by_admin.len() >= 2);
    // A negation also keeps events without an actor (anonymous sign-in steps).
    let not_admin = events(format!("-actor:{}", admin.id)).await;
    assert_eq!(not_admin, expect(&|e| e["actor"] != admin.id.as_str()));
    assert!(all.iter().any(|e| e["actor"].is_null()));
    assert_eq!(not_admin.len() + by_admin.len(), all.len());

    assert_eq!(
        events(format!("action:user.banned AND actor:{}", admin.id)).await,
        banned
    );
    assert_eq!(
        events(format!("action:user.banned AND -actor:{}", admin.id)).await,
        [""; 0]
    );
    assert_eq!(
        events("action:user.created OR action:user.banned".into()).await,
        expect(&|e| e["action"] == "user.created" || e["action"] == "user.banned")
    );
    assert_eq!(
        events(format!("subject:{} AND -action:user.banned", member.id)).await,
        expect(&|e| e["subject"] == member.id.as_str() && e["action"] != "user.banned")
    );
    let ban_at = all.iter().find(|e| e["action"] == "user.banned").unwrap()["createdAt"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(events(format!("createdAt>={ban_at}")).await, banned);
    assert_eq!(
        events(format!("createdAt<{ban_at}")).await,
        expect(&|e| e["action"] != "user.banned")
    );
}

#[tokio::test]
async fn malformed_queries_answer_400015_with_the_position() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let t = admin.token.as_str();
    let terms = vec!["banned:true"; 21].join(" AND ");
    let nested = format!("{}banned:true{}", "(".repeat(6), ")".repeat(6));
    let long = format!("email:{}", "a".repeat(495));
    let cases: &[(&str, &str, usize)] = &[
        ("/v1/users", "createdAt>>2026-01-01", 10),
        ("/v1/users", "nope:1", 0),
        ("/v1/users", "email:a@b.c AND -nope:1", 17),
        ("/v1/users", "email:a@b.c id:x", 12),
        ("/v1/users", "email:a@b.c and id:x", 12),
        ("/v1/users", "createdAt>2026-13-01", 10),
        ("/v1/users", "createdAt:yesterday", 10),
        ("/v1/users", "banned:maybe", 7),
        ("/v1/users", "email>a", 5),
        ("/v1/users", "-createdAt>2026-01-01", 10),
        ("/v1/users", "(email:a@b.c", 12),
        ("/v1/users", "email:a@b.c)", 11),
        ("/v1/users", "email:a@b.c OR", 14),
        ("/v1/users", "id:\"unterminated", 16),
        ("/v1/users", "id:\"bad\\escape\"", 8),
        ("/v1/users", "id:\"é\" x:1", 7),
        ("/v1/users", &terms, 20 * 16),
        ("/v1/users", &nested, 5),
        ("/v1/users", &long, 500),
        ("/v1/audit-events", "total>>1", 0),
        ("/v1/audit-events", "actor<x", 5),
        ("/v1/audit-events", "action:a OR", 11),
        ("/v1/audit-events", "action:a action:b", 9),
    ];
    for (list, query, position) in cases {
        let res = app
            .get_as(t, &format!("{list}?query={}", encode(query)))
            .await;
        let problem = res.assert_problem(400015);
        assert_eq!(problem["position"], *position, "{list} {query}: {problem}");
    }
    // 500 characters are allowed.
    assert_eq!(long.chars().count(), 501);
    users(&app, t, &long[..500]).await;

    // Parameters are checked in order: `from`, `limit`, then `query`.
    app.get_as(t, "/v1/users?from=-1&query=nope:1")
        .await
        .assert_problem(400003);
    app.get_as(t, "/v1/users?limit=101&query=nope:1")
        .await
        .assert_problem(400005);
    // Access is checked before parameters.
    let member = app.sign_in("member@example.com").await;
    app.get_as(&member.token, "/v1/users?query=nope:1")
        .await
        .assert_problem(403001);
    app.get_as(&member.token, "/v1/audit-events?query=nope:1")
        .await
        .assert_problem(403001);
}
