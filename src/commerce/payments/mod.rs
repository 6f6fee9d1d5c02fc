//! Payments (7): paying an invoice through the provider, exactly once however many requests
//! race. The order of checks is section 7's: nothing due (400008), already paid (400007),
//! declined (400013 with `declineCode`). How a payment is claimed, charged outside any unit of
//! work and settled is in `attempts`.

pub(crate) mod attempts;
pub mod provider;
pub mod sandbox;

#[cfg(test)]
mod recovery_tests;

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::api::extract::{ApiJson, ApiPath};
use crate::audit::Origin;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::orgs::access::OrgContext;
use crate::state::Infra;
use crate::time::Timestamp;

use self::attempts::{Claim, Purpose, Settled};
use super::money::Money;
use super::store;
pub use provider::{Card, Decline, DeclineCode, PaymentProvider};

/// The configured provider. Only the sandbox exists so far; a real one would be chosen here
/// from the configuration.
pub fn provider(state: &Infra) -> sandbox::Sandbox {
    sandbox::Sandbox::new(state.db.clone())
}

/// A payment's state: `succeeded` (a declined attempt leaves no payment).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // the wire value is the stored text; this names it in the document
pub enum PaymentStatus {
    Succeeded,
}

/// A successful payment of an invoice.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"id": "pay_yfgcw8t7swm4fv4dk79q9g8xe6", "invoiceId": "inv_p981068vcd1gdjfmgt83pxt891", "amount": {"amount": 7136, "currency": "EUR"}, "status": "succeeded", "createdAt": "2026-11-24T10:31:13Z"}))]
pub struct Payment {
    /// The payment's id (`pay_…`).
    pub id: String,
    /// The invoice it paid.
    pub invoice_id: String,
    /// What was charged: the invoice's total.
    pub amount: Money,
    /// Where it stands.
    #[schema(value_type = PaymentStatus)]
    pub status: String,
    /// When it was charged.
    pub created_at: Timestamp,
}

/// Where the money comes from: a card in this request, or a stored reference (renewals).
pub enum Source<'a> {
    Card(&'a Card),
    Stored(&'a str),
}

/// 400013 for a declined card, with the provider's `declineCode`.
pub fn declined(decline: &Decline) -> ApiError {
    ApiError::new(
        ErrorCode::CheckoutError,
        format!("The card was declined ({}).", decline.code),
    )
    .with("declineCode", &decline.code)
}

/// The card to pay an invoice with.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"paymentMethod": {"type": "card", "number": "4242424242424242"}}))]
pub struct PayInvoice {
    /// The card to charge the invoice's total to.
    #[schema(value_type = provider::PaymentMethodSchema)]
    payment_method: serde_json::Value,
}

/// How long a payment waits for another payment of the same invoice under way.
const WAIT_FOR_OTHER: Duration = Duration::from_secs(10);

/// Pays an open invoice: claim, charge, settle (see `attempts`). Many racing requests: exactly
/// one pays, the others answer 400007; one that finds another payment under way waits for its
/// outcome, so a declined payment does not turn the others away.
pub async fn pay_invoice(
    state: &Infra,
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
    let deadline = tokio::time::Instant::now() + WAIT_FOR_OTHER;
    let attempt = loop {
        let now = state.clock.now();
        let (org_id, id) = (invoice.org_id.clone(), invoice.id.clone());
        let claim = state
            .db
            .write(move |w| {
                // The organization first, like every commerce write (see subscriptions::lock_in).
                crate::orgs::lock_org_in(w, &org_id)?;
                Ok(attempts::claim_in(w, &id, Purpose::Payment, now)?)
            })
            .await?;
        match claim {
            Claim::Claimed(attempt) => break attempt,
            Claim::AlreadyPaid => return Err(already_paid("This invoice has already been paid.")),
            Claim::Void => return Err(nothing_due("This invoice is void; nothing is due.")),
            Claim::Gone => return Err(ApiError::not_found("The invoice")),
            Claim::UnderWay if tokio::time::Instant::now() >= deadline => {
                return Err(already_paid("A payment of this invoice is under way."));
            }
            Claim::UnderWay => wait_for_settling(state, &invoice.id, deadline).await?,
        }
    };
    let now = state.clock.now();
    let outcome = attempts::charge(&provider(state), &attempt, Source::Card(&card), now).await?;
    let (settled, ()) = attempts::settle(state, origin, attempt, outcome, |_, _| Ok(())).await?;
    match settled {
        Settled::Paid(Some(payment)) => Ok(payment),
        Settled::Paid(None) => Err(ApiError::internal("a charged invoice has no payment")),
        Settled::Declined(decline) => Err(declined(&decline)),
    }
}

/// Waits, polling with a growing pause, until the invoice's attempt under way is settled (in
/// whichever process) or the deadline passes.
async fn wait_for_settling(
    state: &Infra,
    invoice_id: &str,
    deadline: tokio::time::Instant,
) -> ApiResult<()> {
    let mut pause = Duration::from_millis(5);
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(pause).await;
        if !store::attempts::is_unsettled(&state.db, invoice_id).await? {
            break;
        }
        pause = (pause * 2).min(Duration::from_millis(100));
    }
    Ok(())
}

fn already_paid(detail: &str) -> ApiError {
    ApiError::new(ErrorCode::AlreadyPaid, detail)
}

pub fn nothing_due(detail: &str) -> ApiError {
    ApiError::new(ErrorCode::NoPaymentNecessary, detail)
}

/// Pays an invoice with a card (owner, admin, billing).
#[utoipa::path(post, path = "/v1/orgs/{orgId}/invoices/{invoiceId}/payments", tag = "billing", operation_id = "payInvoice",
    params(("orgId" = String, Path, description = crate::api::ORG_ID), ("invoiceId" = String, Path, description = "The invoice's id (`inv_…`).")), request_body = PayInvoice,
    responses((status = 201, description = "The payment; the invoice is paid and its pending subscriptions may become active.", body = Payment)))]
pub async fn create(
    State(state): State<Infra>,
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
