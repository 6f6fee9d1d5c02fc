//! Deleting an organization (5), commerce's part: registered by `app` as the organizations'
//! `close_dependents` hook, it runs inside the deleting unit after the organization's row lock.
//! It refuses (400002) while a subscription runs on — active or past due without
//! `cancelAtPeriodEnd` — or while a payment or refund is under way (its outcome would land on
//! a voided invoice or an ended subscription). Otherwise every subscription that is not final
//! ends now, without a refund, and every open invoice is voided; invoices, payments, refunds,
//! subscriptions and agreements stay. Nothing of a deleted organization is due afterwards, so
//! the renewal job never picks it up.

use serde_json::json;

use crate::audit::{self, Origin};
use crate::db::Unit;
use crate::error::{ApiError, ApiResult};
use crate::time::Timestamp;

use super::store;

pub fn close_org_in(
    w: &mut Unit<'_>,
    origin: &Origin,
    org_id: &str,
    now: Timestamp,
) -> ApiResult<()> {
    if store::closing::running(w, org_id)? > 0 {
        return Err(ApiError::validation(
            "orgId",
            "the organization has active or past-due subscriptions; cancel them first",
        ));
    }
    if store::closing::money_in_flight(w, org_id)? {
        return Err(ApiError::validation(
            "orgId",
            "a payment or refund of the organization is under way; try again in a moment",
        ));
    }
    for id in store::closing::end_subscriptions(w, org_id, now)? {
        audit::record_in(
            w,
            origin,
            now,
            "subscription.ended",
            Some(org_id),
            json!({ "subscriptionId": id, "reason": "organization_deleted" }),
        )?;
    }
    for id in store::closing::void_open_invoices(w, org_id, now)? {
        audit::record_in(
            w,
            origin,
            now,
            "invoice.voided",
            Some(org_id),
            json!({ "invoiceId": id, "reason": "organization_deleted" }),
        )?;
    }
    Ok(())
}
