//! Hand-computed cases for every attribution rule, and the invariants as properties.

use endcap_attribution::*;
use endcap_core::{AttributionModel, AttributionSettings, MatchScope, WindowDays};
use endcap_events::ReceiptLineEvent;
use proptest::prelude::*;
use std::collections::HashMap;
use uuid::Uuid;

const T0: i64 = 1_790_000_000_000;
const S: i64 = 1_000;
const DAY: i64 = 86_400 * S;

fn settings(scope: MatchScope) -> AttributionSettings {
    AttributionSettings {
        click_window_days: WindowDays::parse(14, "c").unwrap(),
        view_window_days: WindowDays::parse(7, "v").unwrap(),
        scope,
        model: AttributionModel::LastTouch,
    }
}

fn touch(n: u128, kind: TouchKind, ts_ms: i64, adv: u128, skus: &[&str]) -> Touch {
    Touch {
        event_id: Uuid::from_u128(n),
        kind,
        ts_ms,
        user_key: "u1".into(),
        advertiser_id: Uuid::from_u128(1000 + adv),
        campaign_id: Uuid::from_u128(2000 + adv),
        line_item_id: Uuid::from_u128(3000 + adv),
        skus: skus.iter().map(|s| s.to_string()).collect(),
    }
}

fn line(
    receipt: &str,
    version: i64,
    no: u32,
    ts_ms: i64,
    sku: &str,
    qty: i32,
    amount: i64,
) -> ReceiptLineEvent {
    ReceiptLineEvent {
        receipt_id: receipt.into(),
        version,
        line_no: no,
        customer_key: "c1".into(),
        store_id: "s1".into(),
        channel: "in_store".into(),
        ts_ms,
        sku: sku.into(),
        brand: String::new(),
        category: String::new(),
        quantity: qty,
        amount_micros: amount,
    }
}

fn identity() -> IdentityMap {
    HashMap::from([("u1".to_string(), "c1".to_string())])
}

fn catalog() -> Catalog {
    let p = |b: &str, c: &str| Product {
        brand: b.into(),
        category: c.into(),
    };
    HashMap::from([
        ("milk-1".to_string(), p("Acme", "dairy")),
        ("milk-2".to_string(), p("Acme", "dairy")),
        ("yogurt-9".to_string(), p("Other", "dairy")),
        ("nobrand".to_string(), p("", "dairy")),
    ])
}

fn run(
    touches: &[Touch],
    lines: &[ReceiptLineEvent],
    scope: MatchScope,
    model: AttributionModel,
) -> Vec<Credit> {
    let s = settings(scope);
    let f = move |_: Uuid| s;
    let rules = Rules {
        settings: &f,
        model,
        half_life_secs: 7 * 86_400,
    };
    attribute(touches, lines, &catalog(), &identity(), &rules)
}

#[test]
fn a_click_counts_up_to_exactly_its_window_and_not_a_second_more() {
    let t = [touch(1, TouchKind::Click, T0, 1, &["milk-1"])];
    let at_edge = [line("r1", 1, 0, T0 + 14 * DAY, "milk-1", 1, 5_000_000)];
    let past = [line("r1", 1, 0, T0 + 14 * DAY + S, "milk-1", 1, 5_000_000)];
    let before = [line("r1", 1, 0, T0 - S, "milk-1", 1, 5_000_000)];
    assert_eq!(
        run(&t, &at_edge, MatchScope::Sku, AttributionModel::LastTouch).len(),
        1
    );
    assert!(run(&t, &past, MatchScope::Sku, AttributionModel::LastTouch).is_empty());
    assert!(
        run(&t, &before, MatchScope::Sku, AttributionModel::LastTouch).is_empty(),
        "a purchase before the ad"
    );
    // Views have the 7-day window.
    let v = [touch(2, TouchKind::View, T0, 1, &["milk-1"])];
    let day8 = [line("r1", 1, 0, T0 + 7 * DAY + S, "milk-1", 1, 5_000_000)];
    assert!(run(&v, &day8, MatchScope::Sku, AttributionModel::LastTouch).is_empty());
}

#[test]
fn a_click_beats_every_view_in_every_model() {
    let t = [
        touch(1, TouchKind::View, T0, 1, &["milk-1"]),
        touch(2, TouchKind::Click, T0 + S, 1, &["milk-1"]),
        touch(3, TouchKind::View, T0 + 2 * S, 1, &["milk-1"]),
    ];
    let l = [line("r1", 1, 0, T0 + 3 * S, "milk-1", 1, 9_000_000)];
    for m in [
        AttributionModel::LastTouch,
        AttributionModel::FirstTouch,
        AttributionModel::Linear,
        AttributionModel::TimeDecay,
        AttributionModel::PositionBased,
    ] {
        let c = run(&t, &l, MatchScope::Sku, m);
        assert_eq!(c.len(), 1, "{m:?}");
        assert_eq!(
            (c[0].event_id, c[0].amount_micros),
            (Uuid::from_u128(2), 9_000_000),
            "{m:?}"
        );
    }
}

#[test]
fn models_split_a_line_among_views_as_documented_and_to_the_micro() {
    let t = [
        touch(1, TouchKind::View, T0, 1, &["milk-1"]),
        touch(2, TouchKind::View, T0 + DAY, 1, &["milk-1"]),
        touch(3, TouchKind::View, T0 + 2 * DAY, 1, &["milk-1"]),
    ];
    let l = [line("r1", 1, 0, T0 + 3 * DAY, "milk-1", 1, 10_000_000)];
    let amounts = |m| -> Vec<i64> {
        run(&t, &l, MatchScope::Sku, m)
            .iter()
            .map(|c| c.amount_micros)
            .collect()
    };
    assert_eq!(amounts(AttributionModel::LastTouch), vec![10_000_000]);
    assert_eq!(amounts(AttributionModel::FirstTouch), vec![10_000_000]);
    assert_eq!(
        amounts(AttributionModel::Linear),
        vec![3_333_333, 3_333_333, 3_333_334]
    );
    assert_eq!(
        amounts(AttributionModel::PositionBased),
        vec![4_000_000, 2_000_000, 4_000_000]
    );
    let decay = amounts(AttributionModel::TimeDecay);
    assert_eq!(decay.iter().sum::<i64>(), 10_000_000);
    assert!(decay[0] < decay[1] && decay[1] < decay[2], "{decay:?}");
}

#[test]
fn ties_in_time_are_ordered_by_event_id() {
    let t = [
        touch(9, TouchKind::Click, T0, 1, &["milk-1"]),
        touch(4, TouchKind::Click, T0, 1, &["milk-1"]),
    ];
    let l = [line("r1", 1, 0, T0 + S, "milk-1", 1, 1_000_000)];
    let c = run(&t, &l, MatchScope::Sku, AttributionModel::LastTouch);
    assert_eq!(
        c[0].event_id,
        Uuid::from_u128(9),
        "the later id is the last touch"
    );
    let c = run(&t, &l, MatchScope::Sku, AttributionModel::FirstTouch);
    assert_eq!(c[0].event_id, Uuid::from_u128(4));
}

#[test]
fn scopes_match_sku_brand_and_category_and_unknowns_never_match() {
    let t = [touch(1, TouchKind::Click, T0, 1, &["milk-1"])];
    let buy = |sku: &str| [line("r1", 1, 0, T0 + S, sku, 1, 1_000_000)];
    let n = |sku: &str, scope| run(&t, &buy(sku), scope, AttributionModel::LastTouch).len();
    assert_eq!(n("milk-1", MatchScope::Sku), 1);
    assert_eq!(n("milk-2", MatchScope::Sku), 0);
    assert_eq!(n("milk-2", MatchScope::Brand), 1, "same brand");
    assert_eq!(n("yogurt-9", MatchScope::Brand), 0, "another brand");
    assert_eq!(n("yogurt-9", MatchScope::Category), 1, "same category");
    assert_eq!(
        n("unknown-sku", MatchScope::Category),
        0,
        "not in the catalog"
    );
    let nobrand = [touch(1, TouchKind::Click, T0, 1, &["nobrand"])];
    let other_nobrand = [line("r1", 1, 0, T0 + S, "milk-2", 1, 1)];
    assert!(
        run(
            &nobrand,
            &other_nobrand,
            MatchScope::Brand,
            AttributionModel::LastTouch
        )
        .is_empty(),
        "an empty brand never matches"
    );
    let c = run(
        &t,
        &buy("milk-2"),
        MatchScope::Brand,
        AttributionModel::LastTouch,
    );
    assert!(
        !c[0].direct,
        "a brand match beyond the promoted SKU is a halo sale"
    );
}

#[test]
fn identity_links_a_device_to_the_shopper_and_strangers_get_nothing() {
    let mut t = touch(1, TouchKind::Click, T0, 1, &["milk-1"]);
    let l = [line("r1", 1, 0, T0 + S, "milk-1", 1, 1_000_000)];
    assert_eq!(
        run(
            &[t.clone()],
            &l,
            MatchScope::Sku,
            AttributionModel::LastTouch
        )
        .len(),
        1
    );
    t.user_key = "someone-else".into();
    assert!(run(
        &[t.clone()],
        &l,
        MatchScope::Sku,
        AttributionModel::LastTouch
    )
    .is_empty());
    t.user_key = "c1".into();
    assert_eq!(
        run(&[t], &l, MatchScope::Sku, AttributionModel::LastTouch).len(),
        1,
        "a user key with no entry maps to itself"
    );
}

#[test]
fn each_advertiser_stands_alone_and_the_retailer_total_counts_a_line_once() {
    let t = [
        touch(1, TouchKind::Click, T0, 1, &["milk-1"]),
        touch(2, TouchKind::Click, T0 + S, 2, &["milk-1"]),
    ];
    let l = [
        line("r1", 1, 0, T0 + 2 * S, "milk-1", 2, 6_000_000),
        line("r1", 1, 1, T0 + 2 * S, "bread", 1, 2_000_000),
    ];
    let c = run(&t, &l, MatchScope::Sku, AttributionModel::LastTouch);
    let per = by_campaign(&c);
    for adv in [1u128, 2] {
        let got = per[&Uuid::from_u128(2000 + adv)];
        assert_eq!(
            (got.orders, got.sales_micros, got.units_micros),
            (1, 6_000_000, 2_000_000),
            "a competitor's click takes nothing from advertiser {adv}"
        );
    }
    let total = retailer_total(&c, &l);
    assert_eq!(
        (total.orders, total.sales_micros, total.direct_sales_micros),
        (1, 6_000_000, 6_000_000)
    );
}

#[test]
fn corrected_voided_and_returned_receipts() {
    let t = [touch(1, TouchKind::Click, T0, 1, &["milk-1"])];
    let lines = vec![
        line("r1", 1, 0, T0 + S, "milk-1", 2, 10_000_000),
        line("r1", 2, 0, T0 + S, "milk-1", 1, 5_000_000),
        line("r2", 1, 0, T0 + S, "milk-1", 1, 5_000_000),
        line("r3", 1, 0, T0 + 2 * S, "milk-1", -1, -5_000_000),
    ];
    let voided = HashMap::from([("r2".to_string(), 2)]);
    let current = current_lines(lines, &voided);
    assert_eq!(
        current.len(),
        2,
        "r1 at version 2 and the return r3; r2 is voided"
    );
    let c = run(&t, &current, MatchScope::Sku, AttributionModel::LastTouch);
    let totals = by_campaign(&c)[&Uuid::from_u128(2001)];
    assert_eq!(
        totals.sales_micros, 0,
        "the return reverses the corrected sale: net 0"
    );
    assert_eq!(totals.units_micros, 0);
}

proptest! {
    #[test]
    fn credits_of_a_line_sum_to_one_per_advertiser_and_never_pass_the_amount(
        offsets in proptest::collection::vec((0i64..20, 0u128..3, any::<bool>()), 1..10),
        amount in -50_000_000i64..50_000_000,
        model in 0usize..5,
    ) {
        let model = [AttributionModel::LastTouch, AttributionModel::FirstTouch, AttributionModel::Linear,
            AttributionModel::TimeDecay, AttributionModel::PositionBased][model];
        let touches: Vec<Touch> = offsets.iter().enumerate().map(|(i, (d, adv, click))| {
            let kind = if *click { TouchKind::Click } else { TouchKind::View };
            touch(i as u128 + 1, kind, T0 + d * DAY / 4, *adv, &["milk-1"])
        }).collect();
        let l = [line("r1", 1, 0, T0 + 6 * DAY, "milk-1", 1, amount)];
        let credits = run(&touches, &l, MatchScope::Sku, model);
        let mut per_adv: HashMap<Uuid, (f64, i64)> = HashMap::new();
        for c in &credits {
            let e = per_adv.entry(c.advertiser_id).or_default();
            e.0 += c.weight;
            e.1 += c.amount_micros;
            prop_assert!(c.amount_micros.abs() <= amount.abs());
        }
        for (w, a) in per_adv.values() {
            prop_assert!((w - 1.0).abs() < 1e-9);
            prop_assert_eq!(*a, amount);
        }
    }
}

proptest! {
    /// The ClickHouse path drops lines no exposure can earn before attributing
    /// (`Eligibility`); that must never change a credit, under any scope, window or model.
    #[test]
    fn dropping_the_lines_no_exposure_can_earn_changes_no_credit(
        touches in proptest::collection::vec((0i64..30, 0u128..3, any::<bool>(), 0usize..4), 1..12),
        lines in proptest::collection::vec((0i64..30, 0usize..4, 1i64..50), 1..12),
        scope in 0u8..3,
        model in 0u8..5,
        view_days in 1i64..10,
    ) {
        let skus = ["milk-1", "milk-2", "yogurt-9", "nobrand"];
        let scope = [MatchScope::Sku, MatchScope::Brand, MatchScope::Category][scope as usize];
        let model = [
            AttributionModel::LastTouch,
            AttributionModel::FirstTouch,
            AttributionModel::Linear,
            AttributionModel::TimeDecay,
            AttributionModel::PositionBased,
        ][model as usize];
        let ts: Vec<Touch> = touches
            .iter()
            .enumerate()
            .map(|(i, (d, adv, click, sku))| {
                let kind = if *click { TouchKind::Click } else { TouchKind::View };
                touch(i as u128 + 1, kind, T0 + d * DAY, *adv, &[skus[*sku]])
            })
            .collect();
        let ls: Vec<ReceiptLineEvent> = lines
            .iter()
            .enumerate()
            .map(|(i, (d, sku, amount))| {
                line(&format!("r{i}"), 1, 0, T0 + d * DAY + S, skus[*sku], 1, amount * 1_000_000)
            })
            .collect();
        let s = AttributionSettings {
            view_window_days: WindowDays::parse(view_days, "v").unwrap(),
            ..settings(scope)
        };
        let f = move |_: Uuid| s;
        let rules = Rules { settings: &f, model, half_life_secs: 7 * 86_400 };
        let (cat, ids) = (catalog(), identity());
        let all = attribute(&ts, &ls, &cat, &ids, &rules);
        let eligible = Eligibility::new(&ts, &ids, &rules);
        let kept: Vec<ReceiptLineEvent> = ls
            .iter()
            .filter(|l| eligible.can_credit(&l.customer_key, l.ts_ms, &l.sku, &cat))
            .cloned()
            .collect();
        prop_assert_eq!(attribute(&ts, &kept, &cat, &ids, &rules), all);
    }
}
