//! The audit log: every security-relevant event, with actor, subject, request id and source.

use serde_json::Value;

use crate::crypto::new_id;
use crate::time::Timestamp;

/// Where an event comes from: the request (or command) that caused it.
#[derive(Clone, Debug, Default)]
pub struct Origin {
    pub actor: Option<String>,
    pub request_id: Option<String>,
    pub source_address: Option<String>,
}

impl Origin {
    /// An event caused by an operator at the command line.
    pub fn command_line() -> Self {
        Origin {
            actor: None,
            request_id: None,
            source_address: Some("cli".into()),
        }
    }
}

/// Records one event inside the caller's transaction or pool.
pub async fn record<'e, E>(
    executor: E,
    origin: &Origin,
    at: Timestamp,
    action: &str,
    subject: Option<&str>,
    details: Value,
) -> Result<(), sqlx::Error>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO audit_events (id, created_at, action, actor, subject, details, request_id, source_address)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(new_id("evt"))
    .bind(at.micros())
    .bind(action)
    .bind(origin.actor.clone())
    .bind(subject.map(str::to_string))
    .bind(details.to_string())
    .bind(origin.request_id.clone())
    .bind(origin.source_address.clone())
    .execute(executor)
    .await?;
    Ok(())
}
