//! Renewals (7), a background job. At a period's end an active subscription is renewed — a
//! renewal invoice is issued for the next period and the stored payment method charged — or,
//! with `cancelAtPeriodEnd`, ended. A declined renewal makes it `past_due`; it is retried 1, 3
//! and 7 days after the period started, each failure mailed to the owners and billing members,
//! and after the third failed retry it ends and the invoice is voided. `once` offers never renew.
//!
//! Several processes may run this at once: each step locks its subscription with a conditional
//! update that re-checks that the step is still due, so a period is renewed once. A charge is
//! an attempt (`payments::attempts`): the step's unit claims the invoice, the stored payment
//! method is charged after it, and a second unit settles the outcome with `renewed_in`,
//! `renewal_declined_in` and the retry's counterparts.

use serde_json::json;

use crate::audit::{self, Origin};
use crate::db::{Unit, UnitError};
use crate::error::{ApiError, ApiResult};
use crate::mail::{Mail, Mailer, templates};
use crate::state::Infra;
use crate::time::Timestamp;

use super::invoices::{self, NewInvoice, NewLine};
use super::money::{TaxRates, totals};
use super::payments::attempts::{self, Attempt, Claim, Purpose};
use super::payments::{self, Decline, Source};
use super::store;
use super::subscriptions::{self, LockIf, SubscriptionRow};

/// Days after the period start at which a declined renewal is tried again.
pub const RETRY_DAYS: [i64; 3] = [1, 3, 7];

/// Steps per run at most (a clock moved by years still finishes; the next run continues).
const MAX_STEPS: usize = 10_000;

/// Renews, retries and ends every subscription that is due at the clock's time.
pub async fn run_due(state: &Infra) -> ApiResult<()> {
    let now = state.clock.now();
    let mut steps = 0;
    while steps < MAX_STEPS {
        let due = store::subscriptions::due(&state.db, now).await?;
        if due.is_empty() {
            break;
        }
        let mut progressed = false;
        for (id, status) in due {
            let done = match status.as_str() {
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

/// How a renewal step's unit ended.
enum Step {
    /// Not due any more (another process took it, or an attempt is under way).
    Skipped,
    /// Done in the unit; the mails it queued.
    Done(Vec<Mail>),
    /// The invoice is claimed: charge this payment method.
    Charge(Attempt, String),
}

/// After the step's unit: charges and settles a claimed attempt, or writes the queued mails.
async fn finish_step(state: &Infra, step: Step, now: Timestamp) -> ApiResult<bool> {
    match step {
        Step::Skipped => Ok(false),
        Step::Done(mails) => {
            send(state, now, mails).await;
            Ok(true)
        }
        Step::Charge(attempt, payment_method) => {
            let source = Source::Stored(&payment_method);
            let outcome =
                attempts::charge(&payments::provider(state), &attempt, source, now).await?;
            attempts::settle(state, &Origin::job("renewals"), attempt, outcome, |_, _| {
                Ok(())
            })
            .await?;
            Ok(true)
        }
    }
}

/// One active subscription at its period's end: end it, or invoice the next period and claim
/// the invoice for its charge.
async fn renew(state: &Infra, id: &str, now: Timestamp) -> ApiResult<bool> {
    let rates = TaxRates::parse(&state.config.tax_rates)
        .map_err(|e| ApiError::internal(format!("tax_rates: {e}")))?;
    let (mailer, id) = (state.mailer.clone(), id.to_string());
    let step = state
        .db
        .write(move |w| {
            let Some(sub) = subscriptions::lock_in(w, &id, LockIf::PeriodEnded, now)? else {
                return Ok(Step::Skipped);
            };
            if store::refunds::claimed_for(w, &sub.id)? {
                // A refund under way ends it (or, refused, leaves it to the next run).
                return Ok(Step::Skipped);
            }
            let (Some(start), Some(anchor)) = (sub.current_period_end, sub.anchor_at) else {
                return Err(ApiError::internal("due subscription without a period"));
            };
            if sub.cancel_at_period_end {
                subscriptions::finish_in(w, &sub, "ended", start)?;
                let details = json!({ "reason": "canceled" });
                record_in(w, &sub, now, "subscription.ended", details)?;
                return Ok(Step::Done(Vec::new()));
            }
            let offer = store::offers::find_in(w, &sub.offer_id)?;
            let end = offer.interval().period_end(anchor, sub.periods + 1);
            let (_, country) = store::renewals::org_name_and_country(w, &sub.org_id)?;
            let rate = rates.rate_ppm(&country);
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
            let invoice_id = invoices::insert_in(w, &new, now)?;
            store::subscriptions::start_period(w, &sub.id, &invoice_id, start, end)?;
            if new.totals.total == 0 {
                let invoice = store::invoices::head_in(w, &invoice_id)?;
                store::invoices::mark_paid(w, &invoice_id, now)?;
                subscriptions::after_invoice_paid_in(
                    w,
                    &Origin::job("renewals"),
                    &invoice,
                    None,
                    now,
                )?;
                renewed_in(w, &invoice_id, now)?;
                return Ok(Step::Done(Vec::new()));
            }
            let Some(payment_method) = sub.payment_method else {
                let decline = Decline::new("no_payment_method");
                let mails = renewal_declined_in(w, &mailer, &invoice_id, &decline, now)?;
                return Ok(Step::Done(mails));
            };
            match attempts::claim_in(w, &invoice_id, Purpose::Renewal, now)? {
                Claim::Claimed(attempt) => Ok(Step::Charge(attempt, payment_method)),
                _ => Err(ApiError::internal("a new renewal invoice was not open")),
            }
        })
        .await?;
    finish_step(state, step, now).await
}

/// One past-due subscription whose retry is due: claim its invoice for another charge, or
/// schedule the next retry, or end it after the last.
async fn retry(state: &Infra, id: &str, now: Timestamp) -> ApiResult<bool> {
    let (mailer, id) = (state.mailer.clone(), id.to_string());
    let step = state
        .db
        .write(move |w| {
            let Some(sub) = subscriptions::lock_in(w, &id, LockIf::RetryDue, now)? else {
                return Ok(Step::Skipped);
            };
            if store::refunds::claimed_for(w, &sub.id)? {
                return Ok(Step::Skipped);
            }
            let invoice = store::invoices::head_in(w, &sub.invoice_id)?;
            if invoice.status == "open" && invoice.total > 0 {
                let Some(payment_method) = sub.payment_method else {
                    let decline = Decline::new("no_payment_method");
                    let mails = retry_declined_in(w, &mailer, &invoice.id, &decline, now)?;
                    return Ok(Step::Done(mails));
                };
                match attempts::claim_in(w, &invoice.id, Purpose::Retry, now)? {
                    Claim::Claimed(attempt) => return Ok(Step::Charge(attempt, payment_method)),
                    Claim::UnderWay => return Ok(Step::Skipped),
                    Claim::AlreadyPaid | Claim::Void | Claim::Gone => {}
                }
            } else if invoice.status == "open" {
                store::invoices::mark_paid(w, &invoice.id, now)?;
                subscriptions::after_invoice_paid_in(
                    w,
                    &Origin::job("renewals"),
                    &invoice,
                    None,
                    now,
                )?;
            }
            // Paid meanwhile (the payment already brought it back) or voided: nothing to
            // charge.
            store::subscriptions::mark_renewed(w, &sub.id)?;
            Ok(Step::Done(Vec::new()))
        })
        .await?;
    finish_step(state, step, now).await
}

/// The subscription a renewal invoice bills, locked.
fn billed_in(w: &mut Unit<'_>, invoice_id: &str, now: Timestamp) -> ApiResult<SubscriptionRow> {
    let id = store::subscriptions::billed_by(w, invoice_id)?
        .ok_or_else(|| ApiError::internal("a renewal invoice without its subscription"))?;
    store::subscriptions::lock(w, &id, LockIf::Always, now)?
        .ok_or_else(|| ApiError::internal("a renewal invoice without its subscription"))
}

/// A renewal invoice is paid: the renewal's audit event.
pub(crate) fn renewed_in(w: &mut Unit<'_>, invoice_id: &str, now: Timestamp) -> ApiResult<()> {
    let sub = billed_in(w, invoice_id, now)?;
    let details = json!({ "invoiceId": invoice_id, "currentPeriodEnd": sub.current_period_end });
    record_in(w, &sub, now, "subscription.renewed", details)?;
    Ok(())
}

/// A renewal's first charge was declined: the subscription is past due, retried a day after
/// its period started, and the owners and billing members are mailed.
pub(crate) fn renewal_declined_in(
    w: &mut Unit<'_>,
    mailer: &Mailer,
    invoice_id: &str,
    decline: &Decline,
    now: Timestamp,
) -> ApiResult<Vec<Mail>> {
    let sub = billed_in(w, invoice_id, now)?;
    let start = sub
        .current_period_start
        .ok_or_else(|| ApiError::internal("a renewed subscription without a period"))?;
    let next = start.plus_seconds(RETRY_DAYS[0] * 86_400);
    store::subscriptions::mark_past_due(w, &sub.id, 0, next)?;
    let details =
        json!({ "invoiceId": invoice_id, "declineCode": decline.code, "nextRetryAt": next });
    record_in(w, &sub, now, "subscription.renewal_failed", details)?;
    Ok(failure_mails_in(w, mailer, &sub, Some(next), now)?)
}

/// A retry went through: the subscription is active again (paying the invoice brought it back
/// already; this holds if it did not).
pub(crate) fn retried_in(w: &mut Unit<'_>, invoice_id: &str) -> ApiResult<()> {
    if let Some(id) = store::subscriptions::billed_by(w, invoice_id)? {
        store::subscriptions::mark_renewed(w, &id)?;
    }
    Ok(())
}

/// A retry was declined: the next retry is scheduled, or after the last the subscription ends
/// (and its invoice is voided); the owners and billing members are mailed either way. A retry
/// whose process stopped before charging (`payment_interrupted`, settled by the recovery job)
/// charged nothing: it is no failed retry, so it is due again at once, uncounted and unmailed.
pub(crate) fn retry_declined_in(
    w: &mut Unit<'_>,
    mailer: &Mailer,
    invoice_id: &str,
    decline: &Decline,
    now: Timestamp,
) -> ApiResult<Vec<Mail>> {
    let sub = billed_in(w, invoice_id, now)?;
    if decline.code == attempts::INTERRUPTED {
        store::subscriptions::mark_past_due(w, &sub.id, sub.retry_count, now)?;
        return Ok(Vec::new());
    }
    let attempt_no = sub.retry_count + 1;
    let next = RETRY_DAYS
        .get(attempt_no as usize)
        .zip(sub.current_period_start)
        .map(|(days, start)| start.plus_seconds(days * 86_400));
    let details = json!({ "invoiceId": invoice_id, "declineCode": decline.code,
                          "retry": attempt_no, "nextRetryAt": next });
    record_in(w, &sub, now, "subscription.renewal_failed", details)?;
    match next {
        Some(next) => store::subscriptions::mark_past_due(w, &sub.id, attempt_no, next)?,
        None => {
            subscriptions::finish_in(w, &sub, "ended", now)?;
            let details = json!({ "reason": "renewal_failed" });
            record_in(w, &sub, now, "subscription.ended", details)?;
        }
    }
    Ok(failure_mails_in(w, mailer, &sub, next, now)?)
}

fn record_in(
    w: &mut Unit<'_>,
    sub: &SubscriptionRow,
    now: Timestamp,
    action: &str,
    mut details: serde_json::Value,
) -> Result<(), UnitError> {
    details["subscriptionId"] = json!(sub.id);
    audit::record_in(
        w,
        &Origin::job("renewals"),
        now,
        action,
        Some(&sub.org_id),
        details,
    )
}

/// "Payment failed" for every owner and billing member, queued in the unit of work; `next` is
/// the next try, if any. Returns the mails for `send` after the commit.
fn failure_mails_in(
    w: &mut Unit<'_>,
    mailer: &Mailer,
    sub: &SubscriptionRow,
    next: Option<Timestamp>,
    now: Timestamp,
) -> Result<Vec<Mail>, UnitError> {
    let (org_name, _) = store::renewals::org_name_and_country(w, &sub.org_id)?;
    let module = store::modules::find_in(w, &sub.module_id)?
        .map(|m| m.name)
        .unwrap_or_else(|| sub.module_id.clone());
    let next = next.map(|t| t.to_rfc3339());
    let mut mails = Vec::new();
    for to in store::renewals::billing_contacts(w, &sub.org_id)? {
        let mail = templates::renewal_failed(&to, &org_name, &module, next.as_deref());
        mailer.queue_in(w, now, &mail)?;
        mails.push(mail);
    }
    Ok(mails)
}

/// After the commit: the file transport writes the mails (SMTP mail was queued in the unit).
/// A failing transport is logged; the state change stands.
async fn send(state: &Infra, now: Timestamp, mails: Vec<Mail>) {
    for mail in mails {
        if let Err(e) = state.mailer.after_commit(now, mail).await {
            tracing::warn!(error = %e, "renewal mail could not be sent");
        }
    }
}
