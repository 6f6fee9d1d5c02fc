//! Price calculations (7): the server's binding quote for a basket. It records what it was based
//! on — each offer's id and fingerprint, the coupon's id and fingerprint — so that checkout can
//! tell whether it still holds (409001 otherwise), and it expires after
//! `price_calculation_ttl_secs`.

use std::collections::HashSet;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::api::extract::{ApiJson, ApiPath};
use crate::crypto::new_id;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::orgs::access::OrgContext;
use crate::orgs::store::Org;
use crate::state::Infra;
use crate::time::Timestamp;

use super::coupons::{self, Coupon};
use super::money::{Money, TaxRates, Totals, totals};
use super::offers::{self, Offer};
use super::store;

pub const MAX_ITEMS: usize = 100;
pub const MAX_QUANTITY: i64 = 1000;

/// A basket to price.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"items": [{"moduleId": "mod_jt97kb6cq643dzvmxxqkfbf5kz", "quantity": 5}], "couponCode": "LAUNCH20"}))]
pub struct CreatePriceCalculation {
    /// 1 to 100 modules, each listed once.
    items: Vec<Item>,
    /// A coupon to apply; unknown, expired, used up or in another currency answers 400012.
    coupon_code: Option<String>,
}

/// One module of a basket.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Item {
    /// The module to price at its active offer (404002 without one).
    module_id: String,
    /// 1 to 1000 (400012 otherwise).
    quantity: i64,
}

/// One line of a price calculation.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"moduleId": "mod_jrp1xpa7z3dj8fssz5awsh8vht", "offerId": "off_6ys3c4dwa7n36096q14dr9gpqy", "unitPrice": {"amount": 1999, "currency": "EUR"}, "quantity": 3, "amount": {"amount": 5997, "currency": "EUR"}}))]
pub struct PriceLine {
    /// The module priced.
    pub module_id: String,
    /// The offer that priced it.
    pub offer_id: String,
    /// The offer's price of one unit for one interval.
    pub unit_price: Money,
    /// How many units.
    pub quantity: i64,
    /// `unitPrice × quantity`.
    pub amount: Money,
}

/// The server's binding quote for a basket, valid until `validUntil`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"id": "pc_dy0yp57rcybvn5sxs5aa819x9y", "lines": [{"moduleId": "mod_jrp1xpa7z3dj8fssz5awsh8vht", "offerId": "off_6ys3c4dwa7n36096q14dr9gpqy", "unitPrice": {"amount": 1999, "currency": "EUR"}, "quantity": 3, "amount": {"amount": 5997, "currency": "EUR"}}], "subtotal": {"amount": 5997, "currency": "EUR"}, "discount": {"amount": 0, "currency": "EUR"}, "tax": {"amount": 1139, "currency": "EUR"}, "total": {"amount": 7136, "currency": "EUR"}, "currency": "EUR", "couponCode": null, "createdAt": "2026-11-24T10:30:00Z", "validUntil": "2026-11-24T11:00:00Z"}))]
pub struct PriceCalculation {
    /// The calculation's id (`pc_…`), to check out with.
    pub id: String,
    /// One line per module, in the order asked.
    pub lines: Vec<PriceLine>,
    /// The sum of the lines.
    pub subtotal: Money,
    /// What the coupon takes off the subtotal (zero without one).
    pub discount: Money,
    /// The tax on the discounted subtotal, at the rate of the organization's country.
    pub tax: Money,
    /// What is due: `subtotal − discount + tax`.
    pub total: Money,
    /// ISO 4217; every money field is in it.
    #[schema(pattern = "^[A-Z]{3}$", example = "EUR")]
    pub currency: String,
    /// The coupon applied, upper-case; `null` without one.
    pub coupon_code: Option<String>,
    /// When it was calculated.
    pub created_at: Timestamp,
    /// Checkout after this time answers 409001.
    pub valid_until: Timestamp,
}

fn calculation_error(detail: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::PriceCalculationError, detail)
}

/// Section 3 step 8 for the body: the list's size (400002), then each quantity and duplicate
/// (400012, which wins over 400002 for these values).
fn check_items(items: &[Item]) -> ApiResult<()> {
    if items.is_empty() || items.len() > MAX_ITEMS {
        return Err(ApiError::validation(
            "items",
            format!("must list 1 to {MAX_ITEMS} modules"),
        ));
    }
    let mut seen = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        if !(1..=MAX_QUANTITY).contains(&item.quantity) {
            return Err(calculation_error(format!(
                "items[{i}].quantity must be from 1 to {MAX_QUANTITY}."
            )));
        }
        if !seen.insert(item.module_id.as_str()) {
            return Err(calculation_error(format!(
                "Module {} is listed more than once.",
                item.module_id
            )));
        }
    }
    Ok(())
}

/// The coupon for `code` if it can be used now with prices in `currency` (400012 otherwise).
async fn usable_coupon(
    state: &Infra,
    code: &str,
    currency: &str,
    now: Timestamp,
) -> ApiResult<Coupon> {
    let coupon = coupons::find_by_code(&state.db, code)
        .await?
        .ok_or_else(|| calculation_error("No coupon has this code."))?;
    if let Some(why) = coupon.unusable(now) {
        return Err(calculation_error(format!("The coupon {why}.")));
    }
    if let Some(off) = coupon
        .amount_off
        .as_ref()
        .filter(|m| m.currency != currency)
    {
        return Err(calculation_error(format!(
            "The coupon is in {}, the prices in {currency}.",
            off.currency
        )));
    }
    Ok(coupon)
}

/// Prices a basket for an organization and stores the calculation.
pub async fn calculate(
    state: &Infra,
    org: &Org,
    body: CreatePriceCalculation,
) -> ApiResult<PriceCalculation> {
    check_items(&body.items)?;
    let now = state.clock.now();
    let mut offers: Vec<Offer> = Vec::with_capacity(body.items.len());
    for item in &body.items {
        // An unknown module has no active offer either: 404002 for both.
        let offer = store::offers::active(&state.db, &item.module_id, now)
            .await?
            .ok_or_else(|| offers::no_active_offer(&item.module_id))?;
        offers.push(offer);
    }
    let currency = offers[0].price.currency.clone();
    if let Some(other) = offers.iter().find(|o| o.price.currency != currency) {
        return Err(calculation_error(format!(
            "The offers are in different currencies ({currency}, {}).",
            other.price.currency
        )));
    }
    let coupon = match body.coupon_code.as_deref() {
        Some(code) => Some(usable_coupon(state, code, &currency, now).await?),
        None => None,
    };
    let rates = TaxRates::parse(&state.config.tax_rates)
        .map_err(|e| ApiError::internal(format!("tax_rates: {e}")))?;
    let tax_rate_ppm = rates.rate_ppm(&org.country);
    let lines: Vec<PriceLine> = body
        .items
        .iter()
        .zip(&offers)
        .map(|(item, offer)| PriceLine {
            module_id: item.module_id.clone(),
            offer_id: offer.id.clone(),
            unit_price: offer.price.clone(),
            quantity: item.quantity,
            amount: Money::new(offer.price.amount * item.quantity, &currency),
        })
        .collect();
    let amounts: Vec<i64> = lines.iter().map(|l| l.amount.amount).collect();
    let t = totals(
        &amounts,
        coupon.as_ref().map(Coupon::discount),
        tax_rate_ppm,
    );
    let calculation = PriceCalculation {
        id: new_id("pc"),
        lines,
        subtotal: Money::new(t.subtotal, &currency),
        discount: Money::new(t.discount, &currency),
        tax: Money::new(t.tax, &currency),
        total: Money::new(t.total, &currency),
        currency,
        coupon_code: coupon.as_ref().map(|c| c.code.clone()),
        created_at: now,
        valid_until: now.plus_seconds(state.config.price_calculation_ttl_secs),
    };
    let org_id = org.id.clone();
    state
        .db
        .write(move |w| {
            let coupon = coupon.as_ref();
            store::calculations::insert(w, &org_id, &calculation, &offers, coupon, tax_rate_ppm)?;
            Ok(calculation)
        })
        .await
}

/// A stored calculation as checkout needs it.
pub struct Stored {
    pub id: String,
    pub currency: String,
    pub totals: Totals,
    pub tax_rate_ppm: i64,
    pub coupon_id: Option<String>,
    pub coupon_fingerprint: Option<String>,
    pub valid_until: Timestamp,
    pub lines: Vec<StoredLine>,
}

pub struct StoredLine {
    pub module_id: String,
    pub offer_id: String,
    pub offer_fingerprint: String,
    pub unit_amount: i64,
    pub quantity: i64,
    pub amount: i64,
}

/// Prices modules for the organization (owner, admin, billing). The answer is binding until
/// `validUntil`.
#[utoipa::path(post, path = "/v1/orgs/{orgId}/price-calculations", tag = "billing", operation_id = "createPriceCalculation",
    params(("orgId" = String, Path, description = crate::api::ORG_ID)), request_body = CreatePriceCalculation,
    responses((status = 201, description = "The binding quote, valid for 30 minutes.", body = PriceCalculation)))]
pub async fn create(
    State(state): State<Infra>,
    ctx: OrgContext,
    ApiJson(body): ApiJson<CreatePriceCalculation>,
) -> ApiResult<(StatusCode, Json<PriceCalculation>)> {
    let calculation = calculate(&state, &ctx.org, body).await?;
    Ok((StatusCode::CREATED, Json(calculation)))
}

/// A calculation of the organization, as its creation answered it (whether or not it is still
/// valid or checked out). Another organization's is 404003.
#[utoipa::path(get, path = "/v1/orgs/{orgId}/price-calculations/{priceCalculationId}", tag = "billing", operation_id = "getPriceCalculation",
    params(("orgId" = String, Path, description = crate::api::ORG_ID), ("priceCalculationId" = String, Path, description = "The calculation's id (`pc_…`).")),
    responses((status = 200, description = "The calculation as its creation answered it.", body = PriceCalculation)))]
pub async fn get(
    State(state): State<Infra>,
    ctx: OrgContext,
    ApiPath(path): ApiPath<(String, String)>,
) -> ApiResult<Json<PriceCalculation>> {
    let (_, id) = path;
    store::calculations::read(&state.db, &ctx.org.id, &id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "The price calculation was not found."))
}
