//! Subscriptions (7). One per checkout line; `pending` until its invoice is paid and every
//! agreement it needs is signed, then `active` with its first period starting then. `past_due`
//! while a renewal is being retried. `canceled` (stopped before a paid period ran) and `ended`
//! are final. An organization has at most one live (not final) subscription per module.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::json;
use sqlx::AnyConnection;
use sqlx::Row as _;

use crate::api::extract::ApiPath;
use crate::app::AppState;
use crate::audit::{self, Origin};
use crate::db::Tx;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::list::{ListParams, Page};
use crate::orgs::access::OrgContext;
use crate::time::Timestamp;

use super::interval::Interval;
use super::invoices::{self, InvoiceHead};

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub id: String,
    pub module_id: String,
    pub offer_id: String,
    pub quantity: i64,
    /// `pending`, `active`, `past_due`, `canceled` or `ended`.
    pub status: String,
    /// Null until the subscription first becomes active.
    pub current_period_start: Option<Timestamp>,
    /// Null until active, and for `once` offers (their period never ends).
    pub current_period_end: Option<Timestamp>,
    pub cancel_at_period_end: bool,
    /// The invoice of the current (or first) period.
    pub latest_invoice_id: String,
    pub created_at: Timestamp,
    pub ended_at: Option<Timestamp>,
}

/// Statuses after which nothing happens to a subscription any more.
pub const FINAL: &str = "('canceled', 'ended')";

const COLUMNS: &str = "id, org_id, module_id, offer_id, quantity, status, anchor_at, periods, current_period_start, current_period_end, cancel_at_period_end, invoice_id, payment_method, retry_count, next_retry_at, created_at, ended_at";

fn time(row: &crate::db::Row, column: &str) -> Result<Option<Timestamp>, sqlx::Error> {
    Ok(row
        .try_get::<Option<i64>, _>(column)?
        .map(Timestamp::from_micros))
}

/// A subscription row as the rules see it.
#[derive(Clone, Debug)]
pub struct Record {
    pub id: String,
    pub org_id: String,
    pub module_id: String,
    pub offer_id: String,
    pub quantity: i64,
    pub status: String,
    pub anchor_at: Option<Timestamp>,
    pub periods: i64,
    pub current_period_start: Option<Timestamp>,
    pub current_period_end: Option<Timestamp>,
    pub cancel_at_period_end: bool,
    pub invoice_id: String,
    pub payment_method: Option<String>,
    pub retry_count: i64,
    pub next_retry_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub ended_at: Option<Timestamp>,
}

impl Record {
    fn from_row(row: &crate::db::Row) -> Result<Record, sqlx::Error> {
        Ok(Record {
            id: row.try_get("id")?,
            org_id: row.try_get("org_id")?,
            module_id: row.try_get("module_id")?,
            offer_id: row.try_get("offer_id")?,
            quantity: row.try_get("quantity")?,
            status: row.try_get("status")?,
            anchor_at: time(row, "anchor_at")?,
            periods: row.try_get("periods")?,
            current_period_start: time(row, "current_period_start")?,
            current_period_end: time(row, "current_period_end")?,
            cancel_at_period_end: row.try_get::<i64, _>("cancel_at_period_end")? != 0,
            invoice_id: row.try_get("invoice_id")?,
            payment_method: row.try_get("payment_method")?,
            retry_count: row.try_get("retry_count")?,
            next_retry_at: time(row, "next_retry_at")?,
            created_at: Timestamp::from_micros(row.try_get("created_at")?),
            ended_at: time(row, "ended_at")?,
        })
    }

    pub fn is_final(&self) -> bool {
        matches!(self.status.as_str(), "canceled" | "ended")
    }

    pub fn view(&self) -> Subscription {
        Subscription {
            id: self.id.clone(),
            module_id: self.module_id.clone(),
            offer_id: self.offer_id.clone(),
            quantity: self.quantity,
            status: self.status.clone(),
            current_period_start: self.current_period_start,
            current_period_end: self.current_period_end,
            cancel_at_period_end: self.cancel_at_period_end,
            latest_invoice_id: self.invoice_id.clone(),
            created_at: self.created_at,
            ended_at: self.ended_at,
        }
    }
}

pub async fn find(conn: &mut AnyConnection, id: &str) -> ApiResult<Record> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM subscriptions WHERE id = $1"
    )))
    .bind(id)
    .fetch_one(conn)
    .await?;
    Ok(Record::from_row(&row)?)
}

/// Which subscriptions `lock` may take.
#[derive(Copy, Clone, Debug)]
pub enum LockIf {
    Always,
    /// Active and at (or past) the end of its period.
    PeriodEnded,
    /// Past due with a retry due.
    RetryDue,
}

/// Locks a subscription for the rest of the transaction and returns it as it is after any
/// concurrent change committed — but only while `condition` holds at `now`. Bumping `version`
/// is the write that takes the lock on both databases, and the claim that lets only one
/// process act on a due subscription.
pub async fn lock(
    tx: &mut Tx,
    id: &str,
    condition: LockIf,
    now: Timestamp,
) -> ApiResult<Option<Record>> {
    let condition = match condition {
        LockIf::Always => "",
        LockIf::PeriodEnded => " AND status = 'active' AND current_period_end <= $2",
        LockIf::RetryDue => " AND status = 'past_due' AND next_retry_at <= $2",
    };
    let mut query = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE subscriptions SET version = version + 1 WHERE id = $1{condition} RETURNING {COLUMNS}"
    )))
    .bind(id);
    if !condition.is_empty() {
        query = query.bind(now.micros());
    }
    let row = query.fetch_optional(&mut **tx).await?;
    Ok(row.as_ref().map(Record::from_row).transpose()?)
}

/// Subscriptions that are not final (they keep an organization from being deleted).
pub async fn live_count<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    executor: E,
    org_id: &str,
) -> ApiResult<i64> {
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM subscriptions WHERE org_id = $1 AND status NOT IN {FINAL}"
    )))
    .bind(org_id)
    .fetch_one(executor)
    .await?)
}

/// `live_count` inside a unit of work.
pub fn live_count_in(
    w: &mut crate::db::Unit<'_>,
    org_id: &str,
) -> Result<i64, crate::db::UnitError> {
    w.query_one(
        &format!("SELECT COUNT(*) FROM subscriptions WHERE org_id = $1 AND status NOT IN {FINAL}"),
        crate::params![org_id],
    )?
    .int_at(0)
}

pub struct NewSubscription<'a> {
    pub id: &'a str,
    pub org_id: &'a str,
    pub module_id: &'a str,
    pub offer_id: &'a str,
    pub quantity: i64,
    pub invoice_id: &'a str,
}

pub fn already_subscribed(module_id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::CheckoutError,
        format!("The organization already has a subscription to module {module_id}."),
    )
}

/// Inserts a pending subscription; a live one of the same module answers 400013 (the unique
/// index decides when checkouts race).
pub async fn insert(tx: &mut Tx, new: NewSubscription<'_>, now: Timestamp) -> ApiResult<()> {
    let inserted = sqlx::query(
        "INSERT INTO subscriptions (id, org_id, module_id, offer_id, quantity, status, invoice_id, created_at)
         VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7)",
    )
    .bind(new.id)
    .bind(new.org_id)
    .bind(new.module_id)
    .bind(new.offer_id)
    .bind(new.quantity)
    .bind(new.invoice_id)
    .bind(now.micros())
    .execute(&mut **tx)
    .await;
    match inserted {
        Ok(_) => Ok(()),
        Err(e) if crate::db::is_unique_violation(&e) => Err(already_subscribed(new.module_id)),
        Err(e) => Err(e.into()),
    }
}

/// Activates the organization's pending subscriptions whose invoice is paid and whose
/// agreements are all signed; the first period starts now.
pub async fn activate_ready(
    tx: &mut Tx,
    origin: &Origin,
    org_id: &str,
    now: Timestamp,
) -> ApiResult<()> {
    let ready = sqlx::query(
        "SELECT s.id, o.billing_interval FROM subscriptions s
         JOIN invoices i ON i.id = s.invoice_id
         JOIN offers o ON o.id = s.offer_id
         WHERE s.org_id = $1 AND s.status = 'pending' AND i.status = 'paid'
           AND NOT EXISTS (SELECT 1 FROM agreements a WHERE a.subscription_id = s.id AND a.status <> 'signed')
         ORDER BY s.id",
    )
    .bind(org_id)
    .fetch_all(&mut **tx)
    .await?;
    for row in ready {
        let id: String = row.try_get("id")?;
        let interval = Interval::parse(&row.try_get::<String, _>("billing_interval")?)
            .unwrap_or(Interval::Once);
        let end = interval.period_end(now, 1);
        let done = sqlx::query(
            "UPDATE subscriptions SET status = 'active', anchor_at = $2, periods = 1, current_period_start = $2,
                current_period_end = $3, version = version + 1
             WHERE id = $1 AND status = 'pending'",
        )
        .bind(&id)
        .bind(now.micros())
        .bind(end.map(Timestamp::micros))
        .execute(&mut **tx)
        .await?;
        if done.rows_affected() == 1 {
            audit::record(
                &mut **tx,
                origin,
                now,
                "subscription.activated",
                Some(org_id),
                json!({ "subscriptionId": id, "currentPeriodEnd": end }),
            )
            .await?;
        }
    }
    Ok(())
}

/// After an invoice is paid: remember the payment method for renewals, bring past-due
/// subscriptions of a renewal invoice back, and activate what is now ready.
pub async fn after_invoice_paid(
    tx: &mut Tx,
    origin: &Origin,
    invoice: &InvoiceHead,
    payment_method: Option<&str>,
    now: Timestamp,
) -> ApiResult<()> {
    if let Some(reference) = payment_method {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE subscriptions SET payment_method = $2 WHERE invoice_id = $1 AND status NOT IN {FINAL}"
        )))
        .bind(&invoice.id)
        .bind(reference)
        .execute(&mut **tx)
        .await?;
    }
    let recovered: Vec<String> = sqlx::query_scalar(
        "UPDATE subscriptions SET status = 'active', retry_count = 0, next_retry_at = NULL, version = version + 1
         WHERE invoice_id = $1 AND status = 'past_due' RETURNING id",
    )
    .bind(&invoice.id)
    .fetch_all(&mut **tx)
    .await?;
    for id in recovered {
        audit::record(
            &mut **tx,
            origin,
            now,
            "subscription.renewed",
            Some(&invoice.org_id),
            json!({ "subscriptionId": id, "invoiceId": invoice.id, "afterPastDue": true }),
        )
        .await?;
    }
    activate_ready(tx, origin, &invoice.org_id, now).await
}

/// The signing transaction of an agreement: activate what the signature unblocks.
pub async fn after_agreement_signed(
    tx: &mut Tx,
    org_id: &str,
    agreement_id: &str,
    now: Timestamp,
) -> ApiResult<()> {
    let signer: Option<String> =
        sqlx::query_scalar("SELECT signed_by FROM agreements WHERE id = $1")
            .bind(agreement_id)
            .fetch_optional(&mut **tx)
            .await?
            .flatten();
    let origin = Origin {
        actor: signer,
        request_id: Some(crate::error::request_id::current()).filter(|id| !id.is_empty()),
        source_address: None,
    };
    activate_ready(tx, &origin, org_id, now).await
}

/// Ends a subscription now (or at `at`), voiding its invoice if it is still open and no live
/// subscription shares it.
pub async fn finish(tx: &mut Tx, sub: &Record, status: &str, at: Timestamp) -> ApiResult<()> {
    sqlx::query(
        "UPDATE subscriptions SET status = $2, ended_at = $3, next_retry_at = NULL, version = version + 1 WHERE id = $1",
    )
    .bind(&sub.id)
    .bind(status)
    .bind(at.micros())
    .execute(&mut **tx)
    .await?;
    let sharing: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM subscriptions WHERE invoice_id = $1 AND status NOT IN {FINAL}"
    )))
    .bind(&sub.invoice_id)
    .fetch_one(&mut **tx)
    .await?;
    if sharing == 0 {
        invoices::void(tx, &sub.invoice_id, at).await?;
    }
    Ok(())
}

/// Cancels: an active subscription ends at its period's end (a `once` purchase at once); one
/// that never started, or is past due, is canceled now and its open invoice voided.
/// Opens a write transaction holding the lock of the subscription's organization. Every
/// commerce write that touches subscriptions or invoices takes this lock first (checkout,
/// payment, signing, cancel, refund, renewal, deleting the organization), so on PostgreSQL they
/// serialise per organization: no write-skew between paying and signing, and one lock order.
pub async fn begin_for(state: &AppState, subscription_id: &str) -> ApiResult<Tx> {
    let org: Option<String> = sqlx::query_scalar("SELECT org_id FROM subscriptions WHERE id = $1")
        .bind(subscription_id)
        .fetch_optional(state.db.pool())
        .await?;
    let mut tx = state.db.begin_write().await?;
    if let Some(org) = org {
        crate::orgs::lock_org(&mut tx, &org).await?;
    }
    Ok(tx)
}

pub async fn cancel(state: &AppState, origin: &Origin, id: &str) -> ApiResult<Subscription> {
    let now = state.clock.now();
    let mut tx = begin_for(state, id).await?;
    let sub = lock(&mut tx, id, LockIf::Always, now)
        .await?
        .ok_or_else(|| ApiError::not_found("The subscription"))?;
    let invoice = invoices::head(&mut *tx, &sub.invoice_id).await?;
    let (action, status) = match sub.status.as_str() {
        "canceled" | "ended" => {
            return Err(ApiError::validation(
                "subscriptionId",
                "this subscription has already ended",
            ));
        }
        "pending" if invoice.status == "paid" => {
            return Err(ApiError::validation(
                "subscriptionId",
                "this subscription is paid and waits for an agreement; request a refund to end it",
            ));
        }
        "pending" | "past_due" => ("subscription.canceled", "canceled"),
        _ if sub.current_period_end.is_none() => ("subscription.ended", "ended"),
        _ => ("subscription.cancel_scheduled", "active"),
    };
    if status == "active" {
        sqlx::query("UPDATE subscriptions SET cancel_at_period_end = 1 WHERE id = $1")
            .bind(&sub.id)
            .execute(&mut *tx)
            .await?;
    } else if sub.status == "pending" && invoice.status == "open" {
        // An unpaid checkout is canceled whole: every subscription it created ends and its
        // invoice is voided, so nobody is later billed for a canceled module.
        let siblings: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM subscriptions WHERE invoice_id = $1 AND status = 'pending' ORDER BY id",
        )
        .bind(&sub.invoice_id)
        .fetch_all(&mut *tx)
        .await?;
        for sibling in siblings {
            if let Some(record) = lock(&mut tx, &sibling, LockIf::Always, now).await? {
                finish(&mut tx, &record, status, now).await?;
            }
        }
    } else {
        finish(&mut tx, &sub, status, now).await?;
    }
    if !(status == "active" && sub.cancel_at_period_end) {
        audit::record(
            &mut *tx,
            origin,
            now,
            action,
            Some(&sub.org_id),
            json!({ "subscriptionId": sub.id, "reason": "canceled" }),
        )
        .await?;
    }
    let view = find(&mut tx, &sub.id).await?.view();
    tx.commit().await?;
    Ok(view)
}

/// The organization's subscriptions, newest first; `query` filters on status, moduleId and
/// createdAt (docs/query.md).
#[utoipa::path(get, path = "/v1/orgs/{orgId}/subscriptions", tag = "billing",
    params(("orgId" = String, Path), ("from" = Option<i64>, Query), ("limit" = Option<i64>, Query),
        ("query" = Option<String>, Query, description = "Filter (section 7's query language): status, moduleId, createdAt")),
    responses((status = 200, body = Page<Subscription>)))]
pub async fn list(
    State(state): State<AppState>,
    ctx: OrgContext,
    params: ListParams,
) -> ApiResult<Json<Page<Subscription>>> {
    let page = crate::db::page::filtered_rows(
        &state.db,
        &params,
        crate::query::SUBSCRIPTIONS,
        COLUMNS,
        "subscriptions",
        Some(("org_id", &ctx.org.id)),
        "created_at DESC, id DESC",
        |r| Record::from_row(r).map(|s| s.view()),
    )
    .await?;
    Ok(Json(page))
}

/// One subscription.
#[utoipa::path(get, path = "/v1/orgs/{orgId}/subscriptions/{subscriptionId}", tag = "billing",
    params(("orgId" = String, Path), ("subscriptionId" = String, Path)), responses((status = 200, body = Subscription)))]
pub async fn get(
    State(state): State<AppState>,
    _ctx: OrgContext,
    ApiPath(path): ApiPath<(String, String)>,
) -> ApiResult<Json<Subscription>> {
    let (_, id) = path;
    let mut conn = state.db.pool().acquire().await?;
    Ok(Json(find(&mut conn, &id).await?.view()))
}

/// Cancels a subscription (owner, billing): it ends at the end of the current period.
#[utoipa::path(post, path = "/v1/orgs/{orgId}/subscriptions/{subscriptionId}/cancel", tag = "billing",
    params(("orgId" = String, Path), ("subscriptionId" = String, Path)), responses((status = 200, body = Subscription)))]
pub async fn cancel_route(
    State(state): State<AppState>,
    _ctx: OrgContext,
    origin: Origin,
    ApiPath(path): ApiPath<(String, String)>,
) -> ApiResult<Json<Subscription>> {
    let (_, id) = path;
    Ok(Json(cancel(&state, &origin, &id).await?))
}
