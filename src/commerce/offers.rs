//! Offers (7): a module's price, interval and terms for a validity window. The active offer is
//! the one with the latest `validFrom` among those valid now (then the latest created); an
//! archived module has none. An offer's price and terms never change; only its end
//! (`validUntil`) may move earlier. A calculation remembers each offer's fingerprint, which
//! includes the end, so a checkout notices an ended offer (409001).

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::extract::{ApiJson, find_by_path};
use crate::audit::{self, Origin};
use crate::crypto::{new_id, sha256_hex};
use crate::db::Db;
use crate::error::{ApiError, ApiResult, ErrorCode, FieldError};
use crate::list::{ListParams, Page};
use crate::state::Infra;
use crate::time::Timestamp;

use super::interval::Interval;
use super::modules::{ModulePath, not_found as module_not_found};
use super::money::Money;
use super::store;

/// A module's price, interval and terms for a validity window.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"id": "off_6ys3c4dwa7n36096q14dr9gpqy", "moduleId": "mod_jrp1xpa7z3dj8fssz5awsh8vht", "price": {"amount": 1999, "currency": "EUR"}, "interval": "month", "validFrom": "2026-10-01T08:00:00Z", "validUntil": null, "refundPeriodDays": 14, "agreementRequired": true, "createdAt": "2026-10-01T08:05:00Z"}))]
pub struct Offer {
    /// The offer's id (`off_…`).
    pub id: String,
    /// The module it prices.
    pub module_id: String,
    /// The price of one unit for one interval.
    pub price: Money,
    /// How often it is paid.
    #[schema(value_type = Interval)]
    pub interval: String,
    /// From when it applies.
    pub valid_from: Timestamp,
    /// Until when it applies; `null`: open-ended.
    pub valid_until: Option<Timestamp>,
    /// For how many days after a period starts a refund may be requested.
    pub refund_period_days: i64,
    /// Whether the organization must sign the module's agreement before its subscription
    /// becomes active.
    pub agreement_required: bool,
    /// When it was created.
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

/// A new offer: a module's price, interval and terms for a validity window.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({
    "price": {"amount": 1999, "currency": "EUR"},
    "interval": "month",
    "validFrom": "2026-01-01T00:00:00Z",
    "validUntil": null,
    "refundPeriodDays": 14,
    "agreementRequired": false
}))]
pub struct CreateOffer {
    /// The price of one unit for one interval: 0 or more minor units in an active ISO 4217
    /// currency.
    price: Money,
    /// How often it is paid.
    #[schema(value_type = Interval)]
    interval: String,
    /// From when it applies; the active offer is the one valid now with the latest
    /// `validFrom`.
    valid_from: Timestamp,
    /// Until when it applies (after `validFrom`); `null` or absent: open-ended.
    valid_until: Option<Timestamp>,
    /// 0 to 3650 days after the current period starts.
    refund_period_days: i64,
    /// Whether the organization must sign the module's agreement before its subscription
    /// becomes active.
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

/// Adds an offer to a module (platform administrators). An archived module takes no new
/// offers (400002).
#[utoipa::path(post, path = "/v1/modules/{moduleId}/offers", tag = "catalogue", operation_id = "createOffer", params(("moduleId" = String, Path, description = "The module's id (`mod_…`).")),
    request_body = CreateOffer, responses((status = 201, description = "The new offer.", body = Offer)))]
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
            if !store::offers::insert(w, &created)? {
                return Err(ApiError::validation(
                    "moduleId",
                    "the module is archived; it takes no new offers",
                ));
            }
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
#[utoipa::path(get, path = "/v1/modules/{moduleId}/offers", tag = "catalogue", operation_id = "listOffers",
    params(("moduleId" = String, Path, description = "The module's id (`mod_…`)."), ("from" = Option<i64>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, description = "A page of the module's offers, past and future ones included.", body = Page<Offer>)))]
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
#[utoipa::path(get, path = "/v1/modules/{moduleId}/active-offer", tag = "catalogue", operation_id = "getActiveOffer", params(("moduleId" = String, Path, description = "The module's id (`mod_…`).")),
    responses((status = 200, description = "The offer a checkout would use now.", body = Offer)))]
pub async fn get_active(
    State(state): State<Infra>,
    ModulePath(module): ModulePath,
) -> ApiResult<Json<Offer>> {
    store::offers::active(&state.db, &module.id, state.clock.now())
        .await?
        .map(Json)
        .ok_or_else(|| no_active_offer(&module.id))
}

/// The offer named by `{offerId}` of the module named by `{moduleId}`, loaded before the body is
/// read: an unknown module, or an offer of another module, answers 404003 first.
pub struct OfferPath(pub Offer);

impl<S: Send + Sync> FromRequestParts<S> for OfferPath
where
    Infra: axum::extract::FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let find = |db: Db, (module_id, offer_id): (String, String)| async move {
            if store::modules::find(&db, &module_id).await?.is_none() {
                return Err(module_not_found());
            }
            match store::offers::find(&db, &module_id, &offer_id).await? {
                Some(offer) => Ok(Some(offer)),
                None => Err(ApiError::new(
                    ErrorCode::NotFound,
                    "No offer of this module has this id.",
                )),
            }
        };
        find_by_path(parts, state, module_not_found, find)
            .await
            .map(OfferPath)
    }
}

/// When an offer stops applying.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"validUntil": "2026-12-31T23:00:00Z"}))]
pub struct EndOffer {
    /// The offer's new end: not before now, not before `validFrom`, and not after the end it
    /// has (an end only moves earlier). Equal to `validFrom`, a scheduled offer never applies.
    valid_until: Timestamp,
}

/// Why `until` cannot end `offer` at `now`, as field errors (none when it can).
fn end_errors(offer: &Offer, until: Timestamp, now: Timestamp) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut error = |message: String| {
        errors.push(FieldError {
            field: "validUntil".into(),
            message,
        })
    };
    if until < now {
        error(format!("must not be before now ({now})"));
    }
    if until < offer.valid_from {
        error(format!(
            "must not be before validFrom ({})",
            offer.valid_from
        ));
    }
    if let Some(current) = offer.valid_until.filter(|current| until > *current) {
        error(format!(
            "may only move earlier than the offer's end ({current})"
        ));
    }
    errors
}

/// Ends an offer by setting its `validUntil`.
///
/// Platform administrators only. `validUntil` only moves earlier (or is set where there was
/// none), never before now or before `validFrom` (400002); equal to `validFrom`, a scheduled
/// offer never applies. Price and terms never change. From `validUntil` on the offer is no
/// longer active, and a price calculation made with it answers 409001 at checkout (also before
/// then: its terms changed). Subscriptions on it go on and renew at its price. Setting the end
/// it has already answers 200 and changes nothing. The offers of an archived module may be
/// ended too.
#[utoipa::path(patch, path = "/v1/modules/{moduleId}/offers/{offerId}", tag = "catalogue", operation_id = "endOffer",
    params(("moduleId" = String, Path, description = "The module's id (`mod_…`)."),
           ("offerId" = String, Path, description = "The id (`off_…`) of one of the module's offers.")),
    request_body = EndOffer,
    responses((status = 200, description = "The offer with its new `validUntil`.", body = Offer)))]
pub async fn end(
    State(state): State<Infra>,
    origin: Origin,
    OfferPath(offer): OfferPath,
    ApiJson(body): ApiJson<EndOffer>,
) -> ApiResult<Json<Offer>> {
    let ended = end_offer(&state, &origin, offer.id, body.valid_until).await?;
    Ok(Json(ended))
}

/// Moves the offer's end to `until` and audits it, in one unit of work, checked against the
/// offer as that unit reads it (400002). The end it has already changes nothing and is not
/// audited. The offer after it.
async fn end_offer(
    state: &Infra,
    origin: &Origin,
    offer_id: String,
    until: Timestamp,
) -> ApiResult<Offer> {
    let (origin, now) = (origin.clone(), state.clock.now());
    state
        .db
        .write(move |w| {
            let offer = store::offers::find_in(w, &offer_id)?;
            let errors = end_errors(&offer, until, now);
            if !errors.is_empty() {
                return Err(ApiError::validations(errors));
            }
            if offer.valid_until == Some(until) {
                return Ok(offer);
            }
            let ended = store::offers::end(w, &offer.id, until)?.ok_or_else(|| {
                ApiError::validation("validUntil", "may only move earlier than the offer's end")
            })?;
            audit::record_in(
                w,
                &origin,
                now,
                "offer.ended",
                Some(&ended.module_id),
                json!({ "offerId": ended.id, "validUntil": ended.valid_until,
                        "previousValidUntil": offer.valid_until }),
            )?;
            Ok(ended)
        })
        .await
}
