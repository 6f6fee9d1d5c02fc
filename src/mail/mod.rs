//! Mail through one transport: the file outbox (one JSON object per line, written before the
//! request answers; see `outbox_file`) or SMTP (a database outbox that a background sender
//! delivers with lettre, so a slow or failing mail server never holds a request and nothing is
//! lost on restart).
//! Queued messages are sealed under the server key (they hold codes) and leave the queue once
//! sent.

mod outbox_file;
mod store;
pub mod templates;

use std::path::PathBuf;
use std::sync::Arc;

use outbox_file::{Line, OutboxFile};

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::{Value, json};

use crate::crypto::new_id;
use crate::db::Db;
use crate::server_key::ServerKey;
use crate::time::Timestamp;

/// One message, rendered.
#[derive(Clone, Debug)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub template: &'static str,
    pub data: Value,
}

#[derive(Clone)]
pub enum Mailer {
    /// The file outbox, shared by every clone of the mailer.
    File(Arc<OutboxFile>),
    Smtp {
        transport: Box<AsyncSmtpTransport<Tokio1Executor>>,
        from: Box<Mailbox>,
        key: Arc<ServerKey>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("mail transport `{0}`: {1}")]
    Config(String, String),
    #[error("writing the outbox: {0}")]
    Io(#[from] std::io::Error),
    #[error("mail outbox: {0}")]
    Outbox(String),
}

impl From<crate::db::UnitError> for MailError {
    fn from(e: crate::db::UnitError) -> MailError {
        MailError::Outbox(e.to_string())
    }
}

impl From<crate::error::ApiError> for MailError {
    /// A unit of work on the outbox that failed (its cause, which answers never show).
    fn from(e: crate::error::ApiError) -> MailError {
        MailError::Outbox(e.cause().unwrap_or(&e.detail).to_string())
    }
}

impl Mailer {
    /// `file:PATH` or `smtp://user:pass@host:port` / `smtps://…`.
    pub fn from_config(spec: &str, from: &str, key: Arc<ServerKey>) -> Result<Mailer, MailError> {
        if let Some(path) = spec.strip_prefix("file:") {
            let path = PathBuf::from(path);
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)?;
            }
            return Ok(Mailer::File(Arc::new(OutboxFile::new(path))));
        }
        if spec.starts_with("smtp://") || spec.starts_with("smtps://") {
            let redacted = crate::config::redact_url(spec);
            let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(spec)
                .map_err(|e| MailError::Config(redacted.clone(), e.to_string()))?
                .build();
            let from = from
                .parse::<Mailbox>()
                .map_err(|e| MailError::Config(redacted, format!("mail_from: {e}")))?;
            return Ok(Mailer::Smtp {
                transport: Box::new(transport),
                from: Box::new(from),
                key,
            });
        }
        Err(MailError::Config(
            crate::config::redact_url(spec),
            "expected file:PATH or smtp://…".into(),
        ))
    }

    /// Sends (file) or queues (SMTP) one message; done before the caller answers.
    pub async fn send(&self, db: &Db, now: Timestamp, mail: Mail) -> Result<(), MailError> {
        if let Mailer::Smtp { .. } = self {
            let (mailer, queued) = (self.clone(), mail.clone());
            db.write(move |w| Ok(mailer.queue_in(w, now, &queued)?))
                .await?;
        }
        self.after_commit(now, mail).await
    }

    /// Inside the unit of work that sends it: SMTP mail goes into the database outbox,
    /// sealed under the server key, so it is sent exactly when the change commits.
    pub fn queue_in(
        &self,
        w: &mut crate::db::Unit<'_>,
        now: Timestamp,
        mail: &Mail,
    ) -> Result<(), crate::db::UnitError> {
        let Mailer::Smtp { key, .. } = self else {
            return Ok(());
        };
        let id = new_id("mail");
        let message = json!({ "to": mail.to, "subject": mail.subject, "text": mail.text });
        let sealed = key.seal(&id, message.to_string().as_bytes());
        store::insert_sealed(w, &id, &sealed, mail.template, now)
    }

    /// After the unit of work committed, before the request answers: the file transport
    /// appends the message (SMTP mail was queued inside the unit).
    pub async fn after_commit(&self, now: Timestamp, mail: Mail) -> Result<(), MailError> {
        let Mailer::File(outbox) = self else {
            return Ok(());
        };
        let line = json!({
            "to": mail.to, "subject": mail.subject, "text": mail.text,
            "template": mail.template, "data": mail.data, "sentAt": now,
        })
        .to_string()
            + "\n";
        let outbox = outbox.clone();
        tokio::task::spawn_blocking(move || outbox.append(&line))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))??;
        Ok(())
    }

    /// Erasure (section 6), after the erasing unit committed: the file outbox is rewritten
    /// without the person. A message to one of their addresses goes, as queued mail to them
    /// does; in the others their addresses are blanked, and their name and any object that is
    /// them as in stored answers (`Personal::scrub_json`). A failure is logged: the erasure
    /// has happened and stands.
    pub async fn erase_from_file(&self, person: &crate::personal::Personal) {
        let Mailer::File(outbox) = self else {
            return;
        };
        let (outbox, person) = (outbox.clone(), person.clone());
        let rewritten =
            tokio::task::spawn_blocking(move || outbox.rewrite(|line| erase_line(&person, line)))
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))
                .and_then(|r| r);
        match rewritten {
            Ok(lines) => tracing::debug!(lines, "file outbox rewritten after an erasure"),
            Err(e) => {
                tracing::error!(error = %e, "could not rewrite the file outbox after an erasure; the erased person's mail stays in it")
            }
        }
    }

    /// Sends a notice about a change that is already committed: a failure is logged, not
    /// returned, because answering 500 would hide a change that happened.
    pub async fn notify(&self, db: &Db, now: Timestamp, mail: Mail) {
        let template = mail.template;
        if let Err(e) = self.send(db, now, mail).await {
            tracing::error!(template, error = %e, "could not send a notice mail");
        }
    }

    /// Delivers queued SMTP messages that are due; each is claimed first so that several
    /// processes never send one twice. Failures back off and are retried.
    pub async fn deliver_outbox(&self, db: &Db, now: Timestamp) -> Result<usize, MailError> {
        let Mailer::Smtp {
            transport,
            from,
            key,
        } = self
        else {
            return Ok(0);
        };
        let mut sent = 0;
        for id in store::due(db, now, 50).await? {
            let claimed = {
                let id = id.clone();
                let retry_at = now.plus_seconds(300);
                db.write(move |w| Ok(store::claim(w, &id, now, retry_at)?))
                    .await?
            };
            let Some(message) = claimed else { continue };
            let attempts = message.attempts;
            let queued = if message.recipient.is_empty() {
                unseal(key, &id, &message.body)
            } else {
                // Queued in plain text by a version before sealing; sent as it is.
                Some(Queued {
                    to: message.recipient,
                    subject: message.subject,
                    text: message.body,
                })
            };
            let result = match queued {
                Some(queued) => match queued.to.parse::<Mailbox>() {
                    Ok(to) => match Message::builder()
                        .from((**from).clone())
                        .to(to)
                        .subject(queued.subject)
                        .body(queued.text)
                    {
                        Ok(email) => transport
                            .send(email)
                            .await
                            .map(|_| ())
                            .map_err(|e| e.to_string()),
                        Err(e) => Err(e.to_string()),
                    },
                    Err(e) => Err(e.to_string()),
                },
                None => Err("the queued message does not open with this server key".into()),
            };
            match result {
                Ok(()) => {
                    db.write(move |w| Ok(store::delete(w, &id)?)).await?;
                    sent += 1;
                }
                Err(error) => {
                    let backoff = 30i64 << attempts.clamp(0, 10);
                    tracing::warn!(mail_id = %id, attempts, error = %error, "mail delivery failed; will retry");
                    let next_try_at = now.plus_seconds(backoff.min(6 * 3600));
                    db.write(move |w| Ok(store::record_failure(w, &id, &error, next_try_at)?))
                        .await?;
                }
            }
        }
        Ok(sent)
    }
}

/// Erasure (section 6), inside the erasing unit: queued mail to one of the person's addresses
/// is not sent; other queued mail keeps its recipient with the addresses blanked from its
/// subject and text (sealed again). Whatever the transport is now, since the queue may hold
/// mail from an earlier SMTP setting. A message the server key cannot open cannot be sent
/// either, and is left as it is.
pub fn erase_in(
    w: &mut crate::db::Unit<'_>,
    key: &ServerKey,
    person: &crate::personal::Personal,
) -> Result<(), crate::db::UnitError> {
    for row in store::queued_in(w)? {
        if !row.recipient.is_empty() {
            // Queued in plain text by a version before sealing.
            if person.is_address(&row.recipient) {
                store::delete(w, &row.id)?;
                continue;
            }
            let subject = person.scrub_text(&row.subject);
            let body = person.scrub_text(&row.body);
            let data = person.scrub_json(&row.data, false);
            if subject.is_some() || body.is_some() || data.is_some() {
                let plain = store::Plain {
                    subject: subject.unwrap_or(row.subject),
                    body: body.unwrap_or(row.body),
                    data: data.unwrap_or(row.data),
                };
                store::rewrite_plain(w, &row.id, &plain)?;
            }
            continue;
        }
        let Some(queued) = unseal(key, &row.id, &row.body) else {
            continue;
        };
        if person.is_address(&queued.to) {
            store::delete(w, &row.id)?;
            continue;
        }
        let subject = person.scrub_text(&queued.subject);
        let text = person.scrub_text(&queued.text);
        if subject.is_none() && text.is_none() {
            continue;
        }
        let message = json!({
            "to": queued.to,
            "subject": subject.unwrap_or(queued.subject),
            "text": text.unwrap_or(queued.text),
        });
        store::reseal(
            w,
            &row.id,
            &key.seal(&row.id, message.to_string().as_bytes()),
        )?;
    }
    Ok(())
}

/// One line of the file outbox as an erasure leaves it.
fn erase_line(person: &crate::personal::Personal, line: &str) -> Line {
    let to = serde_json::from_str::<Value>(line)
        .ok()
        .and_then(|mail| mail.get("to").and_then(Value::as_str).map(str::to_string));
    if to.is_some_and(|to| person.is_address(&to)) {
        return Line::Drop;
    }
    match person.scrub_json(line, false) {
        Some(scrubbed) => Line::Replace(scrubbed),
        None => Line::Keep,
    }
}

/// A queued message as sealed in `mail_outbox.body`.
#[derive(serde::Deserialize)]
struct Queued {
    to: String,
    subject: String,
    text: String,
}

fn unseal(key: &ServerKey, id: &str, sealed: &str) -> Option<Queued> {
    serde_json::from_slice(&key.open(id, sealed)?).ok()
}
