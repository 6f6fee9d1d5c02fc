//! Agreements (5): created by checkout for offers that require one; signed by a legal
//! signatory (elevated). Signing records who, when, and the hash of the text signed.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::json;
use sqlx::Row as _;

use crate::api::extract::ApiPath;
use crate::audit::{self, Origin};
use crate::crypto::{new_id, sha256_hex};
use crate::error::{ApiError, ApiResult};
use crate::identity::Caller;
use crate::list::{ListParams, Page};
use crate::state::Infra;
use crate::time::Timestamp;

use super::access::OrgContext;

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Agreement {
    pub id: String,
    pub title: String,
    /// SHA-256 (hex) of the agreement's text.
    pub text_hash: String,
    /// `pending` or `signed`.
    pub status: String,
    pub module_id: Option<String>,
    pub signed_by: Option<String>,
    pub signed_at: Option<Timestamp>,
}

const COLUMNS: &str = "id, title, text_hash, status, module_id, signed_by, signed_at";

fn agreement(row: &crate::db::Row) -> Result<Agreement, sqlx::Error> {
    Ok(Agreement {
        id: row.try_get("id")?,
        title: row.try_get("title")?,
        text_hash: row.try_get("text_hash")?,
        status: row.try_get("status")?,
        module_id: row.try_get("module_id")?,
        signed_by: row.try_get("signed_by")?,
        signed_at: row
            .try_get::<Option<i64>, _>("signed_at")?
            .map(Timestamp::from_micros),
    })
}

/// A new agreement to sign (inside the caller's transaction, e.g. checkout's).
pub struct NewAgreement<'a> {
    pub org_id: &'a str,
    pub module_id: Option<&'a str>,
    pub subscription_id: Option<&'a str>,
    pub title: &'a str,
    pub text: &'a str,
}

pub async fn insert(
    tx: &mut crate::db::Tx,
    new: NewAgreement<'_>,
    now: Timestamp,
) -> ApiResult<Agreement> {
    let id = new_id("agr");
    let text_hash = sha256_hex(new.text.as_bytes());
    sqlx::query(
        "INSERT INTO agreements (id, org_id, module_id, subscription_id, title, body, text_hash, status, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8)",
    )
    .bind(&id)
    .bind(new.org_id)
    .bind(new.module_id.map(str::to_string))
    .bind(new.subscription_id.map(str::to_string))
    .bind(new.title)
    .bind(new.text)
    .bind(&text_hash)
    .bind(now.micros())
    .execute(&mut **tx)
    .await?;
    Ok(Agreement {
        id,
        title: new.title.to_string(),
        text_hash,
        status: "pending".into(),
        module_id: new.module_id.map(str::to_string),
        signed_by: None,
        signed_at: None,
    })
}

/// The organization's agreements, newest first.
#[utoipa::path(get, path = "/v1/orgs/{orgId}/agreements", tag = "agreements",
    params(("orgId" = String, Path), ("from" = Option<i64>, Query), ("limit" = Option<i64>, Query)), responses((status = 200, body = Page<Agreement>)))]
pub async fn list(
    State(state): State<Infra>,
    ctx: OrgContext,
    params: ListParams,
) -> ApiResult<Json<Page<Agreement>>> {
    let page = crate::db::page::by_key_rows(
        &state.db,
        &params,
        COLUMNS,
        "agreements WHERE org_id = $1",
        "created_at DESC, id DESC",
        &ctx.org.id,
        agreement,
    )
    .await?;
    Ok(Json(page))
}

/// Signs an agreement (a legal signatory, elevated). Signing twice answers 400002.
#[utoipa::path(post, path = "/v1/orgs/{orgId}/agreements/{agreementId}/sign", tag = "agreements",
    params(("orgId" = String, Path), ("agreementId" = String, Path)), responses((status = 200, body = Agreement)))]
pub async fn sign(
    State(state): State<Infra>,
    caller: Caller,
    ctx: OrgContext,
    origin: Origin,
    ApiPath(path): ApiPath<(String, String)>,
) -> ApiResult<Json<Agreement>> {
    let (_, id) = path;
    let now = state.clock.now();
    let mut tx = state.db.begin_write().await?;
    // Serialised with payments of the organization, so one of the two activates what both
    // together make ready.
    super::lock_org(&mut tx, &ctx.org.id).await?;
    let done = sqlx::query("UPDATE agreements SET status = 'signed', signed_by = $3, signed_at = $4 WHERE id = $1 AND org_id = $2 AND status = 'pending'")
        .bind(&id)
        .bind(&ctx.org.id)
        .bind(&caller.user_id)
        .bind(now.micros())
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::validation(
            "agreementId",
            "this agreement is already signed",
        ));
    }
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM agreements WHERE id = $1"
    )))
    .bind(&id)
    .fetch_one(&mut *tx)
    .await?;
    let signed = agreement(&row)?;
    audit::record(
        &mut *tx,
        &origin,
        now,
        "agreement.signed",
        Some(&ctx.org.id),
        json!({ "agreementId": id, "textHash": signed.text_hash }),
    )
    .await?;
    super::after_agreement_signed(&state, &mut tx, &ctx.org.id, &id, now).await?;
    tx.commit().await?;
    Ok(Json(signed))
}
