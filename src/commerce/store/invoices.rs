//! Invoices, their lines, and the invoice views with payments and refunds.

use std::collections::HashMap;

use crate::db::{Backend, Db, FromRecord, Record, Unit, UnitError, Value};
use crate::error::ApiResult;
use crate::list::{ListParams, Page};
use crate::time::Timestamp;

use super::super::invoices::{Invoice, InvoiceHead, InvoiceLine, NewInvoice};
use super::super::money::{Money, allocate};
use super::super::payments::Payment;
use super::super::refunds::Refund;

const SELECT: &str = "SELECT id, org_id, kind, status, currency, subtotal, discount, tax, total, created_at, paid_at FROM invoices";

const HEAD: &str = "SELECT id, org_id, status, total, currency FROM invoices WHERE id = $1";

const LINES: &str = "SELECT l.invoice_id, l.subscription_id, l.module_id, l.offer_id, l.unit_amount, l.quantity, l.amount, i.currency
     FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id
     WHERE l.invoice_id IN ({ids}) ORDER BY l.invoice_id, l.line_no";

impl FromRecord for InvoiceHead {
    fn from_record(r: &Record) -> Result<Self, UnitError> {
        Ok(InvoiceHead {
            id: r.text("id")?,
            org_id: r.text("org_id")?,
            status: r.text("status")?,
            total: r.int("total")?,
            currency: r.text("currency")?,
        })
    }
}

/// An invoice without its lines, payments and refunds (`assemble` adds them).
impl FromRecord for Invoice {
    fn from_record(r: &Record) -> Result<Self, UnitError> {
        let currency = r.text("currency")?;
        let money = |column: &str| Ok::<_, UnitError>(Money::new(r.int(column)?, &currency));
        let status = r.text("status")?;
        let total = r.int("total")?;
        Ok(Invoice {
            id: r.text("id")?,
            kind: r.text("kind")?,
            amount_due: Money::new(if status == "open" { total } else { 0 }, &currency),
            status,
            lines: Vec::new(),
            subtotal: money("subtotal")?,
            discount: money("discount")?,
            tax: money("tax")?,
            total: money("total")?,
            payments: Vec::new(),
            refunds: Vec::new(),
            created_at: r.time("created_at")?,
            paid_at: r.opt_time("paid_at")?,
            currency,
        })
    }
}

/// A line with the invoice it belongs to.
pub(crate) struct LineOf {
    invoice_id: String,
    line: InvoiceLine,
}

impl FromRecord for LineOf {
    fn from_record(r: &Record) -> Result<Self, UnitError> {
        let currency = r.text("currency")?;
        Ok(LineOf {
            invoice_id: r.text("invoice_id")?,
            line: InvoiceLine {
                subscription_id: r.text("subscription_id")?,
                module_id: r.text("module_id")?,
                offer_id: r.text("offer_id")?,
                unit_price: Money::new(r.int("unit_amount")?, &currency),
                quantity: r.int("quantity")?,
                amount: Money::new(r.int("amount")?, &currency),
            },
        })
    }
}

pub(crate) async fn head(db: &Db, id: &str) -> Result<Option<InvoiceHead>, UnitError> {
    db.read_opt(HEAD, crate::params![id]).await
}

pub(crate) fn head_in(w: &mut Unit<'_>, id: &str) -> Result<InvoiceHead, UnitError> {
    InvoiceHead::from_record(&w.query_one(HEAD, crate::params![id])?)
}

/// The invoices with these ids, in this order, with their lines, payments and refunds.
pub(crate) async fn load(db: &Db, ids: &[String]) -> Result<Vec<Invoice>, UnitError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let read = |sql: &str| super::with_ids(sql, ids);
    let (sql, params) = read(&format!("{SELECT} WHERE id IN ({{ids}})"));
    let invoices = db.read_all(&sql, &params).await?;
    let (sql, params) = read(LINES);
    let lines = db.read_all(&sql, &params).await?;
    let (sql, params) = read(super::payments::OF_INVOICES);
    let payments = db.read_all(&sql, &params).await?;
    let (sql, params) = read(super::refunds::OF_INVOICES);
    let refunds = db.read_all(&sql, &params).await?;
    Ok(assemble(ids, invoices, lines, payments, refunds))
}

/// `load` inside a unit of work.
pub(crate) fn load_in(w: &mut Unit<'_>, ids: &[String]) -> Result<Vec<Invoice>, UnitError> {
    let read = |sql: &str| super::with_ids(sql, ids);
    let (sql, params) = read(&format!("{SELECT} WHERE id IN ({{ids}})"));
    let invoices = super::all_in(w, &sql, &params)?;
    let (sql, params) = read(LINES);
    let lines = super::all_in(w, &sql, &params)?;
    let (sql, params) = read(super::payments::OF_INVOICES);
    let payments = super::all_in(w, &sql, &params)?;
    let (sql, params) = read(super::refunds::OF_INVOICES);
    let refunds = super::all_in(w, &sql, &params)?;
    Ok(assemble(ids, invoices, lines, payments, refunds))
}

fn assemble(
    ids: &[String],
    invoices: Vec<Invoice>,
    lines: Vec<LineOf>,
    payments: Vec<Payment>,
    refunds: Vec<Refund>,
) -> Vec<Invoice> {
    let mut lines_of = HashMap::<String, Vec<InvoiceLine>>::new();
    for l in lines {
        lines_of.entry(l.invoice_id).or_default().push(l.line);
    }
    let mut payments_of = HashMap::<String, Vec<Payment>>::new();
    for p in payments {
        payments_of.entry(p.invoice_id.clone()).or_default().push(p);
    }
    let mut refunds_of = HashMap::<String, Vec<Refund>>::new();
    for r in refunds {
        refunds_of.entry(r.invoice_id.clone()).or_default().push(r);
    }
    let mut by_id: HashMap<String, Invoice> =
        invoices.into_iter().map(|i| (i.id.clone(), i)).collect();
    ids.iter()
        .filter_map(|id| by_id.remove(id))
        .map(|mut invoice| {
            invoice.lines = lines_of.remove(&invoice.id).unwrap_or_default();
            invoice.payments = payments_of.remove(&invoice.id).unwrap_or_default();
            invoice.refunds = refunds_of.remove(&invoice.id).unwrap_or_default();
            invoice
        })
        .collect()
}

/// A page of the organization's invoices, newest first, that pass the list's `query`.
pub(crate) async fn page(db: &Db, params: &ListParams, org_id: &str) -> ApiResult<Page<Invoice>> {
    let filter = crate::query::filter(params.query.as_deref(), crate::query::INVOICES, 2)?;
    let mut values = vec![Value::from(org_id)];
    values.extend(filter.binds.iter().map(|bind| match bind {
        crate::query::Bind::Int(v) => Value::from(*v),
        crate::query::Bind::Text(v) => Value::from(v.clone()),
    }));
    let total: i64 = db
        .read_one(
            &format!(
                "SELECT COUNT(*) FROM invoices WHERE org_id = $1{}",
                filter.and_clause()
            ),
            &values,
        )
        .await?;
    let n = filter.next_placeholder();
    // When many invoices match, a page is found fastest by walking the organization's invoices
    // newest first until `limit` match. Without statistics SQLite would range-scan a filter
    // index and sort every match instead, so it is told; with few matches that sort is cheap and
    // the filter index is right. PostgreSQL's planner has the statistics to choose.
    let hint = match db.backend() {
        Backend::Sqlite if total > 5_000 => " INDEXED BY invoices_org",
        _ => "",
    };
    values.push(Value::from(params.limit));
    values.push(Value::from(params.from));
    let ids: Vec<String> = db
        .read_all(
            &format!(
                "SELECT id FROM invoices{hint} WHERE org_id = $1{} ORDER BY created_at DESC, id DESC LIMIT ${n} OFFSET ${}",
                filter.and_clause(),
                n + 1
            ),
            &values,
        )
        .await?;
    let items = load(db, &ids).await?;
    Ok(Page::new(params, items, total))
}

/// Inserts an open invoice and its lines; each line bears a share of the total in proportion
/// to its amount (what a refund of that line's subscription gives back).
pub(crate) fn insert(
    w: &mut Unit<'_>,
    id: &str,
    new: &NewInvoice<'_>,
    now: Timestamp,
) -> Result<(), UnitError> {
    let t = new.totals;
    w.execute(
        "INSERT INTO invoices (id, org_id, kind, status, currency, subtotal, discount, tax, total, tax_rate_ppm, price_calculation_id, coupon_id, created_at)
         VALUES ($1, $2, $3, 'open', $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        crate::params![
            id,
            new.org_id,
            new.kind,
            new.currency,
            t.subtotal,
            t.discount,
            t.tax,
            t.total,
            new.tax_rate_ppm,
            new.price_calculation_id,
            new.coupon_id,
            now
        ],
    )?;
    let amounts: Vec<i64> = new.lines.iter().map(|l| l.amount).collect();
    let shares = allocate(t.total, &amounts);
    for (i, (line, share)) in new.lines.iter().zip(shares).enumerate() {
        w.execute(
            "INSERT INTO invoice_lines (invoice_id, line_no, subscription_id, module_id, offer_id, unit_amount, quantity, amount, total_share)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            crate::params![
                id,
                i as i64,
                line.subscription_id.as_str(),
                line.module_id.as_str(),
                line.offer_id.as_str(),
                line.unit_amount,
                line.quantity,
                line.amount,
                share
            ],
        )?;
    }
    Ok(())
}

/// Marks an open invoice paid; false when it was not open.
pub(crate) fn mark_paid(w: &mut Unit<'_>, id: &str, now: Timestamp) -> Result<bool, UnitError> {
    let done = w.execute(
        "UPDATE invoices SET status = 'paid', paid_at = $2 WHERE id = $1 AND status = 'open'",
        crate::params![id, now],
    )?;
    Ok(done == 1)
}

/// Voids an open invoice, unless a payment of it is under way.
pub(crate) fn void(w: &mut Unit<'_>, id: &str, now: Timestamp) -> Result<(), UnitError> {
    w.execute(
        "UPDATE invoices SET status = 'void', voided_at = $2 WHERE id = $1 AND status = 'open'
           AND NOT EXISTS (SELECT 1 FROM payment_attempts a WHERE a.invoice_id = $1 AND a.settled_at IS NULL)",
        crate::params![id, now],
    )?;
    Ok(())
}
