//! Money as integers: minor units beside an ISO 4217 code, half-up rounding on integers only,
//! tax rates in parts per million, and the split of an invoice total over its lines.
//! docs/money.md states these rules for people.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::FieldError;

/// The largest price or fixed discount accepted (10^12 minor units), so that every sum the
/// server computes (at most 100 lines × 1000 units) stays far inside `i64`.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;

/// An amount in minor units of `currency` (`{"amount":1999,"currency":"EUR"}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Money {
    /// Minor units (cents for EUR).
    pub amount: i64,
    /// ISO 4217 code: three upper-case letters.
    #[schema(pattern = "^[A-Z]{3}$", example = "EUR")]
    pub currency: String,
}

impl Money {
    pub fn new(amount: i64, currency: &str) -> Money {
        Money {
            amount,
            currency: currency.to_string(),
        }
    }

    /// A price as given in a request: 0..=MAX_AMOUNT in a valid currency; errors name `field`.
    pub fn parse_price(self, field: &str, errors: &mut Vec<FieldError>) -> Option<Money> {
        let currency_ok = is_currency(&self.currency);
        if !currency_ok {
            errors.push(FieldError {
                field: format!("{field}.currency"),
                message: "must be an active ISO 4217 code in upper case (such as EUR)".into(),
            });
        }
        if !(0..=MAX_AMOUNT).contains(&self.amount) {
            errors.push(FieldError {
                field: format!("{field}.amount"),
                message: format!("must be an integer number of minor units from 0 to {MAX_AMOUNT}"),
            });
            return None;
        }
        currency_ok.then_some(self)
    }
}

/// The active ISO 4217 alphabetic codes (list one: current currencies and funds), sorted for
/// `binary_search`. Source: ISO 4217 as published by SIX Financial Information, the maintenance
/// agency, taken from Debian's `iso-codes` 4.15.0 (2023-04-27, `/usr/share/iso-codes/json/
/// iso_4217.json`), updated by hand to 2025: HRK removed (withdrawn 2023-01-01, Croatia took
/// the euro), XCG (Caribbean guilder, from 2025-03-31) and ZWG (Zimbabwe Gold, 2024) added.
/// Left out: XTS (reserved for testing) and the code for "no currency", which no price can be
/// in. A currency withdrawn later stays here until it is removed by hand: prices already stored
/// in it keep working.
pub const ISO_4217: [&str; 180] = [
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD",
    "CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUC", "CUP",
    "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP",
    "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS",
    "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW",
    "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD",
    "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN",
    "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR",
    "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SLL",
    "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY",
    "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES",
    "VND", "VUV", "WST", "XAF", "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XCD", "XCG", "XDR",
    "XOF", "XPD", "XPF", "XPT", "XSU", "XUA", "YER", "ZAR", "ZMW", "ZWG", "ZWL",
];

/// An active ISO 4217 alphabetic code (upper case, in `ISO_4217`).
pub fn is_currency(code: &str) -> bool {
    ISO_4217.binary_search(&code).is_ok()
}

/// `numerator / denominator` rounded half up, for `numerator >= 0` and `denominator > 0`.
pub fn div_round_half_up(numerator: i128, denominator: i128) -> i128 {
    (2 * numerator + denominator) / (2 * denominator)
}

/// A discount a coupon grants.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Discount {
    /// 1..=100 percent of the subtotal.
    Percent(i64),
    /// A fixed amount, at most the subtotal.
    Amount(i64),
}

/// The four totals of a calculation or an invoice.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Totals {
    pub subtotal: i64,
    pub discount: i64,
    pub tax: i64,
    pub total: i64,
}

/// Section 7's formulas: `discount` = min(subtotal, amountOff) or round-half-up(subtotal ×
/// percentOff / 100); `tax` = round-half-up((subtotal − discount) × rate); `total` = subtotal −
/// discount + tax. `rate_ppm` is the tax rate in parts per million (19 % = 190 000).
pub fn totals(line_amounts: &[i64], discount: Option<Discount>, rate_ppm: i64) -> Totals {
    let subtotal: i128 = line_amounts.iter().map(|a| *a as i128).sum();
    let discount = match discount {
        None => 0,
        Some(Discount::Amount(off)) => subtotal.min(off as i128),
        Some(Discount::Percent(percent)) => div_round_half_up(subtotal * percent as i128, 100),
    };
    let tax = div_round_half_up((subtotal - discount) * rate_ppm as i128, 1_000_000);
    let total = subtotal - discount + tax;
    // Bounded inputs (MAX_AMOUNT, 1000 units, 100 lines, rate ≤ 100 %) keep these in i64.
    Totals {
        subtotal: subtotal as i64,
        discount: discount as i64,
        tax: tax as i64,
        total: total as i64,
    }
}

/// Splits `total` over lines in proportion to `weights` (largest remainder; ties go to the
/// earlier line), so the shares add up to `total` exactly. All-zero weights share nothing.
pub fn allocate(total: i64, weights: &[i64]) -> Vec<i64> {
    let sum: i128 = weights.iter().map(|w| *w as i128).sum();
    if sum == 0 {
        return vec![0; weights.len()];
    }
    let exact: Vec<(i128, i128)> = weights
        .iter()
        .map(|w| {
            let n = total as i128 * *w as i128;
            (n / sum, n % sum)
        })
        .collect();
    let mut shares: Vec<i64> = exact.iter().map(|(q, _)| *q as i64).collect();
    let mut left = total - shares.iter().sum::<i64>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|a, b| exact[*b].1.cmp(&exact[*a].1).then(a.cmp(b)));
    for i in order {
        if left == 0 {
            break;
        }
        shares[i] += 1;
        left -= 1;
    }
    shares
}

/// `CHARTER_TAX_RATES`: `DE=19,FR=20,CH=7.7` — percent with up to four decimals, 0 to 100.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaxRates(HashMap<String, i64>);

impl TaxRates {
    pub fn parse(text: &str) -> Result<TaxRates, String> {
        let mut rates = HashMap::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (country, rate) = entry
                .split_once('=')
                .ok_or_else(|| format!("`{entry}` is not COUNTRY=PERCENT"))?;
            let country = country.trim().to_ascii_uppercase();
            if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(format!("`{country}` is not a two-letter country code"));
            }
            let ppm = percent_to_ppm(rate.trim())
                .ok_or_else(|| format!("`{rate}` is not a percentage from 0 to 100"))?;
            rates.insert(country, ppm);
        }
        Ok(TaxRates(rates))
    }

    /// The rate of `country` in parts per million; a country without a rate pays 0 %.
    pub fn rate_ppm(&self, country: &str) -> i64 {
        self.0
            .get(&country.to_ascii_uppercase())
            .copied()
            .unwrap_or(0)
    }
}

/// `7.7` → 77 000 ppm, without floating point.
fn percent_to_ppm(text: &str) -> Option<i64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (!fraction.is_empty() && !digits(fraction)) || fraction.len() > 4 {
        return None;
    }
    let whole: i64 = whole.parse().ok().filter(|w| *w <= 100)?;
    let fraction: i64 = format!("{fraction:0<4}").parse().ok()?;
    let ppm = whole * 10_000 + fraction;
    (ppm <= 1_000_000).then_some(ppm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_half_up_on_integers() {
        assert_eq!(div_round_half_up(5, 10), 1);
        assert_eq!(div_round_half_up(4, 10), 0);
        assert_eq!(div_round_half_up(15, 10), 2);
        assert_eq!(div_round_half_up(1155, 100), 12);
        assert_eq!(div_round_half_up(0, 7), 0);
    }

    #[test]
    fn follows_the_formulas() {
        // 3 × 19.99, 10 % off, 19 % tax.
        let t = totals(&[5997], Some(Discount::Percent(10)), 190_000);
        assert_eq!(
            (t.subtotal, t.discount, t.tax, t.total),
            (5997, 600, 1025, 6422)
        );
        // 7.7 % of 150 = 11.55 → 12.
        let t = totals(&[150], None, 77_000);
        assert_eq!((t.tax, t.total), (12, 162));
        let t = totals(&[1000, 500], Some(Discount::Amount(5000)), 190_000);
        assert_eq!((t.discount, t.tax, t.total), (1500, 0, 0));
        let t = totals(&[1000], Some(Discount::Percent(100)), 200_000);
        assert_eq!(t.total, 0);
    }

    #[test]
    fn allocation_adds_up() {
        assert_eq!(allocate(100, &[1, 1, 1]), vec![34, 33, 33]);
        assert_eq!(allocate(6422, &[5997]), vec![6422]);
        assert_eq!(allocate(0, &[0, 0]), vec![0, 0]);
        let shares = allocate(1001, &[300, 700, 1]);
        assert_eq!(shares.iter().sum::<i64>(), 1001);
        assert_eq!(shares, vec![300, 700, 1]);
    }

    #[test]
    fn parses_tax_rates() {
        let rates = TaxRates::parse("DE=19, fr=20,CH=7.7,US=8.875").unwrap();
        assert_eq!(rates.rate_ppm("de"), 190_000);
        assert_eq!(rates.rate_ppm("FR"), 200_000);
        assert_eq!(rates.rate_ppm("CH"), 77_000);
        assert_eq!(rates.rate_ppm("US"), 88_750);
        assert_eq!(rates.rate_ppm("IT"), 0);
        assert_eq!(TaxRates::parse("").unwrap(), TaxRates::default());
        for bad in [
            "DE",
            "DEU=19",
            "DE=x",
            "DE=101",
            "DE=1.23456",
            "DE=-1",
            "DE=.5",
        ] {
            assert!(TaxRates::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn currencies_are_active_iso_4217_codes() {
        assert!(
            ISO_4217.windows(2).all(|w| w[0] < w[1]),
            "sorted, once each"
        );
        assert!(
            ISO_4217
                .iter()
                .all(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()))
        );
        for good in ["EUR", "USD", "JPY", "CHF", "XCG", "ZWG"] {
            assert!(is_currency(good), "{good}");
        }
        for bad in ["eur", "EU", "EURO", "E1R", "", "XYZ", "ABC", "HRK", "DEM"] {
            assert!(!is_currency(bad), "{bad}");
        }
    }
}
