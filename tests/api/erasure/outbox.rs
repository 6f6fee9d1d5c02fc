//! Erasure and the file outbox (`file:` transport): the file is rewritten without the person
//! once the erasure has committed, and the mail written after it, by this process or another
//! one sharing the file, lands in the new file.

use serde_json::{Value, json};

use super::person_with_mail;
use crate::support::TestApp;

/// Starts an e-mail sign-in on another server sharing the outbox (it mails a code).
async fn mail_through(app: &TestApp, base: &str, email: &str) {
    let res = app
        .client
        .post(format!("{base}/v1/auth/email-otp/start"))
        .json(&json!({ "email": email }))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status().as_u16(), 202);
}

fn mentions(mail: &Value, text: &str) -> bool {
    mail.to_string().contains(text)
}

#[tokio::test]
async fn the_file_outbox_is_rewritten_without_the_person() {
    let app = TestApp::spawn().await;
    let root = app.root_token().await;
    // Mail to the person: a notice, an invitation and a sign-in code; and to a bystander.
    person_with_mail(
        &app,
        &root,
        json!({"id": "q.1", "email": "q@example.com", "displayName": "Quinn Q"}),
    )
    .await;
    let person = app.sign_in("gone@example.com").await;
    assert_eq!(person.id, "q.1");
    app.sign_in("bystander@example.com").await;
    // A second process sharing the file has it open already.
    let peer = app.spawn_peer().await;
    mail_through(&app, &peer.base, "peer-before@example.com").await;

    let before = app.outbox();
    let to_person = before
        .iter()
        .filter(|m| m["to"] == "gone@example.com")
        .count();
    assert_eq!(to_person, 2, "{before:?}");
    let notice = before
        .iter()
        .find(|m| m["to"] == "q@example.com")
        .expect("the notice to the old address");
    assert!(mentions(notice, "gone@example.com"));
    let untouched: Vec<&Value> = before
        .iter()
        .filter(|m| !mentions(m, "gone@example.com"))
        .collect();

    app.delete_as(&root, "/v1/users/q.1")
        .await
        .assert_status(204);

    // Mail to the person is gone; the notice to the other account's address stays, blanked;
    // every other line is as it was, in order.
    let after = app.outbox();
    assert_eq!(after.len(), before.len() - to_person, "{after:?}");
    assert!(after.iter().all(|m| !mentions(m, "gone@example.com")));
    let notice = after
        .iter()
        .find(|m| m["to"] == "q@example.com")
        .expect("the notice stays");
    let text = notice["text"].as_str().unwrap();
    assert!(text.contains("address of your account to ."), "{text}");
    assert_eq!(
        notice["data"]["change"]
            .as_str()
            .map(|c| c.ends_with("to .")),
        Some(true)
    );
    let kept: Vec<&Value> = after
        .iter()
        .filter(|m| m["to"] != "q@example.com")
        .collect();
    assert_eq!(kept, untouched);

    // Mail after the erasure lands in the new file, from this process and from the other one.
    mail_through(&app, &peer.base, "peer-after@example.com").await;
    app.start_email_sign_in("here-after@example.com").await;
    let last: Vec<Value> = app.outbox().into_iter().skip(after.len()).collect();
    let to: Vec<&str> = last.iter().map(|m| m["to"].as_str().unwrap()).collect();
    assert_eq!(to, ["peer-after@example.com", "here-after@example.com"]);

    // The new file is its owner's only; no temporary file is left beside it.
    let outbox = app.dir.path().join("outbox.jsonl");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&outbox).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let leftovers: Vec<String> = std::fs::read_dir(app.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert_eq!(leftovers, Vec::<String>::new());
}

#[tokio::test]
async fn an_outbox_that_cannot_be_rewritten_does_not_undo_the_erasure() {
    let app = TestApp::spawn().await;
    let root = app.root_token().await;
    let person = app.sign_in("stuck@example.com").await;
    // The outbox's path is a folder now: it can be neither read nor replaced.
    let outbox = app.dir.path().join("outbox.jsonl");
    std::fs::remove_file(&outbox).unwrap();
    std::fs::create_dir(&outbox).unwrap();

    app.delete_as(&root, &format!("/v1/users/{}", person.id))
        .await
        .assert_status(204);
    app.get_as(&root, &format!("/v1/users/{}", person.id))
        .await
        .assert_problem(404001);
    app.get_as(&person.token, "/v1/me")
        .await
        .assert_problem(401001);
}
