//! The OpenRTB request parser under arbitrary input: raw bytes and structure-aware requests
//! (the real fields, holding values of every type) never panic; a refusal names its field.
//! The privacy-string decoders (TCF, GPP, US sections, US Privacy) never panic either, on any
//! text and on base64url text shaped like their headers.
//! CI runs a few hundred cases; `scripts/fuzz.sh` runs 100,000 (ENDCAP_FUZZ_CASES).

use endcap_openrtb::{
    us_opt_outs, us_privacy_opted_out, BidRequest, ConsentPolicy, GppString, TcString,
};
use proptest::prelude::*;
use serde_json::{json, Value};

/// The bidder's consent policy, with a vendor id so TC strings are decoded to the end.
const POLICY: ConsentPolicy = ConsentPolicy {
    vendor_id: Some(755),
};

fn cases() -> u32 {
    std::env::var("ENDCAP_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// Any JSON value, a few levels deep.
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,20}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map("[a-z]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A request with the spec's fields, each possibly replaced by any value.
fn request() -> impl Strategy<Value = Value> {
    let fields = [
        "id", "imp", "site", "app", "device", "user", "test", "at", "tmax", "cur", "bcat", "badv",
        "regs",
    ];
    (
        proptest::collection::vec((0..fields.len(), value()), 0..6),
        proptest::collection::vec((0..6usize, value()), 0..6),
    )
        .prop_map(move |(top, imp)| {
            let mut r = json!({"id": "r1", "imp": [{"id": "1", "banner": {"w": 300, "h": 250}}]});
            for (i, v) in top {
                r[fields[i]] = v;
            }
            let imp_fields = ["id", "banner", "native", "video", "bidfloor", "bidfloorcur"];
            if let Some(first) = r
                .get_mut("imp")
                .and_then(|i| i.get_mut(0))
                .filter(|i| i.is_object())
            {
                for (i, v) in imp {
                    first[imp_fields[i]] = v;
                }
            }
            r
        })
}

/// Text that decodes deep: base64url behind a prefix of the right version or header type.
fn privacy_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,80}",
        "[A-Za-z0-9_-]{0,300}",
        ("(C|CP|CQ)", "[A-Za-z0-9_-]{0,300}").prop_map(|(a, b)| a + &b),
        (
            "(D|DB|DBA|DBAB|DBAC)",
            "[A-Za-z0-9_-]{0,12}",
            proptest::collection::vec("[A-Za-z0-9_.-]{0,80}", 0..5),
        )
            .prop_map(|(a, b, sections)| {
                let mut s = a + &b;
                for x in sections {
                    s.push('~');
                    s.push_str(&x);
                }
                s
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn raw_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(r) = serde_json::from_slice::<BidRequest>(&bytes) {
            let _ = r.validate();
            let _ = r.personalization_allowed(&POLICY);
        }
    }

    #[test]
    fn structured_requests_never_panic_and_refusals_name_a_field(r in request()) {
        let text = r.to_string();
        match serde_json::from_str::<BidRequest>(&text) {
            Ok(req) => {
                if let Err(e) = req.validate() {
                    prop_assert!(!e.field.is_empty());
                }
                let _ = req.personalization_allowed(&POLICY);
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn privacy_strings_never_panic(s in privacy_text(), id in 0u16..20, sids in proptest::collection::vec(-2i64..20, 0..4)) {
        let _ = TcString::parse(&s);
        let _ = POLICY.tcf_allows(&s);
        if let Ok(g) = GppString::parse(&s) {
            for i in g.section_ids() {
                prop_assert!(g.section(i).is_some());
            }
        }
        let ids: Vec<u16> = sids.iter().filter_map(|&i| u16::try_from(i).ok()).collect();
        let _ = POLICY.gpp_allows(&s, Some(&ids));
        let _ = POLICY.gpp_allows(&s, None);
        let _ = us_opt_outs(id, &s);
        let _ = us_privacy_opted_out(&s);
        let req = json!({"id": "r1", "imp": [{"id": "1"}], "user": {"consent": s},
            "regs": {"gdpr": 1, "gpp": s, "gpp_sid": sids, "us_privacy": s}});
        if let Ok(r) = serde_json::from_value::<BidRequest>(req) {
            let _ = r.personalization_allowed(&POLICY);
        }
    }
}
