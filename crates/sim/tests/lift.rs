//! Incrementality measured on simulated worlds recovers the simulator's true lift.

use endcap_attribution::{lift, Lift, LiftInput};
use endcap_core::MatchScope;
use endcap_sim::{simulate, SimCampaign, SimConfig, World};
use uuid::Uuid;

const START: i64 = 1_789_948_800_000; // a UTC midnight

fn world(shoppers: usize, holdout: u8, lift_rate: f64, seed: u64) -> World {
    simulate(&SimConfig {
        shoppers,
        days: 14,
        start_ms: START,
        base_rate: 0.01,
        top_ctr: 0.05,
        stores: 5,
        campaigns: vec![SimCampaign {
            advertiser_id: Uuid::from_u128(1),
            campaign_id: Uuid::from_u128(2),
            line_item_id: Uuid::from_u128(3),
            sku: "milk-1".into(),
            holdout_percent: holdout,
            exposure_rate: 0.3,
            lift_rate,
            price_micros: 5_000_000,
        }],
        seed,
    })
}

fn measure(w: &World, configured_holdout: u8) -> Lift {
    let promoted = vec!["milk-1".to_string()];
    lift(
        &LiftInput {
            exposures: &w.touches,
            ghosts: &w.ghosts,
            promoted_skus: &promoted,
            scope: MatchScope::Sku,
            holdout_percent: configured_holdout,
            spend_micros: 1_000_000_000,
            min_customers: 50,
        },
        &w.receipts,
        &w.catalog,
        &w.identity,
    )
}

#[test]
fn the_simulators_true_lift_falls_inside_the_measured_interval() {
    let w = world(6_000, 20, 0.01, 1);
    let m = measure(&w, 20);
    assert!(!m.suppressed && !m.sample_ratio_mismatch, "{m:?}");
    let truth = w.true_incremental_micros[&Uuid::from_u128(2)] as f64;
    let i = m.incremental_sales.unwrap();
    assert!(
        i.low <= truth && truth <= i.high,
        "truth {truth} outside {i:?}"
    );
    assert!(i.low > 0.0, "a real lift is told apart from none: {i:?}");
    let iroas = m.iroas.unwrap();
    assert!((iroas.value - i.value / 1e9).abs() < 1e-12);
}

#[test]
fn the_95_percent_interval_covers_the_truth_about_95_times_in_100() {
    let covered = (1..=30)
        .filter(|seed| {
            let w = world(3_000, 20, 0.01, *seed);
            let truth = w.true_incremental_micros[&Uuid::from_u128(2)] as f64;
            let i = measure(&w, 20).incremental_sales.unwrap();
            i.low <= truth && truth <= i.high
        })
        .count();
    assert!((25..=30).contains(&covered), "covered {covered} of 30");
}

#[test]
fn no_lift_gives_an_interval_around_zero() {
    let w = world(6_000, 20, 0.0, 11);
    let s = measure(&w, 20).sales_lift.unwrap();
    assert!(s.low <= 0.0 && 0.0 <= s.high, "{s:?}");
}

#[test]
fn arms_that_disagree_with_the_holdout_share_are_flagged() {
    let w = world(3_000, 50, 0.01, 3);
    assert!(
        measure(&w, 10).sample_ratio_mismatch,
        "50% held out, 10% configured"
    );
    assert!(!measure(&w, 50).sample_ratio_mismatch);
}

#[test]
fn small_groups_are_suppressed_and_contamination_is_counted() {
    let mut w = world(200, 10, 0.01, 5);
    // A shopper seen in both arms (an identity change): left out and counted.
    let mut both = w.ghosts[0].clone();
    both.event_id = Uuid::from_u128(99);
    w.touches.push(both);
    let m = measure(&w, 10);
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
fn attribution_on_a_simulated_world_credits_exposed_shoppers_and_never_more_than_was_sold() {
    use endcap_attribution::{attribute, by_campaign, retailer_total, Rules};
    use endcap_core::AttributionSettings;
    let w = world(2_000, 10, 0.02, 8);
    let s = AttributionSettings::default();
    let f = move |_: Uuid| s;
    let rules = Rules {
        settings: &f,
        model: s.model,
        half_life_secs: 7 * 86_400,
    };
    let credits = attribute(&w.touches, &w.receipts, &w.catalog, &w.identity, &rules);
    let per = by_campaign(&credits);
    let total = retailer_total(&credits, &w.receipts);
    let sold: i64 = w.receipts.iter().map(|r| r.amount_micros).sum();
    assert!(per[&Uuid::from_u128(2)].sales_micros > 0);
    assert!(total.sales_micros <= sold);
    let ghosts: std::collections::HashSet<&str> = w
        .ghosts
        .iter()
        .map(|g| w.identity[&g.user_key].as_str())
        .collect();
    assert!(
        credits
            .iter()
            .all(|c| !ghosts.contains(c.customer_key.as_str())),
        "held-out shoppers saw nothing, so nothing is attributed to them"
    );
}

#[test]
fn three_shards_of_a_simulated_world_add_up_to_the_whole_run() {
    use endcap_attribution::{attribute, by_campaign, keep_shard, Rules};
    use endcap_core::AttributionSettings;
    let w = world(1_500, 10, 0.02, 21);
    let s = AttributionSettings::default();
    let f = move |_: Uuid| s;
    let rules = Rules {
        settings: &f,
        model: s.model,
        half_life_secs: 7 * 86_400,
    };
    let whole = by_campaign(&attribute(
        &w.touches,
        &w.receipts,
        &w.catalog,
        &w.identity,
        &rules,
    ));
    let mut sum = std::collections::BTreeMap::<Uuid, (u64, i64, i64)>::new();
    for i in 0..3 {
        let (t, l) = keep_shard(w.touches.clone(), w.receipts.clone(), &w.identity, i, 3);
        assert!(!l.is_empty(), "every shard has customers");
        for (c, tot) in by_campaign(&attribute(&t, &l, &w.catalog, &w.identity, &rules)) {
            let e = sum.entry(c).or_default();
            e.0 += tot.orders;
            e.1 += tot.units_micros;
            e.2 += tot.sales_micros;
        }
    }
    let whole: std::collections::BTreeMap<Uuid, (u64, i64, i64)> = whole
        .into_iter()
        .map(|(c, t)| (c, (t.orders, t.units_micros, t.sales_micros)))
        .collect();
    assert_eq!(sum, whole);
}
