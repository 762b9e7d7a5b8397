//! Incrementality from the holdout on a synthetic population with a known true lift.

use endcap_attribution::*;
use endcap_core::MatchScope;
use endcap_events::ReceiptLineEvent;
use std::collections::HashMap;
use uuid::Uuid;

const T0: i64 = 1_790_000_000_000;

/// splitmix64: a fixed, reproducible stream (the data set is the same on every run).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn touch(user: &str, ts_ms: i64) -> Touch {
    Touch {
        event_id: Uuid::now_v7(),
        kind: TouchKind::View,
        ts_ms,
        user_key: user.into(),
        advertiser_id: Uuid::from_u128(1),
        campaign_id: Uuid::from_u128(2),
        line_item_id: Uuid::from_u128(3),
        skus: vec!["milk-1".into()],
    }
}

fn purchase(customer: &str, ts_ms: i64, sku: &str, amount: i64) -> ReceiptLineEvent {
    ReceiptLineEvent {
        receipt_id: format!("r-{customer}-{ts_ms}"),
        version: 1,
        line_no: 0,
        customer_key: customer.into(),
        store_id: "s1".into(),
        channel: "in_store".into(),
        ts_ms,
        sku: sku.into(),
        brand: String::new(),
        category: String::new(),
        quantity: 1,
        amount_micros: amount,
    }
}

/// `n` shoppers, `held` percent held out; exposed ones buy with probability `p_t`, held-out
/// ones with `p_c`, each purchase 5.00; every shopper also buys an unrelated SKU.
fn population(
    n: usize,
    held: u8,
    p_t: f64,
    p_c: f64,
    seed: u64,
) -> (Vec<Touch>, Vec<Touch>, Vec<ReceiptLineEvent>) {
    let mut rng = Rng(seed);
    let (mut exposures, mut ghosts, mut lines) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let user = format!("u{i}");
        let control = rng.next() < f64::from(held) / 100.0;
        if control {
            ghosts.push(touch(&user, T0));
        } else {
            exposures.push(touch(&user, T0));
        }
        // A purchase before the exposure never counts.
        lines.push(purchase(&user, T0 - 1_000, "milk-1", 5_000_000));
        lines.push(purchase(&user, T0 + 1_000, "bread", 2_000_000));
        if rng.next() < if control { p_c } else { p_t } {
            lines.push(purchase(&user, T0 + 86_400_000, "milk-1", 5_000_000));
        }
    }
    (exposures, ghosts, lines)
}

fn measure(exposures: &[Touch], ghosts: &[Touch], lines: &[ReceiptLineEvent], held: u8) -> Lift {
    let promoted = vec!["milk-1".to_string()];
    let input = LiftInput {
        exposures,
        ghosts,
        promoted_skus: &promoted,
        scope: MatchScope::Sku,
        holdout_percent: held,
        spend_micros: 1_000_000_000,
        min_customers: 50,
    };
    lift(&input, lines, &Catalog::new(), &HashMap::new())
}

#[test]
fn the_measured_lift_recovers_the_true_lift_inside_its_interval() {
    // True lift: (0.30 - 0.20) x 5.00 = 0.50 per exposed shopper.
    let (e, g, l) = population(20_000, 20, 0.30, 0.20, 1);
    let m = measure(&e, &g, &l, 20);
    assert!(!m.suppressed && !m.sample_ratio_mismatch, "{m:?}");
    let s = m.sales_lift.unwrap();
    assert!(s.low <= 500_000.0 && 500_000.0 <= s.high, "{s:?}");
    assert!(s.low > 0.0, "a real lift is told apart from none: {s:?}");
    let c = m.conversion_lift.unwrap();
    assert!(c.low <= 0.10 && 0.10 <= c.high, "{c:?}");
    let rel = m.relative_lift.unwrap();
    assert!((0.3..0.7).contains(&rel), "relative lift {rel}");
    let i = m.iroas.unwrap();
    assert!((i.value - s.value * m.exposed.customers as f64 / 1e9).abs() < 1e-9);
}

#[test]
fn no_true_lift_gives_an_interval_around_zero() {
    let (e, g, l) = population(20_000, 20, 0.25, 0.25, 11);
    let s = measure(&e, &g, &l, 20).sales_lift.unwrap();
    assert!(s.low <= 0.0 && 0.0 <= s.high, "{s:?}");
}

#[test]
fn arms_that_disagree_with_the_holdout_share_are_flagged() {
    let (e, g, l) = population(5_000, 50, 0.3, 0.2, 3);
    assert!(
        measure(&e, &g, &l, 10).sample_ratio_mismatch,
        "50% held out, 10% configured"
    );
    assert!(!measure(&e, &g, &l, 50).sample_ratio_mismatch);
}

#[test]
fn small_groups_are_suppressed_and_contamination_is_counted() {
    let (mut e, g, l) = population(300, 10, 0.3, 0.2, 5);
    e.push(touch(&g[0].user_key, T0));
    let m = measure(&e, &g, &l, 10);
    assert!(
        m.suppressed,
        "fewer than 50 held out: {}",
        m.held_out.customers
    );
    assert!(m.sales_lift.is_none() && m.iroas.is_none());
    assert_eq!(
        (m.held_out.sales_micros, m.held_out.converted),
        (0, 0),
        "only counts are shown"
    );
    assert_eq!(m.contaminated, 1);
}

#[test]
fn the_95_percent_interval_covers_the_true_lift_about_95_times_in_100() {
    // 40 independent populations: a calibrated interval misses about 2 (seen: 38/40).
    let covered = (1..=40)
        .filter(|seed| {
            let (e, g, l) = population(20_000, 20, 0.30, 0.20, *seed);
            let s = measure(&e, &g, &l, 20).sales_lift.unwrap();
            s.low <= 500_000.0 && 500_000.0 <= s.high
        })
        .count();
    assert!((34..=40).contains(&covered), "covered {covered} of 40");
}
