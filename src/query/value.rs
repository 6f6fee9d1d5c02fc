//! Turning a term's value text into a typed value for its field's kind.

use super::FieldKind;
use super::parser::Value;
use crate::time::Timestamp;

/// The typed value, or a sentence saying what the field accepts.
pub fn convert(kind: &FieldKind, text: &str) -> Result<Value, String> {
    match kind {
        FieldKind::Text => Ok(Value::Text(text.to_string())),
        FieldKind::Email => Ok(Value::Text(text.trim().to_lowercase())),
        FieldKind::Time => Timestamp::parse_date(text)
            .or_else(|| Timestamp::parse_rfc3339(text))
            .map(|t| Value::Int(t.micros()))
            .ok_or_else(|| "expects an RFC 3339 time or a date (YYYY-MM-DD)".to_string()),
        FieldKind::Money => integer(text)
            .map(Value::Int)
            .ok_or_else(|| "expects an integer amount in minor units".to_string()),
        FieldKind::Integer => integer(text)
            .map(Value::Int)
            .ok_or_else(|| "expects an integer".to_string()),
        FieldKind::Bool | FieldKind::IsSet => match text {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err("expects `true` or `false`".to_string()),
        },
        FieldKind::Enum(values) => {
            if values.contains(&text) {
                Ok(Value::Text(text.to_string()))
            } else {
                Err(format!("expects one of {}", values.join(", ")))
            }
        }
    }
}

/// An optional `-` and ASCII digits, within i64 (no `+`, no spaces, no separators).
fn integer(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_follow_their_kind() {
        assert_eq!(integer("-12"), Some(-12));
        assert_eq!(integer("+12"), None);
        assert_eq!(integer("-"), None);
        assert_eq!(integer("99999999999999999999"), None);
        assert_eq!(
            convert(&FieldKind::Email, " Alice@Example.COM"),
            Ok(Value::Text("alice@example.com".into()))
        );
        assert_eq!(
            convert(&FieldKind::Time, "2026-01-31"),
            convert(&FieldKind::Time, "2026-01-31T01:00:00+01:00")
        );
        assert!(convert(&FieldKind::Time, "2026-02-30").is_err());
        assert!(convert(&FieldKind::Enum(&["open"]), "Open").is_err());
        assert!(convert(&FieldKind::Bool, "TRUE").is_err());
    }
}
