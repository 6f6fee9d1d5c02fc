//! The payment provider interface. A provider turns a card into a reusable reference (`pm_…`),
//! charges a reference, and refunds a charge. Every call takes the unit of work that records its
//! outcome: a provider that keeps state in the database (the sandbox) then commits or rolls
//! back with that record.

use serde_json::Value;

use crate::db::{Unit, UnitError};
use crate::error::{ApiError, ApiResult};
use crate::time::Timestamp;

/// A card number as the client sent it. It is never stored, logged or printed: `Debug` hides
/// it, and only a provider's `tokenize` reads it.
pub struct Card {
    number: String,
}

impl std::fmt::Debug for Card {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Card(redacted)")
    }
}

impl Card {
    /// `{"type":"card","number":"4242424242424242"}`; any other shape answers 400002.
    pub fn parse(value: &Value) -> ApiResult<Card> {
        let shape = || {
            ApiError::validation(
                "paymentMethod",
                r#"must be {"type":"card","number":"<12 to 19 digits>"}"#,
            )
        };
        let object = value.as_object().ok_or_else(shape)?;
        if object.len() != 2 || object.get("type").and_then(Value::as_str) != Some("card") {
            return Err(shape());
        }
        let number = object
            .get("number")
            .and_then(Value::as_str)
            .ok_or_else(shape)?;
        if !(12..=19).contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::validation(
                "paymentMethod.number",
                "must be 12 to 19 digits",
            ));
        }
        Ok(Card {
            number: number.to_string(),
        })
    }

    pub(super) fn number(&self) -> &str {
        &self.number
    }
}

/// A successful charge.
#[derive(Clone, Debug)]
pub struct Charge {
    /// The provider's id of the charge (refunds name it).
    pub reference: String,
}

/// A refused card or charge, with the provider's reason (`card_declined`, …).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decline {
    pub code: String,
}

impl Decline {
    pub fn new(code: &str) -> Decline {
        Decline { code: code.into() }
    }
}

/// One charge of a stored reference.
pub struct ChargeRequest<'a> {
    pub payment_method: &'a str,
    pub amount: i64,
    pub currency: &'a str,
    /// The same key never charges twice: a repeat answers the first outcome.
    pub idempotency_key: &'a str,
}

pub trait PaymentProvider: Send + Sync {
    /// Turns a card into a reusable payment-method reference (`pm_…`).
    fn tokenize(
        &self,
        w: &mut Unit<'_>,
        card: &Card,
        now: Timestamp,
    ) -> Result<Result<String, Decline>, UnitError>;

    /// Charges a payment-method reference.
    fn charge(
        &self,
        w: &mut Unit<'_>,
        request: ChargeRequest<'_>,
        now: Timestamp,
    ) -> Result<Result<Charge, Decline>, UnitError>;

    /// Gives back `amount` of a charge; returns the refund's reference.
    fn refund(
        &self,
        w: &mut Unit<'_>,
        charge: &str,
        amount: i64,
        idempotency_key: &str,
    ) -> Result<String, UnitError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cards_have_one_shape_and_never_print() {
        let card = Card::parse(&json!({"type": "card", "number": "4242424242424242"})).unwrap();
        assert_eq!(format!("{card:?}"), "Card(redacted)");
        for bad in [
            json!({"type": "sepa", "number": "4242424242424242"}),
            json!({"type": "card"}),
            json!({"type": "card", "number": 4242424242424242u64}),
            json!({"type": "card", "number": "4242424242424242", "cvc": "123"}),
            json!({"type": "card", "number": "4242 4242 4242 4242"}),
            json!({"type": "card", "number": "42"}),
            json!("pm_123"),
        ] {
            let e = Card::parse(&bad).unwrap_err();
            assert_eq!(e.code.code(), 400002, "{bad}");
            assert!(!e.detail.contains("4242424242"), "{}", e.detail);
        }
    }
}
