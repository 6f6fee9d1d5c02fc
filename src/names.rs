//! Names a person types (section 2): display, organization, passkey and token names. They end
//! up in mails, pages and logs, so they hold 1 to 100 characters and no control or
//! bidirectional-formatting character (which could hide or reorder text a reader sees).

pub const RULE: &str =
    "must be 1 to 100 characters, without control or bidirectional-formatting characters";

const MAX_CHARS: usize = 100;

/// Control characters; the bidirectional embeddings, overrides, isolates and marks; line and
/// paragraph separators; invisible zero-width space and byte-order mark. (Zero-width joiners
/// stay: scripts and emoji sequences need them.)
fn forbidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{061C}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{200B}'
                | '\u{FEFF}'
        )
}

/// The trimmed name, or `None` when it breaks the rule.
pub fn parse(text: &str) -> Option<String> {
    let name = text.trim();
    let count = name.chars().count();
    ((1..=MAX_CHARS).contains(&count) && !name.chars().any(forbidden)).then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_printable_and_short() {
        assert_eq!(parse("  Ada Lovelace "), Some("Ada Lovelace".into()));
        assert_eq!(parse("Zoë 東京 🚀").as_deref(), Some("Zoë 東京 🚀"));
        assert!(parse("family 👨\u{200D}👩\u{200D}👧").is_some());
        assert_eq!(parse(&"x".repeat(100)).map(|n| n.len()), Some(100));
        for bad in [
            "",
            "   ",
            "a\nb",
            "a\u{7}b",
            "a\u{85}b",
            "invoice\u{202E}fdp.exe",
            "x\u{2066}y",
            "x\u{200F}y",
            "line\u{2028}break",
            "zero\u{200B}width",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        assert_eq!(parse(&"x".repeat(101)), None);
    }
}
