//! Checkout (7): turns a price calculation into an invoice, one subscription per line and the
//! agreements the offers require — in one transaction, paid in the same request when a card is
//! given. Checks, in order: the calculation exists (400002) and was not checked out (400013),
//! it has not expired and every offer and the coupon it used still hold (409001), no module in
//! it is already subscribed (400013), the card is not declined (400013 with `declineCode`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::extract::ApiJson;
use crate::app::AppState;
use crate::audit::{self, Origin};
use crate::crypto::new_id;
use crate::db::Tx;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::orgs::access::OrgContext;
use crate::orgs::agreements::{self, Agreement, NewAgreement};
use crate::time::Timestamp;

use super::invoices::{self, Claim, Invoice, InvoiceHead, NewInvoice, NewLine};
use super::payments::provider::PaymentProvider as _;
use super::payments::{self, Card, Source};
use super::pricing::{self, Stored};
use super::subscriptions::{self, NewSubscription, Subscription};
use super::{coupons, modules, offers};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateCheckout {
    price_calculation_id: String,
    /// `{"type":"card","number":"4242424242424242"}`: pay now. Without it the invoice stays
    /// open (unless its total is zero).
    #[schema(value_type = Option<Object>)]
    payment_method: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckoutResult {
    pub invoice: Invoice,
    pub subscriptions: Vec<Subscription>,
    pub agreements: Vec<Agreement>,
}

fn stale(calculation_id: &str, why: String) -> ApiError {
    ApiError::new(
        ErrorCode::PriceCalculationInvalid,
        format!("{why}; calculate the price again."),
    )
    .with("priceCalculationId", calculation_id)
}

/// 409001 unless every offer and the coupon the calculation used still apply unchanged; the
/// coupon's redemption is counted here. Returns the offers, in line order.
async fn confirm_basis(
    tx: &mut Tx,
    calc: &Stored,
    now: Timestamp,
) -> ApiResult<Vec<offers::Offer>> {
    if calc.valid_until <= now {
        return Err(stale(
            &calc.id,
            format!("The price calculation expired at {}", calc.valid_until),
        ));
    }
    let mut used = Vec::with_capacity(calc.lines.len());
    for line in &calc.lines {
        match offers::active(&mut **tx, &line.module_id, now).await? {
            Some(offer)
                if offer.id == line.offer_id && offer.fingerprint() == line.offer_fingerprint =>
            {
                used.push(offer)
            }
            _ => {
                return Err(stale(
                    &calc.id,
                    format!("The offer for module {} has changed", line.module_id),
                ));
            }
        }
    }
    if let Some(coupon_id) = &calc.coupon_id {
        let coupon = coupons::find(&mut **tx, coupon_id).await?;
        let unchanged = coupon.is_some_and(|c| Some(c.fingerprint()) == calc.coupon_fingerprint);
        if !unchanged || !coupons::redeem(tx, coupon_id, now).await? {
            return Err(stale(
                &calc.id,
                "The coupon has changed, expired or been used up".into(),
            ));
        }
    }
    Ok(used)
}

/// Creates the invoice, the subscriptions and the agreements; returns the invoice id, the
/// subscription ids and the agreements.
async fn create_records(
    tx: &mut Tx,
    org_id: &str,
    calc: &Stored,
    offers: &[offers::Offer],
    now: Timestamp,
) -> ApiResult<(String, Vec<String>, Vec<Agreement>)> {
    let subscription_ids: Vec<String> = calc.lines.iter().map(|_| new_id("sub")).collect();
    let lines = calc
        .lines
        .iter()
        .zip(&subscription_ids)
        .map(|(line, sub)| NewLine {
            subscription_id: sub.clone(),
            module_id: line.module_id.clone(),
            offer_id: line.offer_id.clone(),
            unit_amount: line.unit_amount,
            quantity: line.quantity,
            amount: line.amount,
        })
        .collect();
    let invoice_id = invoices::insert(
        tx,
        NewInvoice {
            org_id,
            kind: "checkout",
            currency: &calc.currency,
            totals: calc.totals,
            tax_rate_ppm: calc.tax_rate_ppm,
            price_calculation_id: Some(&calc.id),
            coupon_id: calc.coupon_id.as_deref(),
            lines,
        },
        now,
    )
    .await?;
    let mut created = Vec::new();
    for ((line, offer), sub) in calc.lines.iter().zip(offers).zip(&subscription_ids) {
        let new = NewSubscription {
            id: sub,
            org_id,
            module_id: &line.module_id,
            offer_id: &line.offer_id,
            quantity: line.quantity,
            invoice_id: &invoice_id,
        };
        subscriptions::insert(tx, new, now).await?;
        if offer.agreement_required {
            let module = modules::find(&mut **tx, &line.module_id)
                .await?
                .ok_or_else(|| ApiError::internal("offer of a missing module"))?;
            let agreement = NewAgreement {
                org_id,
                module_id: Some(&module.id),
                subscription_id: Some(sub),
                title: &module.name,
                text: &module.description,
            };
            created.push(agreements::insert(tx, agreement, now).await?);
        }
    }
    Ok((invoice_id, subscription_ids, created))
}

/// The whole checkout, in one transaction.
pub async fn run(
    state: &AppState,
    origin: &Origin,
    org_id: &str,
    calculation_id: &str,
    card: Option<&Card>,
) -> ApiResult<CheckoutResult> {
    let now = state.clock.now();
    let mut tx = state.db.begin_write().await?;
    // One checkout per organization at a time: no two can take the same module.
    crate::orgs::lock_org(&mut tx, org_id).await?;
    let calc = pricing::load(&mut tx, org_id, calculation_id)
        .await?
        .ok_or_else(|| {
            ApiError::validation(
                "priceCalculationId",
                "no price calculation of this organization has this id",
            )
        })?;
    if !pricing::claim(&mut tx, &calc.id, now).await? {
        return Err(ApiError::new(
            ErrorCode::CheckoutError,
            "This price calculation has already been checked out.",
        ));
    }
    let offers = confirm_basis(&mut tx, &calc, now).await?;
    let (invoice_id, subscription_ids, agreements) =
        create_records(&mut tx, org_id, &calc, &offers, now).await?;
    let invoice = InvoiceHead {
        id: invoice_id.clone(),
        org_id: org_id.to_string(),
        status: "open".into(),
        total: calc.totals.total,
        currency: calc.currency.clone(),
    };
    audit::record(
        &mut *tx,
        origin,
        now,
        "checkout.completed",
        Some(org_id),
        json!({ "priceCalculationId": calc.id, "invoiceId": invoice_id,
                "subscriptionIds": subscription_ids, "total": calc.totals.total, "currency": calc.currency }),
    )
    .await?;
    let settles_now = calc.totals.total == 0 || card.is_some();
    if settles_now && invoices::claim(&mut tx, &invoice_id, now).await? != Claim::Claimed {
        return Err(ApiError::internal("a new invoice was not open"));
    }
    match card {
        _ if calc.totals.total == 0 => {
            // Nothing is due: the invoice is paid as it is issued, without a payment. A card
            // given anyway is kept (not charged) for the renewals, which may cost something.
            let stored = match card {
                Some(card) => match payments::provider(state)
                    .tokenize(&mut tx, card, now)
                    .await?
                {
                    Ok(reference) => Some(reference),
                    Err(decline) => {
                        tx.rollback().await?;
                        payments::audit_decline(state, origin, org_id, None, &decline).await?;
                        return Err(payments::declined(&decline));
                    }
                },
                None => None,
            };
            subscriptions::after_invoice_paid(&mut tx, origin, &invoice, stored.as_deref(), now)
                .await?;
        }
        Some(card) => {
            let source = Source::Card(card);
            match payments::charge(state, &mut tx, &invoice, source, &invoice_id, now).await? {
                Ok(paid) => payments::record_paid(&mut tx, origin, &invoice, &paid, now).await?,
                Err(decline) => {
                    tx.rollback().await?;
                    payments::audit_decline(state, origin, org_id, None, &decline).await?;
                    return Err(payments::declined(&decline));
                }
            }
        }
        None => {}
    }
    tx.commit().await?;
    // The answer is read after the commit, on a reader: the writer is free for the next write.
    let mut conn = state.db.pool().acquire().await?;
    let invoice = invoices::load_one(&mut conn, &invoice_id).await?;
    let mut subscriptions = Vec::with_capacity(subscription_ids.len());
    for id in &subscription_ids {
        subscriptions.push(subscriptions::find(&mut conn, id).await?.view());
    }
    Ok(CheckoutResult {
        invoice,
        subscriptions,
        agreements,
    })
}

/// Checks out a price calculation (owner, admin, billing): invoice, subscriptions and
/// agreements, paid now when `paymentMethod` is given.
#[utoipa::path(post, path = "/v1/orgs/{orgId}/checkouts", tag = "billing", params(("orgId" = String, Path)),
    request_body = CreateCheckout, responses((status = 201, body = CheckoutResult)))]
pub async fn create(
    State(state): State<AppState>,
    ctx: OrgContext,
    origin: Origin,
    ApiJson(body): ApiJson<CreateCheckout>,
) -> ApiResult<(StatusCode, Json<CheckoutResult>)> {
    let card = body.payment_method.as_ref().map(Card::parse).transpose()?;
    let result = run(
        &state,
        &origin,
        &ctx.org.id,
        &body.price_calculation_id,
        card.as_ref(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(result)))
}
