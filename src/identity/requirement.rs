//! Who requires a user to sign in with a passkey (4.4): the user's own setting, or a policy of
//! any organization the user belongs to. This is the one place that rule lives.

use crate::db::Db;
use crate::error::ApiResult;

use super::account::Account;

/// Whether the user must sign in with a passkey, from what the account row carries.
pub fn required(account: &Account) -> bool {
    account.passkeys_required || account.organization_policies > 0
}

/// `"self"` and/or the ids of the organizations whose policy requires passkeys of the user.
pub async fn required_by(db: &Db, account: &Account) -> ApiResult<Vec<String>> {
    let mut by = Vec::new();
    if account.passkeys_required {
        by.push("self".to_string());
    }
    by.extend(super::store::accounts::organizations_requiring_passkeys(db, &account.id).await?);
    Ok(by)
}
