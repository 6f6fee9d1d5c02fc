//! Agreements an organization signs for the offers that require one.

use crate::db::{Db, FromRecord, Record, Unit, UnitError};
use crate::error::ApiResult;
use crate::list::{ListParams, Page};
use crate::time::Timestamp;

use super::super::agreements::Agreement;

const COLUMNS: &str = "id, title, text_hash, status, module_id, signed_by, signed_at";

impl FromRecord for Agreement {
    fn from_record(r: &Record) -> Result<Self, UnitError> {
        Ok(Agreement {
            id: r.text("id")?,
            title: r.text("title")?,
            text_hash: r.text("text_hash")?,
            status: r.text("status")?,
            module_id: r.opt_text("module_id")?,
            signed_by: r.opt_text("signed_by")?,
            signed_at: r.opt_time("signed_at")?,
        })
    }
}

/// A pending agreement as stored: its view, whose it is, what it is for, and its text.
pub(crate) struct AgreementRow<'a> {
    pub agreement: &'a Agreement,
    pub org_id: &'a str,
    pub subscription_id: Option<&'a str>,
    pub text: &'a str,
    pub created_at: Timestamp,
}

pub(crate) fn insert(w: &mut Unit<'_>, row: AgreementRow<'_>) -> Result<(), UnitError> {
    let a = row.agreement;
    w.execute(
        "INSERT INTO agreements (id, org_id, module_id, subscription_id, title, body, text_hash, status, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8)",
        crate::params![
            a.id.as_str(),
            row.org_id,
            a.module_id.clone(),
            row.subscription_id,
            a.title.as_str(),
            row.text,
            a.text_hash.as_str(),
            row.created_at
        ],
    )?;
    Ok(())
}

/// Signs a pending agreement of the organization; false when there is none to sign.
pub(crate) fn sign(
    w: &mut Unit<'_>,
    org_id: &str,
    id: &str,
    signer: &str,
    now: Timestamp,
) -> Result<bool, UnitError> {
    let done = w.execute(
        "UPDATE agreements SET status = 'signed', signed_by = $3, signed_at = $4 WHERE id = $1 AND org_id = $2 AND status = 'pending'",
        crate::params![id, org_id, signer, now],
    )?;
    Ok(done == 1)
}

pub(crate) fn get_in(w: &mut Unit<'_>, id: &str) -> Result<Agreement, UnitError> {
    Agreement::from_record(&w.query_one(
        &format!("SELECT {COLUMNS} FROM agreements WHERE id = $1"),
        crate::params![id],
    )?)
}

/// A page of the organization's agreements, newest first.
pub(crate) async fn page(db: &Db, params: &ListParams, org_id: &str) -> ApiResult<Page<Agreement>> {
    crate::db::page::by_key(
        db,
        params,
        COLUMNS,
        "agreements WHERE org_id = $1",
        "created_at DESC, id DESC",
        org_id,
    )
    .await
}
