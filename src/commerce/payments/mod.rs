//! Payments (7): paying an invoice through the provider, exactly once however many requests
//! race. The order of checks is section 7's: nothing due (400008), already paid (400007),
//! declined (400013 with `declineCode`).

pub mod provider;
pub mod sandbox;

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::AppState;
use crate::audit::{self, Origin};
use crate::crypto::new_id;
use crate::db::{Unit, UnitError};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::extract::{ApiJson, ApiPath};
use crate::orgs::access::OrgContext;
use crate::time::Timestamp;

use super::invoices::{self, Claim, InvoiceHead};
use super::money::Money;
use super::store::{self, payments::NewPayment};
use super::subscriptions;
pub use provider::{Card, Decline, PaymentProvider};

/// The configured provider. Only the sandbox exists so far; a real one would be chosen here
/// from the configuration.
pub fn provider(_state: &AppState) -> impl PaymentProvider + 'static {
    sandbox::Sandbox
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub id: String,
    pub invoice_id: String,
    pub amount: Money,
    /// `succeeded` (a declined attempt leaves no payment).
    pub status: String,
    pub created_at: Timestamp,
}

/// Where the money comes from: a card in this request, or a stored reference (renewals).
pub enum Source<'a> {
    Card(&'a Card),
    Stored(&'a str),
}

/// A payment that went through, and the reference to keep for renewals.
pub struct Paid {
    pub payment: Payment,
    pub payment_method: String,
}

/// Inside a unit of work: charges an invoice the unit has claimed and records the payment. A
/// decline changes nothing the caller must keep (it releases or rolls back).
pub fn charge_in(
    w: &mut Unit<'_>,
    provider: &impl PaymentProvider,
    invoice: &InvoiceHead,
    source: Source<'_>,
    idempotency_key: &str,
    now: Timestamp,
) -> Result<Result<Paid, Decline>, UnitError> {
    let payment_method = match source {
        Source::Stored(reference) => reference.to_string(),
        Source::Card(card) => match provider.tokenize(w, card, now)? {
            Ok(reference) => reference,
            Err(decline) => return Ok(Err(decline)),
        },
    };
    let request = provider::ChargeRequest {
        payment_method: &payment_method,
        amount: invoice.total,
        currency: &invoice.currency,
        idempotency_key,
    };
    let charge = match provider.charge(w, request, now)? {
        Ok(charge) => charge,
        Err(decline) => return Ok(Err(decline)),
    };
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
            payment_method: &payment_method,
            provider_reference: &charge.reference,
        },
    )?;
    Ok(Ok(Paid {
        payment,
        payment_method,
    }))
}

/// 400013 for a declined card, with the provider's `declineCode`.
pub fn declined(decline: &Decline) -> ApiError {
    ApiError::new(
        ErrorCode::CheckoutError,
        format!("The card was declined ({}).", decline.code),
    )
    .with("declineCode", &decline.code)
}

/// A decline inside a unit of work whose writes must not stand: the unit answers `Err` (it
/// rolls back) and the decline waits here for the audit record written after it.
#[derive(Clone, Default)]
pub struct DeclineSlot(Arc<Mutex<Option<Decline>>>);

impl DeclineSlot {
    /// Keeps the decline; the error that rolls the unit back.
    pub fn keep(&self, decline: Decline) -> ApiError {
        let error = declined(&decline);
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(decline);
        }
        error
    }

    pub fn take(&self) -> Option<Decline> {
        self.0.lock().ok().and_then(|mut slot| slot.take())
    }
}

/// Records a declined attempt after its unit of work rolled back.
pub async fn audit_decline(
    state: &AppState,
    origin: &Origin,
    org_id: &str,
    invoice_id: Option<&str>,
    decline: &Decline,
) -> ApiResult<()> {
    let (origin, now) = (origin.clone(), state.clock.now());
    let details = json!({ "invoiceId": invoice_id, "declineCode": decline.code });
    let org_id = org_id.to_string();
    state
        .db
        .write(move |w| {
            audit::record_in(w, &origin, now, "payment.declined", Some(&org_id), details)?;
            Ok(())
        })
        .await
}

/// The answer to a unit of work that may have rolled back on a decline: the decline is
/// audited and answered 400013.
pub async fn after_decline<T>(
    state: &AppState,
    origin: &Origin,
    org_id: &str,
    invoice_id: Option<&str>,
    slot: &DeclineSlot,
    result: ApiResult<T>,
) -> ApiResult<T> {
    match (result, slot.take()) {
        (Err(e), Some(decline)) => {
            audit_decline(state, origin, org_id, invoice_id, &decline).await?;
            Err(e)
        }
        (result, _) => result,
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PayInvoice {
    /// `{"type":"card","number":"4242424242424242"}`.
    #[schema(value_type = Object)]
    payment_method: serde_json::Value,
}

/// Pays an open invoice, in one unit of work. Many racing requests: exactly one pays, the
/// others answer 400007.
pub async fn pay_invoice(
    state: &AppState,
    origin: &Origin,
    invoice_id: &str,
    card: Card,
) -> ApiResult<Payment> {
    let invoice = store::invoices::head(&state.db, invoice_id)
        .await?
        .ok_or_else(|| ApiError::not_found("The invoice"))?;
    if invoice.total == 0 {
        return Err(nothing_due(
            "This invoice has a zero total; nothing is due.",
        ));
    }
    let now = state.clock.now();
    let (provider, slot) = (provider(state), DeclineSlot::default());
    let (unit_origin, unit_slot, unit_invoice) = (origin.clone(), slot.clone(), invoice.clone());
    let paid = state
        .db
        .write(move |w| {
            let (origin, invoice) = (unit_origin, unit_invoice);
            // The organization first, like every commerce write (see subscriptions::lock_in).
            crate::orgs::lock_org_in(w, &invoice.org_id)?;
            match invoices::claim_in(w, &invoice.id, now)? {
                Claim::Claimed => {}
                Claim::AlreadyPaid => {
                    return Err(ApiError::new(
                        ErrorCode::AlreadyPaid,
                        "This invoice has already been paid.",
                    ));
                }
                Claim::Void => return Err(nothing_due("This invoice is void; nothing is due.")),
            }
            let key = new_id("chg");
            let paid = match charge_in(w, &provider, &invoice, Source::Card(&card), &key, now)? {
                Ok(paid) => paid,
                Err(decline) => return Err(unit_slot.keep(decline)),
            };
            record_paid_in(w, &origin, &invoice, &paid, now)?;
            Ok(paid.payment)
        })
        .await;
    after_decline(
        state,
        origin,
        &invoice.org_id,
        Some(&invoice.id),
        &slot,
        paid,
    )
    .await
}

/// What follows a successful payment: the audit event, and the subscriptions it unblocks.
pub fn record_paid_in(
    w: &mut Unit<'_>,
    origin: &Origin,
    invoice: &InvoiceHead,
    paid: &Paid,
    now: Timestamp,
) -> Result<(), UnitError> {
    audit::record_in(
        w,
        origin,
        now,
        "payment.succeeded",
        Some(&invoice.org_id),
        json!({ "paymentId": paid.payment.id, "invoiceId": invoice.id, "amount": paid.payment.amount }),
    )?;
    subscriptions::after_invoice_paid_in(w, origin, invoice, Some(&paid.payment_method), now)
}

pub fn nothing_due(detail: &str) -> ApiError {
    ApiError::new(ErrorCode::NoPaymentNecessary, detail)
}

/// Pays an invoice with a card (owner, admin, billing).
#[utoipa::path(post, path = "/v1/orgs/{orgId}/invoices/{invoiceId}/payments", tag = "billing",
    params(("orgId" = String, Path), ("invoiceId" = String, Path)), request_body = PayInvoice,
    responses((status = 201, body = Payment)))]
pub async fn create(
    State(state): State<AppState>,
    _ctx: OrgContext,
    origin: Origin,
    ApiPath(path): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<PayInvoice>,
) -> ApiResult<(StatusCode, Json<Payment>)> {
    let (_, invoice_id) = path;
    let card = Card::parse(&body.payment_method)?;
    let payment = pay_invoice(&state, &origin, &invoice_id, card).await?;
    Ok((StatusCode::CREATED, Json(payment)))
}
