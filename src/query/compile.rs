//! From [`Expr`] to a SQL boolean expression with numbered `$n` placeholders, valid on SQLite
//! and PostgreSQL, plus the values to bind in order.

use std::fmt::Write as _;

#[cfg(test)]
use sqlx::Any;
#[cfg(test)]
use sqlx::any::AnyArguments;
#[cfg(test)]
use sqlx::query::QueryScalar;

use super::FieldKind;
use super::parser::{Expr, Op, Term, Value};

/// One value to bind, in placeholder order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bind {
    Int(i64),
    Text(String),
}

/// A compiled filter: `sql` is a boolean SQL expression (empty when there is no query) whose
/// placeholders are `$first` … `$(first + binds.len() - 1)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    pub sql: String,
    pub binds: Vec<Bind>,
    first: usize,
}

impl Filter {
    /// No condition: matches every row, binds nothing.
    pub fn none(first: usize) -> Filter {
        Filter {
            sql: String::new(),
            binds: Vec::new(),
            first,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.sql.is_empty()
    }

    /// `" WHERE (…)"`, or `""` without a query; for a statement with no other condition.
    pub fn where_clause(&self) -> String {
        if self.is_empty() {
            String::new()
        } else {
            format!(" WHERE ({})", self.sql)
        }
    }

    /// `" AND (…)"`, or `""` without a query; to follow the statement's own conditions.
    pub fn and_clause(&self) -> String {
        if self.is_empty() {
            String::new()
        } else {
            format!(" AND ({})", self.sql)
        }
    }

    /// The number of the first placeholder after the filter's own (e.g. for LIMIT/OFFSET).
    pub fn next_placeholder(&self) -> usize {
        self.first + self.binds.len()
    }

    /// Binds the filter's values, in order, to a `query_scalar` (the differential test).
    #[cfg(test)]
    pub fn bind_scalar<'q, O>(
        &self,
        mut query: QueryScalar<'q, Any, O, AnyArguments>,
    ) -> QueryScalar<'q, Any, O, AnyArguments> {
        for b in &self.binds {
            query = match b {
                Bind::Int(v) => query.bind(*v),
                Bind::Text(v) => query.bind(v.clone()),
            };
        }
        query
    }
}

/// Compiles a parsed query; placeholders are numbered from `first`.
///
/// - `f:v` → `col = $n`; `f>v` (and `>=`, `<`, `<=`) → `col > $n`;
/// - `-f:v` → `(col IS NULL OR col <> $n)`: a row without the value matches the negation;
/// - a set/unset field (`banned`) → `col IS NOT NULL` / `col IS NULL`, without a bind;
/// - `AND`/`OR` → a parenthesised `… AND …` / `… OR …`.
pub fn compile(expr: &Expr, first: usize) -> Filter {
    let mut filter = Filter::none(first);
    write_expr(&mut filter, expr);
    filter
}

fn write_expr(f: &mut Filter, expr: &Expr) {
    let (items, joiner) = match expr {
        Expr::Term(term) => return write_term(f, term),
        Expr::And(items) => (items, " AND "),
        Expr::Or(items) => (items, " OR "),
    };
    f.sql.push('(');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.sql.push_str(joiner);
        }
        write_expr(f, item);
    }
    f.sql.push(')');
}

fn write_term(f: &mut Filter, term: &Term) {
    let column = term.field.column;
    if let (FieldKind::IsSet, Value::Bool(set)) = (&term.field.kind, &term.value) {
        let test = if *set != term.negated {
            "IS NOT NULL"
        } else {
            "IS NULL"
        };
        let _ = write!(f.sql, "{column} {test}");
        return;
    }
    let placeholder = f.next_placeholder();
    f.binds.push(match &term.value {
        Value::Int(v) => Bind::Int(*v),
        Value::Bool(v) => Bind::Int(i64::from(*v)),
        Value::Text(v) => Bind::Text(v.clone()),
    });
    let operator = match term.op {
        Op::Eq => "=",
        Op::Gt => ">",
        Op::Ge => ">=",
        Op::Lt => "<",
        Op::Le => "<=",
    };
    let _ = if term.negated {
        write!(f.sql, "({column} IS NULL OR {column} <> ${placeholder})")
    } else {
        write!(f.sql, "{column} {operator} ${placeholder}")
    };
}
