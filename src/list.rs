//! Lists: `from`/`limit` (and `query` where a list offers it), checked in that order, and the
//! `{items, from, limit, total}` answer.

use serde::Serialize;

use crate::error::{ApiError, ErrorCode};

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

/// Validated paging parameters and the optional `query` text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListParams {
    pub from: i64,
    pub limit: i64,
    pub query: Option<String>,
}

impl ListParams {
    /// Parses a raw query string, in the order of section 3 (`from`, `limit`, then `query`).
    pub fn parse(raw: &str) -> Result<ListParams, ApiError> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.as_bytes())
            .into_owned()
            .collect();
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let number =
            |name: &str| -> Result<Option<i64>, ApiError> {
                match get(name) {
                    None => Ok(None),
                    Some(text) => text.trim().parse::<i64>().map(Some).map_err(|_| {
                        ApiError::argument(name, format!("`{name}` must be an integer."))
                    }),
                }
            };
        let from = number("from")?.unwrap_or(0);
        if from < 0 {
            return Err(ErrorCode::FromMustBeNonNegative.into());
        }
        let limit = number("limit")?.unwrap_or(DEFAULT_LIMIT);
        if limit < 0 {
            return Err(ErrorCode::LimitMustBeNonNegative.into());
        }
        if limit > MAX_LIMIT {
            return Err(ApiError::new(
                ErrorCode::LimitTooLarge,
                format!("`limit` may be at most {MAX_LIMIT}."),
            )
            .with("maxLimit", MAX_LIMIT));
        }
        let query = get("query")
            .map(str::to_string)
            .filter(|q| !q.trim().is_empty());
        Ok(ListParams { from, limit, query })
    }
}

/// One page of a list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// At most `limit` items, from the `from`-th on.
    pub items: Vec<T>,
    /// How many items were skipped, as asked.
    pub from: i64,
    /// The most items a page holds, as asked.
    pub limit: i64,
    /// How many items the whole list holds.
    pub total: i64,
}

impl<T> Page<T> {
    pub fn new(params: &ListParams, items: Vec<T>, total: i64) -> Self {
        Page {
            items,
            from: params.from,
            limit: params.limit,
            total,
        }
    }

    /// A page cut from a list held in memory.
    pub fn from_slice(params: &ListParams, all: impl IntoIterator<Item = T>) -> Self {
        let all: Vec<T> = all.into_iter().collect();
        let total = all.len() as i64;
        let items = all
            .into_iter()
            .skip(params.from as usize)
            .take(params.limit as usize)
            .collect();
        Page::new(params, items, total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(raw: &str) -> u32 {
        ListParams::parse(raw).unwrap_err().code.code()
    }

    #[test]
    fn checks_in_order() {
        assert_eq!(
            ListParams::parse("").unwrap(),
            ListParams {
                from: 0,
                limit: 20,
                query: None
            }
        );
        assert_eq!(code("from=-1&limit=abc"), 400003);
        assert_eq!(code("from=x&limit=-1"), 400001);
        assert_eq!(code("limit=-1"), 400004);
        assert_eq!(code("limit=101"), 400005);
        assert_eq!(code("limit=abc"), 400001);
        let p = ListParams::parse("from=5&limit=0&query=status%3Apaid").unwrap();
        assert_eq!(
            (p.from, p.limit, p.query.as_deref()),
            (5, 0, Some("status:paid"))
        );
    }
}
