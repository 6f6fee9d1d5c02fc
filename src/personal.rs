//! A person's data in the copies other records keep — stored answers, queued mail, audit
//! details — as an erasure (section 6) finds and blanks it: their e-mail addresses and display
//! name. Scrubbing keeps everything else of a text byte for byte, so a stored answer stays the
//! answer it was, less the person.

use std::borrow::Cow;

/// What one erasure blanks in copies. The user id is not among it: it stays, as a pseudonym.
#[derive(Clone, Debug)]
pub struct Personal {
    pub user_id: String,
    /// Lower-cased, each once: the current address and earlier ones.
    addresses: Vec<String>,
    /// The display name, when there is one.
    names: Vec<String>,
}

/// Characters that may stand next to an address as part of a longer one (RFC 5322's atext,
/// the dot, and any letter or digit).
fn address_char(c: char) -> bool {
    c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-@".contains(c)
}

impl Personal {
    pub fn new(user_id: &str, addresses: Vec<String>, names: Vec<String>) -> Personal {
        let mut kept: Vec<String> = Vec::new();
        for address in addresses {
            let address = address.trim().to_lowercase();
            if !address.is_empty() && !kept.contains(&address) {
                kept.push(address);
            }
        }
        let mut kept_names: Vec<String> = Vec::new();
        for name in names {
            let name = name.trim().to_string();
            if !name.is_empty() && !kept_names.contains(&name) {
                kept_names.push(name);
            }
        }
        Personal {
            user_id: user_id.to_string(),
            addresses: kept,
            names: kept_names,
        }
    }

    pub fn addresses(&self) -> &[String] {
        &self.addresses
    }

    pub fn is_address(&self, text: &str) -> bool {
        let text = text.trim().to_lowercase();
        self.addresses.contains(&text)
    }

    /// `text` with every one of the addresses blanked where it stands alone (not inside a
    /// longer address: `ann@x.org` is not in `joann@x.org` or `ann@x.org.uk`; a full stop that
    /// ends a sentence is not part of it); ASCII letters compare case-insensitively. `None`
    /// when there is none.
    pub fn scrub_text(&self, text: &str) -> Option<String> {
        let mut current = Cow::Borrowed(text);
        for address in &self.addresses {
            if let Some(next) = blank_address(&current, address) {
                current = Cow::Owned(next);
            }
        }
        match current {
            Cow::Borrowed(_) => None,
            Cow::Owned(text) => Some(text),
        }
    }

    /// A JSON text with its string values scrubbed (keys are never changed): the addresses as
    /// in [`Personal::scrub_text`]; a value that is exactly the display name is blanked when
    /// the text is `own` (a record about this person) or also names the person (their id as a
    /// value, or one of the addresses), so a namesake elsewhere keeps their name. The
    /// `displayName` and `email` members of an object whose `id` or `userId` is the person are
    /// blanked whatever they hold: a name or address the person had before (an answer stored
    /// before a change) is not among those this erasure knows. In an `own` text the values of
    /// `name` members (the person's passkey names) are blanked too. `None` when nothing
    /// changed, or when the text holds no string.
    pub fn scrub_json(&self, json: &str, own: bool) -> Option<String> {
        let strings = json_strings(json);
        let names_person = own
            || strings.iter().any(|s| {
                !s.key && (s.value == self.user_id || self.scrub_text(&s.value).is_some())
            });
        // The member name of each value (`None` for an array item or a key).
        let members: Vec<Option<&str>> = (0..strings.len())
            .map(|i| {
                let s = &strings[i];
                i.checked_sub(1)
                    .map(|k| &strings[k])
                    .filter(|k| !s.key && k.key && json[k.end..s.start].trim() == ":")
                    .map(|k| k.value.as_str())
            })
            .collect();
        // The objects that are the person: their `id` or `userId` is the person's id.
        let person_objects: Vec<usize> = strings
            .iter()
            .zip(&members)
            .filter(|(s, member)| {
                matches!(member, Some("id" | "userId")) && s.value == self.user_id
            })
            .filter_map(|(s, _)| s.object)
            .collect();
        let mut out = String::with_capacity(json.len());
        let mut copied = 0;
        for (s, member) in strings.iter().zip(&members) {
            if s.key {
                continue;
            }
            let of_person = matches!(member, Some("displayName" | "email"))
                && s.object.is_some_and(|o| person_objects.contains(&o));
            let blanked = (own && *member == Some("name") && !s.value.is_empty())
                || (of_person && !s.value.is_empty())
                || (names_person && self.names.contains(&s.value));
            let new = if blanked {
                Some(String::new())
            } else {
                self.scrub_text(&s.value)
            };
            if let Some(new) = new {
                out.push_str(&json[copied..s.start]);
                out.push_str(&serde_json::Value::String(new).to_string());
                copied = s.end;
            }
        }
        if copied == 0 {
            return None;
        }
        out.push_str(&json[copied..]);
        Some(out)
    }

    /// Patterns for `column LIKE $1 ESCAPE '!'`, one per address and name and one for the user
    /// id as a whole JSON string, that every JSON text [`Personal::scrub_json`] could change
    /// matches: a cheap first filter before it.
    pub fn like_patterns(&self) -> Vec<String> {
        let inside = |value: &String| {
            let json = serde_json::Value::String(value.clone()).to_string();
            json[1..json.len() - 1].to_string()
        };
        let id = serde_json::Value::String(self.user_id.clone()).to_string();
        self.addresses
            .iter()
            .chain(&self.names)
            .map(inside)
            .chain([id])
            .map(|text| {
                let mut pattern = String::from("%");
                for c in text.chars() {
                    if matches!(c, '!' | '%' | '_') {
                        pattern.push('!');
                    }
                    pattern.push(c);
                }
                pattern.push('%');
                pattern
            })
            .collect()
    }
}

/// `text` with each free-standing `address` (lower-cased) removed; `None` when there is none.
fn blank_address(text: &str, address: &str) -> Option<String> {
    // ASCII lower-casing keeps byte offsets, so a match in `lower` is the same span in `text`.
    let lower = text.to_ascii_lowercase();
    let mut out = String::new();
    let mut copied = 0;
    let mut from = 0;
    while let Some(at) = lower[from..].find(address).map(|i| i + from) {
        let end = at + address.len();
        let before = text[..at].chars().next_back();
        let mut after = text[end..].chars();
        let next = after.next();
        let longer_before = before.is_some_and(address_char);
        let longer_after = match next {
            None => false,
            // A dot continues the domain only when a label follows it.
            Some('.') => after
                .next()
                .is_some_and(|c| c.is_alphanumeric() || c == '-'),
            Some(c) => c.is_alphanumeric() || c == '-',
        };
        if !longer_before && !longer_after {
            out.push_str(&text[copied..at]);
            copied = end;
        }
        from = at + address.chars().next().map_or(1, char::len_utf8);
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&text[copied..]);
    Some(out)
}

/// One string token of a JSON text: its byte span (quotes included), decoded value, whether
/// it is a member name, and the object it stands in directly (numbered in order of opening;
/// `None` in an array or outside any object).
struct JsonString {
    start: usize,
    end: usize,
    value: String,
    key: bool,
    object: Option<usize>,
}

/// The string tokens of a JSON text, in order; a token that does not decode is skipped.
fn json_strings(json: &str) -> Vec<JsonString> {
    let bytes = json.as_bytes();
    let mut strings = Vec::new();
    // The open objects (`Some(number)`) and arrays (`None`), innermost last.
    let mut open: Vec<Option<usize>> = Vec::new();
    let mut objects = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {}
            b'{' => {
                objects += 1;
                open.push(Some(objects));
                i += 1;
                continue;
            }
            b'[' => {
                open.push(None);
                i += 1;
                continue;
            }
            b'}' | b']' => {
                open.pop();
                i += 1;
                continue;
            }
            _ => {
                i += 1;
                continue;
            }
        }
        let start = i;
        i += 1;
        while i < bytes.len() && bytes[i] != b'"' {
            i += if bytes[i] == b'\\' { 2 } else { 1 };
        }
        let end = (i + 1).min(bytes.len());
        i = end;
        let Ok(value) = serde_json::from_str::<String>(&json[start..end]) else {
            continue;
        };
        let key = json[end..].trim_start().starts_with(':');
        strings.push(JsonString {
            start,
            end,
            value,
            key,
            object: open.last().copied().flatten(),
        });
    }
    strings
}

#[cfg(test)]
mod tests {
    use super::Personal;

    fn ann() -> Personal {
        Personal::new(
            "usr_ann",
            vec!["Ann@X.org".into(), "old@y.org".into()],
            vec!["Ann Smith".into()],
        )
    }

    #[test]
    fn addresses_are_blanked_only_where_they_stand_alone() {
        let p = ann();
        assert_eq!(
            p.scrub_text("changed to ANN@x.org.").as_deref(),
            Some("changed to .")
        );
        assert_eq!(
            p.scrub_text("<ann@x.org>, old@y.org").as_deref(),
            Some("<>, ")
        );
        for other in [
            "joann@x.org",
            "ann@x.org.uk",
            "ann@x.organ",
            "x.ann@x.org",
            "nobody",
        ] {
            assert_eq!(p.scrub_text(other), None, "{other}");
        }
        assert!(p.is_address(" ANN@x.org "));
    }

    #[test]
    fn json_keeps_keys_order_and_namesakes() {
        let p = ann();
        let body =
            r#"{"id":"usr_ann","email":"ann@x.org","displayName":"Ann Smith","role":"owner"}"#;
        assert_eq!(
            p.scrub_json(body, false).as_deref(),
            Some(r#"{"id":"usr_ann","email":"","displayName":"","role":"owner"}"#)
        );
        // Another person with the same name keeps it; a key is never changed.
        let other = r#"{"id":"usr_bob","displayName":"Ann Smith","ann@x.org":1}"#;
        assert_eq!(p.scrub_json(other, false), None);
        // A text that names the person by id only: the name goes.
        let by_id = r#"{"userId":"usr_ann","names":["Ann Smith"]}"#;
        assert_eq!(
            p.scrub_json(by_id, false).as_deref(),
            Some(r#"{"userId":"usr_ann","names":[""]}"#)
        );
        // The person's own record: passkey names go too.
        let own = r#"{"name": "Ann's key", "passkeyId": "pk_1"}"#;
        assert_eq!(
            p.scrub_json(own, true).as_deref(),
            Some(r#"{"name": "", "passkeyId": "pk_1"}"#)
        );
        assert_eq!(p.scrub_json(own, false), None);
        assert_eq!(p.scrub_json("not json", true), None);
    }

    #[test]
    fn escaped_addresses_are_found() {
        let p = Personal::new("u", vec![r#"a"b@x.org"#.into()], vec![]);
        let body = r#"{"detail":"a \"b\" and a\"b@x.org"}"#;
        assert_eq!(
            p.scrub_json(body, false).as_deref(),
            Some(r#"{"detail":"a \"b\" and "}"#)
        );
        assert_eq!(
            p.like_patterns(),
            vec![r#"%a\"b@x.org%"#.to_string(), r#"%"u"%"#.to_string()]
        );
        let p = Personal::new("u", vec!["a_b%c!@x.org".into()], vec![]);
        assert_eq!(
            p.like_patterns(),
            vec!["%a!_b!%c!!@x.org%".to_string(), r#"%"u"%"#.to_string()]
        );
    }

    #[test]
    fn the_persons_objects_lose_any_name_and_address() {
        let p = ann();
        // An answer stored before the person changed name and address: neither is known now.
        let stored = r#"{"id":"usr_ann","email":"earlier@z.org","displayName":"Ann Earlier"}"#;
        assert_eq!(
            p.scrub_json(stored, false).as_deref(),
            Some(r#"{"id":"usr_ann","email":"","displayName":""}"#)
        );
        // Only the person's own objects: a nested one, and not its neighbours or parent.
        let page = r#"{"displayName":"Bob","items":[{"userId":"usr_ann","email":"e@z.org","role":"admin"},{"userId":"usr_bob","email":"bob@z.org","displayName":"Bob"}],"email":"top@z.org"}"#;
        assert_eq!(
            p.scrub_json(page, false).as_deref(),
            Some(
                r#"{"displayName":"Bob","items":[{"userId":"usr_ann","email":"","role":"admin"},{"userId":"usr_bob","email":"bob@z.org","displayName":"Bob"}],"email":"top@z.org"}"#
            )
        );
        // The id as another member's value, or inside an array, makes no object the person's.
        let other = r#"{"id":"org_1","ownerId":"usr_ann","email":"org@z.org","ids":["usr_ann"]}"#;
        assert_eq!(p.scrub_json(other, false), None);
        // `null` stays `null`; another person whose name is in a string is untouched.
        let null = r#"{"id":"usr_ann","displayName":null,"note":"{\"id\":\"usr_ann\"}"}"#;
        assert_eq!(p.scrub_json(null, false), None);
        assert!(p.like_patterns().contains(&r#"%"usr!_ann"%"#.to_string()));
    }
}
