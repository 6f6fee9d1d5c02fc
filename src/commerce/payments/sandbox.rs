//! The built-in sandbox provider (section 7's test cards). Its state lives in the database —
//! how each tokenised card behaves and how many charges it took — so "succeeds once" holds
//! across processes. Card numbers are only looked at to choose the behaviour.

use sqlx::Row as _;

use crate::crypto::new_id;
use crate::db::Tx;
use crate::error::ApiResult;
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
    async fn tokenize(
        &self,
        tx: &mut Tx,
        card: &Card,
        now: Timestamp,
    ) -> ApiResult<Result<String, Decline>> {
        let behaviour = match behaviour(card.number()) {
            Ok(b) => b,
            Err(decline) => return Ok(Err(decline)),
        };
        let reference = new_id("pm");
        sqlx::query(
            "INSERT INTO sandbox_payment_methods (reference, behaviour, created_at) VALUES ($1, $2, $3)",
        )
        .bind(&reference)
        .bind(behaviour)
        .bind(now.micros())
        .execute(&mut **tx)
        .await?;
        Ok(Ok(reference))
    }

    async fn charge(
        &self,
        tx: &mut Tx,
        request: ChargeRequest<'_>,
        now: Timestamp,
    ) -> ApiResult<Result<Charge, Decline>> {
        let earlier = sqlx::query(
            "SELECT charge_id, decline_code FROM sandbox_charges WHERE idempotency_key = $1",
        )
        .bind(request.idempotency_key)
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(row) = earlier {
            return Ok(match row.try_get::<Option<String>, _>("charge_id")? {
                Some(reference) => Ok(Charge { reference }),
                None => Err(Decline {
                    code: row
                        .try_get::<Option<String>, _>("decline_code")?
                        .unwrap_or_default(),
                }),
            });
        }
        let behaviour: Option<String> = sqlx::query_scalar(
            "SELECT behaviour FROM sandbox_payment_methods WHERE reference = $1",
        )
        .bind(request.payment_method)
        .fetch_optional(&mut **tx)
        .await?;
        let outcome = match behaviour.as_deref() {
            None => Err(Decline::new("invalid_payment_method")),
            Some(code) if code.starts_with("decline:") => {
                Err(Decline::new(code.trim_start_matches("decline:")))
            }
            Some(kind) => {
                // One conditional update: "succeeds once" holds even when charges race.
                let counted = sqlx::query(
                    "UPDATE sandbox_payment_methods SET successful_charges = successful_charges + 1
                     WHERE reference = $1 AND (behaviour <> $2 OR successful_charges = 0)",
                )
                .bind(request.payment_method)
                .bind(SUCCEED_ONCE)
                .execute(&mut **tx)
                .await?;
                match counted.rows_affected() == 1 {
                    true => Ok(Charge {
                        reference: new_id("ch"),
                    }),
                    false if kind == SUCCEED_ONCE => Err(Decline::new("card_declined")),
                    false => Err(Decline::new("processing_error")),
                }
            }
        };
        let (charge_id, decline_code) = match &outcome {
            Ok(charge) => (Some(charge.reference.clone()), None),
            Err(decline) => (None, Some(decline.code.clone())),
        };
        sqlx::query(
            "INSERT INTO sandbox_charges (idempotency_key, reference, amount, currency, charge_id, decline_code, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(request.idempotency_key)
        .bind(request.payment_method)
        .bind(request.amount)
        .bind(request.currency)
        .bind(charge_id)
        .bind(decline_code)
        .bind(now.micros())
        .execute(&mut **tx)
        .await?;
        Ok(outcome)
    }

    async fn refund(
        &self,
        _tx: &mut Tx,
        _charge: &str,
        _amount: i64,
        _idempotency_key: &str,
    ) -> ApiResult<String> {
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
