//! Billing intervals and period arithmetic on calendar months, anchored to the first period's
//! start so that a subscription started on the 31st renews on the last day of shorter months
//! and on the 31st again afterwards.

use time::{Month, OffsetDateTime, PrimitiveDateTime};

use crate::time::Timestamp;

/// How often an offer is paid: every `month`, every `year` (calendar months from the first
/// period's start; the 31st renews on the last day of shorter months), or `once` (never renews).
#[derive(Copy, Clone, Debug, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum Interval {
    Month,
    Year,
    /// Paid once; never renews.
    Once,
}

impl Interval {
    pub fn parse(text: &str) -> Option<Interval> {
        match text {
            "month" => Some(Interval::Month),
            "year" => Some(Interval::Year),
            "once" => Some(Interval::Once),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Month => "month",
            Interval::Year => "year",
            Interval::Once => "once",
        }
    }

    fn months(self) -> Option<i64> {
        match self {
            Interval::Month => Some(1),
            Interval::Year => Some(12),
            Interval::Once => None,
        }
    }

    /// The end of period number `n` (1-based) of a subscription anchored at `anchor`; `None`
    /// for `once`, whose single period never ends.
    pub fn period_end(self, anchor: Timestamp, n: i64) -> Option<Timestamp> {
        Some(add_months(anchor, self.months()? * n))
    }
}

/// `t` plus `months` calendar months, the day clamped to the target month's length.
fn add_months(t: Timestamp, months: i64) -> Timestamp {
    let Ok(at) = OffsetDateTime::from_unix_timestamp_nanos(t.micros() as i128 * 1000) else {
        return t;
    };
    let index = at.year() as i64 * 12 + (at.month() as i64 - 1) + months;
    let year = index.div_euclid(12) as i32;
    let Ok(month) = Month::try_from((index.rem_euclid(12) + 1) as u8) else {
        return t;
    };
    let day = at.day().min(month.length(year));
    let Ok(date) = time::Date::from_calendar_date(year, month, day) else {
        return t;
    };
    let moved = PrimitiveDateTime::new(date, at.time()).assume_utc();
    Timestamp::from_micros((moved.unix_timestamp_nanos() / 1000) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn months_clamp_and_stay_anchored() {
        let anchor = at("2026-01-31T10:00:00Z");
        let month = Interval::Month;
        assert_eq!(
            month.period_end(anchor, 1),
            Some(at("2026-02-28T10:00:00Z"))
        );
        assert_eq!(
            month.period_end(anchor, 2),
            Some(at("2026-03-31T10:00:00Z"))
        );
        assert_eq!(
            month.period_end(anchor, 12),
            Some(at("2027-01-31T10:00:00Z"))
        );
        assert_eq!(
            Interval::Year.period_end(at("2028-02-29T00:00:00Z"), 1),
            Some(at("2029-02-28T00:00:00Z"))
        );
        assert_eq!(Interval::Once.period_end(anchor, 1), None);
        assert_eq!(Interval::parse("week"), None);
    }
}
