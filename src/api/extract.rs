//! Extractors whose rejections are catalogue errors (section 3's framework mapping):
//! wrong content type, unparseable JSON, a missing field or a field of the wrong JSON type →
//! 400001 with `argument`; an unknown field or a value that is not allowed → 400002.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, FromRef, FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;

use crate::db::Db;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::list::ListParams;
use crate::state::Infra;

/// A JSON body.
pub struct ApiJson<T>(pub T);

fn is_json(content_type: &str) -> bool {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !is_json(content_type) {
            return Err(ApiError::argument(
                "Content-Type",
                "The body must be JSON (Content-Type: application/json).",
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(body_rejection)?;
        parse_json(&bytes).map(ApiJson)
    }
}

pub fn body_rejection(e: BytesRejection) -> ApiError {
    match e {
        BytesRejection::FailedToBufferBody(_) => {
            ApiError::argument("body", "The body is too large or could not be read.")
        }
        other => ApiError::argument("body", format!("The body could not be read: {other}")),
    }
}

/// Parses JSON into `T`, classifying failures as section 3 says. A key given twice in one object
/// (at any depth) is 400001 naming it: serde_json would keep the last value silently.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    let value = parse_unique(bytes)?;
    serde_path_to_error::deserialize(value).map_err(|e| classify(e.path(), &e.inner().to_string()))
}

/// The body as a `Value`, in one pass that also refuses duplicate keys.
fn parse_unique(bytes: &[u8]) -> ApiResult<serde_json::Value> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = serde_path_to_error::deserialize::<_, unique::UniqueValue>(&mut de)
        .map_err(|e| {
            let message = e.inner().to_string();
            if message.starts_with(unique::DUPLICATE) {
                let (pointer, dotted) = render_path(e.path());
                ApiError::argument(pointer, format!("Duplicate key `{dotted}` in the body."))
            } else {
                ApiError::argument("", format!("The body is not valid JSON: {message}"))
            }
        })
        .and_then(|v| {
            de.end()
                .map_err(|e| ApiError::argument("", format!("The body is not valid JSON: {e}")))?;
            Ok(v)
        })?;
    Ok(parsed.0)
}

/// A `serde_json::Value` whose objects may not repeat a key.
mod unique {
    use std::fmt;

    use serde::Deserialize;
    use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
    use serde_json::{Map, Value};

    /// How the error of a repeated key starts (the key itself is in the error's path).
    pub const DUPLICATE: &str = "duplicate key";

    pub struct UniqueValue(pub Value);

    impl<'de> Deserialize<'de> for UniqueValue {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(ValueVisitor).map(UniqueValue)
        }
    }

    /// Fails as the value of a repeated key, so that the error's path ends with that key.
    struct Repeated;

    impl<'de> DeserializeSeed<'de> for Repeated {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, _: D) -> Result<(), D::Error> {
            Err(de::Error::custom(DUPLICATE))
        }
    }

    struct ValueVisitor;

    impl<'de> Visitor<'de> for ValueVisitor {
        type Value = Value;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
            Ok(Value::Bool(v))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_str<E>(self, v: &str) -> Result<Value, E> {
            Ok(Value::String(v.to_owned()))
        }
        fn visit_string<E>(self, v: String) -> Result<Value, E> {
            Ok(Value::String(v))
        }
        fn visit_unit<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_none<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            UniqueValue::deserialize(d).map(|v| v.0)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
            let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
            while let Some(UniqueValue(v)) = seq.next_element()? {
                items.push(v);
            }
            Ok(Value::Array(items))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
            let mut object = Map::new();
            while let Some(key) = map.next_key::<String>()? {
                if object.contains_key(&key) {
                    map.next_value_seed(Repeated)?;
                    return Err(de::Error::custom(DUPLICATE));
                }
                let UniqueValue(v) = map.next_value()?;
                object.insert(key, v);
            }
            Ok(Value::Object(object))
        }
    }
}

/// JSON pointer (`/items/0/quantity`) and display form (`items[0].quantity`) of a path.
fn render_path(path: &serde_path_to_error::Path) -> (String, String) {
    let (mut pointer, mut dotted) = (String::new(), String::new());
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => {
                pointer.push_str(&format!("/{index}"));
                dotted.push_str(&format!("[{index}]"));
            }
            Segment::Map { key } | Segment::Enum { variant: key } => {
                pointer.push('/');
                pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
                if !dotted.is_empty() {
                    dotted.push('.');
                }
                dotted.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    (pointer, dotted)
}

fn backticked(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

fn join(parent: &str, child: &str, sep: char) -> String {
    if parent.is_empty() && sep == '.' {
        child.to_string()
    } else {
        format!("{parent}{sep}{child}")
    }
}

fn classify(path: &serde_path_to_error::Path, message: &str) -> ApiError {
    let (pointer, dotted) = render_path(path);
    if message.starts_with("missing field") {
        let field = backticked(message).unwrap_or("");
        return ApiError::argument(
            join(&pointer, field, '/'),
            format!("Missing field `{}`.", join(&dotted, field, '.')),
        );
    }
    if message.starts_with("invalid type") {
        let shown = if dotted.is_empty() {
            "body".to_string()
        } else {
            dotted
        };
        return ApiError::argument(pointer, format!("`{shown}`: {message}"));
    }
    if message.starts_with("unknown field") {
        // The path already ends with the unknown key.
        let field = if dotted.is_empty() {
            backticked(message).unwrap_or("").to_string()
        } else {
            dotted
        };
        return ApiError::validation(field, "unknown field");
    }
    let field = if dotted.is_empty() {
        "body".to_string()
    } else {
        dotted
    };
    ApiError::validation(field, message.to_string())
}

/// For PATCH bodies: tells an absent member (`None`) from an explicit `null` (`Some(None)`).
/// Use with `#[serde(default, with = "crate::api::extract::double_option")]`.
pub mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Ok(Some(Option::<T>::deserialize(d)?))
    }
}

/// Query parameters: a missing or unparseable one answers 400001 naming it.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded_parse(query));
        serde_path_to_error::deserialize(deserializer)
            .map(ApiQuery)
            .map_err(|e| {
                let message = e.inner().to_string();
                let (_, dotted) = render_path(e.path());
                let name = if message.starts_with("missing field") {
                    backticked(&message).unwrap_or("").to_string()
                } else {
                    dotted
                };
                ApiError::argument(name.clone(), format!("Query parameter `{name}`: {message}"))
            })
    }
}

fn form_urlencoded_parse(query: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(query.as_bytes())
}

/// Path parameters; a value that does not parse names nothing that exists: 404003.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|_| ApiError::new(ErrorCode::NotFound, "The requested entity was not found."))
    }
}

/// Loads what a path names, before the body is read: a path that does not parse, or that
/// `find` finds nothing for, answers `not_found()`. `find` gets the path's parameters and the
/// database.
pub async fn find_by_path<S, P, T, E, Fut>(
    parts: &mut Parts,
    state: &S,
    not_found: fn() -> ApiError,
    find: impl FnOnce(Db, P) -> Fut,
) -> ApiResult<T>
where
    S: Send + Sync,
    Infra: FromRef<S>,
    P: DeserializeOwned + Send,
    Fut: Future<Output = Result<Option<T>, E>>,
    ApiError: From<E>,
{
    let ApiPath(params) = ApiPath::<P>::from_request_parts(parts, state)
        .await
        .map_err(|_| not_found())?;
    let db = Infra::from_ref(state).db;
    find(db, params).await?.ok_or_else(not_found)
}

/// The source address of section 2: the peer, or behind a trusted proxy the right-most
/// `X-Forwarded-For` hop that is not one.
pub fn client_addr(parts: &Parts, proxies: &crate::net::ProxyList) -> String {
    let Some(peer) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
        return "unknown".to_string();
    };
    let forwarded = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok());
    proxies.source(peer.0.ip(), forwarded).to_string()
}

/// `from`, `limit` and `query` of a list; a bad one is a catalogue error (section 3).
impl<S: Send + Sync> FromRequestParts<S> for ListParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        ListParams::parse(parts.uri.query().unwrap_or(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Body {
        name: String,
        items: Vec<Item>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        quantity: u32,
    }

    fn code(bytes: &str) -> (u32, serde_json::Value) {
        let e = parse_json::<Body>(bytes.as_bytes()).unwrap_err();
        (e.code.code(), serde_json::Value::Object(e.extensions))
    }

    #[test]
    fn classifies_body_failures() {
        assert_eq!(code("{").0, 400001);
        let (c, ext) = code(r#"{"items":[]}"#);
        assert_eq!((c, ext["argument"].as_str()), (400001, Some("/name")));
        let (c, ext) = code(r#"{"name":"a","items":[{"quantity":"x"}]}"#);
        assert_eq!(
            (c, ext["argument"].as_str()),
            (400001, Some("/items/0/quantity"))
        );
        let (c, ext) = code(r#"{"name":"a","items":[],"extra":1}"#);
        assert_eq!(
            (c, ext["errors"][0]["field"].as_str()),
            (400002, Some("extra"))
        );
        let (c, ext) = code(r#"{"name":"a","items":[{"quantity":1,"x":1}]}"#);
        assert_eq!(
            (c, ext["errors"][0]["field"].as_str()),
            (400002, Some("items[0].x"))
        );
        assert!(parse_json::<Body>(br#"{"name":"a","items":[{"quantity":1}]}"#).is_ok());
        let (c, ext) = code(r#"{"name":"a","name":"b","items":[]}"#);
        assert_eq!((c, ext["argument"].as_str()), (400001, Some("/name")));
        let (c, ext) = code(r#"{"name":"a","items":[{"quantity":1},{"quantity":1,"quantity":2}]}"#);
        assert_eq!(
            (c, ext["argument"].as_str()),
            (400001, Some("/items/1/quantity"))
        );
        assert_eq!(code(r#"{"name":"a","items":[]} x"#).0, 400001);
        // The same key in two objects is no duplicate.
        assert!(
            parse_json::<Body>(br#"{"name":"a","items":[{"quantity":1},{"quantity":2}]}"#).is_ok()
        );
    }
}
