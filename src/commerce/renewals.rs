//! Renewals (7), a background job. At a period's end an active subscription is renewed — a
//! renewal invoice is issued for the next period and the stored payment method charged — or,
//! with `cancelAtPeriodEnd`, ended. A declined renewal makes it `past_due`; it is retried 1, 3
//! and 7 days after the period started, each failure mailed to the owners and billing members,
//! and after the third failed retry it ends and the invoice is voided. `once` offers never renew.
//!
//! Several processes may run this at once: each step locks its subscription with a conditional
//! update that re-checks that the step is still due, so a period is renewed once.

use serde_json::json;
use sqlx::Row as _;

use crate::app::AppState;
use crate::audit::{self, Origin};
use crate::db::Tx;
use crate::error::{ApiError, ApiResult};
use crate::mail::{Mail, templates};
use crate::time::Timestamp;

use super::invoices::{self, Claim, InvoiceHead, NewInvoice, NewLine};
use super::money::{TaxRates, totals};
use super::payments::{self, Decline, Source};
use super::subscriptions::{self, LockIf, Record};
use super::{modules, offers};

/// Days after the period start at which a declined renewal is tried again.
pub const RETRY_DAYS: [i64; 3] = [1, 3, 7];

/// Steps per run at most (a clock moved by years still finishes; the next run continues).
const MAX_STEPS: usize = 10_000;

fn origin() -> Origin {
    Origin {
        actor: None,
        request_id: None,
        source_address: Some("job:renewals".into()),
    }
}

/// Renews, retries and ends every subscription that is due at the clock's time.
pub async fn run_due(state: &AppState) -> ApiResult<()> {
    let now = state.clock.now();
    let mut steps = 0;
    while steps < MAX_STEPS {
        let due = sqlx::query(
            "SELECT id, status FROM subscriptions
             WHERE (status = 'active' AND current_period_end <= $1) OR (status = 'past_due' AND next_retry_at <= $1)
             ORDER BY id LIMIT 100",
        )
        .bind(now.micros())
        .fetch_all(state.db.pool())
        .await?;
        if due.is_empty() {
            break;
        }
        let mut progressed = false;
        for row in due {
            let id: String = row.try_get("id")?;
            let done = match row.try_get::<String, _>("status")?.as_str() {
                "active" => renew(state, &id, now).await?,
                _ => retry(state, &id, now).await?,
            };
            progressed |= done;
            steps += 1;
        }
        if !progressed {
            // Another process holds or took every one of them.
            break;
        }
    }
    Ok(())
}

/// Claims the invoice and charges the subscription's stored payment method. A decline
/// releases the invoice (it stays open) and is returned.
async fn attempt(
    state: &AppState,
    tx: &mut Tx,
    invoice: &InvoiceHead,
    payment_method: Option<&str>,
    key: &str,
    now: Timestamp,
) -> ApiResult<Result<(), Decline>> {
    if invoices::claim(tx, &invoice.id, now).await? != Claim::Claimed {
        return Err(ApiError::internal("renewal invoice is not open"));
    }
    if invoice.total == 0 {
        subscriptions::after_invoice_paid(tx, &origin(), invoice, None, now).await?;
        return Ok(Ok(()));
    }
    let outcome = match payment_method {
        Some(reference) => {
            payments::charge(state, tx, invoice, Source::Stored(reference), key, now).await?
        }
        None => Err(Decline::new("no_payment_method")),
    };
    match outcome {
        Ok(paid) => {
            payments::record_paid(tx, &origin(), invoice, &paid, now).await?;
            Ok(Ok(()))
        }
        Err(decline) => {
            invoices::release(tx, &invoice.id).await?;
            Ok(Err(decline))
        }
    }
}

/// One active subscription at its period's end: end it, or invoice and charge the next period.
async fn renew(state: &AppState, id: &str, now: Timestamp) -> ApiResult<bool> {
    let mut tx = subscriptions::begin_for(state, id).await?;
    let Some(sub) = subscriptions::lock(&mut tx, id, LockIf::PeriodEnded, now).await? else {
        return Ok(false);
    };
    let (Some(start), Some(anchor)) = (sub.current_period_end, sub.anchor_at) else {
        return Err(ApiError::internal("due subscription without a period"));
    };
    if sub.cancel_at_period_end {
        subscriptions::finish(&mut tx, &sub, "ended", start).await?;
        record(
            &mut tx,
            &sub,
            now,
            "subscription.ended",
            json!({ "reason": "canceled" }),
        )
        .await?;
        tx.commit().await?;
        return Ok(true);
    }
    let offer = offers::find(&mut *tx, &sub.offer_id).await?;
    let end = offer.interval().period_end(anchor, sub.periods + 1);
    let country: String = sqlx::query_scalar("SELECT country FROM orgs WHERE id = $1")
        .bind(&sub.org_id)
        .fetch_optional(&mut *tx)
        .await?
        .unwrap_or_default();
    let rate = TaxRates::parse(&state.config.tax_rates)
        .map_err(|e| ApiError::internal(format!("tax_rates: {e}")))?
        .rate_ppm(&country);
    let amount = offer.price.amount * sub.quantity;
    let line = NewLine {
        subscription_id: sub.id.clone(),
        module_id: sub.module_id.clone(),
        offer_id: sub.offer_id.clone(),
        unit_amount: offer.price.amount,
        quantity: sub.quantity,
        amount,
    };
    let new = NewInvoice {
        org_id: &sub.org_id,
        kind: "renewal",
        currency: &offer.price.currency,
        totals: totals(&[amount], None, rate),
        tax_rate_ppm: rate,
        price_calculation_id: None,
        coupon_id: None,
        lines: vec![line],
    };
    let total = new.totals.total;
    let invoice_id = invoices::insert(&mut tx, new, now).await?;
    sqlx::query(
        "UPDATE subscriptions SET invoice_id = $2, periods = periods + 1, current_period_start = $3, current_period_end = $4
         WHERE id = $1",
    )
    .bind(&sub.id)
    .bind(&invoice_id)
    .bind(start.micros())
    .bind(end.map(Timestamp::micros))
    .execute(&mut *tx)
    .await?;
    let invoice = InvoiceHead {
        id: invoice_id.clone(),
        org_id: sub.org_id.clone(),
        status: "open".into(),
        total,
        currency: offer.price.currency.clone(),
    };
    let key = format!("{invoice_id}:0");
    let pm = sub.payment_method.as_deref();
    let mails = match attempt(state, &mut tx, &invoice, pm, &key, now).await? {
        Ok(()) => {
            let details = json!({ "invoiceId": invoice_id, "currentPeriodEnd": end });
            record(&mut tx, &sub, now, "subscription.renewed", details).await?;
            Vec::new()
        }
        Err(decline) => {
            let next = start.plus_seconds(RETRY_DAYS[0] * 86_400);
            past_due(&mut tx, &sub, 0, next).await?;
            let details = json!({ "invoiceId": invoice_id, "declineCode": decline.code, "nextRetryAt": next });
            record(&mut tx, &sub, now, "subscription.renewal_failed", details).await?;
            failure_mails(&mut tx, &sub, Some(next)).await?
        }
    };
    tx.commit().await?;
    send(state, now, mails).await;
    Ok(true)
}

/// One past-due subscription whose retry is due: charge again, or schedule the next retry, or
/// end it after the last.
async fn retry(state: &AppState, id: &str, now: Timestamp) -> ApiResult<bool> {
    let mut tx = subscriptions::begin_for(state, id).await?;
    let Some(sub) = subscriptions::lock(&mut tx, id, LockIf::RetryDue, now).await? else {
        return Ok(false);
    };
    let invoice = invoices::head(&mut *tx, &sub.invoice_id).await?;
    let attempt_no = sub.retry_count + 1;
    let key = format!("{}:{attempt_no}", invoice.id);
    let pm = sub.payment_method.as_deref();
    let outcome = match invoice.status.as_str() {
        "open" => attempt(state, &mut tx, &invoice, pm, &key, now).await?,
        // Paid meanwhile (the payment already brought it back) or voided: nothing to charge.
        _ => Ok(()),
    };
    let mails = match outcome {
        Ok(()) => {
            sqlx::query(
                "UPDATE subscriptions SET status = 'active', retry_count = 0, next_retry_at = NULL WHERE id = $1 AND status = 'past_due'",
            )
            .bind(&sub.id)
            .execute(&mut *tx)
            .await?;
            Vec::new()
        }
        Err(decline) => {
            let next = RETRY_DAYS
                .get(attempt_no as usize)
                .zip(sub.current_period_start)
                .map(|(days, start)| start.plus_seconds(days * 86_400));
            let details = json!({ "invoiceId": invoice.id, "declineCode": decline.code,
                                  "retry": attempt_no, "nextRetryAt": next });
            record(&mut tx, &sub, now, "subscription.renewal_failed", details).await?;
            match next {
                Some(next) => past_due(&mut tx, &sub, attempt_no, next).await?,
                None => {
                    subscriptions::finish(&mut tx, &sub, "ended", now).await?;
                    let details = json!({ "reason": "renewal_failed" });
                    record(&mut tx, &sub, now, "subscription.ended", details).await?;
                }
            }
            failure_mails(&mut tx, &sub, next).await?
        }
    };
    tx.commit().await?;
    send(state, now, mails).await;
    Ok(true)
}

async fn past_due(tx: &mut Tx, sub: &Record, retries: i64, next: Timestamp) -> ApiResult<()> {
    sqlx::query(
        "UPDATE subscriptions SET status = 'past_due', retry_count = $2, next_retry_at = $3 WHERE id = $1",
    )
    .bind(&sub.id)
    .bind(retries)
    .bind(next.micros())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn record(
    tx: &mut Tx,
    sub: &Record,
    now: Timestamp,
    action: &str,
    mut details: serde_json::Value,
) -> ApiResult<()> {
    details["subscriptionId"] = json!(sub.id);
    audit::record(
        &mut **tx,
        &origin(),
        now,
        action,
        Some(&sub.org_id),
        details,
    )
    .await?;
    Ok(())
}

/// "Payment failed" for every owner and billing member; `next` is the next try, if any.
async fn failure_mails(tx: &mut Tx, sub: &Record, next: Option<Timestamp>) -> ApiResult<Vec<Mail>> {
    let org_name: String = sqlx::query_scalar("SELECT name FROM orgs WHERE id = $1")
        .bind(&sub.org_id)
        .fetch_optional(&mut **tx)
        .await?
        .unwrap_or_default();
    let module = modules::find(&mut **tx, &sub.module_id)
        .await?
        .map(|m| m.name)
        .unwrap_or_else(|| sub.module_id.clone());
    let recipients: Vec<String> = sqlx::query_scalar(
        "SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.org_id = $1 AND m.role IN ('owner', 'billing') ORDER BY u.email",
    )
    .bind(&sub.org_id)
    .fetch_all(&mut **tx)
    .await?;
    let next = next.map(|t| t.to_rfc3339());
    Ok(recipients
        .iter()
        .map(|to| templates::renewal_failed(to, &org_name, &module, next.as_deref()))
        .collect())
}

/// Sends after the commit; a failing transport is logged (the state change stands).
async fn send(state: &AppState, now: Timestamp, mails: Vec<Mail>) {
    for mail in mails {
        if let Err(e) = state.mailer.send(&state.db, now, mail).await {
            tracing::warn!(error = %e, "renewal mail could not be sent");
        }
    }
}
