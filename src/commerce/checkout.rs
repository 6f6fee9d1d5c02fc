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

use crate::app::AppState;
use crate::audit::{self, Origin};
use crate::crypto::new_id;
use crate::db::Unit;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::extract::ApiJson;
use crate::orgs::access::OrgContext;
use crate::time::Timestamp;

use super::agreements::{self, Agreement, NewAgreement};
use super::invoices::{self, Claim, Invoice, InvoiceHead, NewInvoice, NewLine};
use super::offers;
use super::payments::provider::PaymentProvider as _;
use super::payments::{self, Card, DeclineSlot, Source};
use super::pricing::Stored;
use super::store::{self, subscriptions::NewSubscription};
use super::subscriptions::{self, Subscription};

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
fn confirm_basis_in(
    w: &mut Unit<'_>,
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
        match store::offers::active_in(w, &line.module_id, now)? {
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
        let coupon = store::coupons::find_in(w, coupon_id)?;
        let unchanged = coupon.is_some_and(|c| Some(c.fingerprint()) == calc.coupon_fingerprint);
        if !unchanged || !store::coupons::redeem(w, coupon_id, now)? {
            return Err(stale(
                &calc.id,
                "The coupon has changed, expired or been used up".into(),
            ));
        }
    }
    Ok(used)
}

/// What a checkout created.
struct Created {
    invoice: InvoiceHead,
    subscription_ids: Vec<String>,
    agreements: Vec<Agreement>,
}

/// Creates the invoice, the subscriptions (400013 when a module is subscribed already) and the
/// agreements.
fn create_records_in(
    w: &mut Unit<'_>,
    org_id: &str,
    calc: &Stored,
    offers: &[offers::Offer],
    now: Timestamp,
) -> ApiResult<Created> {
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
    let new = NewInvoice {
        org_id,
        kind: "checkout",
        currency: &calc.currency,
        totals: calc.totals,
        tax_rate_ppm: calc.tax_rate_ppm,
        price_calculation_id: Some(&calc.id),
        coupon_id: calc.coupon_id.as_deref(),
        lines,
    };
    let invoice_id = invoices::insert_in(w, &new, now)?;
    let mut agreements = Vec::new();
    for ((line, offer), sub) in calc.lines.iter().zip(offers).zip(&subscription_ids) {
        let new = NewSubscription {
            id: sub,
            org_id,
            module_id: &line.module_id,
            offer_id: &line.offer_id,
            quantity: line.quantity,
            invoice_id: &invoice_id,
        };
        if !store::subscriptions::insert(w, &new, now)? {
            return Err(subscriptions::already_subscribed(&line.module_id));
        }
        if offer.agreement_required {
            let module = store::modules::find_in(w, &line.module_id)?
                .ok_or_else(|| ApiError::internal("offer of a missing module"))?;
            let agreement = NewAgreement {
                org_id,
                module_id: Some(&module.id),
                subscription_id: Some(sub),
                title: &module.name,
                text: &module.description,
            };
            agreements.push(agreements::insert_in(w, agreement, now)?);
        }
    }
    Ok(Created {
        invoice: InvoiceHead {
            id: invoice_id,
            org_id: org_id.to_string(),
            status: "open".into(),
            total: calc.totals.total,
            currency: calc.currency.clone(),
        },
        subscription_ids,
        agreements,
    })
}

/// Inside the checkout's unit: the organization's lock, the calculation (400002) claimed once
/// (400013), its basis confirmed (409001), the records created and audited.
fn check_out_in(
    w: &mut Unit<'_>,
    origin: &Origin,
    org_id: &str,
    calculation_id: &str,
    now: Timestamp,
) -> ApiResult<Created> {
    // One checkout per organization at a time: no two can take the same module.
    crate::orgs::lock_org_in(w, org_id)?;
    let calc = store::calculations::find(w, org_id, calculation_id)?.ok_or_else(|| {
        ApiError::validation(
            "priceCalculationId",
            "no price calculation of this organization has this id",
        )
    })?;
    if !store::calculations::mark_checked_out(w, &calc.id, now)? {
        return Err(ApiError::new(
            ErrorCode::CheckoutError,
            "This price calculation has already been checked out.",
        ));
    }
    let offers = confirm_basis_in(w, &calc, now)?;
    let created = create_records_in(w, org_id, &calc, &offers, now)?;
    audit::record_in(
        w,
        origin,
        now,
        "checkout.completed",
        Some(org_id),
        json!({ "priceCalculationId": calc.id, "invoiceId": created.invoice.id,
                "subscriptionIds": created.subscription_ids, "total": calc.totals.total, "currency": calc.currency }),
    )?;
    Ok(created)
}

/// The answer: the invoice, the subscriptions and the agreements, as stored now.
fn result_in(w: &mut Unit<'_>, created: Created) -> ApiResult<CheckoutResult> {
    let invoice = invoices::load_one_in(w, &created.invoice.id)?;
    let mut subscriptions = Vec::with_capacity(created.subscription_ids.len());
    for id in &created.subscription_ids {
        let row = store::subscriptions::find_in(w, id)?
            .ok_or_else(|| ApiError::internal("a new subscription is missing"))?;
        subscriptions.push(row.view());
    }
    Ok(CheckoutResult {
        invoice,
        subscriptions,
        agreements: created.agreements,
    })
}

/// The whole checkout, in one unit of work; a declined card rolls it back.
pub async fn run(
    state: &AppState,
    origin: &Origin,
    org_id: &str,
    calculation_id: &str,
    card: Option<Card>,
) -> ApiResult<CheckoutResult> {
    let now = state.clock.now();
    let (provider, slot) = (payments::provider(state), DeclineSlot::default());
    let (unit_origin, unit_slot) = (origin.clone(), slot.clone());
    let (unit_org, calculation_id) = (org_id.to_string(), calculation_id.to_string());
    let result = state
        .db
        .write(move |w| {
            let origin = unit_origin;
            let created = check_out_in(w, &origin, &unit_org, &calculation_id, now)?;
            let invoice = &created.invoice;
            let settles_now = invoice.total == 0 || card.is_some();
            if settles_now && invoices::claim_in(w, &invoice.id, now)? != Claim::Claimed {
                return Err(ApiError::internal("a new invoice was not open"));
            }
            match &card {
                _ if invoice.total == 0 => {
                    // Nothing is due: the invoice is paid as it is issued, without a payment. A
                    // card given anyway is kept (not charged) for the renewals, which may cost
                    // something.
                    let stored = match &card {
                        Some(card) => match provider.tokenize(w, card, now)? {
                            Ok(reference) => Some(reference),
                            Err(decline) => return Err(unit_slot.keep(decline)),
                        },
                        None => None,
                    };
                    subscriptions::after_invoice_paid_in(
                        w,
                        &origin,
                        invoice,
                        stored.as_deref(),
                        now,
                    )?;
                }
                Some(card) => {
                    let source = Source::Card(card);
                    let key = invoice.id.clone();
                    match payments::charge_in(w, &provider, invoice, source, &key, now)? {
                        Ok(paid) => payments::record_paid_in(w, &origin, invoice, &paid, now)?,
                        Err(decline) => return Err(unit_slot.keep(decline)),
                    }
                }
                None => {}
            }
            result_in(w, created)
        })
        .await;
    payments::after_decline(state, origin, org_id, None, &slot, result).await
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
        card,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(result)))
}
