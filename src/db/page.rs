//! One page of a list and its total: the rows of one owner (`by_key`), and the lists that
//! take a `query` filter (`filtered`).

use crate::error::ApiResult;
use crate::list::{ListParams, Page};
use crate::query::{self, Field};

use super::Db;
use super::unit::{FromRecord, Value};

/// The rows of `from` (the SQL after `FROM`, with the owner's key as `$1`, e.g.
/// `"agreements WHERE org_id = $1"`), ordered by `order`, paged by `params`, with the total.
/// Every piece of SQL is a constant of the caller; the key and the paging are bound.
pub async fn by_key<T: FromRecord>(
    db: &Db,
    params: &ListParams,
    columns: &str,
    from: &str,
    order: &str,
    key: &str,
) -> ApiResult<Page<T>> {
    let total: i64 = db
        .read_one(&format!("SELECT COUNT(*) FROM {from}"), crate::params![key])
        .await?;
    if params.limit == 0 {
        return Ok(Page::new(params, Vec::new(), total));
    }
    let items = db
        .read_all(
            &format!("SELECT {columns} FROM {from} ORDER BY {order} LIMIT $2 OFFSET $3"),
            crate::params![key, params.limit, params.from],
        )
        .await?;
    Ok(Page::new(params, items, total))
}

/// The rows of `table` that pass the list's `query` (compiled against `fields`, 400015 when it
/// does not), of one owner when `owner` is `Some((column, key))`, ordered by `order`, paged by
/// `params`, with the total. The SQL pieces are constants of the caller; values are bound.
pub async fn filtered<T: FromRecord>(
    db: &Db,
    params: &ListParams,
    fields: &'static [Field],
    columns: &str,
    table: &str,
    owner: Option<(&str, &str)>,
    order: &str,
) -> ApiResult<Page<T>> {
    let first = if owner.is_some() { 2 } else { 1 };
    let filter = query::filter(params.query.as_deref(), fields, first)?;
    let condition = match owner {
        Some((column, _)) => format!(" WHERE {column} = $1{}", filter.and_clause()),
        None => filter.where_clause(),
    };
    let mut values: Vec<Value> = owner.map(|(_, key)| Value::from(key)).into_iter().collect();
    values.extend(filter.binds.iter().map(|bind| match bind {
        query::Bind::Int(v) => Value::from(*v),
        query::Bind::Text(v) => Value::from(v.clone()),
    }));
    let total: i64 = db
        .read_one(&format!("SELECT COUNT(*) FROM {table}{condition}"), &values)
        .await?;
    if params.limit == 0 {
        return Ok(Page::new(params, Vec::new(), total));
    }
    let n = filter.next_placeholder();
    values.push(Value::from(params.limit));
    values.push(Value::from(params.from));
    let items = db
        .read_all(
            &format!(
                "SELECT {columns} FROM {table}{condition} ORDER BY {order} LIMIT ${n} OFFSET ${}",
                n + 1
            ),
            &values,
        )
        .await?;
    Ok(Page::new(params, items, total))
}
