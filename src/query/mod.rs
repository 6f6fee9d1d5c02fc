//! The list query language of section 7 (`field:value`, comparisons, `-` negation, quoted
//! strings, `AND`/`OR`, parentheses), parsed by hand and compiled to a parameterised SQL `WHERE`
//! fragment that runs on SQLite and PostgreSQL alike. docs/query.md is the user's manual.
//!
//! A list offers a query by declaring its fields (see [`fields`]) and calling [`filter`]:
//!
//! ```ignore
//! let filter = query::filter(params.query.as_deref(), query::USERS, 1)?;
//! // `db::page::filtered` then binds `filter.binds` after the list's own parameters.
//! let sql = format!("SELECT COUNT(*) FROM users{}", filter.where_clause());
//! ```
//!
//! Values only ever travel as binds ([`Bind`]); column names come only from the declarations.
//! Every failure is 400015 with `position`, the 0-based character index of the first character
//! that cannot continue a valid query (see [`parser`] for the rule per kind of failure).

mod compile;
mod fields;
pub mod parser;
mod value;

#[cfg(test)]
mod differential;
#[cfg(test)]
mod property;
#[cfg(test)]
mod tests;

pub use compile::{Bind, Filter, compile};
pub use fields::{AUDIT_EVENTS, INVOICES, ORGS, SUBSCRIPTIONS, USERS};
pub use parser::{Expr, Op, Term, Value, parse};

use crate::error::{ApiError, ErrorCode};

/// A query longer than this many characters answers 400015 at position 500.
pub const MAX_CHARS: usize = 500;
/// A query with more terms answers 400015 at the start of the 21st term.
pub const MAX_TERMS: usize = 20;
/// Parentheses nested deeper answer 400015 at the 6th opening parenthesis.
pub const MAX_DEPTH: usize = 5;

/// One queryable field of a resource: its name in the query, the SQL column (or column
/// expression) it reads, and how its values are parsed and compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    /// Spliced into SQL as is: only ever a constant from a declaration.
    pub column: &'static str,
    pub kind: FieldKind,
}

/// How a field's values are written, stored and compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// TEXT; `:` only (exact, case-sensitive equality). `<`/`>` answer 400015 at the operator:
    /// lexical order differs between SQLite and PostgreSQL collations.
    Text,
    /// TEXT stored lower-case; the value is trimmed and lower-cased, then compared like `Text`.
    Email,
    /// BIGINT microseconds; the value is an RFC 3339 time or a date (`2026-01-31` = its
    /// midnight UTC); every operator.
    Time,
    /// BIGINT minor units; the value is an integer (`-` sign allowed); every operator.
    Money,
    /// BIGINT; the value is an integer (`-` sign allowed); every operator.
    Integer,
    /// BIGINT 0/1; the value is `true` or `false`; `:` only.
    Bool,
    /// `true` when the nullable column is set (`banned` = `banned_at IS NOT NULL`); the value
    /// is `true` or `false`; `:` only.
    IsSet,
    /// TEXT with a closed set of values (exact, case-sensitive); `:` only.
    Enum(&'static [&'static str]),
}

impl FieldKind {
    /// Whether `<`, `<=`, `>`, `>=` apply.
    pub fn is_ordered(&self) -> bool {
        matches!(
            self,
            FieldKind::Time | FieldKind::Money | FieldKind::Integer
        )
    }
}

/// A query that cannot be evaluated: where and why. Converts into 400015 with `position`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryError {
    /// 0-based character index (not byte index) into the query text.
    pub position: usize,
    pub detail: String,
}

impl QueryError {
    pub fn new(position: usize, detail: impl Into<String>) -> Self {
        QueryError {
            position,
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (at position {})", self.detail, self.position)
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> ApiError {
        let detail = format!("{} (at position {}).", e.detail, e.position);
        ApiError::new(ErrorCode::QueryError, detail).with("position", e.position)
    }
}

/// Parses and compiles a list's optional `query` against its fields. No query (or a blank one)
/// gives an empty filter that matches every row. Placeholders are numbered from `first`.
pub fn filter(
    query: Option<&str>,
    fields: &'static [Field],
    first: usize,
) -> Result<Filter, ApiError> {
    match query.filter(|q| !q.trim().is_empty()) {
        None => Ok(Filter::none(first)),
        Some(text) => Ok(compile(&parse(text, fields)?, first)),
    }
}
