//! Erasing a person (6), organizations' part: identity's eraser, registered by `app`, run
//! inside the erasing unit. The last owner of an organization cannot be erased (400002); else
//! every membership goes (audited in each organization as `member.erased`), with the
//! invitations the person made, answered or was sent, and an organization's billing address
//! when it was one of theirs.

use std::collections::BTreeSet;

use serde_json::json;

use crate::audit;
use crate::db::Unit;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::identity::erasure::Erasure;

use super::store;

pub fn erase_in(w: &mut Unit<'_>, erasure: &Erasure) -> ApiResult<()> {
    let user_id = erasure.person.user_id.as_str();
    // Each organization's row lock (in id order), read again until a membership that began
    // meanwhile has its lock too.
    let mut locked = BTreeSet::new();
    let memberships = loop {
        let memberships = store::members::of_user(w, user_id)?;
        let new: Vec<&String> = memberships
            .iter()
            .map(|(org_id, _)| org_id)
            .filter(|org_id| !locked.contains(*org_id))
            .collect();
        if new.is_empty() {
            break memberships;
        }
        for org_id in new {
            super::lock_org_in(w, org_id)?;
            locked.insert(org_id.clone());
        }
    };
    let sole = store::members::solely_owned(w, user_id)?;
    if !sole.is_empty() {
        return Err(ApiError::validations(
            sole.into_iter()
                .map(|(id, name)| FieldError {
                    field: "userId".into(),
                    message: format!(
                        "is the last owner of organization {id} ({name}); make another member an owner or delete the organization first"
                    ),
                })
                .collect(),
        ));
    }
    for (org_id, role) in memberships {
        store::members::delete(w, &org_id, user_id)?;
        audit::record_in(
            w,
            &erasure.origin,
            erasure.now,
            "member.erased",
            Some(&org_id),
            json!({ "userId": user_id, "role": role }),
        )?;
    }
    for address in erasure.person.addresses() {
        store::invitations::delete_of_person(w, user_id, address)?;
        store::orgs::clear_billing_email(w, address)?;
    }
    Ok(())
}
