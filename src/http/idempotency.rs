//! `Idempotency-Key` on POST (section 2).
//!
//! The key is scoped to (caller, method, path). The first request inserts a `running` row —
//! the primary key makes exactly one of any racing duplicates the owner — runs, and stores its
//! answer; later requests with the same key and the same canonical body replay it, with another
//! body answer 400002, and while the owner runs they wait. Answers carrying a secret are not
//! stored (the row becomes `secret`: reuse answers 400002); a 5xx answer releases the key.

use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;
use sqlx::Row as _;

use crate::app::AppState;
use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::time::Timestamp;

pub const HEADER: HeaderName = HeaderName::from_static("idempotency-key");
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Put in a response's extensions by handlers whose answer holds a secret.
#[derive(Clone, Copy, Debug)]
pub struct SecretResponse;

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

struct Key {
    caller: String,
    method: String,
    path: String,
    key: String,
}

/// Deletes a `running` reservation if the request never finished (client gone, time-out).
struct Reservation {
    db: Db,
    key: Option<(String, String, String, String)>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some((caller, method, path, key)) = self.key.take() {
            let db = self.db.clone();
            tokio::spawn(async move {
                let _ = sqlx::query("DELETE FROM idempotency_keys WHERE caller = $1 AND method = $2 AND path = $3 AND idem_key = $4 AND state = 'running'")
                    .bind(caller)
                    .bind(method)
                    .bind(path)
                    .bind(key)
                    .execute(db.writer())
                    .await;
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
        key: Some((
            id.caller.clone(),
            id.method.clone(),
            id.path.clone(),
            id.key.clone(),
        )),
    };
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let result = finish(&state.db, &id, response).await;
    reservation.key = None;
    result
}

/// Becomes the owner of the key, or waits for the owner's answer and replays it.
async fn claim(state: &AppState, id: &Key, body_hash: &str) -> ApiResult<Claim> {
    let db = &state.db;
    let stale_after = Duration::from_secs(state.config.request_timeout_secs + 5);
    let mut delay = Duration::from_millis(5);
    loop {
        let now = state.clock.now();
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (caller, method, path, idem_key, body_hash, state, created_at, claimed_at)
             VALUES ($1, $2, $3, $4, $5, 'running', $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(&id.caller)
        .bind(&id.method)
        .bind(&id.path)
        .bind(&id.key)
        .bind(body_hash)
        .bind(now.micros())
        .bind(Timestamp::system_now().micros())
        .execute(db.writer())
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(Claim::Owner);
        }
        let Some(row) = sqlx::query(
            "SELECT body_hash, state, status, content_type, headers, body, created_at, claimed_at FROM idempotency_keys
             WHERE caller = $1 AND method = $2 AND path = $3 AND idem_key = $4",
        )
        .bind(&id.caller)
        .bind(&id.method)
        .bind(&id.path)
        .bind(&id.key)
        .fetch_optional(db.pool())
        .await?
        else {
            continue; // released meanwhile; try to own it
        };
        let created_at = Timestamp::from_micros(row.try_get("created_at")?);
        let row_state: String = row.try_get("state")?;
        // Replays end by the (test) clock; a running owner is given up only by real time, since
        // the test clock may jump while it runs.
        let running = row_state == "running";
        let expired = !running && created_at.plus_seconds(state.config.idempotency_ttl_secs) <= now;
        let claimed_at = row
            .try_get::<Option<i64>, _>("claimed_at")?
            .map(Timestamp::from_micros);
        let abandoned = running
            && claimed_at.is_none_or(|at| {
                at.plus_seconds(stale_after.as_secs() as i64) <= Timestamp::system_now()
            });
        if expired || abandoned {
            sqlx::query("DELETE FROM idempotency_keys WHERE caller = $1 AND method = $2 AND path = $3 AND idem_key = $4 AND created_at = $5")
                .bind(&id.caller)
                .bind(&id.method)
                .bind(&id.path)
                .bind(&id.key)
                .bind(created_at.micros())
                .execute(db.writer())
                .await?;
            continue;
        }
        if row.try_get::<String, _>("body_hash")? != body_hash {
            return Err(ApiError::validation(
                "Idempotency-Key",
                "was already used with another request body",
            ));
        }
        match row_state.as_str() {
            "secret" => {
                return Err(ApiError::validation(
                    "Idempotency-Key",
                    "was already used for an answer holding a secret, which is not stored; use a new key",
                ));
            }
            "done" => {
                let status = StatusCode::from_u16(row.try_get::<i64, _>("status")? as u16)
                    .unwrap_or(StatusCode::OK);
                let content_type: Option<String> = row.try_get("content_type")?;
                let body: String = row
                    .try_get::<Option<String>, _>("body")?
                    .unwrap_or_default();
                let mut response = Response::builder().status(status);
                if let Some(ct) = content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
                    response = response.header(header::CONTENT_TYPE, ct);
                }
                let kept: Option<String> = row.try_get("headers")?;
                let kept: Vec<(String, String)> = kept
                    .and_then(|k| serde_json::from_str(&k).ok())
                    .unwrap_or_default();
                for (name, value) in kept {
                    response = response.header(name, value);
                }
                let response = response
                    .header(REPLAYED, "true")
                    .body(Body::from(body))
                    .map_err(ApiError::internal)?;
                return Ok(Claim::Replay(response));
            }
            _ => {
                // The first request is still running: wait for it.
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(100));
            }
        }
    }
}

/// Stores the owner's answer (or releases the key) and passes the answer on.
async fn finish(db: &Db, id: &Key, response: Response) -> ApiResult<Response> {
    let binds = |q: sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments>| {
        q.bind(id.caller.clone())
            .bind(id.method.clone())
            .bind(id.path.clone())
            .bind(id.key.clone())
    };
    if response.status().is_server_error() {
        binds(sqlx::query("DELETE FROM idempotency_keys WHERE caller = $1 AND method = $2 AND path = $3 AND idem_key = $4"))
            .execute(db.writer())
            .await?;
        return Ok(response);
    }
    if response.extensions().get::<SecretResponse>().is_some() {
        binds(sqlx::query("UPDATE idempotency_keys SET state = 'secret' WHERE caller = $1 AND method = $2 AND path = $3 AND idem_key = $4"))
            .execute(db.writer())
            .await?;
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
            binds(sqlx::query(
                "UPDATE idempotency_keys SET state = 'done', status = $5, content_type = $6, body = $7, headers = $8
                 WHERE caller = $1 AND method = $2 AND path = $3 AND idem_key = $4",
            ))
            .bind(parts.status.as_u16() as i64)
            .bind(content_type)
            .bind(text.to_string())
            .bind(serde_json::to_string(&kept).unwrap_or_default())
            .execute(db.writer())
            .await?;
        }
        Err(_) => {
            binds(sqlx::query("DELETE FROM idempotency_keys WHERE caller = $1 AND method = $2 AND path = $3 AND idem_key = $4"))
                .execute(db.writer())
                .await?;
        }
    }
    Ok(Response::from_parts(parts, Body::from(bytes)))
}

/// Forgets keys older than the replay window (a background job).
pub async fn purge_expired(db: &Db, now: Timestamp, ttl_secs: i64) -> Result<u64, sqlx::Error> {
    let cutoff = now.minus_seconds(ttl_secs).micros();
    let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
        .bind(cutoff)
        .execute(db.writer())
        .await?;
    Ok(done.rows_affected())
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
