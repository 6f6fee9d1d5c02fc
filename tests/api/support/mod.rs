//! The test harness: a fresh database (a copy of a migrated template: a temporary SQLite file,
//! or a new PostgreSQL database when `CHARTER_TEST_DATABASE_URL` is set; see `database.rs`),
//! the app served in-process on a real port, and a small HTTP client that sees what any client
//! sees. What tests set up again and again (users, organizations, the catalogue, purchases,
//! passkeys) is in `fixtures/`.

#![allow(dead_code)]

pub mod database;
pub mod fixtures;
pub mod openapi;

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
    database: database::TestDatabase,
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
    method: Method,
    path: String,
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
        let res = Res {
            status,
            headers,
            text,
            json,
        };
        openapi::check(self.method.as_str(), &self.path, &res);
        res
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}, axum::Router::new()).await
    }

    pub async fn spawn_configured(configure: impl FnOnce(&mut Config)) -> TestApp {
        Self::spawn_with(configure, axum::Router::new()).await
    }

    /// Starts on an empty database, as a first start would: the app creates the database
    /// (on SQLite, its file) and applies every migration itself.
    pub async fn spawn_unmigrated() -> TestApp {
        crate::trace_log::install();
        let dir = tempfile::tempdir().expect("temp dir");
        let database = database::TestDatabase::empty(dir.path()).await;
        Self::start(dir, database, |_| {}, axum::Router::new()).await
    }

    pub async fn spawn_with(
        configure: impl FnOnce(&mut Config),
        extra: axum::Router<AppState>,
    ) -> TestApp {
        crate::trace_log::install();
        let dir = tempfile::tempdir().expect("temp dir");
        let database = database::TestDatabase::migrated(dir.path()).await;
        Self::start(dir, database, configure, extra).await
    }

    async fn start(
        dir: tempfile::TempDir,
        database: database::TestDatabase,
        configure: impl FnOnce(&mut Config),
        extra: axum::Router<AppState>,
    ) -> TestApp {
        let database_url = database.url.clone();
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
            database,
            server,
        }
    }

    pub fn req(&self, method: Method, path: &str) -> Req<'_> {
        Req {
            app: self,
            method: method.clone(),
            path: path.to_string(),
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

    /// Moves the shared test clock forward.
    pub async fn advance(&self, seconds: i64) {
        self.post(
            "/v1/dev/clock",
            &serde_json::json!({ "advanceSeconds": seconds }),
        )
        .await
        .assert_status(200);
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
        // `database` drops the PostgreSQL database after this.
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
}

/// A second server process on the same database (its own pools, clock, caches and job loop,
/// the same configuration and file outbox), as when several processes share one database.
/// Dropping it stops its server.
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
