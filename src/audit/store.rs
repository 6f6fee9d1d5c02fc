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
