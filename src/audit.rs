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

/// Deletes events older than `retention_days` (a job).
pub async fn purge(
    db: &crate::db::Db,
    now: Timestamp,
    retention_days: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM audit_events WHERE created_at < $1")
        .bind(
            now.minus_seconds(retention_days.saturating_mul(86_400))
                .micros(),
        )
        .execute(db.writer())
        .await?;
    Ok(done.rows_affected())
}

const INSERT_EVENT: &str = "INSERT INTO audit_events (id, created_at, action, actor, subject, details, request_id, source_address)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/// Records one event inside a unit of work.
pub fn record_in(
    w: &mut crate::db::Unit<'_>,
    origin: &Origin,
    at: Timestamp,
    action: &str,
    subject: Option<&str>,
    details: Value,
) -> Result<(), crate::db::UnitError> {
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
    sqlx::query(INSERT_EVENT)
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
pub struct AuditEvent {
    pub id: String,
    pub action: String,
    /// The user who acted (absent for anonymous requests and the command line).
    pub actor: Option<String>,
    /// What the event is about (a user id, an e-mail address, a terms version, …).
    pub subject: Option<String>,
    pub created_at: Timestamp,
    pub request_id: Option<String>,
    pub source_address: Option<String>,
    #[schema(value_type = Object)]
    pub details: Value,
}

/// The audit log, newest first (platform administrators, scope `admin`).
#[utoipa::path(get, path = "/v1/audit-events", tag = "audit",
    params(("from" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("query" = Option<String>, Query, description = "Filter (section 7's query language)")),
    responses((status = 200, body = crate::list::Page<AuditEvent>)))]
pub async fn list(
    axum::extract::State(state): axum::extract::State<crate::app::AppState>,
    params: crate::list::ListParams,
) -> crate::error::ApiResult<axum::Json<crate::list::Page<AuditEvent>>> {
    use sqlx::Row as _;
    let page = crate::db::page::filtered_rows(
        &state.db,
        &params,
        crate::query::AUDIT_EVENTS,
        "id, action, actor, subject, created_at, request_id, source_address, details",
        "audit_events",
        None,
        "created_at DESC, id DESC",
        |r| {
            Ok(AuditEvent {
                id: r.try_get("id")?,
                action: r.try_get("action")?,
                actor: r.try_get("actor")?,
                subject: r.try_get("subject")?,
                created_at: Timestamp::from_micros(r.try_get("created_at")?),
                request_id: r.try_get("request_id")?,
                source_address: r.try_get("source_address")?,
                details: serde_json::from_str(&r.try_get::<String, _>("details")?)
                    .unwrap_or(Value::Null),
            })
        },
    )
    .await?;
    Ok(axum::Json(page))
}
