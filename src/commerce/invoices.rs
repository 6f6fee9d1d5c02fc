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

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceLine {
    pub subscription_id: String,
    pub module_id: String,
    pub offer_id: String,
    pub unit_price: Money,
    pub quantity: i64,
    pub amount: Money,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Invoice {
    pub id: String,
    /// `checkout` or `renewal`.
    pub kind: String,
    /// `open`, `paid` or `void`.
    pub status: String,
    /// ISO 4217; every money field of the invoice is in it.
    pub currency: String,
    pub lines: Vec<InvoiceLine>,
    pub subtotal: Money,
    pub discount: Money,
    pub tax: Money,
    pub total: Money,
    /// What is still to pay: the total while open, zero once paid or void.
    pub amount_due: Money,
    pub payments: Vec<Payment>,
    pub refunds: Vec<Refund>,
    pub created_at: Timestamp,
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

/// The organization's invoices, newest first; `query` filters on status, total, currency and
/// createdAt (docs/query.md).
#[utoipa::path(get, path = "/v1/orgs/{orgId}/invoices", tag = "billing",
    params(("orgId" = String, Path), ("from" = Option<i64>, Query), ("limit" = Option<i64>, Query),
        ("query" = Option<String>, Query, description = "Filter (section 7's query language): status, total, currency, createdAt")),
    responses((status = 200, body = Page<Invoice>)))]
pub async fn list(
    State(state): State<Infra>,
    ctx: OrgContext,
    params: ListParams,
) -> ApiResult<Json<Page<Invoice>>> {
    let page = store::invoices::page(&state.db, &params, &ctx.org.id).await?;
    Ok(Json(page))
}

/// One invoice with its lines, payments and refunds.
#[utoipa::path(get, path = "/v1/orgs/{orgId}/invoices/{invoiceId}", tag = "billing",
    params(("orgId" = String, Path), ("invoiceId" = String, Path)), responses((status = 200, body = Invoice)))]
pub async fn get(
    State(state): State<Infra>,
    ApiPath(path): ApiPath<(String, String)>,
) -> ApiResult<Json<Invoice>> {
    let (_, id) = path;
    Ok(Json(load_one(&state.db, &id).await?))
}
