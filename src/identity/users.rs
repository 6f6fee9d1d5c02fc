//! E-mail addresses as identity compares them, and the bootstrap of the first platform
//! administrator.

use crate::audit::{self, Origin};
use crate::clock::Clock;
use crate::crypto::new_id;
use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::identity::scope::Scope;

use super::store::accounts;

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
/// the user id with a new access token holding every scope, as one unit of work.
pub async fn bootstrap_admin(db: &Db, clock: &Clock, email: &Email) -> ApiResult<(String, String)> {
    let now = clock.now();
    let email = email.as_str().to_string();
    db.write(move |w| {
        let user_id = match accounts::by_email_in(w, &email)? {
            Some(account) => account.id,
            None => {
                // Another process may insert the address meanwhile; then its user is the one.
                super::account::insert_in(w, &new_id("usr"), &email, None, now, true)?;
                accounts::by_email_in(w, &email)?
                    .ok_or_else(|| ApiError::internal("the user vanished after its insert"))?
                    .id
            }
        };
        accounts::grant_platform_admin_in(w, &user_id)?;
        let (token_id, token) =
            super::tokens::insert_in(w, &user_id, "bootstrap-admin", Scope::ALL, None, now, now)?;
        let origin = Origin::command_line();
        audit::record_in(
            w,
            &origin,
            now,
            "user.platform_admin_granted",
            Some(&user_id),
            serde_json::json!({}),
        )?;
        audit::record_in(
            w,
            &origin,
            now,
            "access_token.created",
            Some(&user_id),
            serde_json::json!({ "tokenId": token_id }),
        )?;
        Ok((user_id, token))
    })
    .await
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
