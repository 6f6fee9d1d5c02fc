//! One page of a list and its total, for the many lists that are "the rows of one owner".

use crate::error::ApiResult;
use crate::http::list::{ListParams, Page};

use super::{Db, Row};

/// The rows of `from` (the SQL after `FROM`, with the owner's key as `$1`, e.g.
/// `"agreements WHERE org_id = $1"`), ordered by `order`, paged by `params`, with the total.
/// Every piece of SQL is a constant of the caller; the key and the paging are bound.
pub async fn by_key<T>(
    db: &Db,
    params: &ListParams,
    columns: &str,
    from: &str,
    order: &str,
    key: &str,
    map: impl Fn(&Row) -> Result<T, sqlx::Error>,
) -> ApiResult<Page<T>> {
    let total: i64 =
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {from}")))
            .bind(key)
            .fetch_one(db.pool())
            .await?;
    if params.limit == 0 {
        return Ok(Page::new(params, Vec::new(), total));
    }
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {columns} FROM {from} ORDER BY {order} LIMIT $2 OFFSET $3"
    )))
    .bind(key)
    .bind(params.limit)
    .bind(params.from)
    .fetch_all(db.pool())
    .await?;
    let items = rows.iter().map(map).collect::<Result<Vec<_>, _>>()?;
    Ok(Page::new(params, items, total))
}
