//! The audit log: every security-relevant event, with actor, subject, request id and source.

mod store;

use serde_json::Value;

use crate::time::Timestamp;

/// Where an event comes from: the request (or command) that caused it.
#[derive(Clone, Debug, Default)]
pub struct Origin {
    pub actor: Option<String>,
    pub request_id: Option<String>,
    pub source_address: Option<String>,
}

impl Origin {
    /// An event caused by a background job (`job:<name>` as its source).
    pub fn job(name: &str) -> Self {
        Origin {
            actor: None,
            request_id: None,
            source_address: Some(format!("job:{name}")),
        }
    }

    /// An event caused by an operator at the command line.
    pub fn command_line() -> Self {
        Origin {
            actor: None,
            request_id: None,
            source_address: Some("cli".into()),
        }
    }
}

/// Deletes events older than `retention_days` (a job).
pub async fn purge(
    db: &crate::db::Db,
    now: Timestamp,
    retention_days: i64,
) -> crate::error::ApiResult<u64> {
    let cutoff = now.minus_seconds(retention_days.saturating_mul(86_400));
    db.write(move |w| Ok(store::delete_before(w, cutoff)?))
        .await
}

/// Records one event inside a unit of work.
pub fn record_in(
    w: &mut crate::db::Unit<'_>,
    origin: &Origin,
    at: Timestamp,
    action: &str,
    subject: Option<&str>,
    details: Value,
) -> Result<(), crate::db::UnitError> {
    store::insert_event(w, origin, at, action, subject, &details)
}

/// The details of every event about `subject`, oldest first (erasure reads a person's earlier
/// addresses from them).
pub fn details_about_in(
    w: &mut crate::db::Unit<'_>,
    subject: &str,
) -> Result<Vec<Value>, crate::db::UnitError> {
    store::details_about(w, subject)
}

/// Erasure (section 6), inside the erasing unit: events whose subject was one of the person's
/// addresses name the user id instead; the addresses and display name are blanked from every
/// event's details (and passkey names from the person's own events, see
/// `Personal::scrub_json`). Actor and subject ids stay: the id is the pseudonym.
pub fn erase_in(
    w: &mut crate::db::Unit<'_>,
    person: &crate::personal::Personal,
) -> Result<(), crate::db::UnitError> {
    for address in person.addresses() {
        store::rename_subject(w, address, &person.user_id)?;
    }
    for (id, details) in store::about(w, &person.user_id)? {
        if let Some(scrubbed) = person.scrub_json(&details, true) {
            store::set_details(w, &id, &scrubbed)?;
        }
    }
    for pattern in person.like_patterns() {
        for (id, details) in store::matching(w, &pattern)? {
            if let Some(scrubbed) = person.scrub_json(&details, false) {
                store::set_details(w, &id, &scrubbed)?;
            }
        }
    }
    Ok(())
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Origin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Origin>()
            .cloned()
            .unwrap_or_default())
    }
}

/// One audit event as administrators see it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"id": "evt_jxxx7ck5y1jx4whrdd459gq8h7", "action": "token.created", "actor": "usr_m9s346q3d25vt4f5v37e3s3e28", "subject": "tok_5yhcf05g59s2s1kke59rmz9j92", "createdAt": "2026-11-24T10:40:00Z", "requestId": "req_qezzs1a0zwsk9tprm7n0mns7c0", "sourceAddress": "203.0.113.42", "details": {"name": "CI deploy", "scopes": ["billing:read", "exports:read"]}}))]
pub struct AuditEvent {
    /// The event's id.
    pub id: String,
    /// What happened, as `resource.verb` (`user.banned`, `session.created`,
    /// `payment.declined`, …). New actions appear as features are added, so a client should
    /// accept any.
    pub action: String,
    /// The user who acted (absent for anonymous requests and the command line).
    pub actor: Option<String>,
    /// What the event is about (a user id, an e-mail address, a terms version, …).
    pub subject: Option<String>,
    /// When it happened.
    pub created_at: Timestamp,
    /// The request that caused it (its `X-Request-Id`); `null` for jobs and the command line.
    pub request_id: Option<String>,
    /// The client address of that request, `job:<name>` for a background job, or `cli`.
    pub source_address: Option<String>,
    /// What else the action records (ids, names, reasons), by action.
    #[schema(value_type = std::collections::HashMap<String, serde_json::Value>)]
    pub details: Value,
}

/// The audit log, newest first (platform administrators, scope `admin`).
#[utoipa::path(get, path = "/v1/audit-events", tag = "audit", operation_id = "listAuditEvents",
    params(("from" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("query" = Option<String>, Query)),
    responses((status = 200, description = "A page of audit events.", body = crate::list::Page<AuditEvent>)))]
pub async fn list(
    axum::extract::State(state): axum::extract::State<crate::state::Infra>,
    params: crate::list::ListParams,
) -> crate::error::ApiResult<axum::Json<crate::list::Page<AuditEvent>>> {
    let page = store::page(&state.db, &params).await?;
    Ok(axum::Json(page))
}
