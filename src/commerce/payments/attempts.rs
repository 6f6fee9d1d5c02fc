//! Paying an invoice, in three steps so that no unit of work waits for the provider:
//!
//! 1. **Claim** (inside the caller's unit, the organization locked): the invoice's next attempt
//!    is inserted unless one is under way (a partial unique index: one unsettled attempt per
//!    invoice, however many processes race). The invoice stays `open`.
//! 2. **Charge**, outside any unit: the provider tokenises the card and charges it (or charges a
//!    stored reference) under the idempotency key `<invoice_id>.<attempt>`; the same key never
//!    charges twice.
//! 3. **Settle** (a second unit): the attempt is settled once (a conditional update); a success
//!    records the payment and marks the invoice paid, a decline releases the claim. What follows
//!    depends on the attempt's purpose: a declined checkout is undone, a declined renewal makes
//!    the subscription past due, and so on.
//!
//! A process that stops between 1 and 3 leaves an unsettled attempt. `recover` (a job) finds
//! attempts claimed longer than a grace period ago, asks the provider for the key's outcome —
//! which spends a key that was never charged, so a charge still on its way is declined — and
//! settles them the same way. Whoever settles first wins; the other finds it settled.

use serde_json::json;

use crate::audit::{self, Origin};
use crate::crypto::new_id;
use crate::db::{Unit, UnitError};
use crate::error::ApiResult;
use crate::mail::{Mail, Mailer};
use crate::state::Infra;
use crate::time::Timestamp;

use super::super::invoices::InvoiceHead;
use super::super::money::Money;
use super::super::store::{self, payments::NewPayment};
use super::super::{checkout, renewals, subscriptions};
use super::provider::{CardCharge, Charge, ChargeRequest, Decline, PaymentProvider};
use super::{Payment, Source};

/// What an attempt's outcome is followed by.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// Paying a checkout in its request: a decline undoes the checkout.
    Checkout,
    /// `POST …/invoices/{id}/payments`: a decline leaves the invoice open.
    Payment,
    /// A renewal invoice's first charge: a decline makes the subscription past due.
    Renewal,
    /// A past-due subscription's retry: a decline schedules the next retry or ends it.
    Retry,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Checkout => "checkout",
            Purpose::Payment => "payment",
            Purpose::Renewal => "renewal",
            Purpose::Retry => "retry",
        }
    }

    fn parse(text: &str) -> Option<Purpose> {
        Some(match text {
            "checkout" => Purpose::Checkout,
            "payment" => Purpose::Payment,
            "renewal" => Purpose::Renewal,
            "retry" => Purpose::Retry,
            _ => return None,
        })
    }
}

/// A claimed attempt to pay an invoice.
#[derive(Clone, Debug)]
pub(crate) struct Attempt {
    pub invoice: InvoiceHead,
    pub number: i64,
    pub purpose: Purpose,
}

impl Attempt {
    /// What the provider knows the charge by: derived from the invoice and the attempt, so a
    /// process that asks again after a stop asks about the same charge.
    pub fn idempotency_key(&self) -> String {
        format!("{}.{}", self.invoice.id, self.number)
    }
}

/// What claiming an invoice found.
#[derive(Debug)]
pub(crate) enum Claim {
    Claimed(Attempt),
    AlreadyPaid,
    Void,
    /// Another attempt is under way.
    UnderWay,
    /// The invoice is gone: its checkout was undone (a declined card) while this one waited.
    Gone,
}

/// Inside a unit of work that holds the organization's lock: claims the invoice's next
/// attempt.
pub(crate) fn claim_in(
    w: &mut Unit<'_>,
    invoice_id: &str,
    purpose: Purpose,
    now: Timestamp,
) -> Result<Claim, UnitError> {
    let invoice = match store::invoices::head_in(w, invoice_id) {
        Ok(invoice) => invoice,
        Err(UnitError::NoRow) => return Ok(Claim::Gone),
        Err(e) => return Err(e),
    };
    match invoice.status.as_str() {
        "paid" => return Ok(Claim::AlreadyPaid),
        "void" => return Ok(Claim::Void),
        _ => {}
    }
    Ok(
        match store::attempts::claim(w, invoice_id, purpose.as_str(), now)? {
            Some(number) => Claim::Claimed(Attempt {
                invoice,
                number,
                purpose,
            }),
            None => Claim::UnderWay,
        },
    )
}

/// What the provider said of an attempt.
#[derive(Debug)]
pub(crate) enum Outcome {
    Charged(Charge),
    /// Nothing was due (a zero total); the payment method to keep for renewals, if any.
    NothingDue(Option<String>),
    Declined(Decline),
}

/// The decline of an attempt whose process stopped before charging: the provider knows no
/// charge under its key (and will make none).
pub(crate) const INTERRUPTED: &str = "payment_interrupted";

/// Outside any unit of work: charges the attempt under its key — a card in one call with its
/// tokenising, a stored reference as it is. A zero total charges nothing; a card is then only
/// kept.
pub(crate) async fn charge(
    provider: &impl PaymentProvider,
    attempt: &Attempt,
    source: Source<'_>,
    now: Timestamp,
) -> ApiResult<Outcome> {
    let invoice = &attempt.invoice;
    let key = attempt.idempotency_key();
    let charged = match source {
        Source::Card(card) if invoice.total == 0 => {
            return Ok(match provider.tokenize(card, now).await? {
                Ok(reference) => Outcome::NothingDue(Some(reference)),
                Err(decline) => Outcome::Declined(decline),
            });
        }
        Source::Stored(reference) if invoice.total == 0 => {
            return Ok(Outcome::NothingDue(Some(reference.to_string())));
        }
        Source::Card(card) => {
            let request = CardCharge {
                card,
                amount: invoice.total,
                currency: &invoice.currency,
                idempotency_key: &key,
            };
            provider.charge_card(request, now).await?
        }
        Source::Stored(reference) => {
            let request = ChargeRequest {
                payment_method: reference,
                amount: invoice.total,
                currency: &invoice.currency,
                idempotency_key: &key,
            };
            provider.charge(request, now).await?
        }
    };
    Ok(match charged {
        Ok(charge) => Outcome::Charged(charge),
        Err(decline) => Outcome::Declined(decline),
    })
}

/// How an attempt ended.
#[derive(Debug)]
pub(crate) enum Settled {
    /// The invoice is paid: by this payment, or without one when nothing was due.
    Paid(Option<Payment>),
    Declined(Decline),
}

/// Unit 2: settles the attempt with `outcome`, with what follows for its purpose; then `answer`
/// reads what the caller answers, in the same unit. Mails the unit queued are written after it.
pub(crate) async fn settle<A, F>(
    state: &Infra,
    origin: &Origin,
    attempt: Attempt,
    outcome: Outcome,
    answer: F,
) -> ApiResult<(Settled, A)>
where
    F: FnOnce(&mut Unit<'_>, &Settled) -> ApiResult<A> + Send + 'static,
    A: Send + 'static,
{
    let now = state.clock.now();
    let (origin, mailer) = (origin.clone(), state.mailer.clone());
    let (settled, mails, answered) = state
        .db
        .write(move |w| {
            let mut mails = Vec::new();
            let settled = settle_in(w, &origin, &mailer, &attempt, outcome, now, &mut mails)?;
            let answered = answer(w, &settled)?;
            Ok((settled, mails, answered))
        })
        .await?;
    for mail in mails {
        if let Err(e) = state.mailer.after_commit(now, mail).await {
            tracing::warn!(error = %e, "a payment mail could not be sent");
        }
    }
    Ok((settled, answered))
}

fn settle_in(
    w: &mut Unit<'_>,
    origin: &Origin,
    mailer: &Mailer,
    attempt: &Attempt,
    outcome: Outcome,
    now: Timestamp,
    mails: &mut Vec<Mail>,
) -> ApiResult<Settled> {
    let invoice = &attempt.invoice;
    crate::orgs::lock_org_in(w, &invoice.org_id)?;
    let decline_code = match &outcome {
        Outcome::Declined(decline) => Some(decline.code.as_str()),
        _ => None,
    };
    if !store::attempts::settle(w, &invoice.id, attempt.number, decline_code, now)? {
        return settled_elsewhere_in(w, attempt);
    }
    let (payment, payment_method) = match outcome {
        Outcome::Declined(decline) => {
            declined_in(w, origin, mailer, attempt, &decline, now, mails)?;
            return Ok(Settled::Declined(decline));
        }
        Outcome::NothingDue(payment_method) => (None, payment_method),
        Outcome::Charged(charge) => {
            let payment = record_payment_in(w, invoice, &charge, now)?;
            (Some(payment), Some(charge.payment_method))
        }
    };
    if !store::invoices::mark_paid(w, &invoice.id, now)? {
        // Nothing but a settled attempt changes a claimed invoice; the money taken is recorded
        // all the same.
        tracing::error!(invoice = %invoice.id, "a claimed invoice was no longer open when paid");
    }
    if attempt.purpose == Purpose::Checkout {
        checkout::completed_in(w, origin, &invoice.id, now)?;
    }
    if let Some(payment) = &payment {
        audit::record_in(
            w,
            origin,
            now,
            "payment.succeeded",
            Some(&invoice.org_id),
            json!({ "paymentId": payment.id, "invoiceId": invoice.id, "amount": payment.amount }),
        )?;
    }
    subscriptions::after_invoice_paid_in(w, origin, invoice, payment_method.as_deref(), now)?;
    match attempt.purpose {
        Purpose::Renewal => renewals::renewed_in(w, &invoice.id, now)?,
        Purpose::Retry => renewals::retried_in(w, &invoice.id)?,
        Purpose::Checkout | Purpose::Payment => {}
    }
    Ok(Settled::Paid(payment))
}

fn record_payment_in(
    w: &mut Unit<'_>,
    invoice: &InvoiceHead,
    charge: &Charge,
    now: Timestamp,
) -> Result<Payment, UnitError> {
    let payment = Payment {
        id: new_id("pay"),
        invoice_id: invoice.id.clone(),
        amount: Money::new(invoice.total, &invoice.currency),
        status: "succeeded".into(),
        created_at: now,
    };
    store::payments::insert(
        w,
        NewPayment {
            payment: &payment,
            org_id: &invoice.org_id,
            payment_method: &charge.payment_method,
            provider_reference: &charge.reference,
        },
    )?;
    Ok(payment)
}

/// A declined attempt, by purpose. The claim is released already (the attempt is settled).
fn declined_in(
    w: &mut Unit<'_>,
    origin: &Origin,
    mailer: &Mailer,
    attempt: &Attempt,
    decline: &Decline,
    now: Timestamp,
    mails: &mut Vec<Mail>,
) -> ApiResult<()> {
    let invoice = &attempt.invoice;
    let audit_decline = |w: &mut Unit<'_>, invoice_id: Option<&str>| {
        audit::record_in(
            w,
            origin,
            now,
            "payment.declined",
            Some(&invoice.org_id),
            json!({ "invoiceId": invoice_id, "declineCode": decline.code }),
        )
    };
    match attempt.purpose {
        Purpose::Checkout => {
            checkout::undo_in(w, &invoice.id)?;
            audit_decline(w, None)?;
        }
        Purpose::Payment => audit_decline(w, Some(&invoice.id))?,
        Purpose::Renewal => mails.extend(renewals::renewal_declined_in(
            w,
            mailer,
            &invoice.id,
            decline,
            now,
        )?),
        Purpose::Retry => mails.extend(renewals::retry_declined_in(
            w,
            mailer,
            &invoice.id,
            decline,
            now,
        )?),
    }
    Ok(())
}

/// The attempt was settled by someone else (the recovery job): what it decided.
fn settled_elsewhere_in(w: &mut Unit<'_>, attempt: &Attempt) -> ApiResult<Settled> {
    let invoice_id = &attempt.invoice.id;
    Ok(
        match store::attempts::outcome_of(w, invoice_id, attempt.number)? {
            Some(None) => {
                let (sql, params) = store::with_ids(
                    store::payments::OF_INVOICES,
                    std::slice::from_ref(invoice_id),
                );
                Settled::Paid(store::all_in::<Payment>(w, &sql, &params)?.pop())
            }
            Some(Some(code)) => Settled::Declined(Decline { code }),
            None => Settled::Declined(Decline::new(INTERRUPTED)),
        },
    )
}

/// An attempt is given up on this long after its claim by real time, at the earliest: longer
/// than any request may run, so the request that claimed it has finished or stopped.
pub(crate) fn grace_secs(state: &Infra) -> i64 {
    (state.config.request_timeout_secs as i64 + 5).max(60)
}

/// The recovery job: settles attempts left unsettled longer than the grace period, by what
/// the provider says of their keys. An attempt that cannot be settled now is tried next run.
pub async fn recover(state: &Infra) -> ApiResult<usize> {
    let now = state.clock.now();
    // Real time, like idempotency's stuck owners: moving the test clock must not give up a
    // payment still under way in another request.
    let before = Timestamp::system_now().minus_seconds(grace_secs(state));
    let provider = super::provider(state);
    let mut settled = 0;
    for row in store::attempts::unsettled_since(&state.db, before).await? {
        let Some(purpose) = Purpose::parse(&row.purpose) else {
            tracing::error!(invoice = %row.invoice_id, purpose = %row.purpose, "a payment attempt of an unknown purpose");
            continue;
        };
        // One attempt that cannot be looked at now never holds up the others.
        let invoice = match store::invoices::head(&state.db, &row.invoice_id).await {
            Ok(Some(invoice)) => invoice,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(invoice = %row.invoice_id, error = %e, "an interrupted payment could not be read; will retry");
                continue;
            }
        };
        let attempt = Attempt {
            invoice,
            number: row.attempt,
            purpose,
        };
        let outcome = match provider.outcome(&attempt.idempotency_key(), now).await {
            Ok(Some(Ok(charge))) => Outcome::Charged(charge),
            Ok(Some(Err(decline))) => Outcome::Declined(decline),
            Ok(None) => Outcome::Declined(Decline::new(INTERRUPTED)),
            Err(e) => {
                tracing::warn!(invoice = %attempt.invoice.id, error = %e, "the provider could not say what became of an interrupted payment; will retry");
                continue;
            }
        };
        tracing::warn!(invoice = %attempt.invoice.id, attempt = attempt.number, ?outcome, "settling an interrupted payment");
        match settle(state, &Origin::job("payments"), attempt, outcome, |_, _| {
            Ok(())
        })
        .await
        {
            Ok(_) => settled += 1,
            Err(e) => {
                tracing::warn!(error = %e, "an interrupted payment could not be settled; will retry")
            }
        }
    }
    Ok(settled)
}
