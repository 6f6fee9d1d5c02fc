//! The built-in sandbox provider (section 7's test cards). Its state lives in the database —
//! how each tokenised card behaves, how many charges it took, each charge by idempotency key —
//! so "succeeds once" and "never charges a key twice" hold across processes. It writes that
//! state in small units of work of its own, never inside its caller's. Card numbers are only
//! looked at to choose the behaviour.

use crate::commerce::store::sandbox::{self as store, NewCharge, StoredCharge};
use crate::crypto::new_id;
use crate::db::{Db, Unit, UnitError};
use crate::error::ApiResult;
use crate::time::Timestamp;

use super::provider::{Card, CardCharge, Charge, ChargeRequest, Decline, PaymentProvider};

/// The sandbox, over the database that keeps its state.
pub struct Sandbox {
    db: Db,
}

impl Sandbox {
    pub fn new(db: Db) -> Sandbox {
        Sandbox { db }
    }
}

/// What a spent key's later charge answers.
const SPENT_KEY: &str = "canceled";

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
    async fn tokenize(&self, card: &Card, now: Timestamp) -> ApiResult<Result<String, Decline>> {
        let behaviour = match behaviour(card.number()) {
            Ok(b) => b,
            Err(decline) => return Ok(Err(decline)),
        };
        self.db
            .write(move |w| {
                let reference = new_id("pm");
                store::insert_payment_method(w, &reference, &behaviour, now)?;
                Ok(Ok(reference))
            })
            .await
    }

    async fn charge(
        &self,
        request: ChargeRequest<'_>,
        now: Timestamp,
    ) -> ApiResult<Result<Charge, Decline>> {
        let key = request.idempotency_key.to_string();
        let payment_method = request.payment_method.to_string();
        let (amount, currency) = (request.amount, request.currency.to_string());
        self.db
            .write(move |w| {
                let new = NewCharge {
                    key: &key,
                    payment_method: &payment_method,
                    amount,
                    currency: &currency,
                };
                charge_under_key_in(w, new, now, |_| Ok(()))
            })
            .await
    }

    async fn charge_card(
        &self,
        request: CardCharge<'_>,
        now: Timestamp,
    ) -> ApiResult<Result<Charge, Decline>> {
        let behaviour = match behaviour(request.card.number()) {
            Ok(b) => b,
            Err(decline) => return Ok(Err(decline)),
        };
        let key = request.idempotency_key.to_string();
        let (amount, currency) = (request.amount, request.currency.to_string());
        self.db
            .write(move |w| {
                let payment_method = new_id("pm");
                let new = NewCharge {
                    key: &key,
                    payment_method: &payment_method,
                    amount,
                    currency: &currency,
                };
                charge_under_key_in(w, new, now, |w| {
                    store::insert_payment_method(w, &payment_method, &behaviour, now)
                })
            })
            .await
    }

    async fn outcome(
        &self,
        idempotency_key: &str,
        now: Timestamp,
    ) -> ApiResult<Option<Result<Charge, Decline>>> {
        let key = idempotency_key.to_string();
        self.db
            .write(move |w| {
                if store::spend_key(w, &key, SPENT_KEY, now)? {
                    return Ok(None);
                }
                let earlier = store::charge_by_key(w, &key)?.ok_or(UnitError::NoRow)?;
                Ok(Some(answer(earlier)))
            })
            .await
    }

    async fn refund(
        &self,
        charge: &str,
        amount: i64,
        idempotency_key: &str,
        now: Timestamp,
    ) -> ApiResult<Result<String, Decline>> {
        let (charge, key) = (charge.to_string(), idempotency_key.to_string());
        self.db
            .write(move |w| {
                if !store::take_refund_key(w, &key, &charge, amount, now)? {
                    let earlier = store::refund_by_key(w, &key)?.ok_or(UnitError::NoRow)?;
                    return Ok(refund_answer(earlier));
                }
                let outcome = match store::charged_amount(w, &charge)? {
                    None => Err(Decline::new("charge_not_found")),
                    Some(charged) if amount > charged || amount <= 0 => {
                        Err(Decline::new("amount_invalid"))
                    }
                    Some(_) => Ok(new_id("re")),
                };
                let refund_id = outcome.as_ref().ok().map(String::as_str);
                let decline_code = outcome.as_ref().err().map(|d| d.code.as_str());
                store::set_refund_outcome(w, &key, refund_id, decline_code)?;
                Ok(outcome)
            })
            .await
    }

    async fn refund_outcome(
        &self,
        idempotency_key: &str,
        now: Timestamp,
    ) -> ApiResult<Option<Result<String, Decline>>> {
        let key = idempotency_key.to_string();
        self.db
            .write(move |w| {
                if store::spend_refund_key(w, &key, SPENT_KEY, now)? {
                    return Ok(None);
                }
                let earlier = store::refund_by_key(w, &key)?.ok_or(UnitError::NoRow)?;
                Ok(Some(refund_answer(earlier)))
            })
            .await
    }
}

/// Takes the key and charges (after `first`, which stores a new payment method), or answers the
/// key's first outcome.
fn charge_under_key_in(
    w: &mut Unit<'_>,
    new: NewCharge<'_>,
    now: Timestamp,
    first: impl FnOnce(&mut Unit<'_>) -> Result<(), UnitError>,
) -> ApiResult<Result<Charge, Decline>> {
    let (key, payment_method) = (new.key, new.payment_method);
    if !store::take_key(w, new, now)? {
        let earlier = store::charge_by_key(w, key)?.ok_or(UnitError::NoRow)?;
        return Ok(answer(earlier));
    }
    first(w)?;
    let outcome = charge_in(w, payment_method)?;
    let charge_id = outcome.as_ref().ok().map(|c| c.reference.as_str());
    let decline_code = outcome.as_ref().err().map(|d| d.code.as_str());
    store::set_outcome(w, key, charge_id, decline_code)?;
    Ok(outcome)
}

/// Charges a payment method as its card behaves: the new charge, or why not.
fn charge_in(w: &mut Unit<'_>, payment_method: &str) -> Result<Result<Charge, Decline>, UnitError> {
    Ok(match store::behaviour(w, payment_method)?.as_deref() {
        None => Err(Decline::new("invalid_payment_method")),
        Some(code) if code.starts_with("decline:") => {
            Err(Decline::new(code.trim_start_matches("decline:")))
        }
        Some(kind) => match store::count_success(w, payment_method, SUCCEED_ONCE)? {
            true => Ok(Charge {
                reference: new_id("ch"),
                payment_method: payment_method.to_string(),
            }),
            false if kind == SUCCEED_ONCE => Err(Decline::new("card_declined")),
            false => Err(Decline::new("processing_error")),
        },
    })
}

/// A stored refund as its first caller heard it.
fn refund_answer(stored: store::StoredRefund) -> Result<String, Decline> {
    match stored.refund_id {
        Some(reference) => Ok(reference),
        None => Err(Decline {
            code: stored.decline_code.unwrap_or_default(),
        }),
    }
}

/// A stored charge as its first caller heard it.
fn answer(stored: StoredCharge) -> Result<Charge, Decline> {
    match stored.charge_id {
        Some(reference) => Ok(Charge {
            reference,
            payment_method: stored.payment_method,
        }),
        None => Err(Decline {
            code: stored.decline_code.unwrap_or_default(),
        }),
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
