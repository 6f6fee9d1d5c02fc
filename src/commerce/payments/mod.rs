//! Payments (7): paying an invoice through the provider, exactly once however many requests
//! race. The order of checks is section 7's: nothing due (400008), already paid (400007),
//! declined (400013 with `declineCode`).

pub mod provider;
pub mod sandbox;

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
use crate::db::Tx;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::orgs::access::OrgContext;
use crate::time::Timestamp;

use super::invoices::{self, Claim, InvoiceHead};
use super::money::Money;
use super::subscriptions;
pub use provider::{Card, Decline, PaymentProvider};

/// The configured provider. Only the sandbox exists so far; a real one would be chosen here
/// from the configuration.
pub fn provider(_state: &AppState) -> impl PaymentProvider {
    sandbox::Sandbox
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub id: String,
    pub invoice_id: String,
    pub amount: Money,
    /// `succeeded` (a declined attempt leaves no payment).
    pub status: String,
    pub created_at: Timestamp,
}

/// The payments of these invoices, by invoice id.
pub async fn for_invoices(
    conn: &mut AnyConnection,
    ids: &[String],
) -> ApiResult<HashMap<String, Vec<Payment>>> {
    let query = invoices::with_ids(
        "SELECT id, invoice_id, amount, currency, status, created_at FROM payments WHERE invoice_id IN ({ids}) ORDER BY created_at, id",
        ids,
    );
    let mut by_invoice = HashMap::<String, Vec<Payment>>::new();
    for row in query.fetch_all(&mut *conn).await? {
        let payment = Payment {
            id: row.try_get("id")?,
            invoice_id: row.try_get("invoice_id")?,
            amount: Money::new(
                row.try_get("amount")?,
                &row.try_get::<String, _>("currency")?,
            ),
            status: row.try_get("status")?,
            created_at: Timestamp::from_micros(row.try_get("created_at")?),
        };
        by_invoice
            .entry(payment.invoice_id.clone())
            .or_default()
            .push(payment);
    }
    Ok(by_invoice)
}

/// Where the money comes from: a card in this request, or a stored reference (renewals).
pub enum Source<'a> {
    Card(&'a Card),
    Stored(&'a str),
}

/// A payment that went through, and the reference to keep for renewals.
pub struct Paid {
    pub payment: Payment,
    pub payment_method: String,
}

/// Charges an invoice the caller has claimed and records the payment, in the caller's
/// transaction. A decline changes nothing the caller must keep (it releases or rolls back).
pub async fn charge(
    state: &AppState,
    tx: &mut Tx,
    invoice: &InvoiceHead,
    source: Source<'_>,
    idempotency_key: &str,
    now: Timestamp,
) -> ApiResult<Result<Paid, Decline>> {
    let provider = provider(state);
    let payment_method = match source {
        Source::Stored(reference) => reference.to_string(),
        Source::Card(card) => match provider.tokenize(tx, card, now).await? {
            Ok(reference) => reference,
            Err(decline) => return Ok(Err(decline)),
        },
    };
    let request = provider::ChargeRequest {
        payment_method: &payment_method,
        amount: invoice.total,
        currency: &invoice.currency,
        idempotency_key,
    };
    let charge = match provider.charge(tx, request, now).await? {
        Ok(charge) => charge,
        Err(decline) => return Ok(Err(decline)),
    };
    let payment = Payment {
        id: new_id("pay"),
        invoice_id: invoice.id.clone(),
        amount: Money::new(invoice.total, &invoice.currency),
        status: "succeeded".into(),
        created_at: now,
    };
    sqlx::query(
        "INSERT INTO payments (id, org_id, invoice_id, amount, currency, status, payment_method, provider_reference, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&payment.id)
    .bind(&invoice.org_id)
    .bind(&invoice.id)
    .bind(invoice.total)
    .bind(&invoice.currency)
    .bind(&payment.status)
    .bind(&payment_method)
    .bind(&charge.reference)
    .bind(now.micros())
    .execute(&mut **tx)
    .await?;
    Ok(Ok(Paid {
        payment,
        payment_method,
    }))
}

/// 400013 for a declined card, with the provider's `declineCode`.
pub fn declined(decline: &Decline) -> ApiError {
    ApiError::new(
        ErrorCode::CheckoutError,
        format!("The card was declined ({}).", decline.code),
    )
    .with("declineCode", &decline.code)
}

/// Records a declined attempt after its transaction rolled back.
pub async fn audit_decline(
    state: &AppState,
    origin: &Origin,
    org_id: &str,
    invoice_id: Option<&str>,
    decline: &Decline,
) -> ApiResult<()> {
    audit::record(
        state.db.writer(),
        origin,
        state.clock.now(),
        "payment.declined",
        Some(org_id),
        json!({ "invoiceId": invoice_id, "declineCode": decline.code }),
    )
    .await?;
    Ok(())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PayInvoice {
    /// `{"type":"card","number":"4242424242424242"}`.
    #[schema(value_type = Object)]
    payment_method: serde_json::Value,
}

/// Pays an open invoice. Many racing requests: exactly one pays, the others answer 400007.
pub async fn pay_invoice(
    state: &AppState,
    origin: &Origin,
    invoice_id: &str,
    card: &Card,
) -> ApiResult<Payment> {
    let invoice = invoices::head(state.db.pool(), invoice_id).await?;
    if invoice.total == 0 {
        return Err(nothing_due(
            "This invoice has a zero total; nothing is due.",
        ));
    }
    let now = state.clock.now();
    let mut tx = state.db.begin_write().await?;
    // The organization first, like every commerce write (see subscriptions::begin_for).
    crate::orgs::lock_org(&mut tx, &invoice.org_id).await?;
    match invoices::claim(&mut tx, &invoice.id, now).await? {
        Claim::Claimed => {}
        Claim::AlreadyPaid => {
            return Err(ApiError::new(
                ErrorCode::AlreadyPaid,
                "This invoice has already been paid.",
            ));
        }
        Claim::Void => return Err(nothing_due("This invoice is void; nothing is due.")),
    }
    let key = new_id("chg");
    let paid = match charge(state, &mut tx, &invoice, Source::Card(card), &key, now).await? {
        Ok(paid) => paid,
        Err(decline) => {
            tx.rollback().await?;
            audit_decline(state, origin, &invoice.org_id, Some(&invoice.id), &decline).await?;
            return Err(declined(&decline));
        }
    };
    record_paid(&mut tx, origin, &invoice, &paid, now).await?;
    tx.commit().await?;
    Ok(paid.payment)
}

/// What follows a successful payment: the audit event, and the subscriptions it unblocks.
pub async fn record_paid(
    tx: &mut Tx,
    origin: &Origin,
    invoice: &InvoiceHead,
    paid: &Paid,
    now: Timestamp,
) -> ApiResult<()> {
    audit::record(
        &mut **tx,
        origin,
        now,
        "payment.succeeded",
        Some(&invoice.org_id),
        json!({ "paymentId": paid.payment.id, "invoiceId": invoice.id, "amount": paid.payment.amount }),
    )
    .await?;
    subscriptions::after_invoice_paid(tx, origin, invoice, Some(&paid.payment_method), now).await
}

pub fn nothing_due(detail: &str) -> ApiError {
    ApiError::new(ErrorCode::NoPaymentNecessary, detail)
}

/// Pays an invoice with a card (owner, admin, billing).
#[utoipa::path(post, path = "/v1/orgs/{orgId}/invoices/{invoiceId}/payments", tag = "billing",
    params(("orgId" = String, Path), ("invoiceId" = String, Path)), request_body = PayInvoice,
    responses((status = 201, body = Payment)))]
pub async fn create(
    State(state): State<AppState>,
    _ctx: OrgContext,
    origin: Origin,
    ApiPath(path): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<PayInvoice>,
) -> ApiResult<(StatusCode, Json<Payment>)> {
    let (_, invoice_id) = path;
    let card = Card::parse(&body.payment_method)?;
    let payment = pay_invoice(&state, &origin, &invoice_id, &card).await?;
    Ok((StatusCode::CREATED, Json(payment)))
}
