//! Mail through SMTP: messages wait in the database outbox and a background sender delivers
//! them with lettre (here to a minimal SMTP server in the test).

use std::sync::{Arc, Mutex};

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::support::TestApp;

/// Accepts SMTP sessions and keeps each message's DATA.
async fn fake_smtp() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let store = received.clone();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let store = store.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 test ESMTP\r\n").await.unwrap();
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(body) = data.as_mut() {
                        if line == "." {
                            let message = data.take().unwrap();
                            // The mailed code, for the trace-log check (SMTP never logs it).
                            let code_lines = message.lines().filter(|l| l.contains("code is"));
                            for word in code_lines
                                .flat_map(|l| l.split(|c: char| !c.is_ascii_alphanumeric()))
                            {
                                if word.len() == 6 && word.bytes().all(|b| b.is_ascii_digit()) {
                                    crate::trace_log::record("code", word);
                                }
                            }
                            store.lock().unwrap().push(message);
                            write.write_all(b"250 queued\r\n").await.unwrap();
                        } else {
                            body.push_str(&line);
                            body.push('\n');
                        }
                        continue;
                    }
                    let verb = line
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 test\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 go ahead\r\n"
                        }
                        "QUIT" => {
                            write.write_all(b"221 bye\r\n").await.unwrap();
                            return;
                        }
                        _ => b"250 ok\r\n",
                    };
                    write.write_all(reply).await.unwrap();
                }
            });
        }
    });
    (port, received)
}

#[tokio::test]
async fn smtp_mail_is_queued_then_delivered_by_the_background_sender() {
    let (port, received) = fake_smtp().await;
    let app = TestApp::spawn_configured(|c| c.mail = format!("smtp://127.0.0.1:{port}")).await;
    app.post(
        "/v1/auth/email-otp/start",
        &json!({"email": "smtp@example.com"}),
    )
    .await
    .assert_status(202);
    let queued: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mail_outbox WHERE sent_at IS NULL")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(queued, 1, "queued in the database before the answer");
    let row: String = sqlx::query_scalar(
        "SELECT recipient || ' ' || subject || ' ' || body || ' ' || data FROM mail_outbox",
    )
    .fetch_one(app.state.db.pool())
    .await
    .unwrap();
    // Moving the clock runs due jobs, the sender among them.
    app.advance(1).await;
    let messages = received.lock().unwrap().clone();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(
        messages[0].contains("To: smtp@example.com"),
        "{}",
        messages[0]
    );
    assert!(messages[0].contains("sign-in code"), "{}", messages[0]);
    // The queued row was sealed under the server key: no code, no address (section 2).
    let code = messages[0]
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .expect("a 6-digit code in the message");
    assert!(
        !row.contains(code) && !row.contains("smtp@example.com"),
        "{row}"
    );
    // Sent mail leaves the queue.
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mail_outbox")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(left, 0);
    // Nothing is sent twice.
    app.advance(1).await;
    assert_eq!(received.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn undeliverable_mail_is_retried_later() {
    let app = TestApp::spawn_configured(|c| c.mail = "smtp://127.0.0.1:9".to_string()).await;
    app.post(
        "/v1/auth/email-otp/start",
        &json!({"email": "retry@example.com"}),
    )
    .await
    .assert_status(202);
    app.advance(1).await;
    let (attempts, error): (i64, Option<String>) = {
        use sqlx::Row as _;
        let row = sqlx::query("SELECT attempts, last_error FROM mail_outbox")
            .fetch_one(app.state.db.pool())
            .await
            .unwrap();
        (
            row.try_get("attempts").unwrap(),
            row.try_get("last_error").unwrap(),
        )
    };
    assert_eq!(attempts, 1);
    assert!(error.is_some());
}

/// Rows queued in plain text before sealing (an upgrade) are still delivered, then leave.
#[tokio::test]
async fn mail_queued_before_sealing_is_delivered_once() {
    let (port, received) = fake_smtp().await;
    let app = TestApp::spawn_configured(|c| c.mail = format!("smtp://127.0.0.1:{port}")).await;
    let now = app.state.clock.now().micros();
    sqlx::query(
        "INSERT INTO mail_outbox (id, recipient, subject, body, template, data, created_at, next_try_at)
         VALUES ('mail_legacy', 'old@example.com', 'Old subject', 'Old body', 'invitation', '{}', $1, $1)",
    )
    .bind(now)
    .execute(app.state.db.pool())
    .await
    .unwrap();
    app.advance(1).await;
    let messages = received.lock().unwrap().clone();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(messages[0].contains("Old body"), "{}", messages[0]);
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mail_outbox")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(left, 0);
}
