//! What the renewal job reads of the organization it bills: its country (the tax rate), its
//! name and who hears about a failed renewal.

use crate::db::{Unit, UnitError};

/// The organization's name and country (empty when it is gone).
pub(crate) fn org_name_and_country(
    w: &mut Unit<'_>,
    org_id: &str,
) -> Result<(String, String), UnitError> {
    Ok(
        match w.query_opt(
            "SELECT name, country FROM orgs WHERE id = $1",
            crate::params![org_id],
        )? {
            Some(r) => (r.text("name")?, r.text("country")?),
            None => (String::new(), String::new()),
        },
    )
}

/// The e-mail addresses of the organization's owners and billing members.
pub(crate) fn billing_contacts(w: &mut Unit<'_>, org_id: &str) -> Result<Vec<String>, UnitError> {
    w.query(
        "SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.org_id = $1 AND m.role IN ('owner', 'billing') ORDER BY u.email",
        crate::params![org_id],
    )?
    .iter()
    .map(|r| r.text_at(0))
    .collect()
}
