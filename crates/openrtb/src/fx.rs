//! Currencies at the OpenRTB edge: the marketplace has one currency; floors and prices in
//! others are converted with a configured rate table, or refused.

use std::collections::HashMap;

/// Rates to the marketplace currency.
#[derive(Debug, Clone, PartialEq)]
pub struct Rates {
    marketplace: String,
    /// Marketplace units per one unit of the currency.
    per_unit: HashMap<String, f64>,
}

impl Rates {
    /// The marketplace currency, and `CUR:rate` pairs (marketplace units per unit of CUR,
    /// e.g. `EUR:1.08` in a USD marketplace). Returns the entry it could not read.
    pub fn parse(marketplace: &str, spec: &str) -> Result<Self, String> {
        let mut per_unit = HashMap::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (cur, rate) = part.split_once(':').ok_or_else(|| part.to_string())?;
            let rate: f64 = rate.trim().parse().map_err(|_| part.to_string())?;
            let cur = cur.trim().to_ascii_uppercase();
            if cur.len() != 3 || !rate.is_finite() || rate <= 0.0 {
                return Err(part.to_string());
            }
            per_unit.insert(cur, rate);
        }
        Ok(Self {
            marketplace: marketplace.to_ascii_uppercase(),
            per_unit,
        })
    }

    /// Only the marketplace currency.
    pub fn none(marketplace: &str) -> Self {
        Self {
            marketplace: marketplace.to_ascii_uppercase(),
            per_unit: HashMap::new(),
        }
    }

    /// The marketplace currency.
    pub fn marketplace(&self) -> &str {
        &self.marketplace
    }

    fn rate(&self, cur: &str) -> Option<f64> {
        if cur.eq_ignore_ascii_case(&self.marketplace) {
            Some(1.0)
        } else {
            self.per_unit.get(&cur.to_ascii_uppercase()).copied()
        }
    }

    /// Whether `cur` can be converted.
    pub fn knows(&self, cur: &str) -> bool {
        self.rate(cur).is_some()
    }

    /// An amount in `cur` as marketplace micros (rounded up: floors are never undercut).
    pub fn to_marketplace(&self, micros: i64, cur: &str) -> Option<i64> {
        self.rate(cur).map(|r| (micros as f64 * r).ceil() as i64)
    }

    /// Marketplace micros as an amount in `cur` (rounded down: a bid never grows).
    pub fn from_marketplace(&self, micros: i64, cur: &str) -> Option<i64> {
        self.rate(cur).map(|r| (micros as f64 / r).floor() as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floors_convert_up_and_bids_convert_down() {
        let r = Rates::parse("USD", "EUR:1.08, gbp:1.25").unwrap();
        assert_eq!(r.to_marketplace(1_000_000, "EUR"), Some(1_080_000));
        assert_eq!(r.from_marketplace(1_250_000, "GBP"), Some(1_000_000));
        assert_eq!(r.to_marketplace(5, "usd"), Some(5));
        assert_eq!(r.to_marketplace(5, "JPY"), None);
        assert!(Rates::parse("USD", "EUR").is_err());
        assert!(Rates::parse("USD", "EUR:-1").is_err());
    }
}
