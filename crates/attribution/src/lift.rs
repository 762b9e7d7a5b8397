//! Incrementality from the holdout: exposed vs held-out shoppers of one campaign.
//!
//! The outcome is every in-scope purchase a shopper made after their first exposure, real
//! or ghost (not the attributed sales): the holdout group saw nothing, so attribution cannot
//! measure it. Intervals are Welch's over customers with the normal quantile 1.96 (the
//! groups are at least the privacy minimum, 50 by default, where the normal approximation
//! of the difference of means holds); say so wherever they are shown.

use crate::{matches, Catalog, IdentityMap, Touch};
use endcap_core::MatchScope;
use endcap_events::ReceiptLineEvent;
use std::collections::HashMap;

/// The normal quantile of a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;
/// Chi-square (1 df) above which the arm sizes are a sample-ratio mismatch (p < 0.001).
const SRM_CHI2: f64 = 10.827_566_170_662_733;

/// One arm's outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Arm {
    /// Customers in the arm.
    pub customers: u64,
    /// Customers with an in-scope purchase after their first exposure.
    pub converted: u64,
    /// In-scope sales after the first exposure, micros.
    pub sales_micros: i64,
    /// Conversion rate.
    pub conversion_rate: f64,
    /// Mean sales per customer, micros.
    pub sales_per_customer: f64,
    /// Sample variance of sales per customer (micros squared).
    pub variance: f64,
}

/// A point estimate with its 95% interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// The estimate.
    pub value: f64,
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
}

/// Incrementality of one campaign.
#[derive(Debug, Clone, PartialEq)]
pub struct Lift {
    /// Shoppers who saw the campaign's ads.
    pub exposed: Arm,
    /// Shoppers held out (ghosts only).
    pub held_out: Arm,
    /// Shoppers with both real and ghost exposures (identity changes): left out, counted.
    pub contaminated: u64,
    /// Absolute lift in sales per customer, micros, with its interval (`None`: suppressed).
    pub sales_lift: Option<Estimate>,
    /// Relative lift in sales per customer (`None`: suppressed or no control sales).
    pub relative_lift: Option<f64>,
    /// Absolute lift of the conversion rate, with its interval.
    pub conversion_lift: Option<Estimate>,
    /// Incremental sales (lift x exposed customers), micros, with its interval.
    pub incremental_sales: Option<Estimate>,
    /// Incremental sales per unit of spend, with its interval.
    pub iroas: Option<Estimate>,
    /// The arm sizes disagree with the configured holdout share (chi-square, p < 0.001).
    pub sample_ratio_mismatch: bool,
    /// A group is under the privacy minimum: every figure but the counts is withheld.
    pub suppressed: bool,
}

/// What the measurement needs to know of the campaign.
pub struct LiftInput<'a> {
    /// The campaign's real exposures (impressions and clicks).
    pub exposures: &'a [Touch],
    /// Its ghost exposures (what held-out shoppers would have seen).
    pub ghosts: &'a [Touch],
    /// The promoted SKUs whose purchases count, under `scope`.
    pub promoted_skus: &'a [String],
    /// Which purchases count.
    pub scope: MatchScope,
    /// Configured holdout share, percent.
    pub holdout_percent: u8,
    /// Billable spend, micros (for iROAS).
    pub spend_micros: i64,
    /// Fewest customers per arm before figures are shown.
    pub min_customers: u64,
}

fn arm(outcomes: &[(bool, i64)]) -> Arm {
    let n = outcomes.len() as u64;
    if n == 0 {
        return Arm::default();
    }
    let converted = outcomes.iter().filter(|(c, _)| *c).count() as u64;
    let sales: i64 = outcomes.iter().map(|(_, s)| s).sum();
    let mean = sales as f64 / n as f64;
    let variance = if n > 1 {
        outcomes
            .iter()
            .map(|(_, s)| (*s as f64 - mean).powi(2))
            .sum::<f64>()
            / (n - 1) as f64
    } else {
        0.0
    };
    Arm {
        customers: n,
        converted,
        sales_micros: sales,
        conversion_rate: converted as f64 / n as f64,
        sales_per_customer: mean,
        variance,
    }
}

fn welch(a: f64, var_a: f64, n_a: u64, b: f64, var_b: f64, n_b: u64) -> Estimate {
    let d = a - b;
    let se = (var_a / n_a as f64 + var_b / n_b as f64).sqrt();
    Estimate {
        value: d,
        low: d - Z95 * se,
        high: d + Z95 * se,
    }
}

/// Measures one campaign's incrementality from its holdout.
pub fn lift(
    input: &LiftInput<'_>,
    lines: &[ReceiptLineEvent],
    catalog: &Catalog,
    identity: &IdentityMap,
) -> Lift {
    let customer = |u: &str| identity.get(u).cloned().unwrap_or_else(|| u.to_string());
    // Each customer's first exposure and arm.
    let mut first: HashMap<String, (i64, bool, bool)> = HashMap::new();
    for (touches, real) in [(input.exposures, true), (input.ghosts, false)] {
        for t in touches {
            let e = first
                .entry(customer(&t.user_key))
                .or_insert((t.ts_ms, false, false));
            e.0 = e.0.min(t.ts_ms);
            if real {
                e.1 = true;
            } else {
                e.2 = true;
            }
        }
    }
    let mut sales: HashMap<&str, (bool, i64)> = HashMap::new();
    for l in lines {
        let Some((since, _, _)) = first.get(&l.customer_key) else {
            continue;
        };
        if l.ts_ms >= *since && matches(input.scope, &l.sku, input.promoted_skus, catalog) {
            let e = sales.entry(l.customer_key.as_str()).or_default();
            e.0 = true;
            e.1 += l.amount_micros;
        }
    }
    let (mut exposed, mut held, mut contaminated) = (Vec::new(), Vec::new(), 0);
    for (c, (_, real, ghost)) in &first {
        let outcome = sales.get(c.as_str()).copied().unwrap_or((false, 0));
        match (real, ghost) {
            (true, true) => contaminated += 1,
            (true, false) => exposed.push(outcome),
            _ => held.push(outcome),
        }
    }
    let (t, c) = (arm(&exposed), arm(&held));
    let total = (t.customers + c.customers) as f64;
    let expected_c = total * f64::from(input.holdout_percent) / 100.0;
    let expected_t = total - expected_c;
    let srm = expected_c > 0.0
        && expected_t > 0.0
        && ((c.customers as f64 - expected_c).powi(2) / expected_c
            + (t.customers as f64 - expected_t).powi(2) / expected_t)
            > SRM_CHI2;
    let suppressed = t.customers < input.min_customers || c.customers < input.min_customers;
    let mut out = Lift {
        exposed: t,
        held_out: c,
        contaminated,
        sales_lift: None,
        relative_lift: None,
        conversion_lift: None,
        incremental_sales: None,
        iroas: None,
        sample_ratio_mismatch: srm,
        suppressed,
    };
    if suppressed {
        // Below the privacy minimum only the counts are shown.
        out.exposed = Arm {
            customers: t.customers,
            ..Arm::default()
        };
        out.held_out = Arm {
            customers: c.customers,
            ..Arm::default()
        };
        return out;
    }
    let sales_lift = welch(
        t.sales_per_customer,
        t.variance,
        t.customers,
        c.sales_per_customer,
        c.variance,
        c.customers,
    );
    let p = |a: &Arm| a.conversion_rate * (1.0 - a.conversion_rate);
    out.conversion_lift = Some(welch(
        t.conversion_rate,
        p(&t) * t.customers as f64 / (t.customers.max(2) - 1) as f64,
        t.customers,
        c.conversion_rate,
        p(&c) * c.customers as f64 / (c.customers.max(2) - 1) as f64,
        c.customers,
    ));
    out.relative_lift =
        (c.sales_per_customer != 0.0).then(|| sales_lift.value / c.sales_per_customer);
    let n = t.customers as f64;
    let incremental = Estimate {
        value: sales_lift.value * n,
        low: sales_lift.low * n,
        high: sales_lift.high * n,
    };
    out.iroas = (input.spend_micros > 0).then(|| {
        let s = input.spend_micros as f64;
        Estimate {
            value: incremental.value / s,
            low: incremental.low / s,
            high: incremental.high / s,
        }
    });
    out.incremental_sales = Some(incremental);
    out.sales_lift = Some(sales_lift);
    out
}
