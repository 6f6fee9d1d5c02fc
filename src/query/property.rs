//! Property tests of the query language with a small deterministic generator (xorshift):
//! random text never panics and fails only with 400015 at a position within the input, and
//! random well-formed queries parse. The generator also feeds `differential.rs`.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use super::*;

/// xorshift64*: deterministic, so a failure names a reproducible input.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn word(&mut self, words: &[&'static str]) -> &'static str {
        words[self.below(words.len())]
    }
}

const RESOURCES: [&[Field]; 5] = [USERS, AUDIT_EVENTS, INVOICES, SUBSCRIPTIONS, ORGS];

/// Pieces of queries, valid and not, that random text is made of.
const ALPHABET: &[&str] = &[
    "id",
    "email",
    "createdAt",
    "banned",
    "action",
    "actor",
    "subject",
    "status",
    "total",
    "currency",
    "moduleId",
    "name",
    "country",
    "nope",
    ":",
    ">",
    ">=",
    "<",
    "<=",
    "=",
    "-",
    "(",
    ")",
    "\"",
    "\\",
    "\\\"",
    " ",
    " ",
    " ",
    "\t",
    "\n",
    "AND",
    "OR",
    "A",
    "O",
    "AN",
    "and",
    "true",
    "false",
    "2026-01-31",
    "2026-01-31T12:00:00Z",
    "2026-13-01",
    "+01:00",
    "paid",
    "x",
    "é",
    "日",
    "1",
    "-5",
    "99999999999999999999",
    "@",
    ".",
    "_",
];

const CHARS: &[char] = &[
    'a', 'd', 'i', 'A', 'N', 'D', 'O', 'R', ':', '<', '>', '=', '-', '(', ')', '"', '\\', ' ',
    '\t', '1', '2', '0', 'T', 'Z', 'é', '\u{0}',
];

/// Parses and compiles; asserts the outcome is a filter with consistent placeholders or a
/// 400015 within the input. A panic names the input.
fn check(text: &str, fields: &'static [Field]) -> bool {
    let outcome = std::panic::catch_unwind(|| super::filter(Some(text), fields, 1));
    let len = text.chars().count();
    match outcome {
        Err(_) => panic!("panicked on {text:?}"),
        Ok(Ok(filter)) => {
            assert_eq!(
                filter.sql.matches('$').count(),
                filter.binds.len(),
                "{text:?} → {}",
                filter.sql
            );
            for n in 1..=filter.binds.len() {
                assert!(filter.sql.contains(&format!("${n}")), "{text:?}");
            }
            true
        }
        Ok(Err(e)) => {
            assert_eq!(e.code.code(), 400015, "{text:?}");
            let position = e.extensions["position"].as_u64().expect("position") as usize;
            assert!(position <= len, "{text:?}: position {position} > {len}");
            false
        }
    }
}

fn random_text(rng: &mut Rng) -> String {
    let mut text = String::new();
    let most = if rng.chance(3) { 200 } else { 30 };
    let pieces = rng.below(most);
    for _ in 0..pieces {
        if rng.chance(70) {
            text.push_str(rng.word(ALPHABET));
        } else {
            text.push(*rng.pick(CHARS));
        }
    }
    text
}

/// Values to draw from for each field, so that queries hit real rows.
#[derive(Default)]
pub(super) struct Pool {
    pub(super) texts: Vec<String>,
    pub(super) times: Vec<i64>,
}

fn render_text(rng: &mut Rng, text: &str) -> String {
    let bare_ok = !text.is_empty()
        && !text
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '(' | ')' | '"' | '<' | '>'));
    if bare_ok && rng.chance(70) {
        text.to_string()
    } else {
        format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

fn render_time(rng: &mut Rng, micros: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(micros as i128 * 1000).unwrap();
    if rng.chance(20) && t.time() == time::Time::MIDNIGHT {
        return t.date().to_string();
    }
    let hours = *rng.pick(&[0i8, 0, 1, -5, 14]);
    let offset = UtcOffset::from_hms(hours, 0, 0).unwrap();
    let text = t.to_offset(offset).format(&Rfc3339).unwrap();
    if rng.chance(20) {
        format!("\"{text}\"")
    } else {
        text
    }
}

fn random_term(rng: &mut Rng, fields: &'static [Field], pool: &Pool) -> String {
    let field = rng.pick(fields);
    let op = if field.kind.is_ordered() {
        *rng.pick(&[":", ">", ">=", "<", "<="])
    } else {
        ":"
    };
    let negated = op == ":" && rng.chance(30);
    let value = match &field.kind {
        FieldKind::Text if !pool.texts.is_empty() && rng.chance(80) => {
            let t = rng.pick(&pool.texts).clone();
            render_text(rng, &t)
        }
        FieldKind::Text => {
            let t = *rng.pick(&["x", "a b", "q\"uote", "back\\", ""]);
            render_text(rng, t)
        }
        FieldKind::Email => {
            let base = if !pool.texts.is_empty() && rng.chance(80) {
                rng.pick(&pool.texts).clone()
            } else {
                "nobody@example.com".to_string()
            };
            let cased: String = base
                .chars()
                .map(|c| {
                    if rng.chance(30) {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect();
            render_text(rng, &cased)
        }
        FieldKind::Time => {
            let base = if pool.times.is_empty() {
                1_767_225_600_000_000
            } else {
                *rng.pick(&pool.times)
            };
            let delta = *rng.pick(&[0i64, 0, 0, 1, -1, 3_600_000_000, -86_400_000_000]);
            render_time(rng, base + delta)
        }
        FieldKind::Money | FieldKind::Integer => (rng.below(2001) as i64 - 1000).to_string(),
        FieldKind::Bool | FieldKind::IsSet => rng.pick(&["true", "false"]).to_string(),
        FieldKind::Enum(values) => rng.pick(values).to_string(),
    };
    format!(
        "{}{}{op}{value}",
        if negated { "-" } else { "" },
        field.name
    )
}

/// A well-formed query of at most `budget` terms and `depth` levels of parentheses.
pub(super) fn random_query(rng: &mut Rng, fields: &'static [Field], pool: &Pool) -> String {
    let mut budget = MAX_TERMS;
    random_or(rng, fields, pool, &mut budget, 0)
}

fn random_or(
    rng: &mut Rng,
    f: &'static [Field],
    pool: &Pool,
    budget: &mut usize,
    depth: usize,
) -> String {
    let mut text = random_and(rng, f, pool, budget, depth);
    while *budget > 0 && rng.chance(35) {
        text.push_str(rng.word(&[" OR ", "  OR\t", "\nOR "]));
        text.push_str(&random_and(rng, f, pool, budget, depth));
    }
    text
}

fn random_and(
    rng: &mut Rng,
    f: &'static [Field],
    pool: &Pool,
    budget: &mut usize,
    depth: usize,
) -> String {
    let mut text = random_primary(rng, f, pool, budget, depth);
    while *budget > 0 && rng.chance(40) {
        text.push_str(rng.word(&[" AND ", " AND  ", "\tAND\n"]));
        text.push_str(&random_primary(rng, f, pool, budget, depth));
    }
    text
}

fn random_primary(
    rng: &mut Rng,
    f: &'static [Field],
    pool: &Pool,
    budget: &mut usize,
    depth: usize,
) -> String {
    if depth < MAX_DEPTH && rng.chance(25) {
        let (open, close) = *rng.pick(&[("(", ")"), ("( ", " )"), ("(", "\t)")]);
        return format!(
            "{open}{}{close}",
            random_or(rng, f, pool, budget, depth + 1)
        );
    }
    *budget -= 1;
    random_term(rng, f, pool)
}

#[test]
fn query_random_text_never_panics_and_fails_within_the_input() {
    let mut rng = Rng::new(0x5EED_0001);
    let mut parsed = 0;
    for _ in 0..20_000 {
        let text = random_text(&mut rng);
        for fields in RESOURCES {
            parsed += check(&text, fields) as usize;
        }
    }
    // Mutations of well-formed queries reach deeper into the grammar.
    let pool = Pool::default();
    for _ in 0..20_000 {
        let fields = *rng.pick(&RESOURCES);
        let mut chars: Vec<char> = random_query(&mut rng, fields, &pool).chars().collect();
        for _ in 0..=rng.below(3) {
            let at = rng.below(chars.len() + 1);
            match rng.below(3) {
                0 if at < chars.len() => {
                    chars.remove(at);
                }
                1 if at < chars.len() => chars[at] = *rng.pick(CHARS),
                _ => chars.insert(at, *rng.pick(CHARS)),
            }
        }
        let text: String = chars.into_iter().collect();
        parsed += check(&text, fields) as usize;
        // Every prefix fails within itself or parses.
        let cut: String = text
            .chars()
            .take(rng.below(text.chars().count() + 1))
            .collect();
        check(&cut, fields);
    }
    assert!(
        parsed > 100,
        "the generator hardly produced valid queries ({parsed})"
    );
}

#[test]
fn query_random_well_formed_queries_parse() {
    let mut rng = Rng::new(0x5EED_0002);
    let pool = Pool::default();
    for _ in 0..5_000 {
        let fields = *rng.pick(&RESOURCES);
        let text = random_query(&mut rng, fields, &pool);
        if text.chars().count() > MAX_CHARS {
            continue;
        }
        if let Err(e) = parse(&text, fields) {
            panic!("{text:?} did not parse: {e}");
        }
        assert!(check(&text, fields));
    }
}
