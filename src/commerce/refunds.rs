//! Refunds (7): the full amount paid for a subscription's current period, within the offer's
//! refund period; the subscription ends at once. A subscription is refunded at most once —
//! the subscription row is locked first, and a unique index backs it up.
//!
//! The provider is not called inside a unit of work: the rules are checked, the provider gives
//! the money back under a key derived from the subscription (so racing or repeated requests
//! refund once), then one unit checks the rules again under the locks and records the refund.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::extract::{ApiJson, ApiPath};
use crate::audit::{self, Origin};
use crate::crypto::new_id;
use crate::db::Unit;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::orgs::access::OrgContext;
use crate::state::Infra;
use crate::time::Timestamp;

use super::invoices::InvoiceHead;
use super::money::Money;
use super::payments::{self, PaymentProvider};
use super::store::{self, refunds::NewRefund, refunds::PaidShare};
use super::subscriptions::{self, LockIf, SubscriptionRow};

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Refund {
    pub id: String,
    pub subscription_id: String,
    pub invoice_id: String,
    /// Positive: the amount given back.
    pub amount: Money,
    /// `succeeded`.
    pub status: String,
    pub reason: String,
    pub created_at: Timestamp,
}

fn nothing_paid(detail: &str) -> ApiError {
    payments::nothing_due(detail)
}

/// What a refund of a subscription gives back.
struct Refundable {
    sub: SubscriptionRow,
    invoice: InvoiceHead,
    paid: PaidShare,
}

/// The refund rules, in section 7's order: refunded already or ended (400008, 400002),
/// nothing paid (400008), too late (400016).
fn refundable_in(
    w: &mut Unit<'_>,
    sub: Option<SubscriptionRow>,
    now: Timestamp,
) -> ApiResult<Refundable> {
    let sub = sub.ok_or_else(|| ApiError::not_found("The subscription"))?;
    if store::refunds::exists_for(w, &sub.id)? {
        return Err(nothing_paid(
            "This subscription has been refunded already; nothing paid is left to refund.",
        ));
    }
    if sub.is_final() {
        return Err(ApiError::validation(
            "subscriptionId",
            "this subscription has ended",
        ));
    }
    let invoice = store::invoices::head_in(w, &sub.invoice_id)?;
    let paid = match store::refunds::paid_share(w, &invoice.id, &sub.id)? {
        Some(paid) if invoice.status == "paid" && paid.share > 0 => paid,
        _ => {
            return Err(nothing_paid(
                "Nothing was paid for this subscription's current period.",
            ));
        }
    };
    let offer = store::offers::find_in(w, &sub.offer_id)?;
    // The window opens when the period starts (or, before the first period, at payment).
    let opened = sub.current_period_start.unwrap_or(paid.paid_at);
    if now > opened.plus_seconds(offer.refund_period_days * 86_400) {
        return Err(ApiError::new(
            ErrorCode::SubscriberRefundRequestTooLate,
            format!(
                "Refunds are possible for {} days after the period started ({opened}).",
                offer.refund_period_days
            ),
        ));
    }
    Ok(Refundable { sub, invoice, paid })
}

/// Refunds the current period of a subscription and ends it: the rules, the provider's refund,
/// then one unit of work that checks the rules again and records it.
pub async fn request(
    state: &Infra,
    origin: &Origin,
    subscription_id: &str,
    reason: &str,
) -> ApiResult<Refund> {
    let now = state.clock.now();
    let id = subscription_id.to_string();
    let due = state
        .db
        .write(move |w| {
            let sub = store::subscriptions::find_in(w, &id)?;
            refundable_in(w, sub, now)
        })
        .await?;
    let key = format!("{}.refund", due.sub.id);
    let provider_reference = payments::provider(state)
        .refund(&due.paid.charge, due.paid.share, &key)
        .await?;
    let (origin, id, reason) = (
        origin.clone(),
        subscription_id.to_string(),
        reason.to_string(),
    );
    state
        .db
        .write(move |w| {
            let sub = subscriptions::lock_in(w, &id, LockIf::Always, now)?;
            let Refundable { sub, invoice, paid } = refundable_in(w, sub, now)?;
            let created = Refund {
                id: new_id("rf"),
                subscription_id: sub.id.clone(),
                invoice_id: invoice.id.clone(),
                amount: Money::new(paid.share, &invoice.currency),
                status: "succeeded".into(),
                reason: reason.clone(),
                created_at: now,
            };
            let new = NewRefund {
                refund: &created,
                org_id: &sub.org_id,
                payment_id: &paid.payment_id,
                provider_reference: &provider_reference,
            };
            if !store::refunds::insert(w, new)? {
                return Err(nothing_paid("This subscription has been refunded already."));
            }
            subscriptions::finish_in(w, &sub, "ended", now)?;
            audit::record_in(
                w,
                &origin,
                now,
                "refund.succeeded",
                Some(&sub.org_id),
                json!({ "refundId": created.id, "subscriptionId": sub.id, "invoiceId": invoice.id,
                        "amount": created.amount, "reason": reason }),
            )?;
            audit::record_in(
                w,
                &origin,
                now,
                "subscription.ended",
                Some(&sub.org_id),
                json!({ "subscriptionId": sub.id, "reason": "refunded" }),
            )?;
            Ok(created)
        })
        .await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestRefund {
    /// 1 to 500 characters.
    reason: String,
}

/// Refunds the current period and ends the subscription (owner, billing).
#[utoipa::path(post, path = "/v1/orgs/{orgId}/subscriptions/{subscriptionId}/refund-requests", tag = "billing",
    params(("orgId" = String, Path), ("subscriptionId" = String, Path)), request_body = RequestRefund,
    responses((status = 201, body = Refund)))]
pub async fn create(
    State(state): State<Infra>,
    _ctx: OrgContext,
    origin: Origin,
    ApiPath(path): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<RequestRefund>,
) -> ApiResult<(StatusCode, Json<Refund>)> {
    let (_, id) = path;
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::validation(
            "reason",
            "must be 1 to 500 characters",
        ));
    }
    let refund = request(&state, &origin, &id, reason).await?;
    Ok((StatusCode::CREATED, Json(refund)))
}
