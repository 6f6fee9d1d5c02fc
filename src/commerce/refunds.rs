//! Refunds (7): the full amount paid for a subscription's current period, within the offer's
//! refund period; the subscription ends at once. A subscription is refunded at most once —
//! the subscription row is locked first, and a unique index backs it up.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::AnyConnection;
use sqlx::Row as _;

use crate::api::extract::{ApiJson, ApiPath};
use crate::app::AppState;
use crate::audit::{self, Origin};
use crate::crypto::new_id;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::orgs::access::OrgContext;
use crate::time::Timestamp;

use super::money::Money;
use super::payments::{self, PaymentProvider};
use super::subscriptions::{self, LockIf};
use super::{invoices, offers};

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

fn refund(row: &crate::db::Row) -> Result<Refund, sqlx::Error> {
    Ok(Refund {
        id: row.try_get("id")?,
        subscription_id: row.try_get("subscription_id")?,
        invoice_id: row.try_get("invoice_id")?,
        amount: Money::new(
            row.try_get("amount")?,
            &row.try_get::<String, _>("currency")?,
        ),
        status: row.try_get("status")?,
        reason: row.try_get("reason")?,
        created_at: Timestamp::from_micros(row.try_get("created_at")?),
    })
}

/// The refunds of these invoices, by invoice id.
pub async fn for_invoices(
    conn: &mut AnyConnection,
    ids: &[String],
) -> ApiResult<HashMap<String, Vec<Refund>>> {
    let query = invoices::with_ids(
        "SELECT id, subscription_id, invoice_id, amount, currency, status, reason, created_at FROM refunds
         WHERE invoice_id IN ({ids}) ORDER BY created_at, id",
        ids,
    );
    let mut by_invoice = HashMap::<String, Vec<Refund>>::new();
    for row in query.fetch_all(&mut *conn).await? {
        let refund = refund(&row)?;
        by_invoice
            .entry(refund.invoice_id.clone())
            .or_default()
            .push(refund);
    }
    Ok(by_invoice)
}

fn nothing_paid(detail: &str) -> ApiError {
    payments::nothing_due(detail)
}

/// Refunds the current period of a subscription and ends it.
pub async fn request(
    state: &AppState,
    origin: &Origin,
    subscription_id: &str,
    reason: &str,
) -> ApiResult<Refund> {
    let now = state.clock.now();
    let mut tx = subscriptions::begin_for(state, subscription_id).await?;
    let sub = subscriptions::lock(&mut tx, subscription_id, LockIf::Always, now)
        .await?
        .ok_or_else(|| ApiError::not_found("The subscription"))?;
    let refunded: Option<String> =
        sqlx::query_scalar("SELECT id FROM refunds WHERE subscription_id = $1")
            .bind(&sub.id)
            .fetch_optional(&mut *tx)
            .await?;
    if refunded.is_some() {
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
    let invoice = invoices::head(&mut *tx, &sub.invoice_id).await?;
    let paid = sqlx::query(
        "SELECT p.id, p.provider_reference, p.created_at, l.total_share FROM payments p
         JOIN invoice_lines l ON l.invoice_id = p.invoice_id AND l.subscription_id = $2
         WHERE p.invoice_id = $1",
    )
    .bind(&invoice.id)
    .bind(&sub.id)
    .fetch_optional(&mut *tx)
    .await?;
    let (payment_id, charge, paid_at, amount) = match paid {
        Some(row) if invoice.status == "paid" && row.try_get::<i64, _>("total_share")? > 0 => (
            row.try_get::<String, _>("id")?,
            row.try_get::<String, _>("provider_reference")?,
            Timestamp::from_micros(row.try_get("created_at")?),
            row.try_get::<i64, _>("total_share")?,
        ),
        _ => {
            return Err(nothing_paid(
                "Nothing was paid for this subscription's current period.",
            ));
        }
    };
    let offer = offers::find(&mut *tx, &sub.offer_id).await?;
    // The window opens when the period starts (or, before the first period, at payment).
    let opened = sub.current_period_start.unwrap_or(paid_at);
    if now > opened.plus_seconds(offer.refund_period_days * 86_400) {
        return Err(ApiError::new(
            ErrorCode::SubscriberRefundRequestTooLate,
            format!(
                "Refunds are possible for {} days after the period started ({opened}).",
                offer.refund_period_days
            ),
        ));
    }
    let id = new_id("rf");
    let provider_reference = payments::provider(state)
        .refund(&mut tx, &charge, amount, &id)
        .await?;
    let created = Refund {
        id,
        subscription_id: sub.id.clone(),
        invoice_id: invoice.id.clone(),
        amount: Money::new(amount, &invoice.currency),
        status: "succeeded".into(),
        reason: reason.to_string(),
        created_at: now,
    };
    let inserted = sqlx::query(
        "INSERT INTO refunds (id, org_id, subscription_id, invoice_id, payment_id, amount, currency, status, reason, provider_reference, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&created.id)
    .bind(&sub.org_id)
    .bind(&sub.id)
    .bind(&invoice.id)
    .bind(&payment_id)
    .bind(amount)
    .bind(&invoice.currency)
    .bind(&created.status)
    .bind(reason)
    .bind(&provider_reference)
    .bind(now.micros())
    .execute(&mut *tx)
    .await;
    match inserted {
        Err(e) if crate::db::is_unique_violation(&e) => {
            return Err(nothing_paid("This subscription has been refunded already."));
        }
        other => other?,
    };
    subscriptions::finish(&mut tx, &sub, "ended", now).await?;
    audit::record(
        &mut *tx,
        origin,
        now,
        "refund.succeeded",
        Some(&sub.org_id),
        json!({ "refundId": created.id, "subscriptionId": sub.id, "invoiceId": invoice.id,
                "amount": created.amount, "reason": reason }),
    )
    .await?;
    audit::record(
        &mut *tx,
        origin,
        now,
        "subscription.ended",
        Some(&sub.org_id),
        json!({ "subscriptionId": sub.id, "reason": "refunded" }),
    )
    .await?;
    tx.commit().await?;
    Ok(created)
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
    State(state): State<AppState>,
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
