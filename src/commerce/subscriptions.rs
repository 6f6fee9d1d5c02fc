//! Subscriptions (7). One per checkout line; `pending` until its invoice is paid and every
//! agreement it needs is signed, then `active` with its first period starting then. `past_due`
//! while a renewal is being retried. `canceled` (stopped before a paid period ran) and `ended`
//! are final. An organization has at most one live (not final) subscription per module.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::json;

use crate::api::extract::ApiPath;
use crate::audit::{self, Origin};
use crate::db::{Unit, UnitError};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::list::{ListParams, Page};
use crate::orgs::access::OrgContext;
use crate::state::Infra;
use crate::time::Timestamp;

use super::invoices::InvoiceHead;
use super::store;

/// Where a subscription stands: `pending` until its invoice is paid and every agreement it
/// needs is signed; `active`; `past_due` while a renewal's payment is retried; `canceled`
/// (stopped before a paid period ran) and `ended` are final.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // the wire values are the stored texts; this names them in the document
pub enum SubscriptionStatus {
    Pending,
    Active,
    PastDue,
    Canceled,
    Ended,
}

/// An organization's subscription to a module.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"id": "sub_szaeavsntcpm5q1nxw1rnj47e6", "moduleId": "mod_jrp1xpa7z3dj8fssz5awsh8vht", "offerId": "off_6ys3c4dwa7n36096q14dr9gpqy", "quantity": 3, "status": "active", "cancelAtPeriodEnd": false, "currentPeriodStart": "2026-11-24T10:31:13Z", "currentPeriodEnd": "2026-12-24T10:31:13Z", "endedAt": null, "latestInvoiceId": "inv_p981068vcd1gdjfmgt83pxt891", "createdAt": "2026-11-24T10:31:12Z"}))]
pub struct Subscription {
    /// The subscription's id (`sub_…`).
    pub id: String,
    /// The module subscribed to.
    pub module_id: String,
    /// The offer it renews at.
    pub offer_id: String,
    /// How many units.
    pub quantity: i64,
    /// Where it stands.
    #[schema(value_type = SubscriptionStatus)]
    pub status: String,
    /// Null until the subscription first becomes active.
    pub current_period_start: Option<Timestamp>,
    /// Null until active, and for `once` offers (their period never ends).
    pub current_period_end: Option<Timestamp>,
    /// Whether it ends at `currentPeriodEnd` instead of renewing (it was canceled).
    pub cancel_at_period_end: bool,
    /// The invoice of the current (or first) period.
    pub latest_invoice_id: String,
    /// When the checkout created it.
    pub created_at: Timestamp,
    /// When it became `canceled` or `ended`; `null` before.
    pub ended_at: Option<Timestamp>,
}

/// A subscription row as the rules see it.
#[derive(Clone, Debug)]
pub struct SubscriptionRow {
    pub id: String,
    pub org_id: String,
    pub module_id: String,
    pub offer_id: String,
    pub quantity: i64,
    pub status: String,
    pub anchor_at: Option<Timestamp>,
    pub periods: i64,
    pub current_period_start: Option<Timestamp>,
    pub current_period_end: Option<Timestamp>,
    pub cancel_at_period_end: bool,
    pub invoice_id: String,
    pub payment_method: Option<String>,
    pub retry_count: i64,
    pub next_retry_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub ended_at: Option<Timestamp>,
}

impl SubscriptionRow {
    pub fn is_final(&self) -> bool {
        matches!(self.status.as_str(), "canceled" | "ended")
    }

    pub fn view(&self) -> Subscription {
        Subscription {
            id: self.id.clone(),
            module_id: self.module_id.clone(),
            offer_id: self.offer_id.clone(),
            quantity: self.quantity,
            status: self.status.clone(),
            current_period_start: self.current_period_start,
            current_period_end: self.current_period_end,
            cancel_at_period_end: self.cancel_at_period_end,
            latest_invoice_id: self.invoice_id.clone(),
            created_at: self.created_at,
            ended_at: self.ended_at,
        }
    }
}

/// Which subscriptions `store::subscriptions::lock` may take.
#[derive(Copy, Clone, Debug)]
pub enum LockIf {
    Always,
    /// Active and at (or past) the end of its period.
    PeriodEnded,
    /// Past due with a retry due.
    RetryDue,
}

pub fn already_subscribed(module_id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::CheckoutError,
        format!("The organization already has a subscription to module {module_id}."),
    )
}

/// Activates the organization's pending subscriptions whose invoice is paid and whose
/// agreements are all signed; the first period starts now.
pub fn activate_ready_in(
    w: &mut Unit<'_>,
    origin: &Origin,
    org_id: &str,
    now: Timestamp,
) -> Result<(), UnitError> {
    for (id, interval) in store::subscriptions::ready(w, org_id)? {
        let end = interval.period_end(now, 1);
        if store::subscriptions::activate(w, &id, now, end)? {
            audit::record_in(
                w,
                origin,
                now,
                "subscription.activated",
                Some(org_id),
                json!({ "subscriptionId": id, "currentPeriodEnd": end }),
            )?;
        }
    }
    Ok(())
}

/// After an invoice is paid: remember the payment method for renewals, bring past-due
/// subscriptions of a renewal invoice back, and activate what is now ready.
pub fn after_invoice_paid_in(
    w: &mut Unit<'_>,
    origin: &Origin,
    invoice: &InvoiceHead,
    payment_method: Option<&str>,
    now: Timestamp,
) -> Result<(), UnitError> {
    if let Some(reference) = payment_method {
        store::subscriptions::remember_payment_method(w, &invoice.id, reference)?;
    }
    for id in store::subscriptions::reactivate_past_due(w, &invoice.id)? {
        audit::record_in(
            w,
            origin,
            now,
            "subscription.renewed",
            Some(&invoice.org_id),
            json!({ "subscriptionId": id, "invoiceId": invoice.id, "afterPastDue": true }),
        )?;
    }
    activate_ready_in(w, origin, &invoice.org_id, now)
}

/// Ends a subscription now (or at `at`), voiding its invoice if it is still open and no live
/// subscription shares it.
pub fn finish_in(
    w: &mut Unit<'_>,
    sub: &SubscriptionRow,
    status: &str,
    at: Timestamp,
) -> Result<(), UnitError> {
    store::subscriptions::end(w, &sub.id, status, at)?;
    if store::subscriptions::live_on_invoice(w, &sub.invoice_id)? == 0 {
        store::invoices::void(w, &sub.invoice_id, at)?;
    }
    Ok(())
}

/// Inside a unit of work: takes the lock of the subscription's organization, then the
/// subscription while `condition` holds. Every commerce write that touches subscriptions or
/// invoices takes the organization's lock first (checkout, payment, signing, cancel, refund,
/// renewal, deleting the organization), so on PostgreSQL they serialise per organization: no
/// write-skew between paying and signing, and one lock order.
pub fn lock_in(
    w: &mut Unit<'_>,
    id: &str,
    condition: LockIf,
    now: Timestamp,
) -> Result<Option<SubscriptionRow>, UnitError> {
    let Some(org_id) = store::subscriptions::org_of(w, id)? else {
        return Ok(None);
    };
    crate::orgs::lock_org_in(w, &org_id)?;
    store::subscriptions::lock(w, id, condition, now)
}

/// Cancels: an active subscription ends at its period's end (a `once` purchase at once); one
/// that never started, or is past due, is canceled now and its open invoice voided. One unit
/// of work.
pub async fn cancel(state: &Infra, origin: &Origin, id: &str) -> ApiResult<Subscription> {
    let now = state.clock.now();
    let (origin, id) = (origin.clone(), id.to_string());
    state
        .db
        .write(move |w| {
            let sub = lock_in(w, &id, LockIf::Always, now)?
                .ok_or_else(|| ApiError::not_found("The subscription"))?;
            let invoice = store::invoices::head_in(w, &sub.invoice_id)?;
            let paying = store::attempts::unsettled_on(w, &invoice.id)?;
            let (action, status) = match sub.status.as_str() {
                "canceled" | "ended" => {
                    return Err(ApiError::validation(
                        "subscriptionId",
                        "this subscription has already ended",
                    ));
                }
                "pending" if invoice.status == "paid" => {
                    return Err(ApiError::validation(
                        "subscriptionId",
                        "this subscription is paid and waits for an agreement; request a refund to end it",
                    ));
                }
                // Ending it would void the invoice its payment is about to mark paid.
                "pending" | "past_due" if paying => {
                    return Err(ApiError::validation(
                        "subscriptionId",
                        "a payment of this subscription's invoice is under way; try again in a moment",
                    ));
                }
                "pending" | "past_due" => ("subscription.canceled", "canceled"),
                _ if sub.current_period_end.is_none() => ("subscription.ended", "ended"),
                _ => ("subscription.cancel_scheduled", "active"),
            };
            if status == "active" {
                store::subscriptions::cancel_at_period_end(w, &sub.id)?;
            } else if sub.status == "pending" && invoice.status == "open" {
                // An unpaid checkout is canceled whole: every subscription it created ends and
                // its invoice is voided, so nobody is later billed for a canceled module.
                for sibling in store::subscriptions::pending_on_invoice(w, &sub.invoice_id)? {
                    if let Some(row) = store::subscriptions::lock(w, &sibling, LockIf::Always, now)? {
                        finish_in(w, &row, status, now)?;
                    }
                }
            } else {
                finish_in(w, &sub, status, now)?;
            }
            if !(status == "active" && sub.cancel_at_period_end) {
                audit::record_in(
                    w,
                    &origin,
                    now,
                    action,
                    Some(&sub.org_id),
                    json!({ "subscriptionId": sub.id, "reason": "canceled" }),
                )?;
            }
            let row = store::subscriptions::find_in(w, &sub.id)?
                .ok_or_else(|| ApiError::not_found("The subscription"))?;
            Ok(row.view())
        })
        .await
}

/// The organization's subscriptions, newest first.
#[utoipa::path(get, path = "/v1/orgs/{orgId}/subscriptions", tag = "billing", operation_id = "listSubscriptions",
    params(("orgId" = String, Path, description = crate::api::ORG_ID), ("from" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("query" = Option<String>, Query)),
    responses((status = 200, description = "A page of the organization's subscriptions.", body = Page<Subscription>)))]
pub async fn list(
    State(state): State<Infra>,
    ctx: OrgContext,
    params: ListParams,
) -> ApiResult<Json<Page<Subscription>>> {
    let page = store::subscriptions::page(&state.db, &params, &ctx.org.id).await?;
    Ok(Json(page))
}

/// One subscription.
#[utoipa::path(get, path = "/v1/orgs/{orgId}/subscriptions/{subscriptionId}", tag = "billing", operation_id = "getSubscription",
    params(("orgId" = String, Path, description = crate::api::ORG_ID), ("subscriptionId" = String, Path, description = "The subscription's id (`sub_…`).")), responses((status = 200, description = "The subscription.", body = Subscription)))]
pub async fn get(
    State(state): State<Infra>,
    _ctx: OrgContext,
    ApiPath(path): ApiPath<(String, String)>,
) -> ApiResult<Json<Subscription>> {
    let (_, id) = path;
    let row = store::subscriptions::find(&state.db, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("The subscription"))?;
    Ok(Json(row.view()))
}

/// Cancels a subscription (owner, billing). An active one ends at the end of the current
/// period (a `once` purchase at once); one that never started, or is past due, is canceled now
/// with its unpaid invoice voided (an unpaid checkout is canceled whole).
#[utoipa::path(post, path = "/v1/orgs/{orgId}/subscriptions/{subscriptionId}/cancel", tag = "billing", operation_id = "cancelSubscription",
    params(("orgId" = String, Path, description = crate::api::ORG_ID), ("subscriptionId" = String, Path, description = "The subscription's id (`sub_…`).")), responses((status = 200, description = "The subscription after the cancellation.", body = Subscription)))]
pub async fn cancel_route(
    State(state): State<Infra>,
    _ctx: OrgContext,
    origin: Origin,
    ApiPath(path): ApiPath<(String, String)>,
) -> ApiResult<Json<Subscription>> {
    let (_, id) = path;
    Ok(Json(cancel(&state, &origin, &id).await?))
}
