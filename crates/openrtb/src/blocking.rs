//! A bid request's blocks (`badv` aside: [`endcap_auction::Context::blocked_domain`]) and
//! deals, as the decision engine takes them.

use crate::{BidRequest, Imp, Rates};
use endcap_auction::{DealOffer, RequestBlocks, SlotTerms};
use endcap_core::rtb_fields::MAX_ATTRIBUTE;

/// Our seat id: the `seat` of every answer, and the id a deal's `wseat` must name for us to
/// bid on it. Exchanges register it for Endcap.
pub const SEAT: &str = "endcap";

/// The request's `bcat` and `bapp`, normalized; `None` when `bcat` is in a taxonomy other
/// than IAB Content Taxonomy 1.0 (`cattax` other than 1): we cannot tell which of our
/// creatives it blocks, so the request gets no bid rather than a bid it may have blocked.
pub fn request_blocks(req: &BidRequest) -> Option<RequestBlocks> {
    if !req.bcat.is_empty() && req.cattax.is_some_and(|t| t != 1) {
        return None;
    }
    Some(RequestBlocks {
        categories: req
            .bcat
            .iter()
            .map(|c| c.trim().to_ascii_uppercase())
            .filter(|c| !c.is_empty())
            .collect(),
        apps: req
            .bapp
            .iter()
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .collect(),
    })
}

/// An impression's OpenRTB terms: blocked attributes (banner's and native's `battr`), and
/// the deals offered to our seat ([`SEAT`]) with floors in marketplace micros (at least
/// `min_floor_micros`; a deal without a floor inherits `imp_floor_micros`, the imp's floor
/// already converted; a deal whose floor currency has no rate is not taken).
pub fn slot_terms(
    imp: &Imp,
    rates: &Rates,
    imp_floor_micros: i64,
    min_floor_micros: i64,
) -> SlotTerms {
    let mut blocked_attributes: Vec<u8> = imp
        .banner
        .iter()
        .flat_map(|b| &b.battr)
        .chain(imp.native.iter().flat_map(|n| &n.battr))
        .filter_map(|a| u8::try_from(*a).ok())
        .filter(|a| (1..=MAX_ATTRIBUTE).contains(a))
        .collect();
    blocked_attributes.sort_unstable();
    blocked_attributes.dedup();
    let Some(pmp) = &imp.pmp else {
        return SlotTerms {
            blocked_attributes,
            ..Default::default()
        };
    };
    let deals = pmp
        .deals
        .iter()
        .filter(|d| d.wseat.is_empty() || d.wseat.iter().any(|s| s == SEAT))
        .filter_map(|d| {
            let floor = match d.bidfloor {
                Some(f) => rates.to_marketplace(
                    crate::cpm_to_micros(f),
                    d.bidfloorcur.as_deref().unwrap_or("USD"),
                )?,
                None => imp_floor_micros,
            };
            Some(DealOffer {
                id: d.id.trim().to_string(),
                floor_ecpm_micros: floor.max(min_floor_micros),
                at: d.at,
            })
        })
        .collect();
    SlotTerms {
        blocked_attributes,
        deals,
        private_auction: pmp.private_auction == 1,
    }
}

/// The least a bid on `deal_id` in `imp_id` may be in the response currency `cur`, micros:
/// the deal's own floor when it is stated in `cur` (so rounding through the marketplace
/// currency cannot take the bid under it); `None` otherwise.
pub fn deal_price_floor(req: &BidRequest, imp_id: &str, deal_id: &str, cur: &str) -> Option<i64> {
    let imp = req.imp.iter().find(|i| i.id == imp_id)?;
    let deal = imp
        .pmp
        .as_ref()?
        .deals
        .iter()
        .find(|d| d.id.trim() == deal_id)?;
    let floor = deal.bidfloor?;
    deal.bidfloorcur
        .as_deref()
        .unwrap_or("USD")
        .eq_ignore_ascii_case(cur)
        .then(|| crate::cpm_to_micros(floor))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(v: serde_json::Value) -> BidRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn bcat_in_another_taxonomy_cannot_be_honoured() {
        let r = req(
            serde_json::json!({"id": "r", "imp": [{"id": "1"}], "bcat": ["iab8"],
            "bapp": ["com.x.app", " "]}),
        );
        let b = request_blocks(&r).unwrap();
        assert_eq!(b.categories, vec!["IAB8"]);
        assert_eq!(b.apps, vec!["com.x.app"]);
        let r = req(
            serde_json::json!({"id": "r", "imp": [{"id": "1"}], "bcat": ["IAB8"],
            "cattax": 1}),
        );
        assert!(request_blocks(&r).is_some());
        let r = req(
            serde_json::json!({"id": "r", "imp": [{"id": "1"}], "bcat": ["483"],
            "cattax": 2}),
        );
        assert!(
            request_blocks(&r).is_none(),
            "no bid: we cannot read the block"
        );
        let r = req(serde_json::json!({"id": "r", "imp": [{"id": "1"}], "cattax": 2}));
        assert!(
            request_blocks(&r).is_some(),
            "nothing blocked, nothing to read"
        );
    }

    #[test]
    fn deals_for_other_seats_or_unknown_currencies_are_not_offered_to_us() {
        let r = req(serde_json::json!({"id": "r", "imp": [{"id": "1",
        "banner": {"w": 300, "h": 250, "battr": [6, 99, -1, 6]},
        "pmp": {"private_auction": 1, "deals": [
            {"id": "mine", "bidfloor": 2.0, "bidfloorcur": "EUR", "wseat": ["other", "endcap"]},
            {"id": "theirs", "bidfloor": 1.0, "wseat": ["other"]},
            {"id": "yen", "bidfloor": 1.0, "bidfloorcur": "JPY"},
            {"id": "nofloor"},
            {"id": "cheap", "bidfloor": 0.01, "at": 3}
        ]}}]}));
        let rates = Rates::parse("USD", "EUR:1.1").unwrap();
        let t = slot_terms(&r.imp[0], &rates, 700_000, 50_000);
        assert_eq!(t.blocked_attributes, vec![6]);
        assert!(t.private_auction);
        let got: Vec<(&str, i64, Option<u32>)> = t
            .deals
            .iter()
            .map(|d| (d.id.as_str(), d.floor_ecpm_micros, d.at))
            .collect();
        assert_eq!(
            got,
            vec![
                ("mine", 2_200_000, None),
                ("nofloor", 700_000, None),
                ("cheap", 50_000, Some(3)),
            ]
        );
        assert_eq!(deal_price_floor(&r, "1", "mine", "EUR"), Some(2_000_000));
        assert_eq!(deal_price_floor(&r, "1", "mine", "USD"), None);
        assert_eq!(deal_price_floor(&r, "1", "nofloor", "USD"), None);
    }
}
