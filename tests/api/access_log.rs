//! The access log (`charter::access`): one `info` line per request with its method, route,
//! status, duration and request id, and nothing of the query string, headers or body. And the
//! binary's start-up: no colour codes in a redirected log, a warning when `public_origin` is
//! left at its default while the server listens on another port.

use std::io::{BufRead as _, BufReader, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::TestApp;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The `charter::access` lines, as the binary's JSON format writes them.
fn access_lines(buffer: &Buffer) -> Vec<Value> {
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("a JSON line"))
        .filter(|l| l["target"] == "charter::access")
        .collect()
}

// A current-thread runtime (the default): the server's tasks run on this thread, so the
// thread's default subscriber sees their events and no other test's.
#[tokio::test]
async fn every_request_leaves_one_info_line_without_secrets() {
    // Its own subscriber would hide these requests from the suite-wide trace log, whose check
    // wants every request of the run in it; the runs without that log check this.
    crate::trace_log::install();
    if crate::trace_log::is_active() {
        return;
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_env_filter("info")
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let app = TestApp::spawn().await;
    let token = "cht_NOTAREALTOKENBUTSECRETLOOKING234567";
    let errors = app.get("/v1/errors/400001?secretquery=hunter2").await;
    errors.assert_status(200);
    let unauthorized = app
        .req(Method::GET, "/v1/me?access_token=hunter3")
        .token(token)
        .send()
        .await;
    let posted = app
        .req(Method::POST, "/v1/auth/email-otp/start")
        .header("x-request-id", "req-access-log-test")
        .json(&json!({"email": "secret-person@example.com"}))
        .send()
        .await;
    let missing = app.get("/no/such/route").await;

    let lines = access_lines(&buffer);
    assert_eq!(lines.len(), 4, "{lines:#?}");
    let expect = [
        ("GET", "/v1/errors/{code}", &errors),
        ("GET", "/v1/me", &unauthorized),
        ("POST", "/v1/auth/email-otp/start", &posted),
        ("GET", "/no/such/route", &missing),
    ];
    for (line, (method, route, res)) in lines.iter().zip(expect) {
        assert_eq!(line["level"], "INFO", "{line}");
        assert_eq!(line["message"], "request", "{line}");
        assert_eq!(line["method"], method, "{line}");
        assert_eq!(line["route"], route, "{line}");
        assert_eq!(line["status"], res.status, "{line}");
        assert!(line["duration_ms"].as_f64().is_some(), "{line}");
        assert_eq!(
            line["request_id"].as_str(),
            res.header("x-request-id"),
            "{line}"
        );
    }
    assert_eq!(lines[2]["request_id"], "req-access-log-test");
    let all = serde_json::to_string(&lines).unwrap();
    for secret in [token, "hunter2", "hunter3", "secret-person", "secretquery"] {
        assert!(
            !all.contains(secret),
            "{secret} is in the access log: {all}"
        );
    }
}

#[tokio::test]
async fn the_binary_warns_when_public_origin_misses_the_bound_port() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_charter"))
        .args(["--bind", "127.0.0.1:0", "--set"])
        .arg(format!(
            "mail=file:{}",
            dir.path().join("outbox.jsonl").display()
        ))
        .arg("--set")
        // The database's server key: the test server's.
        .arg(format!(
            "secret_key_file={}",
            app.state.config.secret_key_file
        ))
        .current_dir(dir.path())
        .env("DATABASE_URL", &app.database_url)
        .env("CHARTER_LOG", "info")
        .env_remove("RUST_LOG")
        .env_remove("CHARTER_CONFIG")
        .env_remove("CHARTER_PUBLIC_ORIGIN")
        .env_remove("CHARTER_LOG_FORMAT")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("run charter");
    let stderr = child.stderr.take().unwrap();
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let warning = loop {
        match receive.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.contains("public_origin is the default") => break Some(line),
            Ok(line) => seen.push(line),
            Err(e) => {
                seen.push(format!("({e})"));
                break None;
            }
        }
    };
    let exited = child.try_wait().ok().flatten();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(exited, None, "charter exited early: {seen:#?}");
    let warning = warning.unwrap_or_else(|| panic!("no warning in {seen:#?}"));
    assert!(warning.contains("WARN"), "{warning}");
    assert!(warning.contains("CHARTER_PUBLIC_ORIGIN"), "{warning}");
    assert!(warning.contains("passkeys"), "{warning}");
    // stderr is a pipe here, not a terminal: no colour codes.
    for line in seen.iter().chain([&warning]) {
        assert!(!line.contains('\u{1b}'), "a colour code in {line:?}");
    }
    assert!(seen.iter().any(|l| l.contains("listening")), "{seen:#?}");
}
