//! Subscriptions: their rows, the version claim that locks one, and the changes of status.

use crate::db::{Db, FromRecord, Record, Unit, UnitError};
use crate::error::ApiResult;
use crate::list::{ListParams, Page};
use crate::time::Timestamp;

use super::super::interval::Interval;
use super::super::subscriptions::{LockIf, Subscription, SubscriptionRow};

/// Statuses after which nothing happens to a subscription any more.
const FINAL: &str = "('canceled', 'ended')";

const COLUMNS: &str = "id, org_id, module_id, offer_id, quantity, status, anchor_at, periods, current_period_start, current_period_end, cancel_at_period_end, invoice_id, payment_method, retry_count, next_retry_at, created_at, ended_at";

impl FromRecord for SubscriptionRow {
    fn from_record(r: &Record) -> Result<Self, UnitError> {
        Ok(SubscriptionRow {
            id: r.text("id")?,
            org_id: r.text("org_id")?,
            module_id: r.text("module_id")?,
            offer_id: r.text("offer_id")?,
            quantity: r.int("quantity")?,
            status: r.text("status")?,
            anchor_at: r.opt_time("anchor_at")?,
            periods: r.int("periods")?,
            current_period_start: r.opt_time("current_period_start")?,
            current_period_end: r.opt_time("current_period_end")?,
            cancel_at_period_end: r.flag("cancel_at_period_end")?,
            invoice_id: r.text("invoice_id")?,
            payment_method: r.opt_text("payment_method")?,
            retry_count: r.int("retry_count")?,
            next_retry_at: r.opt_time("next_retry_at")?,
            created_at: r.time("created_at")?,
            ended_at: r.opt_time("ended_at")?,
        })
    }
}

impl FromRecord for Subscription {
    fn from_record(r: &Record) -> Result<Self, UnitError> {
        Ok(SubscriptionRow::from_record(r)?.view())
    }
}

pub(crate) async fn find(db: &Db, id: &str) -> Result<Option<SubscriptionRow>, UnitError> {
    db.read_opt(
        &format!("SELECT {COLUMNS} FROM subscriptions WHERE id = $1"),
        crate::params![id],
    )
    .await
}

pub(crate) fn find_in(w: &mut Unit<'_>, id: &str) -> Result<Option<SubscriptionRow>, UnitError> {
    super::opt_in(
        w,
        &format!("SELECT {COLUMNS} FROM subscriptions WHERE id = $1"),
        crate::params![id],
    )
}

/// The subscription an invoice bills now (a renewal invoice's one subscription).
pub(crate) fn billed_by(w: &mut Unit<'_>, invoice_id: &str) -> Result<Option<String>, UnitError> {
    w.query_opt(
        "SELECT id FROM subscriptions WHERE invoice_id = $1 ORDER BY id LIMIT 1",
        crate::params![invoice_id],
    )?
    .map(|r| r.text_at(0))
    .transpose()
}

/// The organization a subscription belongs to, if it exists.
pub(crate) fn org_of(w: &mut Unit<'_>, id: &str) -> Result<Option<String>, UnitError> {
    w.query_opt(
        "SELECT org_id FROM subscriptions WHERE id = $1",
        crate::params![id],
    )?
    .map(|r| r.text_at(0))
    .transpose()
}

/// Bumps the subscription's `version` while `condition` holds at `now` and returns the row as
/// it is after any concurrent change committed. The write takes the row lock on both databases
/// and is the claim that lets one process act on a due subscription.
pub(crate) fn lock(
    w: &mut Unit<'_>,
    id: &str,
    condition: LockIf,
    now: Timestamp,
) -> Result<Option<SubscriptionRow>, UnitError> {
    let update = "UPDATE subscriptions SET version = version + 1 WHERE id = $1";
    let row = match condition {
        LockIf::Always => {
            w.query_opt(&format!("{update} RETURNING {COLUMNS}"), crate::params![id])?
        }
        LockIf::PeriodEnded => w.query_opt(
            &format!(
                "{update} AND status = 'active' AND current_period_end <= $2 RETURNING {COLUMNS}"
            ),
            crate::params![id, now],
        )?,
        LockIf::RetryDue => w.query_opt(
            &format!(
                "{update} AND status = 'past_due' AND next_retry_at <= $2 RETURNING {COLUMNS}"
            ),
            crate::params![id, now],
        )?,
    };
    row.as_ref().map(SubscriptionRow::from_record).transpose()
}

/// Subscriptions on an invoice that are not final.
pub(crate) fn live_on_invoice(w: &mut Unit<'_>, invoice_id: &str) -> Result<i64, UnitError> {
    w.query_one(
        &format!(
            "SELECT COUNT(*) FROM subscriptions WHERE invoice_id = $1 AND status NOT IN {FINAL}"
        ),
        crate::params![invoice_id],
    )?
    .int_at(0)
}

/// The pending subscriptions of an invoice (one checkout's).
pub(crate) fn pending_on_invoice(
    w: &mut Unit<'_>,
    invoice_id: &str,
) -> Result<Vec<String>, UnitError> {
    w.query(
        "SELECT id FROM subscriptions WHERE invoice_id = $1 AND status = 'pending' ORDER BY id",
        crate::params![invoice_id],
    )?
    .iter()
    .map(|r| r.text_at(0))
    .collect()
}

/// A new pending subscription.
pub(crate) struct NewSubscription<'a> {
    pub id: &'a str,
    pub org_id: &'a str,
    pub module_id: &'a str,
    pub offer_id: &'a str,
    pub quantity: i64,
    pub invoice_id: &'a str,
}

/// Inserts a pending subscription unless the organization has a live one of the module (the
/// partial unique index decides when checkouts race); whether it was inserted.
pub(crate) fn insert(
    w: &mut Unit<'_>,
    new: &NewSubscription<'_>,
    now: Timestamp,
) -> Result<bool, UnitError> {
    let inserted = w.execute(
        "INSERT INTO subscriptions (id, org_id, module_id, offer_id, quantity, status, invoice_id, created_at)
         VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7) ON CONFLICT DO NOTHING",
        crate::params![
            new.id,
            new.org_id,
            new.module_id,
            new.offer_id,
            new.quantity,
            new.invoice_id,
            now
        ],
    )?;
    Ok(inserted == 1)
}

/// The organization's pending subscriptions whose invoice is paid and whose agreements are all
/// signed, with their offers' intervals.
pub(crate) fn ready(w: &mut Unit<'_>, org_id: &str) -> Result<Vec<(String, Interval)>, UnitError> {
    w.query(
        "SELECT s.id, o.billing_interval FROM subscriptions s
         JOIN invoices i ON i.id = s.invoice_id
         JOIN offers o ON o.id = s.offer_id
         WHERE s.org_id = $1 AND s.status = 'pending' AND i.status = 'paid'
           AND NOT EXISTS (SELECT 1 FROM agreements a WHERE a.subscription_id = s.id AND a.status <> 'signed')
         ORDER BY s.id",
        crate::params![org_id],
    )?
    .iter()
    .map(|r| {
        let interval = Interval::parse(&r.text("billing_interval")?).unwrap_or(Interval::Once);
        Ok((r.text("id")?, interval))
    })
    .collect()
}

/// Starts a pending subscription's first period; false when it is no longer pending.
pub(crate) fn activate(
    w: &mut Unit<'_>,
    id: &str,
    now: Timestamp,
    end: Option<Timestamp>,
) -> Result<bool, UnitError> {
    let done = w.execute(
        "UPDATE subscriptions SET status = 'active', anchor_at = $2, periods = 1, current_period_start = $2,
            current_period_end = $3, version = version + 1
         WHERE id = $1 AND status = 'pending'",
        crate::params![id, now, end],
    )?;
    Ok(done == 1)
}

/// The payment method renewals of the invoice's live subscriptions charge.
pub(crate) fn remember_payment_method(
    w: &mut Unit<'_>,
    invoice_id: &str,
    reference: &str,
) -> Result<(), UnitError> {
    w.execute(
        &format!(
            "UPDATE subscriptions SET payment_method = $2 WHERE invoice_id = $1 AND status NOT IN {FINAL}"
        ),
        crate::params![invoice_id, reference],
    )?;
    Ok(())
}

/// Past-due subscriptions of a paid renewal invoice become active again; their ids.
pub(crate) fn reactivate_past_due(
    w: &mut Unit<'_>,
    invoice_id: &str,
) -> Result<Vec<String>, UnitError> {
    w.query(
        "UPDATE subscriptions SET status = 'active', retry_count = 0, next_retry_at = NULL, version = version + 1
         WHERE invoice_id = $1 AND status = 'past_due' RETURNING id",
        crate::params![invoice_id],
    )?
    .iter()
    .map(|r| r.text_at(0))
    .collect()
}

/// Ends a subscription (`canceled` or `ended`) at `at`.
pub(crate) fn end(
    w: &mut Unit<'_>,
    id: &str,
    status: &str,
    at: Timestamp,
) -> Result<(), UnitError> {
    w.execute(
        "UPDATE subscriptions SET status = $2, ended_at = $3, next_retry_at = NULL, version = version + 1 WHERE id = $1",
        crate::params![id, status, at],
    )?;
    Ok(())
}

pub(crate) fn cancel_at_period_end(w: &mut Unit<'_>, id: &str) -> Result<(), UnitError> {
    w.execute(
        "UPDATE subscriptions SET cancel_at_period_end = 1 WHERE id = $1",
        crate::params![id],
    )?;
    Ok(())
}

/// The subscription's next period, billed by `invoice_id`.
pub(crate) fn start_period(
    w: &mut Unit<'_>,
    id: &str,
    invoice_id: &str,
    start: Timestamp,
    end: Option<Timestamp>,
) -> Result<(), UnitError> {
    w.execute(
        "UPDATE subscriptions SET invoice_id = $2, periods = periods + 1, current_period_start = $3, current_period_end = $4
         WHERE id = $1",
        crate::params![id, invoice_id, start, end],
    )?;
    Ok(())
}

/// A declined renewal: `retries` failed retries so far, the next at `next`.
pub(crate) fn mark_past_due(
    w: &mut Unit<'_>,
    id: &str,
    retries: i64,
    next: Timestamp,
) -> Result<(), UnitError> {
    w.execute(
        "UPDATE subscriptions SET status = 'past_due', retry_count = $2, next_retry_at = $3 WHERE id = $1",
        crate::params![id, retries, next],
    )?;
    Ok(())
}

/// A retried renewal that went through (or was paid meanwhile).
pub(crate) fn mark_renewed(w: &mut Unit<'_>, id: &str) -> Result<(), UnitError> {
    w.execute(
        "UPDATE subscriptions SET status = 'active', retry_count = 0, next_retry_at = NULL WHERE id = $1 AND status = 'past_due'",
        crate::params![id],
    )?;
    Ok(())
}

/// Up to 100 subscriptions due for a renewal or a retry at `now`, with their status.
pub(crate) async fn due(db: &Db, now: Timestamp) -> Result<Vec<(String, String)>, UnitError> {
    let rows: Vec<Record> = db
        .read_all(
            "SELECT id, status FROM subscriptions
             WHERE (status = 'active' AND current_period_end <= $1) OR (status = 'past_due' AND next_retry_at <= $1)
             ORDER BY id LIMIT 100",
            crate::params![now],
        )
        .await?;
    rows.iter()
        .map(|r| Ok((r.text("id")?, r.text("status")?)))
        .collect()
}

/// A page of the organization's subscriptions, newest first, that pass the list's `query`.
pub(crate) async fn page(
    db: &Db,
    params: &ListParams,
    org_id: &str,
) -> ApiResult<Page<Subscription>> {
    crate::db::page::filtered(
        db,
        params,
        crate::query::SUBSCRIPTIONS,
        COLUMNS,
        "subscriptions",
        Some(("org_id", org_id)),
        "created_at DESC, id DESC",
    )
    .await
}
