//! Checkout (7): turns a price calculation into an invoice, one subscription per line and the
//! agreements the offers require — in one unit of work, paid in the same request when a card
//! is given (claimed in that unit, charged after it, settled in a second unit; a declined card
//! undoes the checkout). Checks, in order: the calculation exists (400002) and was not checked out (400013),
//! it has not expired and every offer and the coupon it used still hold (409001), no module in
//! it is already subscribed (400013), the card is not declined (400013 with `declineCode`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::extract::ApiJson;
use crate::audit::{self, Origin};
use crate::crypto::new_id;
use crate::db::{Unit, UnitError};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::orgs::access::OrgContext;
use crate::state::Infra;
use crate::time::Timestamp;

use super::agreements::{self, Agreement, NewAgreement};
use super::invoices::{self, Invoice, InvoiceHead, NewInvoice, NewLine};
use super::offers;
use super::payments::attempts::{self, Attempt, Claim, Purpose, Settled};
use super::payments::{self, Card, Source};
use super::pricing::Stored;
use super::store::{self, subscriptions::NewSubscription};
use super::subscriptions::{self, Subscription};

/// Checking out a price calculation, optionally paying at once.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"priceCalculationId": "pc_pre95b9ee0zbgj09tqm83xssss", "paymentMethod": {"type": "card", "number": "4242424242424242"}}))]
pub struct CreateCheckout {
    /// A price calculation of this organization, not yet checked out and still valid.
    price_calculation_id: String,
    /// A card to pay now; a decline undoes the checkout (400013 with `declineCode`). Without
    /// it the invoice stays open (unless its total is zero) for `POST …/invoices/{invoiceId}/payments`.
    #[schema(value_type = Option<super::payments::provider::PaymentMethodSchema>)]
    payment_method: Option<serde_json::Value>,
}

/// What a checkout created.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"invoice": {"id": "inv_p981068vcd1gdjfmgt83pxt891", "kind": "checkout", "status": "paid", "currency": "EUR", "lines": [{"subscriptionId": "sub_szaeavsntcpm5q1nxw1rnj47e6", "moduleId": "mod_jrp1xpa7z3dj8fssz5awsh8vht", "offerId": "off_6ys3c4dwa7n36096q14dr9gpqy", "unitPrice": {"amount": 1999, "currency": "EUR"}, "quantity": 3, "amount": {"amount": 5997, "currency": "EUR"}}], "subtotal": {"amount": 5997, "currency": "EUR"}, "discount": {"amount": 0, "currency": "EUR"}, "tax": {"amount": 1139, "currency": "EUR"}, "total": {"amount": 7136, "currency": "EUR"}, "amountDue": {"amount": 0, "currency": "EUR"}, "payments": [{"id": "pay_yfgcw8t7swm4fv4dk79q9g8xe6", "invoiceId": "inv_p981068vcd1gdjfmgt83pxt891", "amount": {"amount": 7136, "currency": "EUR"}, "status": "succeeded", "createdAt": "2026-11-24T10:31:13Z"}], "refunds": [], "createdAt": "2026-11-24T10:31:12Z", "paidAt": "2026-11-24T10:31:13Z"}, "subscriptions": [{"id": "sub_szaeavsntcpm5q1nxw1rnj47e6", "moduleId": "mod_jrp1xpa7z3dj8fssz5awsh8vht", "offerId": "off_6ys3c4dwa7n36096q14dr9gpqy", "quantity": 3, "status": "pending", "cancelAtPeriodEnd": false, "currentPeriodStart": null, "currentPeriodEnd": null, "endedAt": null, "latestInvoiceId": "inv_p981068vcd1gdjfmgt83pxt891", "createdAt": "2026-11-24T10:31:12Z"}], "agreements": [{"id": "agr_201cyfw6vzskdenc8sp3804gva", "title": "Data processing agreement", "textHash": "a6c48e9dca5d9998d5227107558add143e1d2d0b10f685a994fc84fa3d3d1b54", "status": "pending", "moduleId": "mod_jrp1xpa7z3dj8fssz5awsh8vht", "signedBy": null, "signedAt": null}]}))]
pub struct CheckoutResult {
    /// The invoice: `paid` when a card paid it or its total is zero, else `open`.
    pub invoice: Invoice,
    /// One subscription per calculated line: `active` once paid and every agreement it needs
    /// is signed, else `pending`.
    pub subscriptions: Vec<Subscription>,
    /// The agreements the offers require, to sign with `POST …/agreements/{agreementId}/sign`.
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
/// (400013), its basis confirmed (409001), the records created.
fn check_out_in(
    w: &mut Unit<'_>,
    org_id: &str,
    calculation_id: &str,
    now: Timestamp,
) -> ApiResult<Created> {
    // One checkout per organization at a time: no two can take the same module; none after
    // the organization was deleted (404003).
    crate::orgs::lock_live_org_in(w, org_id)?;
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
    create_records_in(w, org_id, &calc, &offers, now)
}

/// The audit event of a checkout that stands: recorded with its records, or with its payment
/// when one was tried.
pub(crate) fn completed_in(
    w: &mut Unit<'_>,
    origin: &Origin,
    invoice_id: &str,
    now: Timestamp,
) -> Result<(), UnitError> {
    let made = store::checkouts::of_invoice(w, invoice_id)?;
    let org_id = store::invoices::head_in(w, invoice_id)?.org_id;
    audit::record_in(
        w,
        origin,
        now,
        "checkout.completed",
        Some(&org_id),
        json!({ "priceCalculationId": made.calculation_id, "invoiceId": invoice_id,
                "subscriptionIds": made.subscription_ids, "total": made.total, "currency": made.currency }),
    )
}

/// A checkout whose payment was declined leaves nothing behind: its records are deleted, the
/// calculation may be checked out again and the coupon's redemption is given back.
pub(crate) fn undo_in(w: &mut Unit<'_>, invoice_id: &str) -> Result<(), UnitError> {
    let made = store::checkouts::of_invoice(w, invoice_id)?;
    store::checkouts::undo(w, invoice_id, &made)
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

/// How the checkout's first unit ended.
enum Begun {
    /// Nothing to charge: the answer.
    Done(Box<CheckoutResult>),
    /// The invoice is claimed for the card's payment.
    Paying(Box<(Attempt, Created)>),
}

/// The whole checkout: one unit of work, and with a card the payment's charge and second unit.
pub async fn run(
    state: &Infra,
    origin: &Origin,
    org_id: &str,
    calculation_id: &str,
    card: Option<Card>,
) -> ApiResult<CheckoutResult> {
    let now = state.clock.now();
    let begun = begin(state, origin, org_id, calculation_id, card.is_some(), now).await?;
    match (begun, card) {
        (Begun::Done(result), _) => Ok(*result),
        (Begun::Paying(paying), Some(card)) => {
            let (attempt, created) = *paying;
            pay(state, origin, attempt, created, &card, now).await
        }
        (Begun::Paying(_), None) => Err(ApiError::internal("a checkout paid without a card")),
    }
}

/// The checkout's unit: its records, and the invoice claimed when a card pays it (else the
/// answer, the invoice paid at once when nothing is due).
async fn begin(
    state: &Infra,
    origin: &Origin,
    org_id: &str,
    calculation_id: &str,
    with_card: bool,
    now: Timestamp,
) -> ApiResult<Begun> {
    let (origin, org_id) = (origin.clone(), org_id.to_string());
    let calculation_id = calculation_id.to_string();
    state
        .db
        .write(move |w| {
            let created = check_out_in(w, &org_id, &calculation_id, now)?;
            let invoice = &created.invoice;
            if with_card {
                return match attempts::claim_in(w, &invoice.id, Purpose::Checkout, now)? {
                    Claim::Claimed(attempt) => Ok(Begun::Paying(Box::new((attempt, created)))),
                    _ => Err(ApiError::internal("a new invoice was not open")),
                };
            }
            completed_in(w, &origin, &invoice.id, now)?;
            if invoice.total == 0 {
                // Nothing is due: the invoice is paid as it is issued, without a payment.
                store::invoices::mark_paid(w, &invoice.id, now)?;
                subscriptions::after_invoice_paid_in(w, &origin, invoice, None, now)?;
            }
            Ok(Begun::Done(Box::new(result_in(w, created)?)))
        })
        .await
}

/// The card's payment of a claimed checkout: charged (with a zero total only kept, for the
/// renewals, which may cost something), then settled with the answer in the same unit; a
/// decline has undone the checkout.
async fn pay(
    state: &Infra,
    origin: &Origin,
    attempt: Attempt,
    created: Created,
    card: &Card,
    now: Timestamp,
) -> ApiResult<CheckoutResult> {
    let provider = payments::provider(state);
    let outcome = attempts::charge(&provider, &attempt, Source::Card(card), now).await?;
    let answer = move |w: &mut Unit<'_>, settled: &Settled| match settled {
        Settled::Paid(_) => Ok(Some(result_in(w, created)?)),
        Settled::Declined(_) => Ok(None),
    };
    match attempts::settle(state, origin, attempt, outcome, answer).await? {
        (_, Some(result)) => Ok(result),
        (Settled::Declined(decline), None) => Err(payments::declined(&decline)),
        (Settled::Paid(_), None) => Err(ApiError::internal("a paid checkout without its answer")),
    }
}

/// Checks out a price calculation (owner, admin, billing): invoice, subscriptions and
/// agreements, paid now when `paymentMethod` is given.
#[utoipa::path(post, path = "/v1/orgs/{orgId}/checkouts", tag = "billing", operation_id = "createCheckout", params(("orgId" = String, Path, description = crate::api::ORG_ID)),
    request_body = CreateCheckout,
    responses((status = 201, description = "The invoice, its subscriptions and the agreements to sign.", body = CheckoutResult)))]
pub async fn create(
    State(state): State<Infra>,
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
