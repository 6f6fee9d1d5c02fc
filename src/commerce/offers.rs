//! Offers (7): a module's price, interval and terms for a validity window. The active offer is
//! the one with the latest `validFrom` among those valid now (then the latest created).
//! Offers are never edited; a calculation remembers each offer's fingerprint anyway, so a
//! checkout notices any change.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::extract::ApiJson;
use crate::audit::{self, Origin};
use crate::crypto::{new_id, sha256_hex};
use crate::error::{ApiError, ApiResult, ErrorCode, FieldError};
use crate::list::{ListParams, Page};
use crate::state::Infra;
use crate::time::Timestamp;

use super::interval::Interval;
use super::modules::ModulePath;
use super::money::Money;
use super::store;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Offer {
    pub id: String,
    pub module_id: String,
    /// The price of one unit for one interval.
    pub price: Money,
    /// `month`, `year` or `once`.
    pub interval: String,
    pub valid_from: Timestamp,
    pub valid_until: Option<Timestamp>,
    pub refund_period_days: i64,
    pub agreement_required: bool,
    pub created_at: Timestamp,
}

impl Offer {
    pub fn interval(&self) -> Interval {
        Interval::parse(&self.interval).unwrap_or(Interval::Once)
    }

    /// Everything a price depends on; a calculation stores it and checkout compares it.
    pub fn fingerprint(&self) -> String {
        sha256_hex(
            format!(
                "{}|{}|{}|{}|{:?}|{}|{}",
                self.price.amount,
                self.price.currency,
                self.interval,
                self.valid_from.micros(),
                self.valid_until.map(Timestamp::micros),
                self.refund_period_days,
                self.agreement_required
            )
            .as_bytes(),
        )
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateOffer {
    price: Money,
    /// `month`, `year` or `once`.
    interval: String,
    valid_from: Timestamp,
    valid_until: Option<Timestamp>,
    /// 0 to 3650 days after the current period starts.
    refund_period_days: i64,
    agreement_required: bool,
}

fn validate(body: &CreateOffer) -> ApiResult<()> {
    let mut errors = Vec::new();
    body.price.clone().parse_price("price", &mut errors);
    if Interval::parse(&body.interval).is_none() {
        errors.push(FieldError {
            field: "interval".into(),
            message: "must be month, year or once".into(),
        });
    }
    if body
        .valid_until
        .is_some_and(|until| until <= body.valid_from)
    {
        errors.push(FieldError {
            field: "validUntil".into(),
            message: "must be after validFrom".into(),
        });
    }
    if !(0..=3650).contains(&body.refund_period_days) {
        errors.push(FieldError {
            field: "refundPeriodDays".into(),
            message: "must be from 0 to 3650".into(),
        });
    }
    match errors.is_empty() {
        true => Ok(()),
        false => Err(ApiError::validations(errors)),
    }
}

/// Adds an offer to a module (platform administrators).
#[utoipa::path(post, path = "/v1/modules/{moduleId}/offers", tag = "catalogue", params(("moduleId" = String, Path)),
    request_body = CreateOffer, responses((status = 201, body = Offer)))]
pub async fn create(
    State(state): State<Infra>,
    origin: Origin,
    ModulePath(module): ModulePath,
    ApiJson(body): ApiJson<CreateOffer>,
) -> ApiResult<(StatusCode, Json<Offer>)> {
    validate(&body)?;
    let now = state.clock.now();
    let created = Offer {
        id: new_id("off"),
        module_id: module.id,
        price: body.price,
        interval: body.interval,
        valid_from: body.valid_from,
        valid_until: body.valid_until,
        refund_period_days: body.refund_period_days,
        agreement_required: body.agreement_required,
        created_at: now,
    };
    let created = add(&state, &origin, created).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Inserts the offer and audits it, in one unit of work.
async fn add(state: &Infra, origin: &Origin, created: Offer) -> ApiResult<Offer> {
    let origin = origin.clone();
    state
        .db
        .write(move |w| {
            store::offers::insert(w, &created)?;
            audit::record_in(
                w,
                &origin,
                created.created_at,
                "offer.created",
                Some(&created.module_id),
                json!({ "offerId": created.id, "price": created.price, "interval": created.interval,
                        "validFrom": created.valid_from, "validUntil": created.valid_until }),
            )?;
            Ok(created)
        })
        .await
}

/// A module's offers, newest first.
#[utoipa::path(get, path = "/v1/modules/{moduleId}/offers", tag = "catalogue",
    params(("moduleId" = String, Path), ("from" = Option<i64>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, body = Page<Offer>)))]
pub async fn list(
    State(state): State<Infra>,
    ModulePath(module): ModulePath,
    params: ListParams,
) -> ApiResult<Json<Page<Offer>>> {
    Ok(Json(
        store::offers::page(&state.db, &params, &module.id).await?,
    ))
}

pub fn no_active_offer(module_id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::NoActiveOffer,
        format!("Module {module_id} has no active offer."),
    )
}

/// The offer that applies now (404002 when none does; 404003 for an unknown module).
#[utoipa::path(get, path = "/v1/modules/{moduleId}/active-offer", tag = "catalogue", params(("moduleId" = String, Path)),
    responses((status = 200, body = Offer)))]
pub async fn get_active(
    State(state): State<Infra>,
    ModulePath(module): ModulePath,
) -> ApiResult<Json<Offer>> {
    store::offers::active(&state.db, &module.id, state.clock.now())
        .await?
        .map(Json)
        .ok_or_else(|| no_active_offer(&module.id))
}
