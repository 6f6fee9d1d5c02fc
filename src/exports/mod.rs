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

/// One exported transaction.
struct Transaction {
    at: i64,
    kind: &'static str,
    id: String,
    invoice_id: String,
    subscription_id: String,
    amount: i64,
    currency: String,
}

/// A keyset-paged reader of one table, oldest first, `CHUNK` rows at a time. Each chunk is an
/// index range scan (`(org_id, created_at)` indexes), so the cost per row stays flat.
struct Source {
    sql: &'static str,
    kind: &'static str,
    sign: i64,
    buffer: std::collections::VecDeque<Transaction>,
    after: (i64, String),
    exhausted: bool,
}

const PAYMENTS_SQL: &str =
    "SELECT created_at, id, invoice_id, '' AS subscription_id, amount, currency FROM payments
     WHERE org_id = $1 AND status = 'succeeded' AND created_at >= $2 AND created_at < $3
       AND (created_at > $4 OR (created_at = $4 AND id > $5))
     ORDER BY created_at, id LIMIT $6";
const REFUNDS_SQL: &str =
    "SELECT created_at, id, invoice_id, subscription_id, amount, currency FROM refunds
     WHERE org_id = $1 AND created_at >= $2 AND created_at < $3
       AND (created_at > $4 OR (created_at = $4 AND id > $5))
     ORDER BY created_at, id LIMIT $6";

impl Source {
    fn new(sql: &'static str, kind: &'static str, sign: i64) -> Self {
        Source {
            sql,
            kind,
            sign,
            buffer: Default::default(),
            after: (i64::MIN, String::new()),
            exhausted: false,
        }
    }

    /// The next transaction without taking it, refilling the buffer when empty.
    async fn peek(
        &mut self,
        db: &Db,
        org_id: &str,
        range: Range,
    ) -> Result<Option<&Transaction>, sqlx::Error> {
        if self.buffer.is_empty() && !self.exhausted {
            let rows = sqlx::query(self.sql)
                .bind(org_id)
                .bind(range.from.micros())
                .bind(range.to.micros())
                .bind(self.after.0)
                .bind(self.after.1.clone())
                .bind(CHUNK)
                .fetch_all(db.pool())
                .await?;
            self.exhausted = (rows.len() as i64) < CHUNK;
            for row in rows {
                self.buffer.push_back(Transaction {
                    at: row.try_get("created_at")?,
                    kind: self.kind,
                    id: row.try_get("id")?,
                    invoice_id: row
                        .try_get::<Option<String>, _>("invoice_id")?
                        .unwrap_or_default(),
                    subscription_id: row
                        .try_get::<Option<String>, _>("subscription_id")?
                        .unwrap_or_default(),
                    amount: self.sign * row.try_get::<i64, _>("amount")?,
                    currency: row.try_get("currency")?,
                });
            }
            if let Some(last) = self.buffer.back() {
                self.after = (last.at, last.id.clone());
            }
        }
        Ok(self.buffer.front())
    }
}

/// Payments and refunds merged by time (then id), written as CSV a chunk at a time.
struct Rows {
    db: Db,
    org_id: String,
    range: Range,
    payments: Source,
    refunds: Source,
    header_sent: bool,
    finished: bool,
}

impl Rows {
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, std::io::Error> {
        if self.finished {
            return Ok(None);
        }
        let mut writer = csv::Writer::from_writer(Vec::with_capacity(512 * 1024));
        if !self.header_sent {
            writer.write_record(HEADER).map_err(std::io::Error::other)?;
            self.header_sent = true;
        }
        let mut written = 0;
        while written < CHUNK {
            let p = self
                .payments
                .peek(&self.db, &self.org_id, self.range)
                .await
                .map_err(std::io::Error::other)?
                .map(|t| (t.at, t.id.clone()));
            let r = self
                .refunds
                .peek(&self.db, &self.org_id, self.range)
                .await
                .map_err(std::io::Error::other)?
                .map(|t| (t.at, t.id.clone()));
            let next = match (p, r) {
                (None, None) => {
                    self.finished = true;
                    break;
                }
                (Some(_), None) => self.payments.buffer.pop_front(),
                (None, Some(_)) => self.refunds.buffer.pop_front(),
                (Some(p), Some(r)) if p <= r => self.payments.buffer.pop_front(),
                _ => self.refunds.buffer.pop_front(),
            };
            let Some(t) = next else { break };
            let time = Timestamp::from_micros(t.at).to_rfc3339();
            let amount = t.amount.to_string();
            writer
                .write_record([
                    neutralise(&time).as_ref(),
                    neutralise(t.kind).as_ref(),
                    neutralise(&t.id).as_ref(),
                    neutralise(&t.invoice_id).as_ref(),
                    neutralise(&t.subscription_id).as_ref(),
                    amount.as_str(),
                    neutralise(&t.currency).as_ref(),
                ])
                .map_err(std::io::Error::other)?;
            written += 1;
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
        payments: Source::new(PAYMENTS_SQL, "payment", 1),
        refunds: Source::new(REFUNDS_SQL, "refund", -1),
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
