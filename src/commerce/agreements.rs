//! Agreements (5, 7): created by checkout for offers that require one; signed by a legal
//! signatory (elevated). Signing records who, when, and the hash of the text signed, and
//! activates, in the same unit of work, the subscriptions the signature unblocks.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::json;

use crate::api::extract::ApiPath;
use crate::audit::{self, Origin};
use crate::crypto::{new_id, sha256_hex};
use crate::db::{Unit, UnitError};
use crate::error::{ApiError, ApiResult};
use crate::identity::Caller;
use crate::list::{ListParams, Page};
use crate::orgs::access::OrgContext;
use crate::state::Infra;
use crate::time::Timestamp;

use super::store::{self, agreements::AgreementRow};
use super::subscriptions;

/// Where an agreement stands: `pending` until a legal signatory signs it, then `signed`.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // the wire values are the stored texts; this names them in the document
pub enum AgreementStatus {
    Pending,
    Signed,
}

/// An agreement an organization signs before a module's subscription becomes active.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"id": "agr_201cyfw6vzskdenc8sp3804gva", "title": "Data processing agreement", "textHash": "a6c48e9dca5d9998d5227107558add143e1d2d0b10f685a994fc84fa3d3d1b54", "status": "signed", "moduleId": "mod_jrp1xpa7z3dj8fssz5awsh8vht", "signedBy": "usr_m9s346q3d25vt4f5v37e3s3e28", "signedAt": "2026-11-24T10:33:40Z"}))]
pub struct Agreement {
    /// The agreement's id (`agr_…`).
    pub id: String,
    /// Its title.
    pub title: String,
    /// SHA-256 (hex) of the agreement's text.
    pub text_hash: String,
    /// Where it stands.
    #[schema(value_type = AgreementStatus)]
    pub status: String,
    /// The module whose offer requires it; its subscription waits for the signature.
    pub module_id: Option<String>,
    /// The user id of the legal signatory who signed it; `null` while pending.
    pub signed_by: Option<String>,
    /// When it was signed; `null` while pending.
    pub signed_at: Option<Timestamp>,
}

/// A new agreement to sign.
pub struct NewAgreement<'a> {
    pub org_id: &'a str,
    pub module_id: Option<&'a str>,
    pub subscription_id: Option<&'a str>,
    pub title: &'a str,
    pub text: &'a str,
}

/// Inside a unit of work (checkout's): a pending agreement.
pub fn insert_in(
    w: &mut Unit<'_>,
    new: NewAgreement<'_>,
    now: Timestamp,
) -> Result<Agreement, UnitError> {
    let agreement = Agreement {
        id: new_id("agr"),
        title: new.title.to_string(),
        text_hash: sha256_hex(new.text.as_bytes()),
        status: "pending".into(),
        module_id: new.module_id.map(str::to_string),
        signed_by: None,
        signed_at: None,
    };
    store::agreements::insert(
        w,
        AgreementRow {
            agreement: &agreement,
            org_id: new.org_id,
            subscription_id: new.subscription_id,
            text: new.text,
            created_at: now,
        },
    )?;
    Ok(agreement)
}

/// The organization's agreements, newest first.
#[utoipa::path(get, path = "/v1/orgs/{orgId}/agreements", tag = "agreements", operation_id = "listAgreements",
    params(("orgId" = String, Path, description = crate::api::ORG_ID), ("from" = Option<i64>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, description = "A page of the organization's agreements.", body = Page<Agreement>)))]
pub async fn list(
    State(state): State<Infra>,
    ctx: OrgContext,
    params: ListParams,
) -> ApiResult<Json<Page<Agreement>>> {
    Ok(Json(
        store::agreements::page(&state.db, &params, &ctx.org.id).await?,
    ))
}

/// Signs an agreement as `signer`, in one unit of work: the signature, its audit event and the
/// subscriptions it makes ready. Signing twice answers 400002.
pub(crate) async fn sign_as(
    state: &Infra,
    origin: &Origin,
    signer: &str,
    org_id: &str,
    id: &str,
) -> ApiResult<Agreement> {
    let now = state.clock.now();
    let (origin, signer, org_id, id) = (
        origin.clone(),
        signer.to_string(),
        org_id.to_string(),
        id.to_string(),
    );
    state
        .db
        .write(move |w| {
            // Serialised with payments of the organization, so one of the two activates what
            // both together make ready.
            crate::orgs::lock_org_in(w, &org_id)?;
            if !store::agreements::sign(w, &org_id, &id, &signer, now)? {
                return Err(ApiError::validation(
                    "agreementId",
                    "this agreement is already signed",
                ));
            }
            let signed = store::agreements::get_in(w, &id)?;
            audit::record_in(
                w,
                &origin,
                now,
                "agreement.signed",
                Some(&org_id),
                json!({ "agreementId": id, "textHash": signed.text_hash }),
            )?;
            subscriptions::activate_ready_in(w, &origin, &org_id, now)?;
            Ok(signed)
        })
        .await
}

/// Signs an agreement (a legal signatory, elevated). Signing twice answers 400002.
#[utoipa::path(post, path = "/v1/orgs/{orgId}/agreements/{agreementId}/sign", tag = "agreements", operation_id = "signAgreement",
    params(("orgId" = String, Path, description = crate::api::ORG_ID), ("agreementId" = String, Path, description = "The agreement's id (`agr_…`).")),
    responses((status = 200, description = "The signed agreement; subscriptions it held back may now be active.", body = Agreement)))]
pub async fn sign(
    State(state): State<Infra>,
    caller: Caller,
    ctx: OrgContext,
    origin: Origin,
    ApiPath(path): ApiPath<(String, String)>,
) -> ApiResult<Json<Agreement>> {
    let (_, id) = path;
    let signed = sign_as(&state, &origin, &caller.user_id, &ctx.org.id, &id).await?;
    Ok(Json(signed))
}
