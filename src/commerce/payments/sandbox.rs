//! The built-in sandbox provider (section 7's test cards). Its state lives in the database —
//! how each tokenised card behaves and how many charges it took — so "succeeds once" holds
//! across processes. Card numbers are only looked at to choose the behaviour.

use crate::commerce::store::sandbox::{self as store, NewCharge};
use crate::crypto::new_id;
use crate::db::{Unit, UnitError};
use crate::time::Timestamp;

use super::provider::{Card, Charge, ChargeRequest, Decline, PaymentProvider};

pub struct Sandbox;

const SUCCEED: &str = "succeed";
const SUCCEED_ONCE: &str = "succeed_once";

/// What a card does when charged: `succeed`, `succeed_once` or `decline:<code>`.
fn behaviour(number: &str) -> Result<String, Decline> {
    Ok(match number {
        "4000000000000002" => "decline:card_declined".into(),
        "4000000000009995" => "decline:insufficient_funds".into(),
        "4000000000000341" => SUCCEED_ONCE.into(),
        _ if luhn(number) => SUCCEED.into(),
        _ => return Err(Decline::new("incorrect_number")),
    })
}

fn luhn(number: &str) -> bool {
    let sum: u32 = number
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            match i % 2 {
                1 if d * 2 > 9 => d * 2 - 9,
                1 => d * 2,
                _ => d,
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

impl PaymentProvider for Sandbox {
    fn tokenize(
        &self,
        w: &mut Unit<'_>,
        card: &Card,
        now: Timestamp,
    ) -> Result<Result<String, Decline>, UnitError> {
        let behaviour = match behaviour(card.number()) {
            Ok(b) => b,
            Err(decline) => return Ok(Err(decline)),
        };
        let reference = new_id("pm");
        store::insert_payment_method(w, &reference, &behaviour, now)?;
        Ok(Ok(reference))
    }

    fn charge(
        &self,
        w: &mut Unit<'_>,
        request: ChargeRequest<'_>,
        now: Timestamp,
    ) -> Result<Result<Charge, Decline>, UnitError> {
        if let Some(earlier) = store::charge_by_key(w, request.idempotency_key)? {
            return Ok(match earlier.charge_id {
                Some(reference) => Ok(Charge { reference }),
                None => Err(Decline {
                    code: earlier.decline_code.unwrap_or_default(),
                }),
            });
        }
        let outcome = match store::behaviour(w, request.payment_method)?.as_deref() {
            None => Err(Decline::new("invalid_payment_method")),
            Some(code) if code.starts_with("decline:") => {
                Err(Decline::new(code.trim_start_matches("decline:")))
            }
            Some(kind) => match store::count_success(w, request.payment_method, SUCCEED_ONCE)? {
                true => Ok(Charge {
                    reference: new_id("ch"),
                }),
                false if kind == SUCCEED_ONCE => Err(Decline::new("card_declined")),
                false => Err(Decline::new("processing_error")),
            },
        };
        let recorded = store::insert_charge(
            w,
            NewCharge {
                key: request.idempotency_key,
                payment_method: request.payment_method,
                amount: request.amount,
                currency: request.currency,
                charge_id: outcome.as_ref().ok().map(|c| c.reference.as_str()),
                decline_code: outcome.as_ref().err().map(|d| d.code.as_str()),
            },
            now,
        )?;
        if !recorded {
            return Err(UnitError::Column(
                "sandbox_charges.idempotency_key".into(),
                "another charge with this key was recorded meanwhile",
            ));
        }
        Ok(outcome)
    }

    fn refund(
        &self,
        _w: &mut Unit<'_>,
        _charge: &str,
        _amount: i64,
        _idempotency_key: &str,
    ) -> Result<String, UnitError> {
        Ok(new_id("re"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_cards_behave_as_documented() {
        assert_eq!(behaviour("4242424242424242").unwrap(), SUCCEED);
        assert_eq!(
            behaviour("4000000000000002").unwrap(),
            "decline:card_declined"
        );
        assert_eq!(
            behaviour("4000000000009995").unwrap(),
            "decline:insufficient_funds"
        );
        assert_eq!(behaviour("4000000000000341").unwrap(), SUCCEED_ONCE);
        assert_eq!(behaviour("5555555555554444").unwrap(), SUCCEED);
        assert_eq!(
            behaviour("4242424242424241").unwrap_err(),
            Decline::new("incorrect_number")
        );
    }
}
