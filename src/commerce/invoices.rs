//! Invoices (7): issued by checkout and by renewals, paid once, never edited afterwards (only
//! `status`, `paidAt` and the void time change). Payments and refunds are records of their own
//! that an invoice lists.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use sqlx::AnyConnection;
use sqlx::Row as _;
use sqlx::any::AnyArguments;
use sqlx::query::Query;

use crate::api::extract::ApiPath;
use crate::app::AppState;
use crate::crypto::new_id;
use crate::db::Tx;
use crate::error::{ApiError, ApiResult};
use crate::list::{ListParams, Page};
use crate::orgs::access::OrgContext;
use crate::time::Timestamp;

use super::money::{Money, Totals, allocate};
use super::payments::{self, Payment};
use super::refunds::{self, Refund};

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceLine {
    pub subscription_id: String,
    pub module_id: String,
    pub offer_id: String,
    pub unit_price: Money,
    pub quantity: i64,
    pub amount: Money,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Invoice {
    pub id: String,
    /// `checkout` or `renewal`.
    pub kind: String,
    /// `open`, `paid` or `void`.
    pub status: String,
    /// ISO 4217; every money field of the invoice is in it.
    pub currency: String,
    pub lines: Vec<InvoiceLine>,
    pub subtotal: Money,
    pub discount: Money,
    pub tax: Money,
    pub total: Money,
    /// What is still to pay: the total while open, zero once paid or void.
    pub amount_due: Money,
    pub payments: Vec<Payment>,
    pub refunds: Vec<Refund>,
    pub created_at: Timestamp,
    pub paid_at: Option<Timestamp>,
}

/// The columns every rule about paying needs.
#[derive(Clone, Debug)]
pub struct InvoiceHead {
    pub id: String,
    pub org_id: String,
    pub status: String,
    pub total: i64,
    pub currency: String,
}

const SELECT: &str = "SELECT id, org_id, kind, status, currency, subtotal, discount, tax, total, created_at, paid_at FROM invoices";

pub async fn head<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    executor: E,
    id: &str,
) -> ApiResult<InvoiceHead> {
    let row = sqlx::query("SELECT id, org_id, status, total, currency FROM invoices WHERE id = $1")
        .bind(id)
        .fetch_one(executor)
        .await?;
    Ok(InvoiceHead {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        status: row.try_get("status")?,
        total: row.try_get("total")?,
        currency: row.try_get("currency")?,
    })
}

/// `sql` with `{ids}` replaced by one placeholder per id (`$1, $2, …`), the ids bound in order:
/// ids are never spliced into SQL.
pub fn with_ids(sql: &str, ids: &[String]) -> Query<'static, sqlx::Any, AnyArguments> {
    let list = (1..=ids.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.replace("{ids}", &list)));
    for id in ids {
        query = query.bind(id.clone());
    }
    query
}

/// Loads the invoices with these ids, in this order, with their lines, payments and refunds.
pub async fn load(conn: &mut AnyConnection, ids: &[String]) -> ApiResult<Vec<Invoice>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = with_ids(&format!("{SELECT} WHERE id IN ({{ids}})"), ids)
        .fetch_all(&mut *conn)
        .await?;
    let mut lines = load_lines(conn, ids).await?;
    let mut payments = payments::for_invoices(conn, ids).await?;
    let mut refunds = refunds::for_invoices(conn, ids).await?;
    let mut invoices = Vec::with_capacity(rows.len());
    for id in ids {
        let Some(row) = rows
            .iter()
            .find(|r| r.try_get::<String, _>("id").ok().as_ref() == Some(id))
        else {
            continue;
        };
        let currency: String = row.try_get("currency")?;
        let money = |column: &str| -> Result<Money, sqlx::Error> {
            Ok(Money::new(row.try_get(column)?, &currency))
        };
        let status: String = row.try_get("status")?;
        let total: i64 = row.try_get("total")?;
        invoices.push(Invoice {
            id: id.clone(),
            kind: row.try_get("kind")?,
            amount_due: Money::new(if status == "open" { total } else { 0 }, &currency),
            status,
            lines: lines.remove(id).unwrap_or_default(),
            subtotal: money("subtotal")?,
            discount: money("discount")?,
            tax: money("tax")?,
            total: money("total")?,
            payments: payments.remove(id).unwrap_or_default(),
            refunds: refunds.remove(id).unwrap_or_default(),
            created_at: Timestamp::from_micros(row.try_get("created_at")?),
            paid_at: row
                .try_get::<Option<i64>, _>("paid_at")?
                .map(Timestamp::from_micros),
            currency,
        });
    }
    Ok(invoices)
}

async fn load_lines(
    conn: &mut AnyConnection,
    ids: &[String],
) -> ApiResult<std::collections::HashMap<String, Vec<InvoiceLine>>> {
    let query = with_ids(
        "SELECT l.invoice_id, l.subscription_id, l.module_id, l.offer_id, l.unit_amount, l.quantity, l.amount, i.currency
         FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id
         WHERE l.invoice_id IN ({ids}) ORDER BY l.invoice_id, l.line_no",
        ids,
    );
    let mut by_invoice = std::collections::HashMap::<String, Vec<InvoiceLine>>::new();
    for row in query.fetch_all(&mut *conn).await? {
        let currency: String = row.try_get("currency")?;
        by_invoice
            .entry(row.try_get("invoice_id")?)
            .or_default()
            .push(InvoiceLine {
                subscription_id: row.try_get("subscription_id")?,
                module_id: row.try_get("module_id")?,
                offer_id: row.try_get("offer_id")?,
                unit_price: Money::new(row.try_get("unit_amount")?, &currency),
                quantity: row.try_get("quantity")?,
                amount: Money::new(row.try_get("amount")?, &currency),
            });
    }
    Ok(by_invoice)
}

pub async fn load_one(conn: &mut AnyConnection, id: &str) -> ApiResult<Invoice> {
    load(conn, &[id.to_string()])
        .await?
        .pop()
        .ok_or_else(|| ApiError::not_found("The invoice"))
}

/// One line of a new invoice; its subscription exists (or is created in the same transaction).
pub struct NewLine {
    pub subscription_id: String,
    pub module_id: String,
    pub offer_id: String,
    pub unit_amount: i64,
    pub quantity: i64,
    pub amount: i64,
}

pub struct NewInvoice<'a> {
    pub org_id: &'a str,
    /// `checkout` or `renewal`.
    pub kind: &'a str,
    pub currency: &'a str,
    pub totals: Totals,
    pub tax_rate_ppm: i64,
    pub price_calculation_id: Option<&'a str>,
    pub coupon_id: Option<&'a str>,
    pub lines: Vec<NewLine>,
}

/// Inserts an open invoice and its lines; each line bears a share of the total in proportion
/// to its amount (what a refund of that line's subscription gives back).
pub async fn insert(tx: &mut Tx, new: NewInvoice<'_>, now: Timestamp) -> ApiResult<String> {
    let id = new_id("inv");
    let t = new.totals;
    sqlx::query(
        "INSERT INTO invoices (id, org_id, kind, status, currency, subtotal, discount, tax, total, tax_rate_ppm, price_calculation_id, coupon_id, created_at)
         VALUES ($1, $2, $3, 'open', $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&id)
    .bind(new.org_id)
    .bind(new.kind)
    .bind(new.currency)
    .bind(t.subtotal)
    .bind(t.discount)
    .bind(t.tax)
    .bind(t.total)
    .bind(new.tax_rate_ppm)
    .bind(new.price_calculation_id.map(str::to_string))
    .bind(new.coupon_id.map(str::to_string))
    .bind(now.micros())
    .execute(&mut **tx)
    .await?;
    let amounts: Vec<i64> = new.lines.iter().map(|l| l.amount).collect();
    let shares = allocate(t.total, &amounts);
    for (i, (line, share)) in new.lines.iter().zip(shares).enumerate() {
        sqlx::query(
            "INSERT INTO invoice_lines (invoice_id, line_no, subscription_id, module_id, offer_id, unit_amount, quantity, amount, total_share)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(i as i64)
        .bind(&line.subscription_id)
        .bind(&line.module_id)
        .bind(&line.offer_id)
        .bind(line.unit_amount)
        .bind(line.quantity)
        .bind(line.amount)
        .bind(share)
        .execute(&mut **tx)
        .await?;
    }
    Ok(id)
}

/// What claiming an invoice for payment found.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// It was open and is now paid inside the caller's transaction: charge, then commit, or
    /// release (or roll back) on a decline. Until then concurrent claims wait or fail.
    Claimed,
    AlreadyPaid,
    Void,
}

/// Claims an open invoice with one conditional update, so exactly one payer wins a race on
/// either database (PostgreSQL re-checks `status = 'open'` after the winner commits).
pub async fn claim(tx: &mut Tx, id: &str, now: Timestamp) -> ApiResult<Claim> {
    let done = sqlx::query(
        "UPDATE invoices SET status = 'paid', paid_at = $2 WHERE id = $1 AND status = 'open'",
    )
    .bind(id)
    .bind(now.micros())
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() == 1 {
        return Ok(Claim::Claimed);
    }
    let status: String = sqlx::query_scalar("SELECT status FROM invoices WHERE id = $1")
        .bind(id)
        .fetch_one(&mut **tx)
        .await?;
    Ok(match status.as_str() {
        "void" => Claim::Void,
        _ => Claim::AlreadyPaid,
    })
}

/// Gives a claimed invoice back after a decline, inside the same transaction.
pub async fn release(tx: &mut Tx, id: &str) -> ApiResult<()> {
    sqlx::query(
        "UPDATE invoices SET status = 'open', paid_at = NULL WHERE id = $1 AND status = 'paid'",
    )
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Voids an open invoice (its subscription ended before it was paid).
pub async fn void(tx: &mut Tx, id: &str, now: Timestamp) -> ApiResult<()> {
    sqlx::query(
        "UPDATE invoices SET status = 'void', voided_at = $2 WHERE id = $1 AND status = 'open'",
    )
    .bind(id)
    .bind(now.micros())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The organization's invoices, newest first; `query` filters on status, total, currency and
/// createdAt (docs/query.md).
#[utoipa::path(get, path = "/v1/orgs/{orgId}/invoices", tag = "billing",
    params(("orgId" = String, Path), ("from" = Option<i64>, Query), ("limit" = Option<i64>, Query),
        ("query" = Option<String>, Query, description = "Filter (section 7's query language): status, total, currency, createdAt")),
    responses((status = 200, body = Page<Invoice>)))]
pub async fn list(
    State(state): State<AppState>,
    ctx: OrgContext,
    params: ListParams,
) -> ApiResult<Json<Page<Invoice>>> {
    let filter = crate::query::filter(params.query.as_deref(), crate::query::INVOICES, 2)?;
    let mut conn = state.db.pool().acquire().await?;
    let count = format!(
        "SELECT COUNT(*) FROM invoices WHERE org_id = $1{}",
        filter.and_clause()
    );
    let total: i64 = filter
        .bind_scalar(sqlx::query_scalar(sqlx::AssertSqlSafe(count)).bind(&ctx.org.id))
        .fetch_one(&mut *conn)
        .await?;
    let n = filter.next_placeholder();
    // When many invoices match, a page is found fastest by walking the organization's invoices
    // newest first until `limit` match. Without statistics SQLite would range-scan a filter
    // index and sort every match instead, so it is told; with few matches that sort is cheap and
    // the filter index is right. PostgreSQL's planner has the statistics to choose.
    let hint = match state.db.backend() {
        crate::db::Backend::Sqlite if total > 5_000 => " INDEXED BY invoices_org",
        _ => "",
    };
    let page = format!(
        "SELECT id FROM invoices{hint} WHERE org_id = $1{} ORDER BY created_at DESC, id DESC LIMIT ${n} OFFSET ${}",
        filter.and_clause(),
        n + 1
    );
    let ids: Vec<String> = filter
        .bind_scalar(sqlx::query_scalar(sqlx::AssertSqlSafe(page)).bind(&ctx.org.id))
        .bind(params.limit)
        .bind(params.from)
        .fetch_all(&mut *conn)
        .await?;
    let items = load(&mut conn, &ids).await?;
    Ok(Json(Page::new(&params, items, total)))
}

/// One invoice with its lines, payments and refunds.
#[utoipa::path(get, path = "/v1/orgs/{orgId}/invoices/{invoiceId}", tag = "billing",
    params(("orgId" = String, Path), ("invoiceId" = String, Path)), responses((status = 200, body = Invoice)))]
pub async fn get(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<(String, String)>,
) -> ApiResult<Json<Invoice>> {
    let (_, id) = path;
    let mut conn = state.db.pool().acquire().await?;
    Ok(Json(load_one(&mut conn, &id).await?))
}
