//! The payment provider interface. A provider turns a card into a reusable reference (`pm_…`),
//! charges a reference under an idempotency key, tells the outcome of a key, and refunds a
//! charge under a key (and tells that outcome too).
//!
//! A provider may be remote and slow, so it is never called inside a unit of work: paying an
//! invoice claims it in one unit, calls the provider outside any, and records the outcome in a
//! second unit (`attempts.rs`). What makes that safe is the key: the same key never charges
//! twice — asking again answers the first outcome — so a process that stopped between the units
//! leaves nothing that `outcome` cannot settle, and settling it never pays twice. A provider
//! that keeps state in the database (the sandbox) writes it in small units of its own.

use std::future::Future;

use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::time::Timestamp;

/// A card to pay with, as a request gives it: `{"type":"card","number":"4242424242424242"}`;
/// another shape answers 400002. With the built-in sandbox provider any number that passes
/// the Luhn check is paid, `4000000000000002` is declined (`card_declined`),
/// `4000000000009995` too (`insufficient_funds`), `4000000000000341` pays once and declines
/// later charges (renewals), and a number that fails the Luhn check is `incorrect_number`.
#[derive(utoipa::ToSchema)]
#[schema(as = PaymentMethod)]
#[allow(dead_code)] // the wire form is parsed by `Card::parse`; this names it in the document
pub struct PaymentMethodSchema {
    /// The kind of payment method; only cards exist.
    r#type: PaymentMethodType,
    /// The card number: 12 to 19 digits, no spaces.
    #[schema(pattern = "^[0-9]{12,19}$", example = "4242424242424242")]
    number: String,
}

/// The kinds of payment method: `card`.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // see `PaymentMethodSchema`
pub enum PaymentMethodType {
    Card,
}

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
    /// The payment-method reference that was charged.
    pub payment_method: String,
}

/// Why the payment provider refused a card or a charge (a 400013's `declineCode`):
/// `card_declined` (the card was refused), `insufficient_funds`, `incorrect_number` (not a
/// valid card number), `invalid_payment_method` (the stored card is unknown),
/// `processing_error` (the provider failed; try again), `canceled` (the charge's key was
/// given up before it was charged), `payment_interrupted` (the attempt stopped before it
/// charged).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // the wire values are `Decline::code`; this names them in the document
pub enum DeclineCode {
    CardDeclined,
    InsufficientFunds,
    IncorrectNumber,
    InvalidPaymentMethod,
    ProcessingError,
    Canceled,
    PaymentInterrupted,
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

/// One charge of a card the request carries.
pub struct CardCharge<'a> {
    pub card: &'a Card,
    pub amount: i64,
    pub currency: &'a str,
    /// The same key never charges twice: a repeat answers the first outcome.
    pub idempotency_key: &'a str,
}

/// Every call is made outside any unit of work; each is safe to repeat with the same key.
pub trait PaymentProvider: Send + Sync {
    /// Turns a card into a reusable payment-method reference (`pm_…`).
    fn tokenize(
        &self,
        card: &Card,
        now: Timestamp,
    ) -> impl Future<Output = ApiResult<Result<String, Decline>>> + Send;

    /// Charges a payment-method reference once per idempotency key.
    fn charge(
        &self,
        request: ChargeRequest<'_>,
        now: Timestamp,
    ) -> impl Future<Output = ApiResult<Result<Charge, Decline>>> + Send;

    /// Turns a card into a reference and charges it, in one call (a provider's "create and
    /// confirm"); the charge names the new reference (`Charge::payment_method`), kept for
    /// renewals.
    fn charge_card(
        &self,
        request: CardCharge<'_>,
        now: Timestamp,
    ) -> impl Future<Output = ApiResult<Result<Charge, Decline>>> + Send;

    /// The outcome of the charge made under `idempotency_key`, for an attempt whose process
    /// stopped before recording it. `None` when no charge was made; the key is then spent, so a
    /// charge still on its way under it is declined instead of made.
    fn outcome(
        &self,
        idempotency_key: &str,
        now: Timestamp,
    ) -> impl Future<Output = ApiResult<Option<Result<Charge, Decline>>>> + Send;

    /// Gives back `amount` of a charge once per idempotency key: the refund's reference, or
    /// why the provider refused it. Asked again under the key, it answers the first outcome.
    fn refund(
        &self,
        charge: &str,
        amount: i64,
        idempotency_key: &str,
        now: Timestamp,
    ) -> impl Future<Output = ApiResult<Result<String, Decline>>> + Send;

    /// The outcome of the refund made under `idempotency_key`, for a refund whose process
    /// stopped before recording it. `None` when no refund was made; the key is then spent, so a
    /// refund still on its way under it is refused instead of made.
    fn refund_outcome(
        &self,
        idempotency_key: &str,
        now: Timestamp,
    ) -> impl Future<Output = ApiResult<Option<Result<String, Decline>>>> + Send;
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
