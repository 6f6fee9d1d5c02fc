//! What a checkout made, read back and undone: a checkout whose payment did not go through
//! leaves nothing behind.

use crate::db::{Unit, UnitError};

/// What a checkout invoice was made from: its calculation, coupon, total and currency, and the
/// subscriptions of its lines.
pub(crate) struct CheckoutOf {
    pub calculation_id: Option<String>,
    pub coupon_id: Option<String>,
    pub total: i64,
    pub currency: String,
    pub subscription_ids: Vec<String>,
}

pub(crate) fn of_invoice(w: &mut Unit<'_>, invoice_id: &str) -> Result<CheckoutOf, UnitError> {
    let invoice = w.query_one(
        "SELECT price_calculation_id, coupon_id, total, currency FROM invoices WHERE id = $1",
        crate::params![invoice_id],
    )?;
    let subscription_ids = w
        .query(
            "SELECT subscription_id FROM invoice_lines WHERE invoice_id = $1 ORDER BY line_no",
            crate::params![invoice_id],
        )?
        .iter()
        .map(|r| r.text_at(0))
        .collect::<Result<_, _>>()?;
    Ok(CheckoutOf {
        calculation_id: invoice.opt_text("price_calculation_id")?,
        coupon_id: invoice.opt_text("coupon_id")?,
        total: invoice.int("total")?,
        currency: invoice.text("currency")?,
        subscription_ids,
    })
}

/// Deletes the checkout's invoice, lines, subscriptions, agreements and attempts, gives the
/// calculation back (it may be checked out again) and the coupon its redemption.
pub(crate) fn undo(w: &mut Unit<'_>, invoice_id: &str, made: &CheckoutOf) -> Result<(), UnitError> {
    w.execute(
        "DELETE FROM agreements WHERE subscription_id IN (SELECT id FROM subscriptions WHERE invoice_id = $1)",
        crate::params![invoice_id],
    )?;
    w.execute(
        "DELETE FROM subscriptions WHERE invoice_id = $1",
        crate::params![invoice_id],
    )?;
    w.execute(
        "DELETE FROM invoice_lines WHERE invoice_id = $1",
        crate::params![invoice_id],
    )?;
    super::attempts::delete_of(w, invoice_id)?;
    w.execute(
        "DELETE FROM invoices WHERE id = $1",
        crate::params![invoice_id],
    )?;
    if let Some(calculation_id) = &made.calculation_id {
        w.execute(
            "UPDATE price_calculations SET checked_out_at = NULL WHERE id = $1",
            crate::params![calculation_id.as_str()],
        )?;
    }
    if let Some(coupon_id) = &made.coupon_id {
        w.execute(
            "UPDATE coupons SET redemptions = redemptions - 1 WHERE id = $1 AND redemptions > 0",
            crate::params![coupon_id.as_str()],
        )?;
    }
    Ok(())
}
