//! The trace-log secret check (SPEC §2: tokens are never logged; §7: card numbers are never
//! logged). With `CHARTER_TEST_TRACE_LOG=<dir>`, the first `TestApp` of the process installs a
//! global tracing subscriber at `trace` for every server target, writing JSON lines (event and
//! span fields) to `<dir>/server.jsonl`, and the harness appends every secret it sees to
//! `<dir>/secrets.tsv` (`kind<TAB>value`). After the suite, the ignored test
//! `trace_logs_hold_no_secret` (run by `.ci/run`) fails if any secret is in any log line.
//!
//! Server or client: the server runs in the test's own process and runtime, so the capture
//! keeps everything but the client's targets (`reqwest`, `hyper_util::client`, `hyper::client`,
//! `webauthn_authenticator_rs`). It does not keep only events inside the server's spans: the
//! job loop, the pools' maintenance tasks, `spawn_blocking` and SQLite's worker threads run
//! outside any request span, and they are where a leak (SQL, mail) would be. hyper is built
//! without its (unstable) `tracing` feature, so neither its client nor its server side logs.

use std::collections::HashSet;
use std::fs::File;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use aho_corasick::AhoCorasick;
use serde_json::Value;

pub const ENV: &str = "CHARTER_TEST_TRACE_LOG";
pub const LOG_FILE: &str = "server.jsonl";
pub const SECRETS_FILE: &str = "secrets.tsv";

/// The test client's own targets: not the server's logs.
const CLIENT_TARGETS: &[&str] = &[
    "reqwest",
    "hyper_util::client",
    "hyper::client",
    "webauthn_authenticator_rs",
];

/// The secret kinds the suite must have recorded, or the check would pass vacuously.
const REQUIRED_KINDS: &[&str] = &["session", "access", "code", "card", "key", "request"];

struct Capture {
    secrets: Mutex<(File, HashSet<String>)>,
}

static CAPTURE: OnceLock<Option<Capture>> = OnceLock::new();

fn dir() -> Option<PathBuf> {
    std::env::var_os(ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Installs the capture once per process when `CHARTER_TEST_TRACE_LOG` is set (from
/// `TestApp::spawn_with`, before the server starts). Starts both files afresh.
pub fn install() {
    CAPTURE.get_or_init(|| {
        let dir = dir()?;
        std::fs::create_dir_all(&dir).expect("trace log directory");
        let log = File::create(dir.join(LOG_FILE)).expect("trace log file");
        let secrets = File::create(dir.join(SECRETS_FILE)).expect("secrets file");
        use tracing_subscriber::fmt::format::FmtSpan;
        use tracing_subscriber::layer::SubscriberExt as _;
        use tracing_subscriber::util::SubscriberInitExt as _;
        let filter = CLIENT_TARGETS.iter().fold(
            tracing_subscriber::filter::Targets::new()
                .with_default(tracing_subscriber::filter::LevelFilter::TRACE),
            |targets, client| {
                targets.with_target(*client, tracing_subscriber::filter::LevelFilter::OFF)
            },
        );
        let layer = tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            // A line when each span closes, so every request leaves a line with its fields
            // (request id, method, path) even when nothing is logged inside it.
            .with_span_events(FmtSpan::CLOSE)
            // Unbuffered, one write per event: statics are never dropped, so a buffer would
            // lose the last lines at exit.
            .with_writer(Mutex::new(log));
        // Also bridges the `log` crate (sqlx, rustls) into the same file.
        tracing_subscriber::registry()
            .with(tracing_subscriber::Layer::with_filter(layer, filter))
            .try_init()
            .expect("the trace capture must be the only global subscriber");
        Some(Capture {
            secrets: Mutex::new((secrets, HashSet::new())),
        })
    });
}

fn active() -> Option<&'static Capture> {
    CAPTURE.get().and_then(Option::as_ref)
}

/// Whether this process records secrets (so the harness can skip work that only feeds them).
pub fn is_active() -> bool {
    active().is_some()
}

/// Records a value the suite saw that must never be logged (or, kind `request`, a request id
/// that must be logged: proof that the log covers the suite's traffic).
pub fn record(kind: &str, value: &str) {
    let Some(capture) = active() else { return };
    if value.is_empty() || value.contains(['\t', '\n']) {
        return;
    }
    let line = format!("{kind}\t{value}\n");
    let mut guard = capture.secrets.lock().unwrap_or_else(|e| e.into_inner());
    let (file, seen) = &mut *guard;
    if seen.insert(line.clone()) {
        file.write_all(line.as_bytes()).expect("write secrets file");
    }
}

/// Bearer secrets in a response: `sessionToken`, `token` (access tokens), `secret`.
pub fn record_response(json: &Value) {
    if active().is_none() {
        return;
    }
    walk(json, &mut |key, value| {
        let Some(text) = value.as_str() else { return };
        match key {
            "sessionToken" | "token" | "secret" => record(token_kind(text), text),
            _ => {}
        }
    });
}

/// Card numbers in a request body (`"number"`: the sandbox cards and any other PAN a test sends).
pub fn record_request(json: &Value) {
    if active().is_none() {
        return;
    }
    walk(json, &mut |key, value| {
        if key != "number" {
            return;
        }
        let digits = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return,
        };
        if digits.len() >= 12 && digits.bytes().all(|b| b.is_ascii_digit()) {
            record("card", &digits);
        }
    });
}

/// The codes of mailed messages (`data.code`).
pub fn record_mail(mail: &Value) {
    if let Some(code) = mail["data"]["code"].as_str() {
        record("code", code);
    }
}

pub fn token_kind(token: &str) -> &'static str {
    if token.starts_with("chs_") {
        "session"
    } else if token.starts_with("cht_") {
        "access"
    } else {
        "secret"
    }
}

fn walk(value: &Value, f: &mut impl FnMut(&str, &Value)) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                f(key, value);
                walk(value, f);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| walk(v, f)),
        _ => {}
    }
}

/// One secret found in the log.
#[derive(Debug, PartialEq)]
pub struct Finding {
    /// 1-based line number in the log.
    pub line: usize,
    pub kind: String,
    /// The line around the secret, truncated.
    pub excerpt: String,
}

/// Codes are short: a 6-digit code also occurs inside timestamps (`…:48.123456Z`), durations,
/// ids and counts. They match only as a whole word: not next to an ASCII letter or digit, nor
/// to a `.` or `,` that continues a number. Tokens, card numbers and keys are long and random,
/// so they match anywhere, as any substring.
fn whole_word(hay: &[u8], start: usize, end: usize) -> bool {
    let glued = |at: Option<&u8>, beyond: Option<&u8>| match at {
        Some(b) if b.is_ascii_alphanumeric() => true,
        Some(b'.' | b',') => beyond.is_some_and(u8::is_ascii_digit),
        _ => false,
    };
    let before = start.checked_sub(1).and_then(|i| hay.get(i));
    let before2 = start.checked_sub(2).and_then(|i| hay.get(i));
    !glued(before, before2) && !glued(hay.get(end), hay.get(end + 1))
}

/// Every (line, kind) where a secret occurs in `log`; `secrets` are (kind, value) pairs.
pub fn scan(log: &str, secrets: &[(String, String)]) -> Vec<Finding> {
    let secrets: Vec<&(String, String)> = secrets
        .iter()
        .filter(|(kind, value)| kind != "request" && !value.is_empty())
        .collect();
    if secrets.is_empty() {
        return Vec::new();
    }
    let automaton = AhoCorasick::new(secrets.iter().map(|(_, v)| v)).expect("automaton");
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(log.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let hay = log.as_bytes();
    let mut seen = HashSet::new();
    let mut findings = Vec::new();
    for m in automaton.find_overlapping_iter(log) {
        let (kind, _) = secrets[m.pattern().as_usize()];
        if kind == "code" && !whole_word(hay, m.start(), m.end()) {
            continue;
        }
        let line = line_starts.partition_point(|&s| s <= m.start());
        if !seen.insert((line, kind.clone())) {
            continue;
        }
        let (line_start, line_end) = (
            line_starts[line - 1],
            log[m.start()..]
                .find('\n')
                .map_or(log.len(), |i| m.start() + i),
        );
        findings.push(Finding {
            line,
            kind: kind.clone(),
            excerpt: excerpt(&log[line_start..line_end], m.start() - line_start),
        });
    }
    findings.sort_by(|a, b| (a.line, &a.kind).cmp(&(b.line, &b.kind)));
    findings
}

/// Up to 300 characters of `line` around byte `at`.
fn excerpt(line: &str, at: usize) -> String {
    let floor = |mut i: usize| {
        while !line.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let start = floor(at.saturating_sub(150));
    let end = floor((at + 150).min(line.len()));
    format!(
        "{}{}{}",
        if start > 0 { "…" } else { "" },
        &line[start..end],
        if end < line.len() { "…" } else { "" }
    )
}

/// Parses the secrets file: `kind<TAB>value` lines.
pub fn parse_secrets(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The request ids of `secrets` that no log line names.
pub fn unlogged_requests<'a>(log: &str, secrets: &'a [(String, String)]) -> Vec<&'a str> {
    let ids: Vec<&str> = secrets
        .iter()
        .filter(|(kind, _)| kind == "request")
        .map(|(_, v)| v.as_str())
        .collect();
    if ids.is_empty() {
        return Vec::new();
    }
    let automaton = AhoCorasick::new(&ids).expect("automaton");
    let mut found = vec![false; ids.len()];
    for m in automaton.find_overlapping_iter(log) {
        found[m.pattern().as_usize()] = true;
    }
    ids.iter()
        .zip(found)
        .filter(|(_, f)| !f)
        .map(|(id, _)| *id)
        .collect()
}

/// Run by `.ci/run` after the suite ran with `CHARTER_TEST_TRACE_LOG` set:
/// `cargo test --test api -- --ignored --exact trace_log::trace_logs_hold_no_secret`.
#[test]
#[ignore = "reads the files of a suite run with CHARTER_TEST_TRACE_LOG; .ci/run runs it"]
fn trace_logs_hold_no_secret() {
    assert!(
        CAPTURE.get().is_none(),
        "run this check on its own, after the suite has finished writing the files"
    );
    let dir = dir().unwrap_or_else(|| panic!("set {ENV} to the suite's trace log directory"));
    let read = |name: &str| {
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (did the suite run with {ENV}?)", path.display()));
        assert!(!text.trim().is_empty(), "{} is empty", path.display());
        text
    };
    let log = read(LOG_FILE);
    let secrets = parse_secrets(&read(SECRETS_FILE));
    // Not vacuous: the harness saw every kind of secret, the log holds the suite's requests,
    // and it was written at trace for the server's own crates.
    for kind in REQUIRED_KINDS {
        assert!(
            secrets.iter().any(|(k, _)| k == kind),
            "the suite recorded no `{kind}`: the harness hooks are broken"
        );
    }
    let requests = secrets.iter().filter(|(k, _)| k == "request").count();
    let unlogged = unlogged_requests(&log, &secrets);
    assert!(
        unlogged.is_empty(),
        "{} of {requests} request ids are in no log line (e.g. {:?}): the log does not cover the suite",
        unlogged.len(),
        &unlogged[..unlogged.len().min(5)]
    );
    for needle in [
        "\"level\":\"TRACE\"",
        "\"level\":\"DEBUG\"",
        "\"target\":\"sqlx::query\"",
        "\"target\":\"charter",
    ] {
        assert!(log.contains(needle), "no log line has {needle}");
    }
    for client in CLIENT_TARGETS {
        assert!(
            !log.contains(&format!("\"target\":\"{client}")),
            "the client's `{client}` logs are in the server log"
        );
    }
    let findings = scan(&log, &secrets);
    let count = |kind: &str| secrets.iter().filter(|(k, _)| k == kind).count();
    eprintln!(
        "trace log: {} lines, {} bytes; {requests} requests; secrets: {} session, {} access, {} code, {} card, {} key, {} other",
        log.lines().count(),
        log.len(),
        count("session"),
        count("access"),
        count("code"),
        count("card"),
        count("key"),
        count("secret"),
    );
    if !findings.is_empty() {
        let report: Vec<String> = findings
            .iter()
            .take(40)
            .map(|f| format!("  line {} ({}): {}", f.line, f.kind, f.excerpt))
            .collect();
        panic!(
            "{} log lines hold a secret ({}):\n{}",
            findings.len(),
            dir.join(LOG_FILE).display(),
            report.join("\n")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets() -> Vec<(String, String)> {
        [
            ("session", "chs_ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
            ("access", "cht_ZYXWVUTSRQPONMLKJIHGFEDCBA765432"),
            ("code", "123456"),
            ("code", "K7PQ2MXZ"),
            ("card", "4242424242424242"),
            ("request", "req_QWERTYUIOPASDFGH"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    const CLEAN: &str = concat!(
        r#"{"timestamp":"2026-12-07T18:56:48.123456Z","level":"DEBUG","target":"sqlx::query","elapsed":"1.123456ms","rows":1123456,"#,
        r#""span":{"request_id":"req_QWERTYUIOPASDFGH","name":"request"}}"#,
        "\n",
        r#"{"level":"INFO","message":"paid","last4":"4242","id":"usr_A123456B","amount":"0,123456"}"#,
        "\n",
    );

    #[test]
    fn a_clean_log_has_no_finding() {
        assert_eq!(scan(CLEAN, &secrets()), vec![]);
        assert!(unlogged_requests(CLEAN, &secrets()).is_empty());
    }

    #[test]
    fn every_planted_secret_is_reported_with_its_line() {
        let log = format!(
            "{CLEAN}{}\n{}\n{}\n{}\n{}\n{}\n",
            r#"{"level":"TRACE","fields":{"authorization":"Bearer chs_ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"}}"#,
            r#"{"body":"{\"number\":\"4242424242424242\"}"}"#,
            r#"{"message":"Your sign-in code is 123456."}"#,
            r#"{"data":{"code":"K7PQ2MXZ"}}"#,
            "token=xcht_ZYXWVUTSRQPONMLKJIHGFEDCBA765432y",
            r#"{"code":123456}"#,
        );
        let found: Vec<(usize, String)> = scan(&log, &secrets())
            .into_iter()
            .map(|f| (f.line, f.kind))
            .collect();
        let expected = [
            (3, "session"),
            (4, "card"),
            (5, "code"),
            (6, "code"),
            (7, "access"),
            (8, "code"),
        ];
        assert_eq!(found, expected.map(|(l, k)| (l, k.to_string())).to_vec());
        let first = &scan(&log, &secrets())[0];
        assert!(first.excerpt.contains("Bearer chs_"), "{first:?}");
    }

    #[test]
    fn a_request_id_missing_from_the_log_is_named() {
        let log = CLEAN.replace("req_QWERTYUIOPASDFGH", "req_other");
        assert_eq!(
            unlogged_requests(&log, &secrets()),
            vec!["req_QWERTYUIOPASDFGH"]
        );
    }

    #[test]
    fn long_lines_are_truncated_around_the_secret() {
        let line = format!("{}4242424242424242{}", "a".repeat(1000), "b".repeat(1000));
        let found = scan(&line, &secrets());
        assert_eq!(found.len(), 1);
        assert!(found[0].excerpt.len() < 400, "{}", found[0].excerpt);
        assert!(found[0].excerpt.contains("4242424242424242"));
    }
}
