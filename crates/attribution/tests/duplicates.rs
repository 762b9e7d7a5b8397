//! `attribute` de-duplicates an advertiser's exposures by time and event id: of two rows
//! alike in both, the later one in the input stands (as it did when a map held them).

use endcap_attribution::*;
use endcap_core::{AttributionModel, AttributionSettings, MatchScope, WindowDays};
use endcap_events::ReceiptLineEvent;
use uuid::Uuid;

#[test]
fn the_later_of_two_rows_with_one_event_id_and_time_stands() {
    let s = AttributionSettings {
        click_window_days: WindowDays::parse(14, "c").unwrap(),
        view_window_days: WindowDays::parse(7, "v").unwrap(),
        scope: MatchScope::Sku,
        model: AttributionModel::Linear,
    };
    let touch = |line_item: u128, kind| Touch {
        event_id: Uuid::from_u128(1),
        kind,
        ts_ms: 1_000,
        user_key: "c1".into(),
        advertiser_id: Uuid::from_u128(7),
        campaign_id: Uuid::from_u128(8),
        line_item_id: Uuid::from_u128(line_item),
        skus: vec!["sku".into()],
    };
    let line = ReceiptLineEvent {
        receipt_id: "r1".into(),
        version: 1,
        line_no: 0,
        customer_key: "c1".into(),
        store_id: "s".into(),
        channel: "in_store".into(),
        ts_ms: 2_000,
        sku: "sku".into(),
        brand: String::new(),
        category: String::new(),
        quantity: 1,
        amount_micros: 1_000_000,
    };
    let f = move |_| s;
    let rules = Rules {
        settings: &f,
        model: s.model,
        half_life_secs: 7 * DAY_SECS,
    };
    for (first, second) in [
        (TouchKind::View, TouchKind::Click),
        (TouchKind::Click, TouchKind::View),
    ] {
        let touches = [touch(100, first), touch(200, second)];
        let credits = attribute(
            &touches,
            std::slice::from_ref(&line),
            &Catalog::new(),
            &IdentityMap::new(),
            &rules,
        );
        assert_eq!(credits.len(), 1);
        assert_eq!(
            (credits[0].line_item_id, credits[0].kind),
            (Uuid::from_u128(200), second)
        );
        assert_eq!(credits[0].amount_micros, 1_000_000);
    }
}
