//! Payments: one succeeded payment per invoice.

use crate::db::{FromRecord, Record, Unit, UnitError};

use super::super::money::Money;
use super::super::payments::Payment;

/// The payments of the invoices `{ids}` (see `with_ids`).
pub(crate) const OF_INVOICES: &str = "SELECT id, invoice_id, amount, currency, status, created_at FROM payments WHERE invoice_id IN ({ids}) ORDER BY created_at, id";

impl FromRecord for Payment {
    fn from_record(r: &Record) -> Result<Self, UnitError> {
        Ok(Payment {
            id: r.text("id")?,
            invoice_id: r.text("invoice_id")?,
            amount: Money::new(r.int("amount")?, &r.text("currency")?),
            status: r.text("status")?,
            created_at: r.time("created_at")?,
        })
    }
}

/// A payment as recorded: the view, whose it is, what was charged and the provider's id of it.
pub(crate) struct NewPayment<'a> {
    pub payment: &'a Payment,
    pub org_id: &'a str,
    pub payment_method: &'a str,
    pub provider_reference: &'a str,
}

pub(crate) fn insert(w: &mut Unit<'_>, new: NewPayment<'_>) -> Result<(), UnitError> {
    let p = new.payment;
    w.execute(
        "INSERT INTO payments (id, org_id, invoice_id, amount, currency, status, payment_method, provider_reference, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        crate::params![
            p.id.as_str(),
            new.org_id,
            p.invoice_id.as_str(),
            p.amount.amount,
            p.amount.currency.as_str(),
            p.status.as_str(),
            new.payment_method,
            new.provider_reference,
            p.created_at
        ],
    )?;
    Ok(())
}
