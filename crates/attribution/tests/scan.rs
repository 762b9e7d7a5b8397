//! The fast receipts reader against the general path it stands in for: the same credits,
//! totals and current-line count, or `None` where only the general reader may answer.

use endcap_attribution::*;
use endcap_core::{AttributionModel, AttributionSettings, MatchScope, WindowDays};
use proptest::prelude::*;
use std::collections::HashMap;
use uuid::Uuid;

const DAY: i64 = 86_400_000;
/// 2026-12-01T00:00:00Z.
const T0: i64 = 1_796_083_200_000;

fn settings(scope: MatchScope, model: AttributionModel) -> AttributionSettings {
    AttributionSettings {
        click_window_days: WindowDays::parse(14, "c").unwrap(),
        view_window_days: WindowDays::parse(7, "v").unwrap(),
        scope,
        model,
    }
}

fn catalog() -> Catalog {
    let mut c = Catalog::new();
    for (sku, brand, category) in [
        ("s0", "acme", "dairy"),
        ("s1", "acme", "dairy"),
        ("s2", "baker", "dairy"),
        ("s3", "", "bakery"),
    ] {
        c.insert(
            sku.into(),
            Product {
                brand: brand.into(),
                category: category.into(),
            },
        );
    }
    c
}

fn identity() -> IdentityMap {
    [("u0", "c0"), ("u1", "c1"), ("u2", "c1")]
        .into_iter()
        .map(|(u, c)| (u.to_string(), c.to_string()))
        .collect()
}

/// What `attribution-job run` computes through `read_receipts`: credits, total, current lines.
type Outcome = (Vec<Credit>, Totals, usize);

fn general(data: &[u8], touches: &[Touch], s: AttributionSettings, shard: (u32, u32)) -> Outcome {
    let (lines, errors) = read_receipts("r.csv", data);
    assert_eq!(errors, vec![], "the general reader refuses a row");
    let (touches, lines) = keep_shard(touches.to_vec(), lines, &identity(), shard.0, shard.1);
    let lines = current_lines(lines, &HashMap::new());
    let f = move |_| s;
    let rules = Rules {
        settings: &f,
        model: s.model,
        half_life_secs: 7 * DAY_SECS,
    };
    let credits = attribute(&touches, &lines, &catalog(), &identity(), &rules);
    let total = retailer_total(&credits, &lines);
    (credits, total, lines.len())
}

fn fast(
    data: &[u8],
    touches: &[Touch],
    s: AttributionSettings,
    shard: (u32, u32),
) -> Option<Outcome> {
    let (touches, _) = keep_shard(touches.to_vec(), Vec::new(), &identity(), shard.0, shard.1);
    let f = move |_| s;
    let rules = Rules {
        settings: &f,
        model: s.model,
        half_life_secs: 7 * DAY_SECS,
    };
    let r = read_current_receipts(
        data,
        &touches,
        &catalog(),
        &identity(),
        &rules,
        shard.0,
        shard.1,
    )?;
    let credits = attribute(&touches, &r.creditable, &catalog(), &identity(), &rules);
    let total = retailer_total(&credits, &r.creditable);
    Some((credits, total, r.current))
}

fn touch(n: u128, kind: TouchKind, ts_ms: i64, user: &str, adv: u128, skus: &[&str]) -> Touch {
    Touch {
        event_id: Uuid::from_u128(n),
        kind,
        ts_ms,
        user_key: user.into(),
        advertiser_id: Uuid::from_u128(1000 + adv),
        campaign_id: Uuid::from_u128(2000 + adv),
        line_item_id: Uuid::from_u128(3000 + adv),
        skus: skus.iter().map(|s| s.to_string()).collect(),
    }
}

fn touches() -> Vec<Touch> {
    vec![
        touch(1, TouchKind::Click, T0, "u0", 1, &["s0"]),
        touch(2, TouchKind::View, T0 + 3_600_000, "u1", 1, &["s0", "s2"]),
        touch(3, TouchKind::View, T0 + 2 * DAY, "u2", 2, &["s1"]),
        touch(4, TouchKind::Click, T0 + DAY, "c3", 2, &["s3"]),
        touch(5, TouchKind::View, T0 - 20 * DAY, "u0", 2, &["s1"]),
    ]
}

const RECEIPTS: &str =
    "receipt_id,customer_key,store_id,ts,sku,quantity,amount_micros,version,channel
r1,c0,st1,2026-12-02T09:00:00Z,s0,2,6000000,1,in_store
r1,c0,st1,2026-12-02T09:00:00Z,s1,1,2500000,1,
r2,c1,st1,2026-12-03,s0,1,3000000,1,online
r1,c0,st1,2026-12-02T09:00:00.250Z,s0,2,6000000,2,in_store
r3,c1,st2,2026-12-04T10:00:00Z,s1,-1,-1000000,,pickup
r2,c1,st1,2026-12-03T10:00:00Z,s2,4,8000000,1,online
r4,c3,st2,2026-12-05T10:00:00Z,s3,1,1500000,1,in_store
r5,c9,st2,2026-12-05T10:00:00Z,s0,1,1500000,3,in_store
r4,c3,st2,2026-12-05T10:00:00+01:00,s3,1,1500000,1,in_store
r6,c0,st2,2026-11-01T10:00:00Z,s1,1,1,1,in_store
r1,c0,st1,2026-12-02T09:00:00Z,s1,1,2500000,2,in_store
";

#[test]
fn the_fast_reader_gives_what_the_general_path_gives() {
    for scope in [MatchScope::Sku, MatchScope::Brand, MatchScope::Category] {
        for shard in [(0, 1), (0, 2), (1, 2), (2, 3)] {
            let s = settings(scope, AttributionModel::Linear);
            let want = general(RECEIPTS.as_bytes(), &touches(), s, shard);
            assert!(
                shard.1 > 1 || !want.0.is_empty(),
                "the case credits something"
            );
            let got = fast(RECEIPTS.as_bytes(), &touches(), s, shard);
            assert_eq!(got, Some(want), "{scope:?} {shard:?}");
        }
    }
}

#[test]
fn spaces_crlf_a_byte_order_mark_blank_lines_and_missing_optional_columns_read_the_same() {
    let data = "\u{feff} sku ,receipt_id,customer_key,store_id,ts,quantity,amount_micros,extra\r\n\
        s0 , r1 ,c0,st1,\t2026-12-02T09:00:00Z,2, 6000000 ,x\r\n\
        \r\n\
        s1,r1,c0,st1,2026-12-02T09:00:00Z,+1,2500000,\r\n\
        \n\
        s2,r2,c1,,2026-12-03T09:00:00Z,1,0,y";
    let s = settings(MatchScope::Brand, AttributionModel::LastTouch);
    let want = general(data.as_bytes(), &touches(), s, (0, 1));
    assert_eq!(want.0.len(), 3, "the case credits something");
    assert_eq!(fast(data.as_bytes(), &touches(), s, (0, 1)), Some(want));
}

#[test]
fn files_the_csv_crate_reads_its_own_way_go_to_the_general_reader() {
    let head = "receipt_id,customer_key,store_id,ts,sku,quantity,amount_micros\n";
    let s = settings(MatchScope::Sku, AttributionModel::LastTouch);
    for body in [
        "\"r1\",c0,st1,2026-12-02T09:00:00Z,s0,2,6000000\n",
        "r1,c0,st1,2026-12-02T09:00:00Z,s0,2,6000000\rr2,c0,st1,2026-12-02,s0,1,1\n",
        "r1,c0,st1,2026-12-02T09:00:00Z,s0,0x2,6000000\n",
        "r1,c0,st1,2026-12-02T09:00:00Z,s0,2\n",
        "r1,c0,st1,2026-12-02T09:00:00Z,s0,2,6000000,7\n",
        "r1,c0,st1,2026-12-02T09:00:00Z,s0,x,6000000\n",
        "r1,c0,st1,2026-02-30T09:00:00Z,s0,2,6000000\n",
        "r1,,st1,2026-12-02T09:00:00Z,s0,2,6000000\n",
        "r1,c0,st1,2026-12-02T09:00:00Z,s0,-2,6000000\n",
    ] {
        let data = format!("{head}{body}");
        assert_eq!(fast(data.as_bytes(), &touches(), s, (0, 1)), None, "{body}");
    }
    let repeated = "receipt_id,receipt_id,customer_key,store_id,ts,sku,quantity,amount_micros\n";
    assert_eq!(fast(repeated.as_bytes(), &touches(), s, (0, 1)), None);
    let bad_version = head.replace("amount_micros", "amount_micros,version")
        + "r1,c0,st1,2026-12-02T09:00:00Z,s0,2,6000000,0\n";
    assert_eq!(fast(bad_version.as_bytes(), &touches(), s, (0, 1)), None);
    let bad_channel = head.replace("amount_micros", "amount_micros,channel")
        + "r1,c0,st1,2026-12-02T09:00:00Z,s0,2,6000000,drone\n";
    assert_eq!(fast(bad_channel.as_bytes(), &touches(), s, (0, 1)), None);
}

#[test]
fn a_file_read_on_several_threads_numbers_and_versions_lines_across_the_cuts() {
    // Over a megabyte, so the file is cut in pieces: receipts recur far apart, in
    // several versions, and each piece holds lines of the others' receipts.
    let mut data =
        String::from("receipt_id,customer_key,store_id,ts,sku,quantity,amount_micros,version\n");
    for i in 0..24_000u32 {
        let receipt = i % 5_000;
        let version = 1 + (i / 5_000) % 3;
        let customer = ["c0", "c1", "c3", "c7"][(receipt % 4) as usize];
        let sku = ["s0", "s1", "s2", "s3"][(i % 4) as usize];
        let day = 1 + receipt % 9;
        data.push_str(&format!(
            "receipt-{receipt:06},{customer},store-{},2026-12-{day:02}T{:02}:00:00.{:03}Z,{sku},1,{}000,{version}\n",
            i % 7,
            i % 24,
            i % 1000,
            1 + i % 900,
        ));
    }
    assert!(data.len() > 1 << 20);
    for scope in [MatchScope::Sku, MatchScope::Category] {
        for shard in [(0, 1), (1, 2)] {
            let s = settings(scope, AttributionModel::TimeDecay);
            let want = general(data.as_bytes(), &touches(), s, shard);
            assert!(!want.0.is_empty());
            assert_eq!(fast(data.as_bytes(), &touches(), s, shard), Some(want));
        }
    }
}

fn receipts_csv() -> impl Strategy<Value = String> {
    let line = (
        0..6u8,
        1..4i64,
        0..5u8,
        0..4u8,
        -3..30i64,
        0..24i64,
        -2..4i32,
        0..3u8,
    );
    (proptest::collection::vec(line, 0..40), any::<bool>()).prop_map(|(lines, crlf)| {
        let end = if crlf { "\r\n" } else { "\n" };
        let mut out =
            format!("receipt_id,version,customer_key,store_id,ts,sku,quantity,amount_micros{end}");
        for (r, v, c, sku, day, hour, qty, form) in lines {
            let ts = T0 + day * DAY + hour * 3_600_000 + i64::from(r) * 1_234;
            let ts = chrono::DateTime::from_timestamp_millis(ts).unwrap();
            let ts = match form {
                0 => ts.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
                1 => ts.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                _ => ts.format("%Y-%m-%d").to_string(),
            };
            let amount = i64::from(qty) * 1_250_000;
            out.push_str(&format!("r{r},{v},c{c},st,{ts},s{sku},{qty},{amount}{end}"));
        }
        out
    })
}

fn touches_strategy() -> impl Strategy<Value = Vec<Touch>> {
    let one = (
        0..40u128,
        any::<bool>(),
        -20..30i64,
        0..5u8,
        0..3u128,
        0..4u8,
        0..4u8,
    );
    proptest::collection::vec(one, 0..12).prop_map(|ts| {
        ts.into_iter()
            .map(|(n, click, hours, user, adv, a, b)| {
                let kind = if click {
                    TouchKind::Click
                } else {
                    TouchKind::View
                };
                let user = ["u0", "u1", "u2", "c3", "c4"][usize::from(user)];
                let skus = [format!("s{a}"), format!("s{b}")];
                let skus: Vec<&str> = skus.iter().map(String::as_str).collect();
                touch(n, kind, T0 + hours * 3_600_000 * 12, user, adv, &skus)
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn random_files_read_the_same(
        data in receipts_csv(),
        touches in touches_strategy(),
        scope in prop_oneof![Just(MatchScope::Sku), Just(MatchScope::Brand), Just(MatchScope::Category)],
        shard in prop_oneof![Just((0, 1)), Just((0, 2)), Just((1, 2)), Just((1, 3))],
    ) {
        let s = settings(scope, AttributionModel::PositionBased);
        let want = general(data.as_bytes(), &touches, s, shard);
        prop_assert_eq!(fast(data.as_bytes(), &touches, s, shard), Some(want));
    }
}
