//! Who requires a user to sign in with a passkey (4.4): the user's own setting, or a policy of
//! any organization the user belongs to. This is the one place that rule lives.

use crate::db::Db;
use crate::error::ApiResult;

use super::account::Account;

/// `"self"` and/or the ids of the organizations whose policy requires passkeys of the user.
pub async fn required_by(db: &Db, account: &Account) -> ApiResult<Vec<String>> {
    let mut by = Vec::new();
    if account.passkeys_required {
        by.push("self".to_string());
    }
    by.extend(organizations_requiring(db, &account.id).await?);
    Ok(by)
}

/// Organization policies come with the organizations work; until then no organization exists.
async fn organizations_requiring(_db: &Db, _user_id: &str) -> ApiResult<Vec<String>> {
    Ok(Vec::new())
}
