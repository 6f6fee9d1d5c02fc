//! The transactions CSV export (section 7): payments and refunds of an organization between two
//! dates (both inclusive), streamed from the database in keyset-paged chunks so memory stays
//! flat for any number of rows (see `transactions`). Every check happens before the first byte.

mod store;
mod transactions;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::orgs::access::OrgContext;
use crate::state::Infra;
use crate::time::{MICROS_PER_SECOND, Timestamp};

pub const HEADER: [&str; 7] = [
    "occurredAt",
    "type",
    "id",
    "invoiceId",
    "subscriptionId",
    "amount",
    "currency",
];

/// The validated date range: `[since 00:00, until + 1 day 00:00)` in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub from: Timestamp,
    pub to: Timestamp,
}

/// Parses `since` and `until` in that order (400001), then checks their order (400002) and
/// span (400011 with `maxDays`).
pub fn parse_range(query: &str, max_days: i64) -> ApiResult<Range> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let date = |name: &str| -> ApiResult<Timestamp> {
        let text = pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .unwrap_or("");
        if text.is_empty() {
            return Err(ApiError::argument(
                name,
                format!("`{name}` (YYYY-MM-DD) is required."),
            ));
        }
        Timestamp::parse_date(text).ok_or_else(|| {
            ApiError::argument(name, format!("`{name}` must be a date written YYYY-MM-DD."))
        })
    };
    let since = date("since")?;
    let until = date("until")?;
    if since > until {
        return Err(ApiError::validation("since", "must not be after `until`"));
    }
    let days = (until.micros() - since.micros()) / (86_400 * MICROS_PER_SECOND) + 1;
    if days > max_days {
        return Err(ApiError::new(
            ErrorCode::ExceededMaxCsvDateRange,
            format!("An export spans at most {max_days} days; this one spans {days}."),
        )
        .with("maxDays", max_days));
    }
    Ok(Range {
        from: since,
        to: until.plus_seconds(86_400),
    })
}

/// A text cell that a spreadsheet could read as a formula is prefixed with `'`.
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

/// Payments and refunds as RFC 4180 CSV (`text/csv; charset=utf-8`), oldest first. Cells a
/// spreadsheet could read as a formula start with `'`.
#[utoipa::path(get, path = "/v1/orgs/{orgId}/exports/transactions.csv", tag = "exports", operation_id = "exportTransactions",
    params(("orgId" = String, Path, description = crate::api::ORG_ID),
           ("since" = String, Query, format = Date, description = "The first day, `YYYY-MM-DD` (UTC, inclusive); required (400001)."),
           ("until" = String, Query, format = Date, description = "The last day, `YYYY-MM-DD` (UTC, inclusive), not before `since` (400002). The range, both ends counted, spans at most the server's `csv_max_days` (366 by default; 400011 with `maxDays`).")),
    responses((status = 200, description = "RFC 4180 CSV (CRLF record ends), oldest first, with the header `occurredAt,type,id,invoiceId,subscriptionId,amount,currency`; `type` is `payment` or `refund`, amounts in minor units, refunds negative.", content_type = "text/csv")))]
pub async fn transactions(
    State(state): State<Infra>,
    ctx: OrgContext,
    uri: axum::http::Uri,
) -> ApiResult<Response> {
    let range = parse_range(uri.query().unwrap_or(""), state.config.csv_max_days)?;
    let body = transactions::body(&state.db, ctx.org.id.clone(), range).await?;
    let filename = format!("attachment; filename=\"transactions-{}.csv\"", ctx.org.id);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, filename),
        ],
        body,
    )
        .into_response())
}

pub fn router<S>() -> utoipa_axum::router::OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Infra: axum::extract::FromRef<S>,
{
    utoipa_axum::router::OpenApiRouter::new().routes(utoipa_axum::routes!(transactions))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(query: &str) -> u32 {
        parse_range(query, 366).unwrap_err().code.code()
    }

    #[test]
    fn ranges_are_checked_in_order() {
        assert_eq!(code(""), 400001);
        assert_eq!(code("until=2026-01-01"), 400001);
        assert_eq!(code("since=2026-13-01&until=2026-01-01"), 400001);
        assert_eq!(code("since=2026-01-02&until=2026-01-01"), 400002);
        assert_eq!(code("since=2025-01-01&until=2026-01-02"), 400011);
        let full_leap_year = parse_range("since=2024-01-01&until=2024-12-31", 366).unwrap();
        assert_eq!(
            full_leap_year.from.seconds_until(full_leap_year.to),
            366 * 86400
        );
        assert!(parse_range("since=2025-01-01&until=2026-01-01", 366).is_ok());
        let e = parse_range("since=2025-01-01&until=2026-01-02", 366).unwrap_err();
        assert_eq!(e.extensions["maxDays"], 366);
    }

    #[test]
    fn formula_cells_are_neutralised() {
        for bad in ["=SUM(A1)", "+1", "-1", "@x", "\tx", "\rx"] {
            assert!(neutralise(bad).starts_with('\''), "{bad}");
        }
        assert_eq!(neutralise("pay_123"), "pay_123");
    }
}
