//! Instants as microseconds since the Unix epoch, rendered as RFC 3339 UTC.
//!
//! The database stores the integer (a portable BIGINT on both databases); the API shows text.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

pub const MICROS_PER_SECOND: i64 = 1_000_000;

impl Timestamp {
    pub const fn from_micros(micros: i64) -> Self {
        Timestamp(micros)
    }

    pub const fn micros(self) -> i64 {
        self.0
    }

    pub fn system_now() -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0);
        Timestamp(now)
    }

    pub fn plus_seconds(self, seconds: i64) -> Self {
        Timestamp(
            self.0
                .saturating_add(seconds.saturating_mul(MICROS_PER_SECOND)),
        )
    }

    pub fn minus_seconds(self, seconds: i64) -> Self {
        self.plus_seconds(-seconds)
    }

    /// Whole seconds from `self` until `later` (rounded up; 0 when `later` is not after).
    pub fn seconds_until(self, later: Timestamp) -> i64 {
        let d = later.0 - self.0;
        if d <= 0 {
            0
        } else {
            (d + MICROS_PER_SECOND - 1) / MICROS_PER_SECOND
        }
    }

    pub fn to_rfc3339(self) -> String {
        let nanos = (self.0 as i128) * 1000;
        OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .ok()
            .and_then(|t| t.to_offset(UtcOffset::UTC).format(&Rfc3339).ok())
            .unwrap_or_default()
    }

    /// Parses an RFC 3339 time (any offset; normalised to UTC).
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
        Some(Timestamp((t.unix_timestamp_nanos() / 1000) as i64))
    }

    /// Parses `YYYY-MM-DD` as that day's midnight UTC.
    pub fn parse_date(text: &str) -> Option<Self> {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let date = time::Date::parse(text, &format).ok()?;
        let t = date.midnight().assume_utc();
        Some(Timestamp((t.unix_timestamp_nanos() / 1000) as i64))
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Timestamp::parse_rfc3339(&text).ok_or_else(|| {
            serde::de::Error::invalid_value(serde::de::Unexpected::Str(&text), &"an RFC 3339 time")
        })
    }
}

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::DateTime,
            )))
            .description(Some("RFC 3339 time in UTC"))
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {}

#[cfg(test)]
mod tests {
    use super::Timestamp;

    #[test]
    fn round_trips_rfc3339() {
        let t = Timestamp::parse_rfc3339("2026-11-25T12:05:00Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-25T12:05:00Z");
        let t = Timestamp::parse_rfc3339("2026-11-25T13:05:00.25+01:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-25T12:05:00.25Z");
        assert_eq!(
            Timestamp::parse_date("2026-01-31").unwrap().to_rfc3339(),
            "2026-01-31T00:00:00Z"
        );
        assert!(Timestamp::parse_date("2026-02-30").is_none());
    }

    #[test]
    fn seconds_until_rounds_up() {
        let a = Timestamp::from_micros(0);
        assert_eq!(a.seconds_until(Timestamp::from_micros(1)), 1);
        assert_eq!(a.seconds_until(Timestamp::from_micros(2_000_000)), 2);
        assert_eq!(a.seconds_until(Timestamp::from_micros(-5)), 0);
    }
}
