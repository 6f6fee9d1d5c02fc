//! Step 6's read, made on every organization route: the organization, the caller's membership
//! in it and whether the path's nested id belongs to it, as one statement on the read pool.
//! A deleted organization is found too (`deleted_at`): step 6 decides what it answers.

use crate::db::{Db, FromRecord, Record, UnitError};
use crate::orgs::access::Nested;
use crate::time::Timestamp;

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
    /// When the organization was deleted; `None` while it exists.
    pub(crate) deleted_at: Option<Timestamp>,
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
            deleted_at: r.opt_time("deleted_at")?,
        })
    }
}

/// One statement per kind of nested id, all constants.
macro_rules! standing_sql {
    ($nested:literal) => {
        concat!(
            "SELECT o.id, o.name, o.country, o.billing_email, o.passkeys_required, o.created_at,
                    o.deleted_at, m.role, m.legal_signatory, ",
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

/// The organization `org_id` as `user_id` stands in it, deleted or not; `None` when it never
/// existed.
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
