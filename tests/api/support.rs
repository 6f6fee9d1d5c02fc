//! The test harness: a fresh database (a temporary SQLite file, or a new PostgreSQL database when
//! `CHARTER_TEST_DATABASE_URL` is set), the app served in-process on a real port, and a small
//! HTTP client that sees what any client sees.

#![allow(dead_code)]

use std::time::Duration;

use charter::app::AppState;
use charter::config::Config;
use reqwest::Method;
use serde_json::Value;

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub database_url: String,
    pub dir: tempfile::TempDir,
    pg_database: Option<(String, String)>,
    server: tokio::task::JoinHandle<()>,
}

pub struct Res {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Res {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the exact problem shape of section 3 for `code`.
    #[track_caller]
    pub fn assert_problem(&self, code: u32) -> &Value {
        assert_eq!(
            self.json["code"], code,
            "expected {code}, got {} {}",
            self.status, self.text
        );
        assert_eq!(self.status as u32, code / 1000, "status of {code}");
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.text
        );
        assert_eq!(self.json["status"], code / 1000);
        assert_eq!(self.json["type"], format!("/v1/errors/{code}"));
        assert!(self.json["title"].as_str().is_some_and(|t| !t.is_empty()));
        assert!(self.json["detail"].as_str().is_some());
        let request_id = self.json["requestId"].as_str().expect("requestId");
        assert_eq!(Some(request_id), self.header("x-request-id"));
        &self.json
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "body: {}", self.text);
        &self.json
    }
}

pub struct Req<'a> {
    app: &'a TestApp,
    builder: reqwest::RequestBuilder,
}

impl Req<'_> {
    pub fn token(mut self, token: &str) -> Self {
        self.builder = self.builder.bearer_auth(token);
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.builder = self.builder.header(name, value);
        self
    }

    pub fn json(mut self, body: &Value) -> Self {
        crate::trace_log::record_request(body);
        self.builder = self.builder.json(body);
        self
    }

    pub fn body(mut self, content_type: &str, body: impl Into<reqwest::Body>) -> Self {
        self.builder = self.builder.header("content-type", content_type).body(body);
        self
    }

    pub async fn send(self) -> Res {
        let _ = self.app;
        let response = self.builder.send().await.expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        if let Some(id) = headers.get("x-request-id").and_then(|v| v.to_str().ok()) {
            crate::trace_log::record("request", id);
        }
        crate::trace_log::record_response(&json);
        Res {
            status,
            headers,
            text,
            json,
        }
    }
}

fn random_suffix() -> String {
    charter::crypto::new_id("t")
        .trim_start_matches("t_")
        .to_string()
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}, axum::Router::new()).await
    }

    pub async fn spawn_configured(configure: impl FnOnce(&mut Config)) -> TestApp {
        Self::spawn_with(configure, axum::Router::new()).await
    }

    /// The database URL for a fresh database, and the PostgreSQL admin URL and name to drop.
    pub async fn fresh_database(dir: &tempfile::TempDir) -> (String, Option<(String, String)>) {
        match std::env::var("CHARTER_TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
        {
            Some(admin_url) => {
                let name = format!("charter_t_{}", random_suffix());
                let admin = charter::db::Db::connect(&admin_url, 1)
                    .await
                    .expect("connect to CHARTER_TEST_DATABASE_URL");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(admin.pool())
                    .await
                    .expect("create test database");
                admin.close().await;
                let (base, _) = admin_url.rsplit_once('/').expect("database URL has a path");
                (format!("{base}/{name}"), Some((admin_url.clone(), name)))
            }
            None => (
                format!("sqlite://{}", dir.path().join("charter.db").display()),
                None,
            ),
        }
    }

    pub async fn spawn_with(
        configure: impl FnOnce(&mut Config),
        extra: axum::Router<AppState>,
    ) -> TestApp {
        crate::trace_log::install();
        let dir = tempfile::tempdir().expect("temp dir");
        let (database_url, pg_database) = Self::fresh_database(&dir).await;
        let mut config = Config {
            database_url: database_url.clone(),
            dev: true,
            mail: format!("file:{}", dir.path().join("outbox.jsonl").display()),
            db_max_connections: 4,
            secret_key_file: dir.path().join("secret.key").display().to_string(),
            // The suite signs in hundreds of times from one address; the limit has its own test.
            auth_starts_per_minute: 0,
            ..Config::default()
        };
        configure(&mut config);
        let state = AppState::start(config).await.expect("app starts");
        record_server_keys(&state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = charter::app::router_with(state.clone(), extra);
        let serve_state = state.clone();
        let server = tokio::spawn(async move {
            let _ = charter::app::serve_router(serve_state, app, listener).await;
        });
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        TestApp {
            base,
            client,
            state,
            database_url,
            dir,
            pg_database,
            server,
        }
    }

    pub fn req(&self, method: Method, path: &str) -> Req<'_> {
        Req {
            app: self,
            builder: self
                .client
                .request(method, format!("{}{}", self.base, path)),
        }
    }

    pub async fn get(&self, path: &str) -> Res {
        self.req(Method::GET, path).send().await
    }

    pub async fn get_as(&self, token: &str, path: &str) -> Res {
        self.req(Method::GET, path).token(token).send().await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Res {
        self.req(Method::POST, path).json(body).send().await
    }

    pub async fn post_as(&self, token: &str, path: &str, body: &Value) -> Res {
        self.req(Method::POST, path)
            .token(token)
            .json(body)
            .send()
            .await
    }

    /// Moves the shared test clock forward.
    pub async fn advance(&self, seconds: i64) {
        self.post(
            "/v1/dev/clock",
            &serde_json::json!({ "advanceSeconds": seconds }),
        )
        .await
        .assert_status(200);
    }

    /// A platform administrator's all-scopes access token, as `charter bootstrap-admin` makes.
    pub async fn admin_token(&self, email: &str) -> (String, String) {
        let email = charter::identity::users::Email::parse(email).unwrap();
        let (user_id, token) =
            charter::identity::users::bootstrap_admin(&self.state.db, &self.state.clock, &email)
                .await
                .unwrap();
        crate::trace_log::record(crate::trace_log::token_kind(&token), &token);
        (user_id, token)
    }
}

/// The server's own secrets: the server key (the `secret_key` setting or its file) and the
/// idempotency key derived from it.
fn record_server_keys(state: &AppState) {
    crate::trace_log::record("key", &hex::encode(state.key.idempotency_key()));
    crate::trace_log::record("key", state.config.secret_key.trim());
    if let Ok(key) = std::fs::read_to_string(&state.config.secret_key_file) {
        crate::trace_log::record("key", key.trim());
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
        // Every code mailed to the file outbox, read or not by the test.
        if crate::trace_log::is_active()
            && let Ok(text) = std::fs::read_to_string(self.dir.path().join("outbox.jsonl"))
        {
            for mail in text.lines().filter_map(|l| serde_json::from_str(l).ok()) {
                crate::trace_log::record_mail(&mail);
            }
        }
        if let Some((admin_url, name)) = self.pg_database.take() {
            // Drop the database from a thread of its own: Drop cannot await.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async move {
                    if let Ok(admin) = charter::db::Db::connect(&admin_url, 1).await {
                        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .execute(admin.pool())
                        .await;
                        admin.close().await;
                    }
                });
            })
            .join();
        }
    }
}

/// A signed-in user as tests hold it.
#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub email: String,
    pub token: String,
}

pub const ORIGIN: &str = "http://localhost:8080";

impl TestApp {
    /// Every message in the file outbox, oldest first.
    pub fn outbox(&self) -> Vec<Value> {
        let text =
            std::fs::read_to_string(self.dir.path().join("outbox.jsonl")).unwrap_or_default();
        let mails: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("outbox line is JSON"))
            .collect();
        mails.iter().for_each(crate::trace_log::record_mail);
        mails
    }

    /// The newest message to `to` made from `template`.
    pub fn last_mail(&self, to: &str, template: &str) -> Value {
        self.outbox()
            .into_iter()
            .rev()
            .find(|m| m["to"] == to && m["template"] == template)
            .unwrap_or_else(|| panic!("no {template} mail to {to}"))
    }

    pub fn last_code(&self, to: &str, template: &str) -> String {
        self.last_mail(to, template)["data"]["code"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Starts an e-mail sign-in; returns the challenge id and the mailed code.
    pub async fn start_email_sign_in(&self, email: &str) -> (String, String) {
        let res = self
            .post(
                "/v1/auth/email-otp/start",
                &serde_json::json!({ "email": email }),
            )
            .await;
        let challenge = res.assert_status(202)["challengeId"]
            .as_str()
            .unwrap()
            .to_string();
        (
            challenge,
            self.last_code(&email.trim().to_lowercase(), "sign-in-code"),
        )
    }

    pub async fn verify_code(&self, challenge: &str, code: &str) -> Res {
        self.post(
            "/v1/auth/email-otp/verify",
            &serde_json::json!({ "challengeId": challenge, "code": code }),
        )
        .await
    }

    /// Signs in (signing up the first time) with an e-mail code.
    pub async fn sign_in(&self, email: &str) -> User {
        let (challenge, code) = self.start_email_sign_in(email).await;
        let res = self.verify_code(&challenge, &code).await;
        let body = res.assert_status(200);
        User {
            id: body["user"]["id"].as_str().unwrap().to_string(),
            email: body["user"]["email"].as_str().unwrap().to_string(),
            token: body["sessionToken"].as_str().unwrap().to_string(),
        }
    }

    /// An administrator with a session token (bootstrapped, then signed in by e-mail).
    pub async fn admin(&self) -> User {
        self.admin_token("admin@example.com").await;
        self.sign_in("admin@example.com").await
    }

    /// Elevates a session of a user without passkeys with a mailed code.
    pub async fn elevate_by_email(&self, user: &User) {
        let res = self
            .post_as(
                &user.token,
                "/v1/auth/elevate/start",
                &serde_json::json!({ "method": "email-otp" }),
            )
            .await;
        let challenge = res.assert_status(200)["challengeId"]
            .as_str()
            .unwrap()
            .to_string();
        let code = self.last_code(&user.email, "elevation-code");
        let res = self
            .post_as(
                &user.token,
                "/v1/auth/elevate/finish",
                &serde_json::json!({ "challengeId": challenge, "code": code }),
            )
            .await;
        res.assert_status(200);
    }

    pub async fn patch_as(&self, token: &str, path: &str, body: &Value) -> Res {
        self.req(Method::PATCH, path)
            .token(token)
            .json(body)
            .send()
            .await
    }

    pub async fn delete_as(&self, token: &str, path: &str) -> Res {
        self.req(Method::DELETE, path).token(token).send().await
    }

    /// Creates an access token with `scopes` for a session (elevating it first).
    pub async fn access_token(&self, user: &User, scopes: &[&str]) -> String {
        let body = serde_json::json!({ "name": "test", "scopes": scopes });
        let mut res = self.post_as(&user.token, "/v1/me/tokens", &body).await;
        if res.status == 403 {
            self.elevate_by_email(user).await;
            res = self.post_as(&user.token, "/v1/me/tokens", &body).await;
        }
        res.assert_status(201)["token"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

/// A second server process on the same database (its own pool, clock and jobs), as when
/// several processes share one PostgreSQL database.
pub struct Peer {
    pub base: String,
    pub state: AppState,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestApp {
    pub async fn spawn_peer(&self) -> Peer {
        let config = Config {
            database_url: self.database_url.clone(),
            ..(*self.state.config).clone()
        };
        let state = AppState::start(config).await.expect("peer starts");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let serve_state = state.clone();
        let server = tokio::spawn(async move {
            let app = charter::app::router(serve_state.clone());
            let _ = charter::app::serve_router(serve_state, app, listener).await;
        });
        Peer {
            base,
            state,
            server,
        }
    }
}
