//! Connection-level hardening (section 2): the header read time-out, the connection cap,
//! problem answers for requests the HTTP parser rejects, and bounded metrics labels. Most of
//! these speak raw TCP, since a client library would not send such bytes or would hide how the
//! server ends a connection.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::TestApp;

/// The longest any read here waits for the server; every test stays well under it when the
/// server behaves.
const BOUND: Duration = Duration::from_secs(4);

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .expect("connect")
}

/// Everything the server sends until it closes the connection (end of stream or reset), or
/// `None` if it is still open after `limit`.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    let read = async {
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    };
    let closed = tokio::time::timeout(limit, read).await.is_ok();
    closed.then_some(received)
}

/// One response as read off the wire.
#[derive(Debug)]
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// Section 3's problem shape for 400001, with the request id in the header and the body.
    #[track_caller]
    fn assert_argument_problem(&self, case: &str) {
        let body = self.json();
        assert_eq!(self.status, 400, "{case}: {self:?}");
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{case}: {self:?}"
        );
        assert_eq!(body["code"], 400001, "{case}: {body}");
        assert_eq!(body["status"], 400, "{case}");
        assert_eq!(body["type"], "/v1/errors/400001", "{case}");
        assert_eq!(body["title"], "ArgumentMissingOrUnparseable", "{case}");
        assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
        let request_id = body["requestId"].as_str().expect("requestId");
        assert!(request_id.starts_with("req_"), "{case}: {request_id}");
        assert_eq!(self.header("x-request-id"), Some(request_id), "{case}");
    }
}

/// Splits `bytes` into the complete responses at its start (bodies framed by Content-Length);
/// the rest is returned as left over.
fn parse_responses(mut bytes: &[u8]) -> (Vec<Raw>, &[u8]) {
    let mut responses = Vec::new();
    while let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&bytes[..end]).to_string();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .expect("status line");
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let body_start = end + 4;
        if bytes.len() < body_start + length {
            break;
        }
        responses.push(Raw {
            status,
            headers,
            body: bytes[body_start..body_start + length].to_vec(),
        });
        bytes = &bytes[body_start + length..];
    }
    (responses, bytes)
}

/// Reads exactly one response on a connection that stays open, or `None` after `limit`.
async fn read_response(stream: &mut TcpStream, limit: Duration) -> Option<Raw> {
    let read = async {
        let mut received = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            let (mut responses, rest) = parse_responses(&received);
            if let Some(response) = responses.pop() {
                assert!(rest.is_empty(), "one response expected");
                return Some(response);
            }
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(limit, read).await.ok().flatten()
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: charter\r\n\r\n";

#[tokio::test]
async fn connections_that_do_not_finish_their_headers_are_closed() {
    let app = TestApp::spawn_configured(|c| c.header_read_timeout_secs = 1).await;
    let started = Instant::now();
    let mut slow = Vec::new();
    for i in 0..50 {
        let mut stream = connect(&app).await;
        stream
            .write_all(format!("GET /healthz HTTP/1.1\r\nHost: charter\r\nX-Slow-{i}: ").as_bytes())
            .await
            .unwrap();
        slow.push(stream);
    }
    // And one that sends nothing at all.
    slow.push(connect(&app).await);

    let outcomes =
        futures_util::future::join_all(slow.iter_mut().map(|s| read_until_closed(s, BOUND))).await;
    for (i, outcome) in outcomes.into_iter().enumerate() {
        let received =
            outcome.unwrap_or_else(|| panic!("connection {i} still open after {BOUND:?}"));
        assert!(
            received.is_empty(),
            "closed without an answer: {}",
            String::from_utf8_lossy(&received)
        );
    }
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "closed by the time-out, not at once"
    );
    // The server still answers.
    app.get("/healthz").await.assert_status(200);
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let app = TestApp::spawn_configured(|c| c.header_read_timeout_secs = 1).await;
    let mut stream = connect(&app).await;
    for _ in 0..2 {
        stream.write_all(HEALTHZ).await.unwrap();
        let response = read_response(&mut stream, BOUND).await.expect("an answer");
        assert_eq!(response.status, 200, "kept alive between requests");
        assert_eq!(response.json()["status"], "ok");
        assert!(response.header("connection").is_none(), "kept alive");
    }
    let idle_since = Instant::now();
    let received = read_until_closed(&mut stream, BOUND)
        .await
        .expect("an idle connection is closed");
    assert!(received.is_empty());
    assert!(idle_since.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_unaccepted() {
    let app = TestApp::spawn_configured(|c| c.max_connections = 2).await;
    let mut served = Vec::new();
    for _ in 0..2 {
        let mut stream = connect(&app).await;
        stream.write_all(HEALTHZ).await.unwrap();
        let response = read_response(&mut stream, BOUND).await.expect("an answer");
        assert_eq!(response.status, 200);
        served.push(stream);
    }

    // The kernel completes the handshake, but the server does not take the connection.
    let mut waiting = connect(&app).await;
    waiting.write_all(HEALTHZ).await.unwrap();
    assert!(
        read_response(&mut waiting, Duration::from_millis(500))
            .await
            .is_none(),
        "a third connection was served while two were open"
    );

    // Once one of the two ends, the waiting one is served.
    drop(served.remove(0));
    let response = read_response(&mut waiting, BOUND)
        .await
        .expect("served once a connection ended");
    assert_eq!(response.status, 200);
}

#[tokio::test]
async fn requests_the_parser_rejects_answer_400001_and_are_closed() {
    let app = TestApp::spawn().await;
    let long_target = format!(
        "GET /{} HTTP/1.1\r\nHost: charter\r\n\r\n",
        "a".repeat(70_000)
    );
    let many_headers = format!(
        "GET /healthz HTTP/1.1\r\nHost: charter\r\n{}\r\n",
        (0..101)
            .map(|i| format!("X-{i}: {i}\r\n"))
            .collect::<String>()
    );
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "raw CR in a header value",
            b"GET /healthz HTTP/1.1\r\nHost: charter\r\nX-Note: a\rb\r\n\r\n".to_vec(),
        ),
        (
            "invalid header name",
            b"GET /healthz HTTP/1.1\r\nHost: charter\r\nBad Name: 1\r\n\r\n".to_vec(),
        ),
        (
            "invalid method",
            b"G@T /healthz HTTP/1.1\r\nHost: charter\r\n\r\n".to_vec(),
        ),
        (
            "two different Content-Length values",
            b"POST /v1/auth/email-otp/start HTTP/1.1\r\nHost: charter\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}"
                .to_vec(),
        ),
        (
            "Content-Length with a Transfer-Encoding that is not chunked",
            b"POST /v1/auth/email-otp/start HTTP/1.1\r\nHost: charter\r\nContent-Type: application/json\r\nContent-Length: 2\r\nTransfer-Encoding: gzip\r\n\r\n{}"
                .to_vec(),
        ),
        ("target too long (hyper's 414)", long_target.into_bytes()),
        ("more than 100 header fields (hyper's 431)", many_headers.into_bytes()),
    ];
    for (case, request) in cases {
        let mut stream = connect(&app).await;
        stream.write_all(&request).await.unwrap();
        let received = read_until_closed(&mut stream, BOUND)
            .await
            .unwrap_or_else(|| panic!("{case}: connection still open"));
        let (responses, rest) = parse_responses(&received);
        assert_eq!(
            responses.len(),
            1,
            "{case}: {}",
            String::from_utf8_lossy(&received)
        );
        assert!(rest.is_empty(), "{case}");
        responses[0].assert_argument_problem(case);
    }

    // A malformed request after a good one on the same connection.
    let mut stream = connect(&app).await;
    let mut pipelined = HEALTHZ.to_vec();
    pipelined.extend_from_slice(b"GET /healthz HTTP/1.1\r\nHost: charter\r\nX-Note: a\rb\r\n\r\n");
    stream.write_all(&pipelined).await.unwrap();
    let received = read_until_closed(&mut stream, BOUND)
        .await
        .expect("connection closed");
    let (responses, _) = parse_responses(&received);
    assert_eq!(responses.len(), 2, "{}", String::from_utf8_lossy(&received));
    assert_eq!(responses[0].status, 200);
    responses[1].assert_argument_problem("pipelined");

    app.get("/healthz").await.assert_status(200);
}

#[tokio::test]
async fn content_length_with_chunked_transfer_encoding_is_read_as_chunked_then_closed() {
    // hyper does not reject this pair (RFC 9112 6.3 lets a server either reject it or read the
    // body by Transfer-Encoding and close the connection after answering); it does the latter,
    // which leaves nothing to smuggle: what follows the chunked body is never served.
    let app = TestApp::spawn().await;
    let request = b"GET /healthz HTTP/1.1\r\nHost: charter\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /v1/errors/400001 HTTP/1.1\r\nHost: charter\r\n\r\n";
    let mut stream = connect(&app).await;
    stream.write_all(request).await.unwrap();
    let received = read_until_closed(&mut stream, BOUND)
        .await
        .expect("connection closed after the answer");
    let (responses, rest) = parse_responses(&received);
    assert_eq!(responses.len(), 1, "{}", String::from_utf8_lossy(&received));
    assert!(rest.is_empty());
    assert_eq!(responses[0].status, 200);
    assert_eq!(responses[0].json()["status"], "ok");
    assert_eq!(responses[0].header("connection"), Some("close"));
}

#[tokio::test]
async fn metrics_labels_stay_bounded() {
    let app = TestApp::spawn().await;
    let mut invented = Vec::new();
    for i in 0..200 {
        let word = charter::crypto::new_id("x").to_uppercase().replace('_', "");
        let (method, path) = match i % 4 {
            0 => (format!("INVENT{word}"), format!("/v1/nothing/{word}")),
            1 => (format!("INVENT{word}"), "/healthz".to_string()),
            2 => ("GET".to_string(), format!("/{word}")),
            _ => ("DELETE".to_string(), format!("/v1/errors/{word}/x")),
        };
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let res = app.req(method, &path).send().await;
        assert_eq!(res.status, 404, "{path}: {}", res.text);
        invented.push(word);
    }
    app.get("/healthz").await.assert_status(200);

    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    for word in &invented {
        assert!(!metrics.text.contains(word.as_str()), "{word} is a label");
    }
    assert!(
        metrics.text.contains(
            r#"charter_http_requests_total{method="other",route="unmatched",status="404"} 50"#
        ),
        "{}",
        metrics.text
    );
    assert!(
        metrics.text.contains(
            r#"charter_http_requests_total{method="GET",route="unmatched",status="404"} 50"#
        ),
        "{}",
        metrics.text
    );
    assert!(
        metrics.text.contains(
            r#"charter_http_requests_total{method="other",route="/healthz",status="404"} 50"#
        ),
        "{}",
        metrics.text
    );
    // Five label sets of about twenty lines each (a counter and a histogram), whatever was sent.
    let lines = metrics.text.lines().count();
    assert!(lines < 150, "{lines} lines:\n{}", metrics.text);
}
