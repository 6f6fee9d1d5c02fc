//! Invoices (7): issued by checkout and by renewals, paid once, never edited afterwards (only
//! `status`, `paidAt` and the void time change). Payments and refunds are records of their own
//! that an invoice lists.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use crate::api::extract::ApiPath;
use crate::crypto::new_id;
use crate::db::{Unit, UnitError};
use crate::error::{ApiError, ApiResult};
use crate::list::{ListParams, Page};
use crate::orgs::access::OrgContext;
use crate::state::Infra;
use crate::time::Timestamp;

use super::money::{Money, Totals};
use super::payments::Payment;
use super::refunds::Refund;
use super::store;

/// One line of an invoice.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"subscriptionId": "sub_szaeavsntcpm5q1nxw1rnj47e6", "moduleId": "mod_jrp1xpa7z3dj8fssz5awsh8vht", "offerId": "off_6ys3c4dwa7n36096q14dr9gpqy", "unitPrice": {"amount": 1999, "currency": "EUR"}, "quantity": 3, "amount": {"amount": 5997, "currency": "EUR"}}))]
pub struct InvoiceLine {
    /// The subscription this line pays a period of.
    pub subscription_id: String,
    /// The module.
    pub module_id: String,
    /// The offer that priced it.
    pub offer_id: String,
    /// The price of one unit for one interval.
    pub unit_price: Money,
    /// How many units.
    pub quantity: i64,
    /// `unitPrice × quantity`.
    pub amount: Money,
}

/// Why an invoice exists: `checkout` (a checkout issued it) or `renewal` (a subscription's next
/// period).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // the wire values are the stored texts; this names them in the document
pub enum InvoiceKind {
    Checkout,
    Renewal,
}

/// Where an invoice stands: `open` (to be paid), `paid`, or `void` (nothing is due any more:
/// its checkout was undone or its subscription ended unpaid).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // the wire values are the stored texts; this names them in the document
pub enum InvoiceStatus {
    Open,
    Paid,
    Void,
}

/// An invoice, with its lines, payments and refunds.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"id": "inv_p981068vcd1gdjfmgt83pxt891", "kind": "checkout", "status": "paid", "currency": "EUR", "lines": [{"subscriptionId": "sub_szaeavsntcpm5q1nxw1rnj47e6", "moduleId": "mod_jrp1xpa7z3dj8fssz5awsh8vht", "offerId": "off_6ys3c4dwa7n36096q14dr9gpqy", "unitPrice": {"amount": 1999, "currency": "EUR"}, "quantity": 3, "amount": {"amount": 5997, "currency": "EUR"}}], "subtotal": {"amount": 5997, "currency": "EUR"}, "discount": {"amount": 0, "currency": "EUR"}, "tax": {"amount": 1139, "currency": "EUR"}, "total": {"amount": 7136, "currency": "EUR"}, "amountDue": {"amount": 0, "currency": "EUR"}, "payments": [{"id": "pay_yfgcw8t7swm4fv4dk79q9g8xe6", "invoiceId": "inv_p981068vcd1gdjfmgt83pxt891", "amount": {"amount": 7136, "currency": "EUR"}, "status": "succeeded", "createdAt": "2026-11-24T10:31:13Z"}], "refunds": [], "createdAt": "2026-11-24T10:31:12Z", "paidAt": "2026-11-24T10:31:13Z"}))]
pub struct Invoice {
    /// The invoice's id (`inv_…`).
    pub id: String,
    /// Why it exists.
    #[schema(value_type = InvoiceKind)]
    pub kind: String,
    /// Where it stands.
    #[schema(value_type = InvoiceStatus)]
    pub status: String,
    /// ISO 4217; every money field of the invoice is in it.
    #[schema(pattern = "^[A-Z]{3}$", example = "EUR")]
    pub currency: String,
    /// What it charges for, one line per subscription.
    pub lines: Vec<InvoiceLine>,
    /// The sum of the lines.
    pub subtotal: Money,
    /// What a coupon took off the subtotal.
    pub discount: Money,
    /// The tax on the discounted subtotal.
    pub tax: Money,
    /// `subtotal − discount + tax`.
    pub total: Money,
    /// What is still to pay: the total while open, zero once paid or void.
    pub amount_due: Money,
    /// The payments of it (at most one succeeds).
    pub payments: Vec<Payment>,
    /// The refunds of it.
    pub refunds: Vec<Refund>,
    /// When it was issued.
    pub created_at: Timestamp,
    /// When it was paid; `null` unless `paid`.
    pub paid_at: Option<Timestamp>,
}

/// The columns every rule about paying needs.
#[derive(Clone, Debug)]
pub struct InvoiceHead {
    pub id: String,
    pub org_id: String,
    pub status: String,
    pub total: i64,
    pub currency: String,
}

/// The invoices with these ids, in this order, with their lines, payments and refunds.
pub async fn load(db: &crate::db::Db, ids: &[String]) -> ApiResult<Vec<Invoice>> {
    Ok(store::invoices::load(db, ids).await?)
}

pub async fn load_one(db: &crate::db::Db, id: &str) -> ApiResult<Invoice> {
    load(db, &[id.to_string()])
        .await?
        .pop()
        .ok_or_else(|| ApiError::not_found("The invoice"))
}

/// `load_one` inside a unit of work.
pub fn load_one_in(w: &mut Unit<'_>, id: &str) -> ApiResult<Invoice> {
    store::invoices::load_in(w, &[id.to_string()])?
        .pop()
        .ok_or_else(|| ApiError::not_found("The invoice"))
}

/// One line of a new invoice; its subscription exists (or is created in the same transaction).
pub struct NewLine {
    pub subscription_id: String,
    pub module_id: String,
    pub offer_id: String,
    pub unit_amount: i64,
    pub quantity: i64,
    pub amount: i64,
}

pub struct NewInvoice<'a> {
    pub org_id: &'a str,
    /// `checkout` or `renewal`.
    pub kind: &'a str,
    pub currency: &'a str,
    pub totals: Totals,
    pub tax_rate_ppm: i64,
    pub price_calculation_id: Option<&'a str>,
    pub coupon_id: Option<&'a str>,
    pub lines: Vec<NewLine>,
}

/// Inside a unit of work: inserts an open invoice and its lines; its id.
pub fn insert_in(
    w: &mut Unit<'_>,
    new: &NewInvoice<'_>,
    now: Timestamp,
) -> Result<String, UnitError> {
    let id = new_id("inv");
    store::invoices::insert(w, &id, new, now)?;
    Ok(id)
}

/// The organization's invoices, newest first.
#[utoipa::path(get, path = "/v1/orgs/{orgId}/invoices", tag = "billing", operation_id = "listInvoices",
    params(("orgId" = String, Path, description = crate::api::ORG_ID), ("from" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("query" = Option<String>, Query)),
    responses((status = 200, description = "A page of the organization's invoices.", body = Page<Invoice>)))]
pub async fn list(
    State(state): State<Infra>,
    ctx: OrgContext,
    params: ListParams,
) -> ApiResult<Json<Page<Invoice>>> {
    let page = store::invoices::page(&state.db, &params, &ctx.org.id).await?;
    Ok(Json(page))
}

/// One invoice with its lines, payments and refunds.
#[utoipa::path(get, path = "/v1/orgs/{orgId}/invoices/{invoiceId}", tag = "billing", operation_id = "getInvoice",
    params(("orgId" = String, Path, description = crate::api::ORG_ID), ("invoiceId" = String, Path, description = "The invoice's id (`inv_…`).")), responses((status = 200, description = "The invoice.", body = Invoice)))]
pub async fn get(
    State(state): State<Infra>,
    ApiPath(path): ApiPath<(String, String)>,
) -> ApiResult<Json<Invoice>> {
    let (_, id) = path;
    Ok(Json(load_one(&state.db, &id).await?))
}
