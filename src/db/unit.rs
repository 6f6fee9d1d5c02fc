//! Units of work: a whole write — the reads it needs, its writes, its audit records — as one
//! synchronous closure in one transaction, handed to the database once (kanidm's write
//! ticket, then a synchronous transaction).
//!
//! Nothing can be awaited inside a unit, so a unit cannot wait for the writer it holds (the
//! self-deadlock `writer()` inside `begin_write` allowed on SQLite), and nothing slow or remote
//! (mail, a payment provider) can run while the write lock is held.
//!
//! - **SQLite (a file)**: the writer lock is taken, then the closure runs on a blocking thread
//!   over a rusqlite connection of the writer's own, between `BEGIN IMMEDIATE` and `COMMIT`:
//!   each statement is a call into SQLite on that thread, with no hand-off per statement.
//! - **PostgreSQL (and in-memory SQLite)**: the closure runs on a blocking thread over one
//!   pooled connection; each statement is driven to completion there (`Handle::block_on`).
//!
//! SQL is written once, with `$n` placeholders, for both. Rows come back as owned [`Record`]s
//! that domain types decode once ([`FromRecord`]). The closure's `Err` rolls back; a refusal
//! that must still commit (a counted failure) is an `Ok` value.

use std::sync::Arc;

use crate::error::{ApiError, ApiResult};

/// A bound parameter or a read value. NULLs keep their type, which PostgreSQL needs.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Int(Option<i64>),
    Text(Option<String>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(Some(v))
    }
}

impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Value {
        Value::Int(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Int(Some(v as i64))
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(Some(v.to_string()))
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(Some(v))
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Value {
        Value::Text(Some(v.clone()))
    }
}

impl From<Option<&str>> for Value {
    fn from(v: Option<&str>) -> Value {
        Value::Text(v.map(str::to_string))
    }
}

impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Value {
        Value::Text(v)
    }
}

impl From<crate::time::Timestamp> for Value {
    fn from(v: crate::time::Timestamp) -> Value {
        Value::Int(Some(v.micros()))
    }
}

impl From<Option<crate::time::Timestamp>> for Value {
    fn from(v: Option<crate::time::Timestamp>) -> Value {
        Value::Int(v.map(|t| t.micros()))
    }
}

/// The parameters of one statement: `params![a, b]`.
#[macro_export]
macro_rules! params {
    ($($value:expr),* $(,)?) => {
        &[$($crate::db::unit::Value::from($value)),*][..]
    };
}

/// What a statement in a unit can fail with.
#[derive(Debug, thiserror::Error)]
pub enum UnitError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error("column `{0}`: {1}")]
    Column(String, &'static str),
    #[error("the query returned no row")]
    NoRow,
}

impl UnitError {
    pub fn is_unique_violation(&self) -> bool {
        match self {
            UnitError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            ),
            UnitError::Sqlx(e) => super::is_unique_violation(e),
            _ => false,
        }
    }
}

impl From<UnitError> for ApiError {
    fn from(e: UnitError) -> ApiError {
        ApiError::internal(e)
    }
}

/// One row, owned: column names shared by every row of a statement.
#[derive(Clone, Debug)]
pub struct Record {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

impl Record {
    fn value(&self, column: &str) -> Result<&Value, UnitError> {
        self.columns
            .iter()
            .position(|c| c == column)
            .map(|i| &self.values[i])
            .ok_or_else(|| UnitError::Column(column.into(), "not in the row"))
    }

    fn at(&self, index: usize) -> Result<&Value, UnitError> {
        self.values
            .get(index)
            .ok_or_else(|| UnitError::Column(format!("#{index}"), "not in the row"))
    }

    /// The first (or `index`th) column as a number, for one-column reads.
    pub fn int_at(&self, index: usize) -> Result<i64, UnitError> {
        match self.at(index)? {
            Value::Int(Some(v)) => Ok(*v),
            Value::Int(None) | Value::Text(None) => {
                Err(UnitError::Column(format!("#{index}"), "is NULL"))
            }
            Value::Text(Some(_)) => Err(UnitError::Column(
                format!("#{index}"),
                "is text, not a number",
            )),
        }
    }

    /// The first (or `index`th) column as text, for one-column reads.
    pub fn text_at(&self, index: usize) -> Result<String, UnitError> {
        match self.at(index)? {
            Value::Text(Some(v)) => Ok(v.clone()),
            Value::Int(None) | Value::Text(None) => {
                Err(UnitError::Column(format!("#{index}"), "is NULL"))
            }
            Value::Int(Some(_)) => Err(UnitError::Column(
                format!("#{index}"),
                "is a number, not text",
            )),
        }
    }

    pub fn opt_int(&self, column: &str) -> Result<Option<i64>, UnitError> {
        match self.value(column)? {
            Value::Int(v) => Ok(*v),
            Value::Text(None) => Ok(None),
            Value::Text(Some(_)) => Err(UnitError::Column(column.into(), "is text, not a number")),
        }
    }

    pub fn int(&self, column: &str) -> Result<i64, UnitError> {
        self.opt_int(column)?
            .ok_or_else(|| UnitError::Column(column.into(), "is NULL"))
    }

    pub fn flag(&self, column: &str) -> Result<bool, UnitError> {
        Ok(self.int(column)? != 0)
    }

    pub fn opt_text(&self, column: &str) -> Result<Option<String>, UnitError> {
        match self.value(column)? {
            Value::Text(v) => Ok(v.clone()),
            Value::Int(None) => Ok(None),
            Value::Int(Some(_)) => Err(UnitError::Column(column.into(), "is a number, not text")),
        }
    }

    pub fn text(&self, column: &str) -> Result<String, UnitError> {
        self.opt_text(column)?
            .ok_or_else(|| UnitError::Column(column.into(), "is NULL"))
    }

    pub fn opt_time(&self, column: &str) -> Result<Option<crate::time::Timestamp>, UnitError> {
        Ok(self
            .opt_int(column)?
            .map(crate::time::Timestamp::from_micros))
    }

    pub fn time(&self, column: &str) -> Result<crate::time::Timestamp, UnitError> {
        Ok(crate::time::Timestamp::from_micros(self.int(column)?))
    }
}

/// A domain type read from a row, once for both databases.
pub trait FromRecord: Sized {
    fn from_record(record: &Record) -> Result<Self, UnitError>;
}

/// The statements of a unit.
pub struct Unit<'a> {
    inner: Inner<'a>,
    /// A statement failed: the unit must not commit, whatever the closure answers (on
    /// PostgreSQL the transaction is already aborted; SQLite is made to agree).
    failed: bool,
}

enum Inner<'a> {
    /// A connection inside a transaction (or a savepoint of one).
    Sqlite(&'a rusqlite::Connection),
    Sqlx {
        conn: &'a mut sqlx::AnyConnection,
        handle: &'a tokio::runtime::Handle,
    },
}

impl<'a> Unit<'a> {
    /// A unit over a SQLite connection that is inside a transaction.
    pub(super) fn sqlite(conn: &'a rusqlite::Connection) -> Unit<'a> {
        Unit {
            inner: Inner::Sqlite(conn),
            failed: false,
        }
    }

    /// What the closure answered, unless a statement of the unit failed.
    pub(super) fn settle<T>(&self, result: ApiResult<T>) -> ApiResult<T> {
        match result {
            Ok(_) if self.failed => Err(ApiError::internal(
                "a statement of the unit failed; it does not commit",
            )),
            other => other,
        }
    }
}

impl Unit<'_> {
    /// Runs a statement; the number of rows it changed.
    pub fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, UnitError> {
        let done = self.execute_once(sql, params);
        self.failed |= done.is_err();
        done
    }

    fn execute_once(&mut self, sql: &str, params: &[Value]) -> Result<u64, UnitError> {
        match &mut self.inner {
            Inner::Sqlite(conn) => {
                let mut statement = prepare(conn, sql, params)?;
                Ok(statement.raw_execute()? as u64)
            }
            Inner::Sqlx { conn, handle } => {
                let query = sqlx_query(sql, params);
                let done = handle.block_on(sqlx::Executor::execute(&mut **conn, query))?;
                Ok(done.rows_affected())
            }
        }
    }

    /// Every row of a query.
    pub fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Record>, UnitError> {
        let rows = self.query_once(sql, params);
        self.failed |= rows.is_err();
        rows
    }

    fn query_once(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Record>, UnitError> {
        match &mut self.inner {
            Inner::Sqlite(conn) => {
                let mut statement = prepare(conn, sql, params)?;
                let columns: Arc<[String]> = statement
                    .column_names()
                    .into_iter()
                    .map(str::to_string)
                    .collect();
                let mut rows = statement.raw_query();
                let mut records = Vec::new();
                while let Some(row) = rows.next()? {
                    let mut values = Vec::with_capacity(columns.len());
                    for i in 0..columns.len() {
                        values.push(match row.get_ref(i)? {
                            rusqlite::types::ValueRef::Null => Value::Int(None),
                            rusqlite::types::ValueRef::Integer(v) => Value::Int(Some(v)),
                            rusqlite::types::ValueRef::Text(t) => {
                                Value::Text(Some(String::from_utf8_lossy(t).into_owned()))
                            }
                            rusqlite::types::ValueRef::Real(v) => Value::Int(Some(v as i64)),
                            rusqlite::types::ValueRef::Blob(b) => {
                                Value::Text(Some(String::from_utf8_lossy(b).into_owned()))
                            }
                        });
                    }
                    records.push(Record {
                        columns: columns.clone(),
                        values,
                    });
                }
                Ok(records)
            }
            Inner::Sqlx { conn, handle } => {
                let query = sqlx_query(sql, params);
                let rows = handle.block_on(sqlx::Executor::fetch_all(&mut **conn, query))?;
                rows.iter().map(sqlx_record).collect()
            }
        }
    }

    /// The first row of a query, if any.
    pub fn query_opt(&mut self, sql: &str, params: &[Value]) -> Result<Option<Record>, UnitError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// The one row a query must return.
    pub fn query_one(&mut self, sql: &str, params: &[Value]) -> Result<Record, UnitError> {
        self.query_opt(sql, params)?.ok_or(UnitError::NoRow)
    }
}

/// `$n` placeholders as SQLite numbers them (`?n`): SQLite gives `$name` parameters the next
/// free index in order of appearance, which would bind `$2 … $1` the wrong way round.
fn sqlite_sql(sql: &str) -> std::borrow::Cow<'_, str> {
    if !sql.contains('$') {
        return std::borrow::Cow::Borrowed(sql);
    }
    // Only a `$` that starts a number is a placeholder (not one inside a literal like '$.a').
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        let placeholder = c == '$' && chars.peek().is_some_and(char::is_ascii_digit);
        out.push(if placeholder { '?' } else { c });
    }
    std::borrow::Cow::Owned(out)
}

/// The cached statement with its parameters bound. Refuses to run outside the unit's
/// transaction: SQLite rolls a whole transaction back on some errors (a full disk), after which
/// each statement would commit on its own.
fn prepare<'c>(
    conn: &'c rusqlite::Connection,
    sql: &str,
    params: &[Value],
) -> Result<rusqlite::CachedStatement<'c>, UnitError> {
    if conn.is_autocommit() {
        return Err(UnitError::Column(
            "(transaction)".into(),
            "the unit's transaction was rolled back",
        ));
    }
    let mut statement = conn.prepare_cached(&sqlite_sql(sql))?;
    if statement.parameter_count() != params.len() {
        return Err(UnitError::Column(
            format!("{} parameters", statement.parameter_count()),
            "a statement was given another number of values",
        ));
    }
    bind(&mut statement, params)?;
    Ok(statement)
}

fn bind(statement: &mut rusqlite::CachedStatement<'_>, params: &[Value]) -> Result<(), UnitError> {
    statement.clear_bindings();
    for (i, value) in params.iter().enumerate() {
        match value {
            Value::Int(v) => statement.raw_bind_parameter(i + 1, v)?,
            Value::Text(v) => statement.raw_bind_parameter(i + 1, v.as_deref())?,
        }
    }
    Ok(())
}

pub(super) fn sqlx_query<'q>(
    sql: &'q str,
    params: &[Value],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for value in params {
        query = match value.clone() {
            Value::Int(v) => query.bind(v),
            Value::Text(v) => query.bind(v),
        };
    }
    query
}

pub(super) fn sqlx_record(row: &sqlx::any::AnyRow) -> Result<Record, UnitError> {
    use sqlx::{Column as _, Row as _, TypeInfo as _, ValueRef as _};
    let columns: Arc<[String]> = row.columns().iter().map(|c| c.name().to_string()).collect();
    let mut values = Vec::with_capacity(columns.len());
    for i in 0..columns.len() {
        let raw = row.try_get_raw(i)?;
        let is_null = raw.is_null();
        let kind = raw.type_info().name().to_ascii_uppercase();
        values.push(if kind.contains("INT") || kind == "BOOLEAN" {
            Value::Int(if is_null {
                None
            } else {
                Some(row.try_get::<i64, _>(i)?)
            })
        } else if is_null {
            Value::Text(None)
        } else {
            Value::Text(Some(row.try_get::<String, _>(i)?))
        });
    }
    Ok(Record { columns, values })
}

/// Runs `work` in a transaction on an sqlx connection, from a blocking thread. The flag says
/// whether the transaction ended cleanly (its `BEGIN` and its `COMMIT` or `ROLLBACK` answered),
/// so the connection can serve again: a refusal (the closure's `Err`) is clean.
pub(super) fn run_sqlx<T>(
    conn: &mut sqlx::AnyConnection,
    handle: &tokio::runtime::Handle,
    begin: &str,
    work: impl FnOnce(&mut Unit<'_>) -> ApiResult<T>,
) -> (ApiResult<T>, bool) {
    use sqlx::Executor as _;
    if let Err(e) = handle.block_on(conn.execute(sqlx::AssertSqlSafe(begin.to_string()))) {
        return (Err(UnitError::from(e).into()), false);
    }
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut unit = Unit {
            inner: Inner::Sqlx {
                conn: &mut *conn,
                handle,
            },
            failed: false,
        };
        let result = work(&mut unit);
        unit.settle(result)
    }));
    let result = match ran {
        Ok(result) => result,
        Err(panic) => {
            // A pooled connection must not go back with the transaction open.
            let _ = handle.block_on(conn.execute("ROLLBACK"));
            std::panic::resume_unwind(panic)
        }
    };
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    let ended = handle.block_on(conn.execute(end));
    let clean = ended.is_ok();
    let result = match (result, ended) {
        (Ok(value), Ok(_)) => Ok(value),
        (Ok(_), Err(e)) => Err(UnitError::from(e).into()),
        (Err(e), _) => Err(e),
    };
    (result, clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_keep_their_numbers_on_sqlite() {
        assert_eq!(
            sqlite_sql("UPDATE t SET a = $2 WHERE id = $1"),
            "UPDATE t SET a = ?2 WHERE id = ?1"
        );
        assert_eq!(sqlite_sql("SELECT 1"), "SELECT 1");
        assert_eq!(
            sqlite_sql("SELECT json_extract(d, '$.a') WHERE x = $1"),
            "SELECT json_extract(d, '$.a') WHERE x = ?1"
        );
    }
}

#[cfg(test)]
mod database_tests;
