//! Users and access tokens as the foundation needs them (bootstrap of the first administrator).

use sqlx::Row as _;

use crate::audit::{self, Origin};
use crate::clock::Clock;
use crate::crypto::{hash_secret, new_id, new_token};
use crate::db::Db;
use crate::identity::scope::{self, Scope};
use crate::time::Timestamp;

/// An e-mail address, trimmed and lower-cased; the only way to compare addresses.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(text: &str) -> Option<Email> {
        let email = text.trim().to_lowercase();
        let (local, domain) = email.rsplit_once('@')?;
        let valid = !local.is_empty()
            && local.len() <= 64
            && email.len() <= 254
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            && !local.contains('@');
        valid.then_some(Email(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Creates (or finds) the user with `email`, makes them a platform administrator and returns
/// the user id with a new access token holding every scope.
pub async fn bootstrap_admin(
    db: &Db,
    clock: &Clock,
    email: &Email,
) -> Result<(String, String), sqlx::Error> {
    let now = clock.now();
    let mut tx = db.begin_write().await?;
    let existing = sqlx::query("SELECT id FROM users WHERE email = $1")
        .bind(email.as_str())
        .fetch_optional(&mut *tx)
        .await?;
    let user_id = match existing {
        Some(row) => row.try_get::<String, _>("id")?,
        None => {
            let id = new_id("usr");
            sqlx::query("INSERT INTO users (id, email, created_at, webauthn_handle, email_verified_at) VALUES ($1, $2, $3, $4, $3)")
                .bind(&id)
                .bind(email.as_str())
                .bind(now.micros())
                .bind(super::webauthn::new_user_handle())
                .execute(&mut *tx)
                .await?;
            id
        }
    };
    sqlx::query("UPDATE users SET platform_admin = 1 WHERE id = $1")
        .bind(&user_id)
        .execute(&mut *tx)
        .await?;
    let (token_id, token) = insert_access_token(
        &mut tx,
        &user_id,
        "bootstrap-admin",
        Scope::ALL,
        None,
        now,
        now,
    )
    .await?;
    let origin = Origin::command_line();
    audit::record(
        &mut *tx,
        &origin,
        now,
        "user.platform_admin_granted",
        Some(&user_id),
        serde_json::json!({}),
    )
    .await?;
    audit::record(
        &mut *tx,
        &origin,
        now,
        "access_token.created",
        Some(&user_id),
        serde_json::json!({ "tokenId": token_id }),
    )
    .await?;
    tx.commit().await?;
    Ok((user_id, token))
}

/// Stores a new access token; returns its id and the secret (shown once). `issued_under` is
/// the start of the session that makes it (a lock holds the token as it holds the session).
pub async fn insert_access_token(
    tx: &mut crate::db::Tx,
    user_id: &str,
    name: &str,
    scopes: &[Scope],
    expires_at: Option<Timestamp>,
    issued_under: Timestamp,
    now: Timestamp,
) -> Result<(String, String), sqlx::Error> {
    let id = new_id("tok");
    let token = new_token("cht");
    sqlx::query(
        "INSERT INTO access_tokens (id, user_id, name, token_hash, scopes, created_at, expires_at, issued_under)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(user_id)
    .bind(name)
    .bind(hash_secret(&token))
    .bind(scope::encode(scopes))
    .bind(now.micros())
    .bind(expires_at.map(|t| t.micros()))
    .bind(issued_under.micros())
    .execute(&mut **tx)
    .await?;
    Ok((id, token))
}

#[cfg(test)]
mod tests {
    use super::Email;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@x.org",
            "ada@x",
            "a b@x.org",
            "ada@.x.org",
            "ada@x..org",
        ] {
            assert!(Email::parse(bad).is_none(), "{bad}");
        }
    }
}
