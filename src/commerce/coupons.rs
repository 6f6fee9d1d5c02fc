//! Coupons (7): a percentage or a fixed amount off, optionally until a time and for a number of
//! redemptions. Codes are case-insensitive (stored upper-case). Redemptions are counted at
//! checkout with one conditional update, so `maxRedemptions` holds across racing processes.
//! Platform administrators create, list, read and delete them. A deleted coupon is kept (price
//! calculations and invoices name it) but is gone for every use: no new calculation takes it
//! (400012), calculations made with it answer 409001 at checkout, its `GET` answers 404003, and
//! a new coupon may take its code.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::extract::{ApiJson, find_by_path};
use crate::audit::{self, Origin};
use crate::crypto::{new_id, sha256_hex};
use crate::error::{ApiError, ApiResult, ErrorCode, FieldError};
use crate::list::{ListParams, Page};
use crate::state::Infra;
use crate::time::Timestamp;

use super::money::{Discount, Money};
use super::store;

/// A discount code, redeemed at checkout.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"id": "cpn_necfseczp11hygcpwpq5e6eycn", "code": "WELCOME10", "percentOff": 10, "amountOff": null, "maxRedemptions": 100, "redemptions": 37, "validUntil": "2026-12-31T23:59:59Z", "createdAt": "2026-10-15T12:00:00Z"}))]
pub struct Coupon {
    /// The coupon's id (`cpn_…`).
    pub id: String,
    /// Upper-case; matched case-insensitively.
    pub code: String,
    /// The percentage off the subtotal (1 to 100); `null` for a fixed amount.
    pub percent_off: Option<i64>,
    /// The fixed amount off the subtotal, only in its currency; `null` for a percentage.
    pub amount_off: Option<Money>,
    /// Until when it can be redeemed; `null`: no end.
    pub valid_until: Option<Timestamp>,
    /// How many checkouts may redeem it; `null`: no limit.
    pub max_redemptions: Option<i64>,
    /// How many checkouts have redeemed it.
    pub redemptions: i64,
    /// When it was created.
    pub created_at: Timestamp,
}

impl Coupon {
    pub fn discount(&self) -> Discount {
        match &self.amount_off {
            Some(money) => Discount::Amount(money.amount),
            None => Discount::Percent(self.percent_off.unwrap_or(0)),
        }
    }

    /// The coupon's terms (not its redemption count); checkout compares it with the
    /// calculation's copy.
    pub fn fingerprint(&self) -> String {
        sha256_hex(
            format!(
                "{}|{:?}|{:?}|{:?}|{:?}",
                self.code,
                self.percent_off,
                self.amount_off.as_ref().map(|m| (m.amount, &m.currency)),
                self.valid_until.map(Timestamp::micros),
                self.max_redemptions
            )
            .as_bytes(),
        )
    }

    /// Why the coupon cannot be used at `now`, if it cannot.
    pub fn unusable(&self, now: Timestamp) -> Option<&'static str> {
        if self.valid_until.is_some_and(|until| until <= now) {
            return Some("has expired");
        }
        if self
            .max_redemptions
            .is_some_and(|max| self.redemptions >= max)
        {
            return Some("has been used up");
        }
        None
    }
}

pub fn normalize_code(code: &str) -> String {
    code.trim().to_ascii_uppercase()
}

/// The coupon with this code (matched case-insensitively), if any.
pub async fn find_by_code(db: &crate::db::Db, code: &str) -> ApiResult<Option<Coupon>> {
    Ok(store::coupons::find_by_code(db, &normalize_code(code)).await?)
}

/// A new coupon: a percentage or a fixed amount off.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"code": "LAUNCH20", "percentOff": 20, "validUntil": "2026-12-31T23:59:59Z", "maxRedemptions": 100}))]
pub struct CreateCoupon {
    /// 1 to 64 letters, digits, `_` or `-`; case-insensitive; one in use answers 400002.
    code: String,
    /// 1 to 100; exactly one of `percentOff` and `amountOff`.
    percent_off: Option<i64>,
    /// A positive amount in an active ISO 4217 currency; it applies only to calculations in
    /// that currency.
    amount_off: Option<Money>,
    /// Until when it can be redeemed; absent: no end.
    valid_until: Option<Timestamp>,
    /// At least 1; no limit when absent.
    max_redemptions: Option<i64>,
}

fn parse(body: CreateCoupon) -> ApiResult<Coupon> {
    let mut errors = Vec::new();
    let code = normalize_code(&body.code);
    if !(1..=64).contains(&code.len())
        || !code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
    {
        errors.push(FieldError {
            field: "code".into(),
            message: "must be 1 to 64 letters, digits, '_' or '-'".into(),
        });
    }
    let amount_off = match (body.percent_off, body.amount_off) {
        (Some(_), Some(_)) | (None, None) => {
            errors.push(FieldError {
                field: "percentOff".into(),
                message: "give exactly one of percentOff and amountOff".into(),
            });
            None
        }
        (Some(percent), None) => {
            if !(1..=100).contains(&percent) {
                errors.push(FieldError {
                    field: "percentOff".into(),
                    message: "must be from 1 to 100".into(),
                });
            }
            None
        }
        (None, Some(money)) => {
            let money = money.parse_price("amountOff", &mut errors);
            if money.as_ref().is_some_and(|m| m.amount == 0) {
                errors.push(FieldError {
                    field: "amountOff.amount".into(),
                    message: "must be positive".into(),
                });
            }
            money
        }
    };
    if body.max_redemptions.is_some_and(|max| max < 1) {
        errors.push(FieldError {
            field: "maxRedemptions".into(),
            message: "must be at least 1".into(),
        });
    }
    if !errors.is_empty() {
        return Err(ApiError::validations(errors));
    }
    Ok(Coupon {
        id: new_id("cpn"),
        code,
        percent_off: body.percent_off,
        amount_off,
        valid_until: body.valid_until,
        max_redemptions: body.max_redemptions,
        redemptions: 0,
        created_at: Timestamp::from_micros(0),
    })
}

/// Inserts the coupon and audits it, in one unit of work; a code in use answers 400002.
async fn add(state: &Infra, origin: &Origin, created: Coupon) -> ApiResult<Coupon> {
    let origin = origin.clone();
    state
        .db
        .write(move |w| {
            if !store::coupons::insert(w, &created)? {
                return Err(ApiError::validation("code", "a coupon with this code exists"));
            }
            audit::record_in(
                w,
                &origin,
                created.created_at,
                "coupon.created",
                Some(&created.id),
                json!({ "code": created.code, "percentOff": created.percent_off, "amountOff": created.amount_off,
                        "validUntil": created.valid_until, "maxRedemptions": created.max_redemptions }),
            )?;
            Ok(created)
        })
        .await
}

/// Creates a coupon (platform administrators). A code a live coupon has answers 400002; the
/// code of a deleted coupon may be used again.
#[utoipa::path(post, path = "/v1/coupons", tag = "catalogue", operation_id = "createCoupon", request_body = CreateCoupon,
    responses((status = 201, description = "The new coupon.", body = Coupon)))]
pub async fn create(
    State(state): State<Infra>,
    origin: Origin,
    ApiJson(body): ApiJson<CreateCoupon>,
) -> ApiResult<(StatusCode, Json<Coupon>)> {
    let now = state.clock.now();
    let created = Coupon {
        created_at: now,
        ..parse(body)?
    };
    let created = add(&state, &origin, created).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// The live coupon named by `{couponId}`, loaded before anything else is read: an unknown or
/// deleted coupon answers 404003.
pub struct CouponPath(pub Coupon);

impl<S: Send + Sync> FromRequestParts<S> for CouponPath
where
    Infra: axum::extract::FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        find_by_path(parts, state, not_found, |db, id: String| async move {
            store::coupons::find(&db, &id).await
        })
        .await
        .map(CouponPath)
    }
}

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "No coupon has this id.")
}

/// Lists the coupons, newest first.
///
/// Platform administrators only. Deleted coupons are not listed.
#[utoipa::path(get, path = "/v1/coupons", tag = "catalogue", operation_id = "listCoupons",
    params(("from" = Option<i64>, Query, description = "How many coupons to skip (default 0)."),
           ("limit" = Option<i64>, Query, description = "How many coupons to answer, 0 to 100 (default 20); 0 answers only the total.")),
    responses((status = 200, description = "A page of the coupons that are not deleted, newest first, with their redemption counts.", body = Page<Coupon>)))]
pub async fn list(State(state): State<Infra>, params: ListParams) -> ApiResult<Json<Page<Coupon>>> {
    let (items, total) = store::coupons::page(&state.db, &params).await?;
    Ok(Json(Page::new(&params, items, total)))
}

/// Reads one coupon with its redemption count.
///
/// Platform administrators only. An unknown or deleted coupon answers 404003.
#[utoipa::path(get, path = "/v1/coupons/{couponId}", tag = "catalogue", operation_id = "getCoupon",
    params(("couponId" = String, Path, description = "The coupon's id (`cpn_…`).")),
    responses((status = 200, description = "The coupon, with `redemptions`: the checkouts that used it.", body = Coupon)))]
pub async fn get(CouponPath(coupon): CouponPath) -> Json<Coupon> {
    Json(coupon)
}

/// Deletes a coupon.
///
/// Platform administrators only. The coupon can no longer be used: a price calculation with
/// its code answers 400012, a calculation made with it before answers 409001 at checkout, its
/// `GET` answers 404003 and it leaves the list. Invoices that used it keep their discount. Its
/// code is free for a new coupon. Deleting it again answers 404003.
#[utoipa::path(delete, path = "/v1/coupons/{couponId}", tag = "catalogue", operation_id = "deleteCoupon",
    params(("couponId" = String, Path, description = "The coupon's id (`cpn_…`).")),
    responses((status = 204, description = "The coupon is deleted.")))]
pub async fn delete(
    State(state): State<Infra>,
    origin: Origin,
    CouponPath(coupon): CouponPath,
) -> ApiResult<StatusCode> {
    delete_coupon(&state, &origin, coupon).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Marks the coupon deleted and audits it, in one unit of work; one a racing request deleted
/// since it was read answers 404003.
async fn delete_coupon(state: &Infra, origin: &Origin, coupon: Coupon) -> ApiResult<()> {
    let (origin, now) = (origin.clone(), state.clock.now());
    state
        .db
        .write(move |w| {
            if !store::coupons::delete(w, &coupon.id, now)? {
                return Err(not_found());
            }
            audit::record_in(
                w,
                &origin,
                now,
                "coupon.deleted",
                Some(&coupon.id),
                json!({ "code": coupon.code, "redemptions": coupon.redemptions }),
            )?;
            Ok(())
        })
        .await
}
