//! The SQL of the audit log (`audit_events`).

use serde_json::Value;

use super::{AuditEvent, Origin};
use crate::crypto::new_id;
use crate::db::{Db, FromRecord, Record, Unit, UnitError};
use crate::error::ApiResult;
use crate::list::{ListParams, Page};
use crate::time::Timestamp;

const INSERT_EVENT: &str = "INSERT INTO audit_events (id, created_at, action, actor, subject, details, request_id, source_address)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

pub(super) fn insert_event(
    w: &mut Unit<'_>,
    origin: &Origin,
    at: Timestamp,
    action: &str,
    subject: Option<&str>,
    details: &Value,
) -> Result<(), UnitError> {
    w.execute(
        INSERT_EVENT,
        crate::params![
            new_id("evt"),
            at,
            action,
            origin.actor.clone(),
            subject,
            details.to_string(),
            origin.request_id.clone(),
            origin.source_address.clone(),
        ],
    )?;
    Ok(())
}

/// Deletes events created before `cutoff`; how many.
pub(super) fn delete_before(w: &mut Unit<'_>, cutoff: Timestamp) -> Result<u64, UnitError> {
    w.execute(
        "DELETE FROM audit_events WHERE created_at < $1",
        crate::params![cutoff],
    )
}

/// The details of the events about `subject`, oldest first.
pub(super) fn details_about(w: &mut Unit<'_>, subject: &str) -> Result<Vec<Value>, UnitError> {
    Ok(about(w, subject)?
        .into_iter()
        .filter_map(|(_, details)| serde_json::from_str(&details).ok())
        .collect())
}

/// The id and details text of every event about `subject`, oldest first.
pub(super) fn about(w: &mut Unit<'_>, subject: &str) -> Result<Vec<(String, String)>, UnitError> {
    id_and_details(w.query(
        "SELECT id, details FROM audit_events WHERE subject = $1 ORDER BY created_at, id",
        crate::params![subject],
    )?)
}

/// The id and details text of every event whose details match `pattern`
/// (`LIKE … ESCAPE '!'`). A scan of the log: erasure is rare.
pub(super) fn matching(
    w: &mut Unit<'_>,
    pattern: &str,
) -> Result<Vec<(String, String)>, UnitError> {
    id_and_details(w.query(
        "SELECT id, details FROM audit_events WHERE details LIKE $1 ESCAPE '!'",
        crate::params![pattern],
    )?)
}

fn id_and_details(rows: Vec<Record>) -> Result<Vec<(String, String)>, UnitError> {
    rows.iter()
        .map(|r| Ok((r.text("id")?, r.text("details")?)))
        .collect()
}

pub(super) fn set_details(w: &mut Unit<'_>, id: &str, details: &str) -> Result<(), UnitError> {
    w.execute(
        "UPDATE audit_events SET details = $2 WHERE id = $1",
        crate::params![id, details],
    )?;
    Ok(())
}

/// Events about `from` are about `to` from now on.
pub(super) fn rename_subject(w: &mut Unit<'_>, from: &str, to: &str) -> Result<(), UnitError> {
    w.execute(
        "UPDATE audit_events SET subject = $2 WHERE subject = $1",
        crate::params![from, to],
    )?;
    Ok(())
}

impl FromRecord for AuditEvent {
    fn from_record(r: &Record) -> Result<Self, UnitError> {
        Ok(AuditEvent {
            id: r.text("id")?,
            action: r.text("action")?,
            actor: r.opt_text("actor")?,
            subject: r.opt_text("subject")?,
            created_at: r.time("created_at")?,
            request_id: r.opt_text("request_id")?,
            source_address: r.opt_text("source_address")?,
            details: serde_json::from_str(&r.text("details")?).unwrap_or(Value::Null),
        })
    }
}

/// A page of the log that passes the list's `query`, newest first.
pub(super) async fn page(db: &Db, params: &ListParams) -> ApiResult<Page<AuditEvent>> {
    crate::db::page::filtered(
        db,
        params,
        crate::query::AUDIT_EVENTS,
        "id, action, actor, subject, created_at, request_id, source_address, details",
        "audit_events",
        None,
        "created_at DESC, id DESC",
    )
    .await
}
