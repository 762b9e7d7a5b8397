//! Bid adjustments: per-placement bid multipliers and the effective bid they make.
//!
//! A multiplier is stored as an integer number of basis points (10,000 = x1), so money
//! stays integer: the effective bid is `bid x bps / 10,000`, rounded down to the micro (a cap
//! never rounds up past what the advertiser set),
//! at least one micro and at most [`Micros::MAX`]. The API shows and takes it as a factor
//! (`1.5`), with at most four decimals.

use crate::{Micros, ValidationError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A bid multiplier in basis points: 10,000 is x1, bounds x0.1 to x10.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, utoipa::ToSchema)]
#[schema(value_type = f64, example = 1.5)]
pub struct BidMultiplier(u32);

impl BidMultiplier {
    /// x1: the bid unchanged.
    pub const ONE: BidMultiplier = BidMultiplier(10_000);
    /// The smallest multiplier, x0.1.
    pub const MIN_BPS: u32 = 1_000;
    /// The largest multiplier, x10.
    pub const MAX_BPS: u32 = 100_000;

    /// Its basis points.
    pub const fn bps(self) -> u32 {
        self.0
    }

    /// A multiplier of `bps` basis points within the bounds, else an error naming `field`.
    pub fn from_bps(bps: u32, field: &str) -> Result<Self, ValidationError> {
        if (Self::MIN_BPS..=Self::MAX_BPS).contains(&bps) {
            Ok(Self(bps))
        } else {
            Err(ValidationError::new(field, "must be from 0.1 to 10"))
        }
    }

    /// A factor as the API writes it (`1.5`): at most four decimals, x0.1 to x10.
    pub fn from_factor(factor: f64, field: &str) -> Result<Self, ValidationError> {
        let scaled = factor * 10_000.0;
        if !scaled.is_finite() || !(0.0..=f64::from(u32::MAX)).contains(&scaled) {
            return Err(ValidationError::new(field, "must be from 0.1 to 10"));
        }
        let bps = scaled.round();
        // A binary float of a 4-decimal number lands within 1e-6 of its basis points.
        if (scaled - bps).abs() > 1e-6 {
            return Err(ValidationError::new(
                field,
                "must have at most 4 decimals (basis points)",
            ));
        }
        Self::from_bps(bps as u32, field)
    }

    /// The factor, as the API shows it.
    pub fn factor(self) -> f64 {
        f64::from(self.0) / 10_000.0
    }

    /// `bid` adjusted: `bid x bps / 10,000` rounded down to the micro (the effective bid caps
    /// the price, so it never rounds up past the exact product), held to one micro at least
    /// (a bid is never zero) and [`Micros::MAX`] at most.
    pub fn apply(self, bid_micros: i64) -> i64 {
        let scaled = (i128::from(bid_micros) * i128::from(self.0)).div_euclid(10_000);
        scaled.clamp(1, i128::from(Micros::MAX.get())) as i64
    }
}

impl Default for BidMultiplier {
    fn default() -> Self {
        Self::ONE
    }
}

impl Serialize for BidMultiplier {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.factor())
    }
}

impl<'de> Deserialize<'de> for BidMultiplier {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let f = f64::deserialize(d)?;
        Self::from_factor(f, "multiplier").map_err(|e| serde::de::Error::custom(e.message))
    }
}

/// Per-placement bid multipliers of a line item, by placement name (lower case).
pub type PlacementMultipliers = BTreeMap<String, BidMultiplier>;

/// Most placements one line item may set a multiplier for.
pub const MAX_PLACEMENT_MULTIPLIERS: usize = 100;

/// Checks raw multipliers (`{"search-top": 1.5}`) against the placements the line item
/// targets: each key a well-formed placement the line item targets (any placement when it
/// targets none, since it runs everywhere), each factor within the bounds. Keys are
/// case-insensitive, stored in lower case. Errors name `field.key`.
pub fn placement_multipliers(
    raw: &BTreeMap<String, f64>,
    targeted: &[String],
    field: &str,
) -> Result<PlacementMultipliers, ValidationError> {
    if raw.len() > MAX_PLACEMENT_MULTIPLIERS {
        return Err(ValidationError::new(
            field,
            format!("at most {MAX_PLACEMENT_MULTIPLIERS} placements"),
        ));
    }
    let mut out = PlacementMultipliers::new();
    for (key, factor) in raw {
        let f = format!("{field}.{key}");
        let name = crate::line_item::placement(key, &f)?;
        if !targeted.is_empty() && !targeted.contains(&name) {
            return Err(ValidationError::new(
                f,
                "is not a placement the line item targets",
            ));
        }
        let m = BidMultiplier::from_factor(*factor, &f)?;
        if out.insert(name, m).is_some() {
            return Err(ValidationError::new(
                f,
                "is given twice (case does not matter)",
            ));
        }
    }
    Ok(out)
}

/// Checks stored multipliers against (new) targeting: a placement no longer targeted
/// cannot keep one.
pub fn check_multiplier_placements(
    m: &PlacementMultipliers,
    targeted: &[String],
    field: &str,
) -> Result<(), ValidationError> {
    match m
        .keys()
        .find(|k| !targeted.is_empty() && !targeted.contains(k))
    {
        Some(k) => Err(ValidationError::new(
            format!("{field}.{k}"),
            "is not a placement the line item targets (drop its multiplier or target it)",
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn factors_become_basis_points_within_bounds() {
        assert_eq!(BidMultiplier::from_factor(1.5, "m").unwrap().bps(), 15_000);
        assert_eq!(BidMultiplier::from_factor(1.05, "m").unwrap().bps(), 10_500);
        assert_eq!(BidMultiplier::from_factor(0.1, "m").unwrap().bps(), 1_000);
        assert_eq!(
            BidMultiplier::from_factor(10.0, "m").unwrap().bps(),
            100_000
        );
        for bad in [0.0999, 10.0001, 0.0, -1.0, f64::NAN, f64::INFINITY, 1.23456] {
            assert_eq!(
                BidMultiplier::from_factor(bad, "m").unwrap_err().field,
                "m",
                "{bad}"
            );
        }
    }

    #[test]
    fn a_multiplier_shows_as_the_factor_it_was_given() {
        let m = BidMultiplier::from_factor(1.05, "m").unwrap();
        assert_eq!(serde_json::to_string(&m).unwrap(), "1.05");
        let back: BidMultiplier = serde_json::from_str("1.05").unwrap();
        assert_eq!(back, m);
        assert!(serde_json::from_str::<BidMultiplier>("11").is_err());
    }

    #[test]
    fn the_effective_bid_rounds_down_to_the_micro_within_bounds() {
        let x = |f: f64| BidMultiplier::from_factor(f, "m").unwrap();
        assert_eq!(x(1.5).apply(1_000_000), 1_500_000);
        // 333,333 x 1.5 = 499,999.5: down, never past the exact product.
        assert_eq!(x(1.5).apply(333_333), 499_999);
        // 333,333 x 0.3333 = 111,099.8889: down.
        assert_eq!(x(0.3333).apply(333_333), 111_099);
        // Never zero: 1 micro x 0.1 is 1 micro.
        assert_eq!(x(0.1).apply(1), 1);
        // Never past the money bound, and no overflow on the way.
        assert_eq!(x(10.0).apply(Micros::MAX.get()), Micros::MAX.get());
        assert_eq!(BidMultiplier::ONE.apply(123_457), 123_457);
    }

    #[test]
    fn keys_must_be_targeted_placements() {
        let raw = BTreeMap::from([("Search-Top".to_string(), 1.5)]);
        let m = placement_multipliers(&raw, &["search-top".into()], "pm").unwrap();
        assert_eq!(m.get("search-top").map(|m| m.bps()), Some(15_000));
        let e = placement_multipliers(&raw, &["home".into()], "pm").unwrap_err();
        assert_eq!(e.field, "pm.Search-Top");
        // Run of site: any placement.
        assert!(placement_multipliers(&raw, &[], "pm").is_ok());
        let bad = BTreeMap::from([("search-top".to_string(), 20.0)]);
        assert_eq!(
            placement_multipliers(&bad, &[], "pm").unwrap_err().field,
            "pm.search-top"
        );
        let twice = BTreeMap::from([("A".to_string(), 1.5), ("a".to_string(), 2.0)]);
        assert!(placement_multipliers(&twice, &[], "pm").is_err());
        assert_eq!(
            check_multiplier_placements(&m, &["home".into()], "pm")
                .unwrap_err()
                .field,
            "pm.search-top"
        );
        assert!(check_multiplier_placements(&m, &[], "pm").is_ok());
    }

    proptest! {
        #[test]
        fn the_effective_bid_is_the_exact_product_rounded_down_and_bounded(
            bid in 1i64..=Micros::MAX.get(), bps in BidMultiplier::MIN_BPS..=BidMultiplier::MAX_BPS,
        ) {
            let m = BidMultiplier::from_bps(bps, "m").unwrap();
            let got = i128::from(m.apply(bid));
            let exact = i128::from(bid) * i128::from(bps); // in 1/10,000 micros
            prop_assert!(got >= 1 && got <= i128::from(Micros::MAX.get()));
            if got > 1 && got < i128::from(Micros::MAX.get()) {
                // Never above the exact product, and less than a micro below it.
                prop_assert!(got * 10_000 <= exact && exact - got * 10_000 < 10_000);
            }
        }
    }
}
