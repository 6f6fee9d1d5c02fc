//! A recursive-descent parser from query text to [`Expr`], checking fields and values as it
//! goes, so that the error reported is always the leftmost one.
//!
//! ```text
//! query   = ws, or, ws ;
//! or      = and, { sep, "OR", delim, ws, and } ;
//! and     = primary, { sep, "AND", delim, ws, primary } ;
//! primary = "(", ws, or, ws, ")" | term ;
//! term    = [ "-" ], field, op, value ;          (* "-" only with ":" *)
//! ```
//!
//! `sep` is whitespace, or nothing right after `)`; `delim` is whitespace or `(` (not
//! consumed). Positions are 0-based character indexes. A failure is reported at the first
//! character that cannot continue a valid query:
//!
//! - a character that cannot start or continue the expected token: that character
//!   (`total>>1` → 6; `email:a id:b` → 8, the start of the juxtaposed term; `a:1 ANDx` → 7);
//! - an unknown field: the start of its name (after any `-`);
//! - an operator the field does not take (`<`/`>` on text, enums and booleans; `-` with a
//!   comparison): the operator;
//! - a value that does not fit the field: the start of the value (its `"` when quoted); a bad
//!   escape: the character after the `\`;
//! - an unexpected end (a missing value, operand or `)`, an open quote): the input's length;
//! - over [`MAX_CHARS`] characters: 500; over [`MAX_TERMS`] terms: the start of the 21st term
//!   (its `-` when negated); over [`MAX_DEPTH`] levels: the 6th nested `(`.

use super::{Field, MAX_CHARS, MAX_DEPTH, MAX_TERMS, QueryError, value};

/// A parsed query. `And`/`Or` hold two or more operands; a parenthesised group is not
/// flattened into its parent.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Term(Term),
}

/// `[-]field op value`, with the field resolved and the value converted for its kind.
#[derive(Clone, Debug, PartialEq)]
pub struct Term {
    pub field: &'static Field,
    pub op: Op,
    pub negated: bool,
    pub value: Value,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `:`
    Eq,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
}

impl Op {
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Eq => ":",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
        }
    }
}

/// A converted value: text (text, e-mail, enum), an integer (time in microseconds, money in
/// minor units, integer) or a boolean.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Int(i64),
    Bool(bool),
}

/// Parses `text` against a resource's fields.
pub fn parse(text: &str, fields: &'static [Field]) -> Result<Expr, QueryError> {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() > MAX_CHARS {
        return Err(QueryError::new(
            MAX_CHARS,
            format!("A query may be at most {MAX_CHARS} characters"),
        ));
    }
    let mut parser = Parser {
        chars,
        pos: 0,
        fields,
        terms: 0,
        depth: 0,
    };
    parser.skip_ws();
    let expr = parser.or()?;
    let end = parser.pos;
    parser.skip_ws();
    if parser.pos < parser.chars.len() {
        return Err(parser.after_operand(end, false));
    }
    Ok(expr)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    fields: &'static [Field],
    terms: usize,
    depth: usize,
}

fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || c == '('
}

/// Characters that end a bare value.
fn ends_bare(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '"' | '<' | '>')
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl Parser {
    fn len(&self) -> usize {
        self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn error(&self, position: usize, detail: impl Into<String>) -> QueryError {
        QueryError::new(position, detail)
    }

    /// "Expected …" at the current position, or at the end.
    fn expected(&self, what: &str) -> QueryError {
        match self.peek() {
            None => self.error(
                self.len(),
                format!("The query ends where {what} is expected"),
            ),
            Some(c) => self.error(self.pos, format!("Expected {what}, found `{c}`")),
        }
    }

    fn or(&mut self) -> Result<Expr, QueryError> {
        let mut items = vec![self.and()?];
        while self.keyword("OR") {
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn and(&mut self) -> Result<Expr, QueryError> {
        let mut items = vec![self.primary()?];
        while self.keyword("AND") {
            items.push(self.primary()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    /// Consumes `sep KEYWORD delim ws` when it comes next; otherwise leaves the position alone.
    fn keyword(&mut self, keyword: &str) -> bool {
        let mut at = self.pos;
        while self.chars.get(at).is_some_and(|c| c.is_whitespace()) {
            at += 1;
        }
        let separated = at > self.pos || (self.pos > 0 && self.chars[self.pos - 1] == ')');
        let word: Vec<char> = keyword.chars().collect();
        let matches = separated
            && self.chars.get(at..at + word.len()) == Some(&word[..])
            && self
                .chars
                .get(at + word.len())
                .is_some_and(|&c| is_delimiter(c));
        if matches {
            self.pos = at + word.len();
            self.skip_ws();
        }
        matches
    }

    /// The error after a complete operand ending at `end`, where neither `AND`/`OR` nor the
    /// end of the query (or of the group) follows: the first character that cannot continue.
    fn after_operand(&self, end: usize, in_group: bool) -> QueryError {
        let mut at = end;
        while self.chars.get(at).is_some_and(|c| c.is_whitespace()) {
            at += 1;
        }
        let expecting = if in_group {
            "`AND`, `OR` or `)`"
        } else {
            "`AND`, `OR` or the end of the query"
        };
        let Some(&c) = self.chars.get(at) else {
            return self.error(
                self.len(),
                format!("The query ends where {expecting} is expected"),
            );
        };
        let separated = at > end || (end > 0 && self.chars[end - 1] == ')');
        if !separated {
            return self.error(at, format!("Expected whitespace, {expecting}, found `{c}`"));
        }
        let unexpected = |at: usize, found: char| {
            let hint = if is_name_char(found) || matches!(found, '-' | '(') {
                " (terms must be joined by AND or OR)"
            } else {
                ""
            };
            self.error(at, format!("Expected {expecting}, found `{found}`{hint}"))
        };
        let keyword: &[char] = match c {
            'A' => &['A', 'N', 'D'],
            'O' => &['O', 'R'],
            _ => return unexpected(at, c),
        };
        for (i, k) in keyword.iter().enumerate() {
            match self.chars.get(at + i) {
                None => return self.error(self.len(), "The query ends inside a keyword"),
                Some(&x) if x != *k => return unexpected(at + i, x),
                Some(_) => {}
            }
        }
        let after = at + keyword.len();
        match self.chars.get(after) {
            None => self.error(self.len(), "The query ends where an operand is expected"),
            Some(x) => self.error(
                after,
                format!("Expected whitespace or `(` after the keyword, found `{x}`"),
            ),
        }
    }

    fn primary(&mut self) -> Result<Expr, QueryError> {
        if self.peek() != Some('(') {
            return self.term().map(Expr::Term);
        }
        if self.depth == MAX_DEPTH {
            return Err(self.error(
                self.pos,
                format!("Parentheses may be nested at most {MAX_DEPTH} levels deep"),
            ));
        }
        self.depth += 1;
        self.pos += 1;
        self.skip_ws();
        let inner = self.or()?;
        let end = self.pos;
        self.skip_ws();
        if self.peek() != Some(')') {
            return Err(self.after_operand(end, true));
        }
        self.pos += 1;
        self.depth -= 1;
        Ok(inner)
    }

    fn term(&mut self) -> Result<Term, QueryError> {
        let start = self.pos;
        if self.terms == MAX_TERMS {
            return Err(self.error(start, format!("A query may have at most {MAX_TERMS} terms")));
        }
        self.terms += 1;
        let negated = self.peek() == Some('-');
        if negated {
            self.pos += 1;
        }
        let name_start = self.pos;
        while self.peek().is_some_and(is_name_char) {
            self.pos += 1;
        }
        if self.pos == name_start {
            return Err(self.expected("a field name"));
        }
        let name: String = self.chars[name_start..self.pos].iter().collect();
        let Some(field) = self.fields.iter().find(|f| f.name == name) else {
            let known: Vec<&str> = self.fields.iter().map(|f| f.name).collect();
            return Err(self.error(
                name_start,
                format!(
                    "Unknown field `{name}`; this list accepts {}",
                    known.join(", ")
                ),
            ));
        };
        let op_start = self.pos;
        let op = match self.peek() {
            Some(':') => Op::Eq,
            Some('>') if self.chars.get(self.pos + 1) == Some(&'=') => Op::Ge,
            Some('>') => Op::Gt,
            Some('<') if self.chars.get(self.pos + 1) == Some(&'=') => Op::Le,
            Some('<') => Op::Lt,
            _ => return Err(self.expected("an operator (`:`, `>`, `>=`, `<`, `<=`)")),
        };
        if negated && op != Op::Eq {
            return Err(self.error(
                op_start,
                format!("`-` negates only `:`, not `{}`", op.symbol()),
            ));
        }
        if op != Op::Eq && !field.kind.is_ordered() {
            return Err(self.error(
                op_start,
                format!("`{name}` takes only `:`, not `{}`", op.symbol()),
            ));
        }
        self.pos += op.symbol().len();
        let value_start = self.pos;
        let text = if self.peek() == Some('"') {
            self.quoted()?
        } else {
            self.bare()?
        };
        let value = value::convert(&field.kind, &text)
            .map_err(|why| self.error(value_start, format!("`{name}` {why}; got `{text}`")))?;
        Ok(Term {
            field,
            op,
            negated,
            value,
        })
    }

    /// One or more characters up to whitespace, `(`, `)`, `"`, `<`, `>` or the end.
    fn bare(&mut self) -> Result<String, QueryError> {
        let start = self.pos;
        while self.peek().is_some_and(|c| !ends_bare(c)) {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.expected("a value"));
        }
        Ok(self.chars[start..self.pos].iter().collect())
    }

    /// `"…"` with the escapes `\"` and `\\`.
    fn quoted(&mut self) -> Result<String, QueryError> {
        self.pos += 1;
        let mut text = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(self.error(self.len(), "The query ends inside a quoted value"));
                }
                Some('"') => {
                    self.pos += 1;
                    return Ok(text);
                }
                Some('\\') => {
                    self.pos += 1;
                    match self.peek() {
                        None => {
                            return Err(
                                self.error(self.len(), "The query ends inside a quoted value")
                            );
                        }
                        Some(c @ ('"' | '\\')) => text.push(c),
                        Some(c) => {
                            return Err(self.error(
                                self.pos,
                                format!("Unknown escape `\\{c}`; only `\\\"` and `\\\\` exist"),
                            ));
                        }
                    }
                    self.pos += 1;
                }
                Some(c) => {
                    text.push(c);
                    self.pos += 1;
                }
            }
        }
    }
}
