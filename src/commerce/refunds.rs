//! Refunds (7): the full amount paid for a subscription's current period, within the offer's
//! refund period; the subscription ends at once. A subscription is refunded at most once —
//! the subscription row is locked first, and a unique index backs it up.
//!
//! The provider is not called inside a unit of work. Like a payment (`payments::attempts`), a
//! refund is claimed, made, then settled: unit 1 locks the subscription, checks the rules and
//! claims the refund (`refund_claims`, one per subscription) with exactly the payment and
//! amount to give back; the provider refunds that outside any unit under the claim's id as its
//! idempotency key; unit 2 deletes the claim (once) and records the refund, audits it and ends
//! the subscription — or, when the provider refused, only releases the claim so a later request
//! may try again. A process that stops in between leaves a claim that `recover` (a job)
//! settles by asking the provider for the key's outcome.

use std::time::Duration;

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
use super::payments::{self, Decline, PaymentProvider};
use super::store::{self, refunds::NewRefund, refunds::PaidShare, refunds::RefundClaim};
use super::subscriptions::{self, LockIf, SubscriptionRow};

/// A refund's state: `succeeded` (a refused refund leaves none).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // the wire value is the stored text; this names it in the document
pub enum RefundStatus {
    Succeeded,
}

/// A refund of a subscription's current period.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"id": "rf_g7x0nth82f7ag3bckkdjwbhp1g", "subscriptionId": "sub_szaeavsntcpm5q1nxw1rnj47e6", "invoiceId": "inv_p981068vcd1gdjfmgt83pxt891", "amount": {"amount": 7136, "currency": "EUR"}, "status": "succeeded", "reason": "Bought the wrong module; cancelled within the refund period.", "createdAt": "2026-11-26T16:45:09Z"}))]
pub struct Refund {
    /// The refund's id (`rf_…`).
    pub id: String,
    /// The subscription refunded; it has ended.
    pub subscription_id: String,
    /// The invoice whose payment was refunded.
    pub invoice_id: String,
    /// Positive: the amount given back.
    pub amount: Money,
    /// Where it stands.
    #[schema(value_type = RefundStatus)]
    pub status: String,
    /// Why it was requested.
    pub reason: String,
    /// When it was made.
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

/// How long a refund request waits for another refund of the same subscription under way.
const WAIT_FOR_OTHER: Duration = Duration::from_secs(10);

/// Unit 1, the organization and the subscription locked: the rules, then the claim of exactly
/// the payment and amount to give back; `None` when another refund of the subscription is
/// under way.
fn claim_in(
    w: &mut Unit<'_>,
    subscription_id: &str,
    reason: &str,
    now: Timestamp,
    system_now: Timestamp,
) -> ApiResult<Option<RefundClaim>> {
    let sub = subscriptions::lock_in(w, subscription_id, LockIf::Always, now)?;
    if let Some(sub) = &sub
        && store::refunds::claimed_for(w, &sub.id)?
    {
        return Ok(None);
    }
    let Refundable { sub, invoice, paid } = refundable_in(w, sub, now)?;
    let claim = RefundClaim {
        id: new_id("rf"),
        org_id: sub.org_id.clone(),
        subscription_id: sub.id.clone(),
        invoice_id: invoice.id.clone(),
        payment_id: paid.payment_id,
        charge: paid.charge,
        amount: paid.share,
        currency: invoice.currency.clone(),
        reason: reason.to_string(),
        claimed_at: now,
    };
    Ok(store::refunds::claim(w, &claim, system_now)?.then_some(claim))
}

/// How a claimed refund ended.
#[derive(Debug)]
pub(crate) enum Settled {
    Refunded(Refund),
    /// The provider refused it (or, for a stopped process, made none): the claim is released
    /// and the subscription may be refunded by a later request.
    Refused(Decline),
}

/// Unit 2: settles the claim once (whoever deletes it). A refund made is recorded as claimed
/// — whatever happened to the subscription meanwhile, the money went back — the subscription
/// ends if it has not, and both are audited; a refused one only releases the claim.
pub(crate) async fn settle(
    state: &Infra,
    origin: &Origin,
    claim: RefundClaim,
    outcome: Result<String, Decline>,
) -> ApiResult<Settled> {
    let now = state.clock.now();
    let origin = origin.clone();
    state
        .db
        .write(move |w| {
            crate::orgs::lock_org_in(w, &claim.org_id)?;
            let sub = store::subscriptions::lock(w, &claim.subscription_id, LockIf::Always, now)?;
            if !store::refunds::end_claim(w, &claim.id)? {
                // Settled elsewhere (the recovery job): what it decided.
                return Ok(match store::refunds::find_in(w, &claim.id)? {
                    Some(refund) => Settled::Refunded(refund),
                    None => Settled::Refused(Decline::new(INTERRUPTED)),
                });
            }
            let provider_reference = match outcome {
                Ok(reference) => reference,
                Err(decline) => {
                    tracing::warn!(refund = %claim.id, code = %decline.code, "a refund was refused by the provider");
                    return Ok(Settled::Refused(decline));
                }
            };
            let created = Refund {
                id: claim.id.clone(),
                subscription_id: claim.subscription_id.clone(),
                invoice_id: claim.invoice_id.clone(),
                amount: Money::new(claim.amount, &claim.currency),
                status: "succeeded".into(),
                reason: claim.reason.clone(),
                created_at: claim.claimed_at,
            };
            let new = NewRefund {
                refund: &created,
                org_id: &claim.org_id,
                payment_id: &claim.payment_id,
                provider_reference: &provider_reference,
            };
            if !store::refunds::insert(w, new)? {
                // The claim was taken only where no refund existed, under the subscription's
                // lock; the refund made stays claimed for the job to record.
                return Err(ApiError::internal("a claimed refund's subscription has a refund"));
            }
            audit::record_in(
                w,
                &origin,
                now,
                "refund.succeeded",
                Some(&claim.org_id),
                json!({ "refundId": created.id, "subscriptionId": claim.subscription_id,
                        "invoiceId": claim.invoice_id, "amount": created.amount,
                        "reason": claim.reason }),
            )?;
            if let Some(sub) = sub.filter(|s| !s.is_final()) {
                subscriptions::finish_in(w, &sub, "ended", now)?;
                audit::record_in(
                    w,
                    &origin,
                    now,
                    "subscription.ended",
                    Some(&sub.org_id),
                    json!({ "subscriptionId": sub.id, "reason": "refunded" }),
                )?;
            }
            Ok(Settled::Refunded(created))
        })
        .await
}

/// The decline of a refund whose process stopped before the provider made it.
pub(crate) const INTERRUPTED: &str = "refund_interrupted";

/// Refunds the current period of a subscription and ends it: the claim (unit 1), the
/// provider's refund under the claim's id (no unit), the record (unit 2). A request that finds
/// another refund under way waits for it, then decides again.
pub async fn request(
    state: &Infra,
    origin: &Origin,
    subscription_id: &str,
    reason: &str,
) -> ApiResult<Refund> {
    let deadline = tokio::time::Instant::now() + WAIT_FOR_OTHER;
    let claim = loop {
        let now = state.clock.now();
        let (id, why) = (subscription_id.to_string(), reason.to_string());
        let claim = state
            .db
            .write(move |w| claim_in(w, &id, &why, now, Timestamp::system_now()))
            .await?;
        match claim {
            Some(claim) => break claim,
            None if tokio::time::Instant::now() >= deadline => {
                return Err(nothing_paid("A refund of this subscription is under way."));
            }
            None => wait_for_settling(state, subscription_id, deadline).await?,
        }
    };
    // Outside any unit: if the process stops here, the recovery job settles the claim.
    let outcome = payments::provider(state)
        .refund(&claim.charge, claim.amount, &claim.id, state.clock.now())
        .await?;
    match settle(state, origin, claim, outcome).await? {
        Settled::Refunded(refund) => Ok(refund),
        Settled::Refused(decline) => Err(ApiError::internal(format!(
            "the payment provider refused the refund ({})",
            decline.code
        ))),
    }
}

/// Waits, polling with a growing pause, until the subscription's refund under way is settled
/// (in whichever process) or the deadline passes.
async fn wait_for_settling(
    state: &Infra,
    subscription_id: &str,
    deadline: tokio::time::Instant,
) -> ApiResult<()> {
    let mut pause = Duration::from_millis(5);
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(pause).await;
        if !store::refunds::is_claimed(&state.db, subscription_id).await? {
            break;
        }
        pause = (pause * 2).min(Duration::from_millis(100));
    }
    Ok(())
}

/// The recovery job for refunds: settles claims left longer than the grace period (real time)
/// by what the provider says of their keys — a refund made is recorded, none made (the key is
/// then spent) or refused releases the claim. A claim that cannot be settled now is tried on
/// the next run.
pub async fn recover(state: &Infra) -> ApiResult<usize> {
    let before = Timestamp::system_now().minus_seconds(payments::attempts::grace_secs(state));
    let provider = payments::provider(state);
    let mut settled = 0;
    for claim in store::refunds::claimed_before(&state.db, before).await? {
        let outcome = provider
            .refund_outcome(&claim.id, state.clock.now())
            .await?
            .unwrap_or_else(|| Err(Decline::new(INTERRUPTED)));
        tracing::warn!(refund = %claim.id, ?outcome, "settling an interrupted refund");
        match settle(state, &Origin::job("refunds"), claim, outcome).await {
            Ok(_) => settled += 1,
            Err(e) => {
                tracing::warn!(error = %e, "an interrupted refund could not be settled; will retry")
            }
        }
    }
    Ok(settled)
}

/// Why a refund is requested.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "Bought the wrong plan."}))]
pub struct RequestRefund {
    /// Why: 1 to 500 characters.
    reason: String,
}

/// Refunds what was paid for the current period and ends the subscription (owner, billing),
/// within the offer's refund period after the period started.
#[utoipa::path(post, path = "/v1/orgs/{orgId}/subscriptions/{subscriptionId}/refund-requests", tag = "billing", operation_id = "requestRefund",
    params(("orgId" = String, Path, description = crate::api::ORG_ID), ("subscriptionId" = String, Path, description = "The subscription's id (`sub_…`).")), request_body = RequestRefund,
    responses((status = 201, description = "The refund; the subscription has ended.", body = Refund)))]
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
