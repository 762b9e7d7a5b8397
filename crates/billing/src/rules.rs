//! Pure charge arithmetic: amounts, budget clamps, take rate, invoice rounding.

use endcap_core::{Budget, PricingModel};

/// Nano-units in one micro.
pub const NANOS_PER_MICRO: i64 = 1_000;

/// What one impression costs the advertiser onsite, in nanos: a CPM price of `price_micros`
/// per mille is exactly `price_micros` nanos per impression; CPC ads cost nothing per view.
pub fn impression_charge_nanos(pricing: PricingModel, price_micros: i64) -> i64 {
    match pricing {
        PricingModel::Cpm => price_micros.max(0),
        PricingModel::Cpc => 0,
    }
}

/// What one click costs the advertiser, in nanos (CPC price; CPM ads cost nothing per click).
pub fn click_charge_nanos(pricing: PricingModel, price_micros: i64) -> i64 {
    match pricing {
        PricingModel::Cpc => price_micros.max(0).saturating_mul(NANOS_PER_MICRO),
        PricingModel::Cpm => 0,
    }
}

/// The retailer's share of an offsite advertiser charge, in basis points (0..10,000).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TakeRate(u32);

impl TakeRate {
    /// A take rate of `bps` basis points; refused at 10,000 or more (the advertiser would pay
    /// an infinite multiple of the media cost).
    pub fn from_bps(bps: u32) -> Option<Self> {
        (bps < 10_000).then_some(Self(bps))
    }

    /// Basis points.
    pub fn bps(self) -> u32 {
        self.0
    }
}

/// What one offsite impression of a CPM line item costs the advertiser, in nanos: the media
/// cost grossed up by the take rate (rounded up), never more than the line item's CPM bid
/// (`bid_cpm_micros` per mille = that many nanos per impression). CPC line items pay per click.
pub fn offsite_cpm_charge_nanos(
    pricing: PricingModel,
    bid_cpm_micros: i64,
    media_cost_nanos: i64,
    take: TakeRate,
) -> i64 {
    match pricing {
        PricingModel::Cpc => 0,
        PricingModel::Cpm => {
            let keep = i128::from(10_000 - take.0);
            let media = i128::from(media_cost_nanos.max(0));
            let gross = (media * 10_000 + keep - 1) / keep;
            (gross.min(i128::from(bid_cpm_micros.max(0)))) as i64
        }
    }
}

/// Rounds nanos to micros, half away from zero: done once, where an invoice is made.
pub fn nanos_to_micros(nanos: i128) -> i64 {
    let q = nanos / i128::from(NANOS_PER_MICRO);
    let r = nanos % i128::from(NANOS_PER_MICRO);
    let adj = if r >= 500 {
        1
    } else if r <= -500 {
        -1
    } else {
        0
    };
    (q + adj).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// A campaign's budget in nanos.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most it may be charged in one accounting day.
    pub daily_nanos: i64,
    /// Most it may be charged over its flight.
    pub total_nanos: i64,
}

impl From<&Budget> for Limits {
    fn from(b: &Budget) -> Self {
        Self {
            daily_nanos: b.daily_micros.get().saturating_mul(NANOS_PER_MICRO),
            total_nanos: b.total_micros.get().saturating_mul(NANOS_PER_MICRO),
        }
    }
}

/// Billable spend so far, nanos.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Spent {
    /// In the current accounting day.
    pub today: i64,
    /// Over the flight.
    pub total: i64,
}

impl Spent {
    /// What is left before either budget is reached (never negative).
    pub fn room(self, limits: Limits) -> i64 {
        (limits.daily_nanos - self.today)
            .min(limits.total_nanos - self.total)
            .max(0)
    }
}

/// A charge split at the budget line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChargeSplit {
    /// The part that fits the budget: billable.
    pub billable: i64,
    /// The part over the budget: recorded, never billed.
    pub over_budget: i64,
}

/// Splits a charge of `amount` nanos against what is left of the budget.
pub fn clamp(amount: i64, limits: Limits, spent: Spent) -> ChargeSplit {
    let amount = amount.max(0);
    let billable = amount.min(spent.room(limits));
    ChargeSplit {
        billable,
        over_budget: amount - billable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_thousand_impressions_at_a_cpm_sum_to_exactly_the_cpm() {
        // CPM 3.333333 (3,333,333 micros): per impression 3,333.333 micros.
        let per = impression_charge_nanos(PricingModel::Cpm, 3_333_333);
        let sum: i128 = (0..1000).map(|_| i128::from(per)).sum();
        assert_eq!(nanos_to_micros(sum), 3_333_333);
        assert_eq!(impression_charge_nanos(PricingModel::Cpc, 3_333_333), 0);
    }

    #[test]
    fn a_click_costs_its_cpc_and_a_cpm_ad_costs_nothing_per_click() {
        assert_eq!(click_charge_nanos(PricingModel::Cpc, 50_000), 50_000_000);
        assert_eq!(click_charge_nanos(PricingModel::Cpm, 50_000), 0);
    }

    #[test]
    fn a_charge_is_clamped_to_what_is_left_of_the_daily_and_total_budget() {
        let l = Limits {
            daily_nanos: 1_000,
            total_nanos: 5_000,
        };
        let s = clamp(
            300,
            l,
            Spent {
                today: 800,
                total: 800,
            },
        );
        assert_eq!((s.billable, s.over_budget), (200, 100));
        let s = clamp(
            300,
            l,
            Spent {
                today: 0,
                total: 4_900,
            },
        );
        assert_eq!((s.billable, s.over_budget), (100, 200));
        let s = clamp(
            300,
            l,
            Spent {
                today: 1_200,
                total: 1_200,
            },
        );
        assert_eq!((s.billable, s.over_budget), (0, 300));
    }

    #[test]
    fn the_take_rate_grosses_up_media_cost_but_never_past_the_bid() {
        let t = TakeRate::from_bps(2_000).unwrap();
        // Media 800 nanos at 20%: the advertiser pays 1,000.
        assert_eq!(
            offsite_cpm_charge_nanos(PricingModel::Cpm, 2_000, 800, t),
            1_000
        );
        assert_eq!(
            offsite_cpm_charge_nanos(PricingModel::Cpm, 900, 800, t),
            900
        );
        assert_eq!(offsite_cpm_charge_nanos(PricingModel::Cpc, 900, 800, t), 0);
        assert!(TakeRate::from_bps(10_000).is_none());
    }

    #[test]
    fn invoices_round_half_away_from_zero_once() {
        assert_eq!(nanos_to_micros(1_499), 1);
        assert_eq!(nanos_to_micros(1_500), 2);
        assert_eq!(nanos_to_micros(-1_500), -2);
    }

    proptest! {
        #[test]
        fn billable_never_exceeds_what_is_left(amount in 0i64..10_000_000, daily in 1i64..10_000_000,
                                               extra in 0i64..10_000_000, today in 0i64..20_000_000) {
            let l = Limits { daily_nanos: daily, total_nanos: daily + extra };
            let s = Spent { today, total: today };
            let c = clamp(amount, l, s);
            prop_assert_eq!(c.billable + c.over_budget, amount);
            prop_assert!(c.billable >= 0 && c.over_budget >= 0);
            prop_assert!(today + c.billable <= daily.max(today));
        }
    }
}
