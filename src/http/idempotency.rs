//! `Idempotency-Key` on POST (section 2).
//!
//! The key is scoped to (caller, method, path). The first request inserts a `running` row —
//! the primary key makes exactly one of any racing duplicates the owner — runs, and stores its
//! answer; later requests with the same key and the same canonical body replay it, with another
//! body answer 400002, and while the owner runs they wait. Answers carrying a secret are not
//! stored (the row becomes `secret`: reuse answers 400002); a 5xx answer releases the key.

mod store;

use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;

use crate::db::{Db, Unit, UnitError};
use crate::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::time::Timestamp;

pub const HEADER: HeaderName = HeaderName::from_static("idempotency-key");
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

pub use crate::api::SecretResponse;

/// A hash of the body that ignores key order and whitespace when it is JSON.
///
/// Keyed (HMAC-SHA256 with the installation's secret): a body can hold a card number, whose
/// plain hash could be reversed by trying every number.
pub fn canonical_hash(secret: &[u8], bytes: &[u8]) -> String {
    use hmac::Mac as _;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    match serde_json::from_slice::<Value>(bytes) {
        Ok(value) => {
            let mut text = String::new();
            write_canonical(&value, &mut text);
            mac.update(text.as_bytes());
        }
        Err(_) => mac.update(bytes),
    }
    hex::encode(mac.finalize().into_bytes())
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// What the key is scoped to, and the key.
#[derive(Clone)]
struct Key {
    caller: String,
    method: String,
    path: String,
    key: String,
}

/// Releases a `running` reservation if the request never finished (client gone, time-out).
struct Reservation {
    db: Db,
    key: Option<Key>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(id) = self.key.take() {
            let db = self.db.clone();
            tokio::spawn(async move {
                let _ = db.write(move |w| Ok(store::release_running(w, &id)?)).await;
            });
        }
    }
}

enum Claim {
    Owner,
    Replay(Response),
}

pub async fn run(
    state: &AppState,
    caller: String,
    key: String,
    request: Request,
    next: Next,
) -> ApiResult<Response> {
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::validation(
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        ));
    }
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, state.config.body_limit_bytes)
        .await
        .map_err(|_| ApiError::argument("body", "The body is too large or could not be read."))?;
    let body_hash = canonical_hash(state.key.idempotency_key(), &bytes);
    let id = Key {
        caller,
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        key,
    };

    match claim(state, &id, &body_hash).await? {
        Claim::Replay(response) => return Ok(response),
        Claim::Owner => {}
    }
    let mut reservation = Reservation {
        db: state.db.clone(),
        key: Some(id.clone()),
    };
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let result = finish(&state.db, &id, response).await;
    reservation.key = None;
    result
}

/// One try at owning a key, as one unit of work.
enum Attempt {
    Owner,
    /// Another request holds the key: its row.
    Taken(store::Stored),
    /// The row went away meanwhile, or someone else claimed it again: look again.
    Again,
}

/// When a row found by another request no longer holds the key.
struct Expiry {
    /// By the (test) clock: `now` and the replay window.
    now: Timestamp,
    ttl_secs: i64,
    /// By real time: a running owner is given up only by the system clock, since the test
    /// clock may jump while it runs.
    system_now: Timestamp,
    stale_after_secs: i64,
}

impl Expiry {
    fn ended(&self, row: &store::Stored) -> bool {
        if row.state == "running" {
            row.claimed_at
                .is_none_or(|at| at.plus_seconds(self.stale_after_secs) <= self.system_now)
        } else {
            row.created_at.plus_seconds(self.ttl_secs) <= self.now
        }
    }
}

/// Reserves the key, or reads the row that holds it; a row that no longer holds it (expired,
/// or abandoned by its owner) is deleted and the key reserved again.
fn attempt_in(
    w: &mut Unit<'_>,
    id: &Key,
    body_hash: &str,
    expiry: &Expiry,
) -> Result<Attempt, UnitError> {
    if store::reserve(w, id, body_hash, expiry.now, expiry.system_now)? {
        return Ok(Attempt::Owner);
    }
    let Some(row) = store::find(w, id)? else {
        return Ok(Attempt::Again);
    };
    if !expiry.ended(&row) {
        return Ok(Attempt::Taken(row));
    }
    store::forget(w, id, row.created_at)?;
    Ok(
        if store::reserve(w, id, body_hash, expiry.now, expiry.system_now)? {
            Attempt::Owner
        } else {
            Attempt::Again
        },
    )
}

/// Becomes the owner of the key, or waits for the owner's answer and replays it.
async fn claim(state: &AppState, id: &Key, body_hash: &str) -> ApiResult<Claim> {
    let stale_after_secs = state.config.request_timeout_secs as i64 + 5;
    let mut delay = Duration::from_millis(5);
    loop {
        let expiry = Expiry {
            now: state.clock.now(),
            ttl_secs: state.config.idempotency_ttl_secs,
            system_now: Timestamp::system_now(),
            stale_after_secs,
        };
        let (key, hash) = (id.clone(), body_hash.to_string());
        let attempt = state
            .db
            .write(move |w| Ok(attempt_in(w, &key, &hash, &expiry)?))
            .await?;
        let row = match attempt {
            Attempt::Owner => return Ok(Claim::Owner),
            Attempt::Again => continue,
            Attempt::Taken(row) => row,
        };
        if row.body_hash != body_hash {
            return Err(ApiError::validation(
                "Idempotency-Key",
                "was already used with another request body",
            ));
        }
        match row.state.as_str() {
            "secret" => {
                return Err(ApiError::validation(
                    "Idempotency-Key",
                    "was already used for an answer holding a secret, which is not stored; use a new key",
                ));
            }
            "done" => return Ok(Claim::Replay(replay(row)?)),
            _ => {
                // The first request is still running: wait for it.
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(100));
            }
        }
    }
}

/// The stored answer, marked as replayed.
fn replay(row: store::Stored) -> ApiResult<Response> {
    let status = row
        .status
        .and_then(|s| StatusCode::from_u16(s as u16).ok())
        .unwrap_or(StatusCode::OK);
    let mut response = Response::builder().status(status);
    if let Some(ct) = row
        .content_type
        .and_then(|c| HeaderValue::from_str(&c).ok())
    {
        response = response.header(header::CONTENT_TYPE, ct);
    }
    let kept: Vec<(String, String)> = row
        .headers
        .and_then(|k| serde_json::from_str(&k).ok())
        .unwrap_or_default();
    for (name, value) in kept {
        response = response.header(name, value);
    }
    response
        .header(REPLAYED, "true")
        .body(Body::from(row.body.unwrap_or_default()))
        .map_err(ApiError::internal)
}

/// Stores the owner's answer (or releases the key) and passes the answer on.
async fn finish(db: &Db, id: &Key, response: Response) -> ApiResult<Response> {
    let id = id.clone();
    if response.status().is_server_error() {
        db.write(move |w| Ok(store::release(w, &id)?)).await?;
        return Ok(response);
    }
    if response.extensions().get::<SecretResponse>().is_some() {
        db.write(move |w| Ok(store::mark_secret(w, &id)?)).await?;
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let bytes = to_bytes(body, usize::MAX)
        .await
        .map_err(ApiError::internal)?;
    match std::str::from_utf8(&bytes) {
        Ok(text) => {
            let content_type = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            // Headers that carry meaning are replayed too (e.g. 403005's Retry-After).
            let kept: Vec<(String, String)> =
                [header::RETRY_AFTER, header::ALLOW, header::LOCATION]
                    .iter()
                    .filter_map(|name| {
                        parts
                            .headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .map(|v| (name.as_str().to_string(), v.to_string()))
                    })
                    .collect();
            let status = parts.status.as_u16() as i64;
            let (body, headers) = (
                text.to_string(),
                serde_json::to_string(&kept).unwrap_or_default(),
            );
            db.write(move |w| {
                Ok(store::store_answer(
                    w,
                    &id,
                    status,
                    content_type,
                    body,
                    headers,
                )?)
            })
            .await?;
        }
        Err(_) => {
            db.write(move |w| Ok(store::release(w, &id)?)).await?;
        }
    }
    Ok(Response::from_parts(parts, Body::from(bytes)))
}

/// The key scope of a signed-in caller's requests.
pub fn user_scope(user_id: &str) -> String {
    format!("user:{user_id}")
}

/// Erasure (section 6; identity's eraser, registered by `app`), inside the erasing unit: the
/// person's own keys go (no request of theirs can come again), and stored answers to others
/// keep their status and shape with the person's addresses and name blanked (see
/// `Personal::scrub_json`). A request still running stores its answer after this unit; one of
/// the person's own finds its row gone and stores nothing.
pub fn erase_in(w: &mut Unit<'_>, erasure: &crate::identity::erasure::Erasure) -> ApiResult<()> {
    let person = &erasure.person;
    store::delete_of_caller(w, &user_scope(&person.user_id))?;
    for pattern in person.like_patterns() {
        for (key, body) in store::answers_matching(w, &pattern)? {
            if let Some(scrubbed) = person.scrub_json(&body, false) {
                store::set_answer_body(w, &key, &scrubbed)?;
            }
        }
    }
    Ok(())
}

/// Forgets keys older than the replay window (a background job).
pub async fn purge_expired(db: &Db, now: Timestamp, ttl_secs: i64) -> ApiResult<u64> {
    let cutoff = now.minus_seconds(ttl_secs);
    db.write(move |w| Ok(store::purge_created_before(w, cutoff)?))
        .await
}

#[cfg(test)]
mod tests {
    use super::canonical_hash;

    #[test]
    fn canonical_hash_ignores_order_and_space() {
        let k = b"key";
        let a = canonical_hash(k, br#"{"a":1,"b":[1,{"d":2,"c":3}]}"#);
        assert_eq!(a, canonical_hash(k, br#"{ "b":[1,{"c":3,"d":2}], "a":1 }"#));
        assert_ne!(
            canonical_hash(k, br#"{"a":1}"#),
            canonical_hash(k, br#"{"a":2}"#)
        );
        assert_ne!(
            canonical_hash(k, b"not json"),
            canonical_hash(k, b"not  json")
        );
        assert_ne!(canonical_hash(k, b"x"), canonical_hash(b"other", b"x"));
    }
}
