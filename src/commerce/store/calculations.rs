//! Price calculations: the stored quote and its lines.

use crate::db::{Db, FromRecord, Record, Unit, UnitError};
use crate::time::Timestamp;

use super::super::coupons::Coupon;
use super::super::money::{Money, Totals};
use super::super::offers::Offer;
use super::super::pricing::{PriceCalculation, PriceLine, Stored, StoredLine};

impl FromRecord for StoredLine {
    fn from_record(r: &Record) -> Result<Self, UnitError> {
        Ok(StoredLine {
            module_id: r.text("module_id")?,
            offer_id: r.text("offer_id")?,
            offer_fingerprint: r.text("offer_fingerprint")?,
            unit_amount: r.int("unit_amount")?,
            quantity: r.int("quantity")?,
            amount: r.int("amount")?,
        })
    }
}

impl FromRecord for Stored {
    fn from_record(r: &Record) -> Result<Self, UnitError> {
        Ok(Stored {
            id: r.text("id")?,
            currency: r.text("currency")?,
            totals: Totals {
                subtotal: r.int("subtotal")?,
                discount: r.int("discount")?,
                tax: r.int("tax")?,
                total: r.int("total")?,
            },
            tax_rate_ppm: r.int("tax_rate_ppm")?,
            coupon_id: r.opt_text("coupon_id")?,
            coupon_fingerprint: r.opt_text("coupon_fingerprint")?,
            valid_until: r.time("valid_until")?,
            lines: Vec::new(),
        })
    }
}

/// Stores a calculation with its lines and what each was based on.
pub(crate) fn insert(
    w: &mut Unit<'_>,
    org_id: &str,
    c: &PriceCalculation,
    offers: &[Offer],
    coupon: Option<&Coupon>,
    tax_rate_ppm: i64,
) -> Result<(), UnitError> {
    w.execute(
        "INSERT INTO price_calculations (id, org_id, currency, subtotal, discount, tax, total, tax_rate_ppm, coupon_id, coupon_fingerprint, created_at, valid_until)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        crate::params![
            c.id.as_str(),
            org_id,
            c.currency.as_str(),
            c.subtotal.amount,
            c.discount.amount,
            c.tax.amount,
            c.total.amount,
            tax_rate_ppm,
            coupon.map(|c| c.id.clone()),
            coupon.map(Coupon::fingerprint),
            c.created_at,
            c.valid_until
        ],
    )?;
    for (i, (line, offer)) in c.lines.iter().zip(offers).enumerate() {
        w.execute(
            "INSERT INTO price_calculation_lines (calculation_id, line_no, module_id, offer_id, offer_fingerprint, unit_amount, quantity, amount)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            crate::params![
                c.id.as_str(),
                i as i64,
                line.module_id.as_str(),
                line.offer_id.as_str(),
                offer.fingerprint(),
                line.unit_price.amount,
                line.quantity,
                line.amount.amount
            ],
        )?;
    }
    Ok(())
}

/// The organization's calculation `id` with its lines, if it exists.
pub(crate) fn find(w: &mut Unit<'_>, org_id: &str, id: &str) -> Result<Option<Stored>, UnitError> {
    let Some(mut stored) = super::opt_in::<Stored>(
        w,
        "SELECT id, currency, subtotal, discount, tax, total, tax_rate_ppm, coupon_id, coupon_fingerprint, valid_until
         FROM price_calculations WHERE id = $1 AND org_id = $2",
        crate::params![id, org_id],
    )?
    else {
        return Ok(None);
    };
    stored.lines = super::all_in(
        w,
        "SELECT module_id, offer_id, offer_fingerprint, unit_amount, quantity, amount
         FROM price_calculation_lines WHERE calculation_id = $1 ORDER BY line_no",
        crate::params![id],
    )?;
    Ok(Some(stored))
}

/// Marks the calculation checked out; false when it already was. Racing checkouts: one wins
/// (PostgreSQL re-checks the condition after the winner commits; SQLite writes serially).
pub(crate) fn mark_checked_out(
    w: &mut Unit<'_>,
    id: &str,
    now: Timestamp,
) -> Result<bool, UnitError> {
    let done = w.execute(
        "UPDATE price_calculations SET checked_out_at = $2 WHERE id = $1 AND checked_out_at IS NULL",
        crate::params![id, now],
    )?;
    Ok(done == 1)
}

/// One row of `read`: the calculation's columns beside one of its lines.
struct ReadRow {
    calculation: PriceCalculation,
    line: PriceLine,
}

impl FromRecord for ReadRow {
    fn from_record(r: &Record) -> Result<Self, UnitError> {
        let currency = r.text("currency")?;
        let money = |column: &str| Ok::<_, UnitError>(Money::new(r.int(column)?, &currency));
        Ok(ReadRow {
            line: PriceLine {
                module_id: r.text("module_id")?,
                offer_id: r.text("offer_id")?,
                unit_price: money("unit_amount")?,
                quantity: r.int("quantity")?,
                amount: money("amount")?,
            },
            calculation: PriceCalculation {
                id: r.text("id")?,
                lines: Vec::new(),
                subtotal: money("subtotal")?,
                discount: money("discount")?,
                tax: money("tax")?,
                total: money("total")?,
                coupon_code: r.opt_text("coupon_code")?,
                created_at: r.time("created_at")?,
                valid_until: r.time("valid_until")?,
                currency,
            },
        })
    }
}

/// The organization's calculation `id` as its creation answered it, if it exists: one row per
/// line (a calculation has at least one), in order.
pub(crate) async fn read(
    db: &Db,
    org_id: &str,
    id: &str,
) -> Result<Option<PriceCalculation>, UnitError> {
    let rows: Vec<ReadRow> = db
        .read_all(
            "SELECT c.id, c.currency, c.subtotal, c.discount, c.tax, c.total, c.created_at, c.valid_until,
                    k.code AS coupon_code,
                    l.module_id, l.offer_id, l.unit_amount, l.quantity, l.amount
             FROM price_calculations c
             JOIN price_calculation_lines l ON l.calculation_id = c.id
             LEFT JOIN coupons k ON k.id = c.coupon_id
             WHERE c.id = $1 AND c.org_id = $2
             ORDER BY l.line_no",
            crate::params![id, org_id],
        )
        .await?;
    let mut rows = rows.into_iter();
    let Some(first) = rows.next() else {
        return Ok(None);
    };
    let mut calculation = first.calculation;
    calculation.lines.push(first.line);
    calculation.lines.extend(rows.map(|row| row.line));
    Ok(Some(calculation))
}
