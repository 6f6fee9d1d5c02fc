//! Step 6's read, made on every organization route: the organization, the caller's membership
//! in it and whether the path's nested id belongs to it, as one statement on the read pool.

use crate::db::{Db, FromRecord, Record, UnitError};
use crate::orgs::access::Nested;

use super::orgs::Org;

/// A caller's membership as stored: the role is parsed by the caller (an unknown one is an
/// internal error there).
pub(crate) struct Membership {
    pub(crate) role: String,
    pub(crate) legal_signatory: bool,
}

/// What step 6 decides on.
pub(crate) struct Standing {
    pub(crate) org: Org,
    pub(crate) membership: Option<Membership>,
    /// Whether the nested id belongs to the organization (`false` without one).
    pub(crate) nested_found: bool,
}

impl FromRecord for Standing {
    fn from_record(r: &Record) -> Result<Standing, UnitError> {
        let membership = match r.opt_text("role")? {
            Some(role) => Some(Membership {
                role,
                legal_signatory: r.flag("legal_signatory")?,
            }),
            None => None,
        };
        Ok(Standing {
            org: Org::from_record(r)?,
            membership,
            nested_found: r.int("nested")? > 0,
        })
    }
}

/// One statement per kind of nested id, all constants.
macro_rules! standing_sql {
    ($nested:literal) => {
        concat!(
            "SELECT o.id, o.name, o.country, o.billing_email, o.passkeys_required, o.created_at,
                    m.role, m.legal_signatory, ",
            $nested,
            " AS nested
             FROM orgs o LEFT JOIN memberships m ON m.org_id = o.id AND m.user_id = $2
             WHERE o.id = $1"
        )
    };
}

fn standing_sql(nested: Option<Nested>) -> &'static str {
    match nested {
        None => standing_sql!("0"),
        Some(Nested::Member) => {
            standing_sql!("(SELECT COUNT(*) FROM memberships WHERE org_id = $1 AND user_id = $3)")
        }
        Some(Nested::Invitation) => {
            standing_sql!("(SELECT COUNT(*) FROM invitations WHERE org_id = $1 AND id = $3)")
        }
        Some(Nested::Agreement) => {
            standing_sql!("(SELECT COUNT(*) FROM agreements WHERE org_id = $1 AND id = $3)")
        }
        Some(Nested::Invoice) => {
            standing_sql!("(SELECT COUNT(*) FROM invoices WHERE org_id = $1 AND id = $3)")
        }
        Some(Nested::Subscription) => {
            standing_sql!("(SELECT COUNT(*) FROM subscriptions WHERE org_id = $1 AND id = $3)")
        }
    }
}

/// The organization `org_id` as `user_id` stands in it; `None` when it does not exist.
pub(crate) async fn standing(
    db: &Db,
    org_id: &str,
    user_id: &str,
    nested: Option<(Nested, &str)>,
) -> Result<Option<Standing>, UnitError> {
    let sql = standing_sql(nested.map(|(kind, _)| kind));
    match nested {
        Some((_, id)) => db.read_opt(sql, crate::params![org_id, user_id, id]).await,
        None => db.read_opt(sql, crate::params![org_id, user_id]).await,
    }
}
