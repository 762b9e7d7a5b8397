//! The upload parsers under arbitrary input: receipt NDJSON and CSV, identity links, catalog
//! entries and segment members never panic, and every refusal names its line. CI runs a few
//! hundred cases per parser; `scripts/fuzz.sh` runs 100,000 (ENDCAP_FUZZ_CASES).

use endcap_ingest::*;
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("ENDCAP_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// JSON-ish lines: objects with the fields the parsers know, holding values of any type,
/// and plain noise.
fn line() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        Just("null".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| format!("{f}")),
        "[ -~]{0,40}".prop_map(|s| serde_json::to_string(&s).unwrap_or_default()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just(r#"[{"sku":"a","quantity":1,"amount_micros":1}]"#.to_string()),
    ];
    let key = prop_oneof![
        Just("receipt_id"),
        Just("version"),
        Just("customer_key"),
        Just("loyalty_id"),
        Just("store_id"),
        Just("channel"),
        Just("ts"),
        Just("lines"),
        Just("sku"),
        Just("user_key"),
        Just("brand"),
        Just("category"),
        Just("quantity"),
        Just("x"),
    ];
    prop_oneof![
        proptest::collection::vec((key, value), 0..8).prop_map(|kv| {
            let body: Vec<String> = kv.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            format!("{{{}}}", body.join(","))
        }),
        "\\PC{0,120}",
        proptest::collection::vec(any::<u8>(), 0..120)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn line_parsers_never_panic_and_name_the_line(l in line(), n in 1u64..1_000_000) {
        if let Err(e) = parse_receipt(n, &l, Some("salt-0123456789abcdef"), chrono_tz::Tz::UTC) {
            prop_assert_eq!(e.line, n);
        }
        if let Err(e) = parse_identity(n, &l, None, "") {
            prop_assert_eq!(e.line, n);
        }
        if let Err(e) = parse_catalog(n, &l) {
            prop_assert_eq!(e.line, n);
        }
        if let Err(e) = parse_member(n, &l) {
            prop_assert_eq!(e.line, n);
        }
    }

    #[test]
    fn receipt_csv_never_panics_and_names_lines(rows in proptest::collection::vec("[ -~]{0,80}", 0..20)) {
        let data = format!("{RECEIPT_CSV_HEADER}\n{}", rows.join("\n"));
        let (ok, errors) = csv_receipts(data.as_bytes());
        for e in &errors {
            prop_assert!(e.line >= 1 && e.line as usize <= rows.len() + 1, "{:?}", e);
        }
        for (line, _) in &ok {
            prop_assert!(*line >= 2 && *line as usize <= rows.len() + 1);
        }
    }
}
