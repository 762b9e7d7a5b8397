//! Money: integer micros (1 unit = 1,000,000 micros) and ISO 4217 currencies. Never floats.

use crate::ValidationError;
use serde::{Deserialize, Serialize};

/// An amount of money in millionths of the currency's major unit.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct Micros(i64);

impl Micros {
    /// Zero money.
    pub const ZERO: Micros = Micros(0);

    /// The largest amount any input may carry, either sign: one billion currency units. It
    /// keeps every amount times 1,000 (nano-units, what charges are computed in) and sums of
    /// thousands of them far inside `i64`.
    pub const MAX: Micros = Micros(1_000_000_000_000_000);

    /// Any amount, sign included, unchecked (for values computed from checked ones).
    pub const fn new(micros: i64) -> Self {
        Self(micros)
    }

    /// Accepts an amount of either sign (deltas, refunds, returns) within [`Micros::MAX`],
    /// else an error naming `field`.
    pub fn signed(micros: i64, field: &str) -> Result<Self, ValidationError> {
        if micros.unsigned_abs() <= Self::MAX.0.unsigned_abs() {
            Ok(Self(micros))
        } else {
            Err(Self::too_large(field))
        }
    }

    /// Accepts a strictly positive amount up to [`Micros::MAX`], else an error naming `field`.
    pub fn positive(micros: i64, field: &str) -> Result<Self, ValidationError> {
        if micros <= 0 {
            Err(ValidationError::new(field, "must be greater than 0"))
        } else {
            Self::signed(micros, field)
        }
    }

    /// Accepts zero or a positive amount up to [`Micros::MAX`], else an error naming `field`.
    pub fn non_negative(micros: i64, field: &str) -> Result<Self, ValidationError> {
        if micros < 0 {
            Err(ValidationError::new(field, "must not be negative"))
        } else {
            Self::signed(micros, field)
        }
    }

    fn too_large(field: &str) -> ValidationError {
        ValidationError::new(
            field,
            format!(
                "must be at most {} micros (1,000,000,000 currency units) either way",
                Self::MAX.0
            ),
        )
    }

    /// The raw number of micros.
    pub const fn get(self) -> i64 {
        self.0
    }

    /// Adds, or `None` on overflow (sums of money must never wrap).
    pub fn checked_add(self, other: Micros) -> Option<Micros> {
        self.0.checked_add(other.0).map(Micros)
    }
}

/// Active ISO 4217 currency codes accepted for advertiser accounts.
const ISO_4217: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD",
    "CDF", "CHF", "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD",
    "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ",
    "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD",
    "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR",
    "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR",
    "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN",
    "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR",
    "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB",
    "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS",
    "VES", "VND", "VUV", "WST", "XAF", "XCD", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
];

/// An ISO 4217 currency code such as `USD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, utoipa::ToSchema)]
#[schema(value_type = String, example = "USD")]
pub struct Currency([u8; 3]);

impl Currency {
    /// Parses an upper-case ISO 4217 code, else an error naming `field`.
    pub fn parse(code: &str, field: &str) -> Result<Self, ValidationError> {
        if ISO_4217.binary_search(&code).is_ok() {
            let b = code.as_bytes();
            Ok(Self([b[0], b[1], b[2]]))
        } else {
            Err(ValidationError::new(
                field,
                "must be an upper-case ISO 4217 currency code such as USD",
            ))
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Only ever built from an ASCII table entry.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl std::fmt::Display for Currency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Currency::parse(&s, "currency").map_err(|e| serde::de::Error::custom(e.message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_currency_table_is_sorted_for_binary_search() {
        assert!(ISO_4217.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn known_codes_parse_and_others_are_refused() {
        assert_eq!(Currency::parse("EUR", "c").unwrap().as_str(), "EUR");
        assert_eq!(Currency::parse("eur", "c").unwrap_err().field, "c");
        assert!(Currency::parse("XYZ", "c").is_err());
        assert!(Currency::parse("", "c").is_err());
    }

    proptest! {
        #[test]
        fn positive_accepts_exactly_the_positive_amounts(m in any::<i64>()) {
            let within = m.unsigned_abs() <= 1_000_000_000_000_000;
            prop_assert_eq!(Micros::positive(m, "x").is_ok(), m > 0 && within);
            prop_assert_eq!(Micros::non_negative(m, "x").is_ok(), m >= 0 && within);
            prop_assert_eq!(Micros::signed(m, "x").is_ok(), within);
        }

        #[test]
        fn every_table_code_round_trips(i in 0..ISO_4217.len()) {
            let c = Currency::parse(ISO_4217[i], "c").unwrap();
            prop_assert_eq!(c.as_str(), ISO_4217[i]);
        }
    }
}
