//! Reads outside units of work: async on the read pool, decoded by the same [`FromRecord`] as
//! rows read inside a unit, so a domain type is decoded once for both databases and both paths.

use super::Db;
use super::unit::{FromRecord, Record, UnitError, Value, sqlx_query, sqlx_record};

impl Db {
    /// Every row of a read.
    pub async fn read_all<T: FromRecord>(
        &self,
        sql: &str,
        params: &[Value],
    ) -> Result<Vec<T>, UnitError> {
        let rows = sqlx::Executor::fetch_all(self.pool(), sqlx_query(sql, params)).await?;
        rows.iter()
            .map(|row| T::from_record(&sqlx_record(row)?))
            .collect()
    }

    /// The first row of a read, if any.
    pub async fn read_opt<T: FromRecord>(
        &self,
        sql: &str,
        params: &[Value],
    ) -> Result<Option<T>, UnitError> {
        match sqlx::Executor::fetch_optional(self.pool(), sqlx_query(sql, params)).await? {
            Some(row) => Ok(Some(T::from_record(&sqlx_record(&row)?)?)),
            None => Ok(None),
        }
    }

    /// The one row a read must return.
    pub async fn read_one<T: FromRecord>(
        &self,
        sql: &str,
        params: &[Value],
    ) -> Result<T, UnitError> {
        self.read_opt(sql, params).await?.ok_or(UnitError::NoRow)
    }
}

/// A one-column row as a number (`SELECT COUNT(*) …`).
impl FromRecord for i64 {
    fn from_record(record: &Record) -> Result<Self, UnitError> {
        record.int_at(0)
    }
}

/// A one-column row as text.
impl FromRecord for String {
    fn from_record(record: &Record) -> Result<Self, UnitError> {
        record.text_at(0)
    }
}

/// The whole row, for callers that read several columns without a type of their own.
impl FromRecord for Record {
    fn from_record(record: &Record) -> Result<Self, UnitError> {
        Ok(record.clone())
    }
}
