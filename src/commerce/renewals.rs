//! Renewals (7), a background job. At a period's end an active subscription is renewed — a
//! renewal invoice is issued for the next period and the stored payment method charged — or,
//! with `cancelAtPeriodEnd`, ended. A declined renewal makes it `past_due`; it is retried 1, 3
//! and 7 days after the period started, each failure mailed to the owners and billing members,
//! and after the third failed retry it ends and the invoice is voided. `once` offers never renew.
//!
//! Several processes may run this at once: each step locks its subscription with a conditional
//! update that re-checks that the step is still due, so a period is renewed once.

use serde_json::json;

use crate::app::AppState;
use crate::audit::{self, Origin};
use crate::db::{Unit, UnitError};
use crate::error::{ApiError, ApiResult};
use crate::mail::{Mail, Mailer, templates};
use crate::time::Timestamp;

use super::invoices::{self, Claim, InvoiceHead, NewInvoice, NewLine};
use super::money::{TaxRates, totals};
use super::payments::{self, Decline, PaymentProvider, Source};
use super::store;
use super::subscriptions::{self, LockIf, SubscriptionRow};

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

/// Claims the invoice and charges the subscription's stored payment method. A decline
/// releases the invoice (it stays open) and is returned.
fn attempt_in(
    w: &mut Unit<'_>,
    provider: &impl PaymentProvider,
    invoice: &InvoiceHead,
    payment_method: Option<&str>,
    key: &str,
    now: Timestamp,
) -> ApiResult<Result<(), Decline>> {
    if invoices::claim_in(w, &invoice.id, now)? != Claim::Claimed {
        return Err(ApiError::internal("renewal invoice is not open"));
    }
    if invoice.total == 0 {
        subscriptions::after_invoice_paid_in(w, &origin(), invoice, None, now)?;
        return Ok(Ok(()));
    }
    let outcome = match payment_method {
        Some(reference) => {
            payments::charge_in(w, provider, invoice, Source::Stored(reference), key, now)?
        }
        None => Err(Decline::new("no_payment_method")),
    };
    match outcome {
        Ok(paid) => {
            payments::record_paid_in(w, &origin(), invoice, &paid, now)?;
            Ok(Ok(()))
        }
        Err(decline) => {
            store::invoices::mark_open(w, &invoice.id)?;
            Ok(Err(decline))
        }
    }
}

/// What a renewal step did: whether it took the subscription, and the mails it queued.
struct Step {
    done: bool,
    mails: Vec<Mail>,
}

impl Step {
    fn skipped() -> Step {
        Step {
            done: false,
            mails: Vec::new(),
        }
    }
}

/// One active subscription at its period's end: end it, or invoice and charge the next period.
/// One unit of work.
async fn renew(state: &AppState, id: &str, now: Timestamp) -> ApiResult<bool> {
    let rates = TaxRates::parse(&state.config.tax_rates)
        .map_err(|e| ApiError::internal(format!("tax_rates: {e}")))?;
    let (provider, mailer, id) = (
        payments::provider(state),
        state.mailer.clone(),
        id.to_string(),
    );
    let step = state
        .db
        .write(move |w| {
            let Some(sub) = subscriptions::lock_in(w, &id, LockIf::PeriodEnded, now)? else {
                return Ok(Step::skipped());
            };
            let (Some(start), Some(anchor)) = (sub.current_period_end, sub.anchor_at) else {
                return Err(ApiError::internal("due subscription without a period"));
            };
            if sub.cancel_at_period_end {
                subscriptions::finish_in(w, &sub, "ended", start)?;
                let details = json!({ "reason": "canceled" });
                record_in(w, &sub, now, "subscription.ended", details)?;
                return Ok(Step {
                    done: true,
                    mails: Vec::new(),
                });
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
            let invoice = InvoiceHead {
                id: invoice_id.clone(),
                org_id: sub.org_id.clone(),
                status: "open".into(),
                total: new.totals.total,
                currency: offer.price.currency.clone(),
            };
            let key = format!("{invoice_id}:0");
            let pm = sub.payment_method.as_deref();
            let mails = match attempt_in(w, &provider, &invoice, pm, &key, now)? {
                Ok(()) => {
                    let details = json!({ "invoiceId": invoice_id, "currentPeriodEnd": end });
                    record_in(w, &sub, now, "subscription.renewed", details)?;
                    Vec::new()
                }
                Err(decline) => {
                    let next = start.plus_seconds(RETRY_DAYS[0] * 86_400);
                    store::subscriptions::mark_past_due(w, &sub.id, 0, next)?;
                    let details = json!({ "invoiceId": invoice_id, "declineCode": decline.code, "nextRetryAt": next });
                    record_in(w, &sub, now, "subscription.renewal_failed", details)?;
                    failure_mails_in(w, &mailer, &sub, Some(next), now)?
                }
            };
            Ok(Step { done: true, mails })
        })
        .await?;
    send(state, now, step.mails).await;
    Ok(step.done)
}

/// One past-due subscription whose retry is due: charge again, or schedule the next retry, or
/// end it after the last. One unit of work.
async fn retry(state: &AppState, id: &str, now: Timestamp) -> ApiResult<bool> {
    let (provider, mailer, id) = (
        payments::provider(state),
        state.mailer.clone(),
        id.to_string(),
    );
    let step = state
        .db
        .write(move |w| {
            let Some(sub) = subscriptions::lock_in(w, &id, LockIf::RetryDue, now)? else {
                return Ok(Step::skipped());
            };
            let invoice = store::invoices::head_in(w, &sub.invoice_id)?;
            let attempt_no = sub.retry_count + 1;
            let key = format!("{}:{attempt_no}", invoice.id);
            let pm = sub.payment_method.as_deref();
            let outcome = match invoice.status.as_str() {
                "open" => attempt_in(w, &provider, &invoice, pm, &key, now)?,
                // Paid meanwhile (the payment already brought it back) or voided: nothing to
                // charge.
                _ => Ok(()),
            };
            let mails = match outcome {
                Ok(()) => {
                    store::subscriptions::mark_renewed(w, &sub.id)?;
                    Vec::new()
                }
                Err(decline) => {
                    let next = RETRY_DAYS
                        .get(attempt_no as usize)
                        .zip(sub.current_period_start)
                        .map(|(days, start)| start.plus_seconds(days * 86_400));
                    let details = json!({ "invoiceId": invoice.id, "declineCode": decline.code,
                                          "retry": attempt_no, "nextRetryAt": next });
                    record_in(w, &sub, now, "subscription.renewal_failed", details)?;
                    match next {
                        Some(next) => {
                            store::subscriptions::mark_past_due(w, &sub.id, attempt_no, next)?
                        }
                        None => {
                            subscriptions::finish_in(w, &sub, "ended", now)?;
                            let details = json!({ "reason": "renewal_failed" });
                            record_in(w, &sub, now, "subscription.ended", details)?;
                        }
                    }
                    failure_mails_in(w, &mailer, &sub, next, now)?
                }
            };
            Ok(Step { done: true, mails })
        })
        .await?;
    send(state, now, step.mails).await;
    Ok(step.done)
}

fn record_in(
    w: &mut Unit<'_>,
    sub: &SubscriptionRow,
    now: Timestamp,
    action: &str,
    mut details: serde_json::Value,
) -> Result<(), UnitError> {
    details["subscriptionId"] = json!(sub.id);
    audit::record_in(w, &origin(), now, action, Some(&sub.org_id), details)
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
async fn send(state: &AppState, now: Timestamp, mails: Vec<Mail>) {
    for mail in mails {
        if let Err(e) = state.mailer.after_commit(now, mail).await {
            tracing::warn!(error = %e, "renewal mail could not be sent");
        }
    }
}
