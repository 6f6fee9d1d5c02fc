//! Organization rows and the validated values they are made of.

use serde::Serialize;
use sqlx::Row as _;

use crate::db::Db;
use crate::error::{ApiResult, FieldError};
use crate::time::Timestamp;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Org {
    pub id: String,
    pub name: String,
    /// ISO 3166-1 alpha-2; decides the tax rate.
    pub country: String,
    pub billing_email: Option<String>,
    pub passkeys_required: bool,
    pub created_at: Timestamp,
}

pub const ORG_COLUMNS: &str = "id, name, country, billing_email, passkeys_required, created_at";

impl Org {
    pub fn from_row(row: &crate::db::Row) -> Result<Org, sqlx::Error> {
        Ok(Org {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            country: row.try_get("country")?,
            billing_email: row.try_get("billing_email")?,
            passkeys_required: row.try_get::<i64, _>("passkeys_required")? != 0,
            created_at: Timestamp::from_micros(row.try_get("created_at")?),
        })
    }
}

pub async fn find(db: &Db, id: &str) -> ApiResult<Option<Org>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ORG_COLUMNS} FROM orgs WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.as_ref().map(Org::from_row).transpose()?)
}

/// An organization name (see `crate::names`).
pub fn parse_name(text: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let name = crate::names::parse(text);
    if name.is_none() {
        errors.push(FieldError {
            field: "name".into(),
            message: crate::names::RULE.into(),
        });
    }
    name
}

/// A country: two letters (ISO 3166-1 alpha-2), stored upper-case.
pub fn parse_country(text: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let country = text.trim().to_ascii_uppercase();
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
        errors.push(FieldError {
            field: "country".into(),
            message: "must be an ISO 3166-1 alpha-2 code such as DE".into(),
        });
        return None;
    }
    Some(country)
}
