//! The transactions CSV export (section 7): payments and refunds of an organization between two
//! dates (both inclusive), streamed from the database in keyset-paged chunks so memory stays
//! flat for any number of rows. Every check happens before the first byte.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use sqlx::Row as _;

use crate::app::AppState;
use crate::db::Db;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::orgs::access::OrgContext;
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
const CHUNK: i64 = 5000;

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

/// Position in the merged, time-ordered list of payments and refunds.
#[derive(Clone)]
struct Cursor {
    at: i64,
    id: String,
}

struct Rows {
    db: Db,
    org_id: String,
    range: Range,
    after: Option<Cursor>,
    header_sent: bool,
    finished: bool,
}

// Payments count when they succeeded; refunds are negative. Ordered by time then id, which
// is also the keyset the next chunk continues from.
const CHUNK_SQL: &str = "SELECT occurred_at, kind, id, invoice_id, subscription_id, amount, currency FROM (
      SELECT p.created_at AS occurred_at, 'payment' AS kind, p.id AS id, p.invoice_id AS invoice_id,
             '' AS subscription_id, p.amount AS amount, p.currency AS currency
        FROM payments p WHERE p.org_id = $1 AND p.status = 'succeeded' AND p.created_at >= $2 AND p.created_at < $3
      UNION ALL
      SELECT r.created_at, 'refund', r.id, r.invoice_id, r.subscription_id, -r.amount, r.currency
        FROM refunds r WHERE r.org_id = $1 AND r.created_at >= $2 AND r.created_at < $3
    ) t
    WHERE (occurred_at > $4 OR (occurred_at = $4 AND id > $5))
    ORDER BY occurred_at, id
    LIMIT $6";

impl Rows {
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, std::io::Error> {
        if self.finished {
            return Ok(None);
        }
        let mut writer = csv::Writer::from_writer(Vec::with_capacity(256 * 1024));
        if !self.header_sent {
            writer.write_record(HEADER).map_err(std::io::Error::other)?;
            self.header_sent = true;
        }
        let (at, id) = match &self.after {
            Some(c) => (c.at, c.id.clone()),
            None => (i64::MIN, String::new()),
        };
        let rows = sqlx::query(CHUNK_SQL)
            .bind(&self.org_id)
            .bind(self.range.from.micros())
            .bind(self.range.to.micros())
            .bind(at)
            .bind(id)
            .bind(CHUNK)
            .fetch_all(self.db.pool())
            .await
            .map_err(std::io::Error::other)?;
        if (rows.len() as i64) < CHUNK {
            self.finished = true;
        }
        for row in &rows {
            let occurred_at: i64 = row.try_get("occurred_at").map_err(std::io::Error::other)?;
            let id: String = row.try_get("id").map_err(std::io::Error::other)?;
            let kind: String = row.try_get("kind").map_err(std::io::Error::other)?;
            let invoice_id: Option<String> =
                row.try_get("invoice_id").map_err(std::io::Error::other)?;
            let subscription_id: Option<String> = row
                .try_get("subscription_id")
                .map_err(std::io::Error::other)?;
            let amount: i64 = row.try_get("amount").map_err(std::io::Error::other)?;
            let currency: String = row.try_get("currency").map_err(std::io::Error::other)?;
            let time = Timestamp::from_micros(occurred_at).to_rfc3339();
            let amount = amount.to_string();
            let invoice_id = invoice_id.unwrap_or_default();
            let subscription_id = subscription_id.unwrap_or_default();
            writer
                .write_record([
                    neutralise(&time).as_ref(),
                    neutralise(&kind).as_ref(),
                    neutralise(&id).as_ref(),
                    neutralise(&invoice_id).as_ref(),
                    neutralise(&subscription_id).as_ref(),
                    amount.as_str(),
                    neutralise(&currency).as_ref(),
                ])
                .map_err(std::io::Error::other)?;
            self.after = Some(Cursor {
                at: occurred_at,
                id,
            });
        }
        let bytes = writer
            .into_inner()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(if bytes.is_empty() && self.finished {
            None
        } else {
            Some(Bytes::from(bytes))
        })
    }
}

/// Payments and refunds as RFC 4180 CSV (`text/csv; charset=utf-8`), oldest first.
#[utoipa::path(get, path = "/v1/orgs/{orgId}/exports/transactions.csv", tag = "exports",
    params(("orgId" = String, Path), ("since" = String, Query, description = "First day, YYYY-MM-DD (inclusive)"),
           ("until" = String, Query, description = "Last day, YYYY-MM-DD (inclusive)")),
    responses((status = 200, description = "CSV with the header occurredAt,type,id,invoiceId,subscriptionId,amount,currency", content_type = "text/csv")))]
pub async fn transactions(
    State(state): State<AppState>,
    ctx: OrgContext,
    uri: axum::http::Uri,
) -> ApiResult<Response> {
    let range = parse_range(uri.query().unwrap_or(""), state.config.csv_max_days)?;
    let rows = Rows {
        db: state.db.clone(),
        org_id: ctx.org.id.clone(),
        range,
        after: None,
        header_sent: false,
        finished: false,
    };
    let body = stream::unfold(rows, |mut rows| async move {
        match rows.next_chunk().await {
            Ok(Some(bytes)) => Some((Ok::<Bytes, std::io::Error>(bytes), rows)),
            Ok(None) => None,
            Err(e) => {
                // Headers are gone already: end the body early; the client sees a truncated file.
                tracing::error!(error = %e, "transactions export failed mid-stream");
                Some((
                    Err(e),
                    Rows {
                        finished: true,
                        ..rows
                    },
                ))
            }
        }
    });
    let filename = format!("attachment; filename=\"transactions-{}.csv\"", ctx.org.id);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, filename),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

pub fn router() -> utoipa_axum::router::OpenApiRouter<AppState> {
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
