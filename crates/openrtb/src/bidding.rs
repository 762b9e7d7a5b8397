//! From a bid request to slots, and from placed ads to bids: the OpenRTB mapping.

use crate::{
    micros_to_cpm, Bid, BidRequest, NativeError, NativeRequest, PriceDecoder, Rates, RequestError,
};
use endcap_auction::{DealOffer, Placed, Slot, SlotRequest};
use endcap_core::{CreativeKind, Device};
use std::sync::Arc;

/// The macro exchanges replace with the clearing price.
pub const AUCTION_PRICE_MACRO: &str = "${AUCTION_PRICE}";

/// Which notice tells us we were billed (and so bills the advertiser).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillingNotice {
    /// The billing notice `burl` (OpenRTB 2.5+; the default).
    Burl,
    /// The win notice `nurl`.
    Nurl,
    /// The pixel inside `adm`.
    Adm,
}

impl BillingNotice {
    /// Parses `burl`, `nurl` or `adm`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "burl" => Some(Self::Burl),
            "nurl" => Some(Self::Nurl),
            "adm" => Some(Self::Adm),
            _ => None,
        }
    }
}

/// What we know about an exchange we bid on.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// Its name (in tokens and metrics).
    pub name: String,
    /// Which notice bills.
    pub billing: BillingNotice,
    /// How its `${AUCTION_PRICE}` arrives.
    pub price: Arc<dyn PriceDecoder>,
}

/// The slots of a bid request.
#[derive(Debug, Default)]
pub struct OffsiteSlots {
    /// One per supported imp.
    pub slots: Vec<SlotRequest>,
    /// Imps of kinds we do not serve (video, audio).
    pub unsupported: usize,
    /// Imps whose floor currency we cannot convert.
    pub unknown_currency: usize,
    /// Imps that need https markup while our tracking URLs are http.
    pub insecure: usize,
    /// The parsed native request of each native slot, by imp id.
    pub natives: Vec<(String, Arc<NativeRequest>)>,
    /// Native imps whose native request is malformed (not bid on), with the field.
    pub malformed_native: Vec<RequestError>,
}

impl OffsiteSlots {
    /// The native request of the slot (imp) `id`, if it is a native one.
    pub fn native_for(&self, id: &str) -> Option<&NativeRequest> {
        self.natives
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, n)| n.as_ref())
    }
}

/// One slot per banner or native imp, with its floor in marketplace micros (at least
/// `min_floor_micros`); a banner accepts any of its sizes. Without `https_urls` (our
/// tracking URLs are plain http) an imp marked `secure` is skipped: creatives are https,
/// but its pixels and click URLs would not be.
pub fn offsite_slots(
    req: &BidRequest,
    rates: &Rates,
    min_floor_micros: i64,
    https_urls: bool,
) -> OffsiteSlots {
    let mut out = OffsiteSlots::default();
    for (i, imp) in req.imp.iter().enumerate() {
        if imp.secure == Some(1) && !https_urls {
            out.insecure += 1;
            continue;
        }
        let cur = imp.bidfloorcur.as_deref().unwrap_or("USD");
        let Some(floor) = rates.to_marketplace(crate::cpm_to_micros(imp.bidfloor), cur) else {
            out.unknown_currency += 1;
            continue;
        };
        let floor = floor.max(min_floor_micros);
        let terms = crate::slot_terms(imp, rates, floor, min_floor_micros);
        let slot = if let Some(b) = &imp.banner {
            let mut sizes: Vec<(u32, u32)> = b.format.iter().map(|f| (f.w, f.h)).collect();
            if let (Some(w), Some(h)) = (b.w, b.h) {
                sizes.insert(0, (w, h));
            }
            sizes.retain(|(w, h)| *w > 0 && *h > 0);
            if sizes.is_empty() {
                out.unsupported += 1;
                continue;
            }
            Slot::offsite_banner(&sizes)
        } else if let Some(n) = &imp.native {
            // Parsed once per imp: the auction admits only creatives that fill its required
            // assets, and the bid answers it.
            match NativeRequest::parse(n, &format!("imp[{i}].native.request")) {
                Ok(native) => {
                    let slot = Slot::offsite_native(native.layout.clone());
                    out.natives.push((imp.id.clone(), Arc::new(native)));
                    slot
                }
                Err(NativeError::Malformed(e)) => {
                    out.malformed_native.push(e);
                    continue;
                }
                Err(NativeError::Unsupported(_)) => {
                    out.unsupported += 1;
                    continue;
                }
            }
        } else {
            out.unsupported += 1;
            continue;
        };
        out.slots.push(SlotRequest {
            id: imp.id.clone(),
            slot,
            count: 1,
            floor_ecpm_micros: floor,
            allow_same_advertiser: false,
            terms,
        });
    }
    out
}

/// The currency we answer in: ours when the request allows it (no `cur` means USD), else the
/// first listed one we can convert to; `None` (no bid) when we can convert to none of them.
pub fn response_currency(req: &BidRequest, rates: &Rates) -> Option<String> {
    // No `cur` means USD, as the specification says (not our marketplace currency).
    let usd = ["USD".to_string()];
    let wanted: &[String] = if req.cur.is_empty() { &usd } else { &req.cur };
    if wanted
        .iter()
        .any(|c| c.eq_ignore_ascii_case(rates.marketplace()))
    {
        return Some(rates.marketplace().to_string());
    }
    wanted
        .iter()
        .find(|c| rates.knows(c))
        .map(|c| c.to_ascii_uppercase())
}

/// OpenRTB `device.devicetype` as our device class.
pub fn device_class(devicetype: Option<u8>) -> Option<Device> {
    match devicetype? {
        2 => Some(Device::Desktop),
        1 | 4 => Some(Device::Mobile),
        5 => Some(Device::Tablet),
        _ => None,
    }
}

/// The CPM we bid, micros: the advertiser's value (eCPM: the CPM bid, or CPC bid x pCTR x
/// 1000), never our internal clearing price. In a first-price auction (`at=1`) the value is
/// shaded: we bid the floor plus `(1 - shade)` of the surplus over it, the documented rule
/// (`shade_bps` basis points, 2,000 by default). `None` when the value is under the floor.
pub fn bid_cpm_micros(
    value_micros: i64,
    floor_micros: i64,
    first_price: bool,
    shade_bps: u32,
) -> Option<i64> {
    if value_micros <= 0 || value_micros < floor_micros {
        return None;
    }
    if !first_price {
        return Some(value_micros);
    }
    let surplus = i128::from(value_micros - floor_micros);
    let kept = surplus * i128::from(10_000 - shade_bps.min(10_000)) / 10_000;
    Some(floor_micros + kept as i64)
}

/// The CPM we bid for an ad worth `value_micros`, micros: through `deal` when it won through
/// one (the deal's floor instead of the imp's, the deal's auction type when it states one,
/// and at a fixed-price deal (`at` 3) exactly its floor), else as [`bid_cpm_micros`]. Always
/// within [floor, value]; `None` when the value is under the floor.
pub fn placed_bid_cpm_micros(
    value_micros: i64,
    imp_floor_micros: i64,
    deal: Option<&DealOffer>,
    first_price: bool,
    shade_bps: u32,
) -> Option<i64> {
    let Some(deal) = deal else {
        return bid_cpm_micros(value_micros, imp_floor_micros, first_price, shade_bps);
    };
    let floor = deal.floor_ecpm_micros;
    match deal.at {
        Some(3) => (value_micros > 0 && value_micros >= floor).then_some(floor),
        Some(1) => bid_cpm_micros(value_micros, floor, true, shade_bps),
        Some(2) => bid_cpm_micros(value_micros, floor, false, shade_bps),
        // No type, or one we do not know (exchange-specific values start at 500): the
        // request's own auction type, so a first-price request is never bid at full value.
        _ => bid_cpm_micros(value_micros, floor, first_price, shade_bps),
    }
}

/// Escapes text for an HTML attribute value in double quotes.
pub fn escape_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// The signed URLs of one offsite bid.
#[derive(Debug, Clone)]
pub struct BidUrls {
    /// Render pixel (counts the impression, never charges offsite).
    pub impression: String,
    /// Click redirect.
    pub click: String,
    /// Billing notice, ending in `price=${AUCTION_PRICE}`.
    pub bill: String,
    /// Loss notice (releases the reservation).
    pub loss: String,
}

fn banner_markup(p: &Placed, pixel: &str, click: &str) -> String {
    let img = p.creative.image_url.as_deref().unwrap_or("");
    let (w, h) = (
        p.creative.width.unwrap_or(0),
        p.creative.height.unwrap_or(0),
    );
    format!(
        "<a href=\"{}\" target=\"_blank\"><img src=\"{}\" width=\"{w}\" height=\"{h}\" alt=\"\"></a>\
         <img src=\"{}\" width=\"1\" height=\"1\" style=\"display:none\" alt=\"\">",
        escape_attr(click),
        escape_attr(img),
        escape_attr(pixel),
    )
}

/// The bid for a placed ad at `price_micros` (in the response currency). Only the notice
/// the exchange bills through carries `${AUCTION_PRICE}`; the others only count. A native
/// creative answers its slot's `native` request (Native 1.2 response); `None` when it has
/// none or cannot fill a required asset (the auction admitted only creatives that can).
pub fn bid_for(
    p: &Placed,
    price_micros: i64,
    urls: &BidUrls,
    exchange: &Exchange,
    native: Option<&NativeRequest>,
) -> Option<Bid> {
    let pixel = match exchange.billing {
        BillingNotice::Adm => urls.bill.as_str(),
        _ => urls.impression.as_str(),
    };
    let (adm, mtype) = match p.creative.kind {
        CreativeKind::Native => (
            native?.markup(&p.creative, &urls.click, pixel)?,
            crate::mtype::NATIVE,
        ),
        _ => (banner_markup(p, pixel, &urls.click), crate::mtype::BANNER),
    };
    let li = &p.candidate.line_item;
    let native = p.creative.kind == CreativeKind::Native;
    Some(Bid {
        id: p.decision_id.to_string(),
        impid: p.slot_id.clone(),
        price: micros_to_cpm(price_micros),
        adm,
        nurl: (exchange.billing == BillingNotice::Nurl).then(|| urls.bill.clone()),
        burl: (exchange.billing == BillingNotice::Burl).then(|| urls.bill.clone()),
        lurl: Some(urls.loss.clone()),
        // As long as the budget reservation holds.
        exp: Some(endcap_auction::RESERVATION_TTL.as_secs() as u32),
        crid: p.creative.id.to_string(),
        cid: li.campaign_id.to_string(),
        adomain: p.candidate.adomain(&p.creative),
        // w/h describe banner markup; a native answer's sizes are inside its assets.
        w: p.creative.width.filter(|_| !native),
        h: p.creative.height.filter(|_| !native),
        mtype,
        cat: p.creative.iab_categories.clone(),
        cattax: (!p.creative.iab_categories.is_empty()).then_some(1),
        bundle: p.creative.app_bundle.clone(),
        attr: p.creative.attributes.clone(),
        dealid: p.deal.as_ref().map(|d| d.id.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_price_bids_the_value_and_first_price_shades_toward_the_floor() {
        assert_eq!(
            bid_cpm_micros(4_000_000, 1_000_000, false, 2_000),
            Some(4_000_000)
        );
        // Surplus 3.00 over the floor, 20% shaded: 1.00 + 2.40.
        assert_eq!(
            bid_cpm_micros(4_000_000, 1_000_000, true, 2_000),
            Some(3_400_000)
        );
        assert_eq!(bid_cpm_micros(900_000, 1_000_000, false, 2_000), None);
        assert_eq!(bid_cpm_micros(0, 0, false, 0), None);
    }

    #[test]
    fn a_deal_bid_is_never_under_its_floor_nor_over_the_value() {
        let deal = |floor: i64, at: Option<u32>| DealOffer {
            id: "d".into(),
            floor_ecpm_micros: floor,
            at,
        };
        // The deal's floor replaces the imp's (here higher, 5.00).
        assert_eq!(
            placed_bid_cpm_micros(
                4_000_000,
                5_000_000,
                Some(&deal(1_000_000, None)),
                false,
                2_000
            ),
            Some(4_000_000)
        );
        // First price, from the request or the deal: shaded toward the deal floor.
        assert_eq!(
            placed_bid_cpm_micros(4_000_000, 0, Some(&deal(1_000_000, None)), true, 2_000),
            Some(3_400_000)
        );
        assert_eq!(
            placed_bid_cpm_micros(4_000_000, 0, Some(&deal(1_000_000, Some(1))), false, 2_000),
            Some(3_400_000)
        );
        // A deal's second price overrides a first-price request: the value.
        assert_eq!(
            placed_bid_cpm_micros(4_000_000, 0, Some(&deal(1_000_000, Some(2))), true, 2_000),
            Some(4_000_000)
        );
        // An auction type we do not know follows the request's: shaded in a first-price one.
        for unknown in [0, 4, 501] {
            assert_eq!(
                placed_bid_cpm_micros(
                    4_000_000,
                    0,
                    Some(&deal(1_000_000, Some(unknown))),
                    true,
                    2_000
                ),
                Some(3_400_000),
                "at = {unknown}"
            );
        }
        // Fixed price: exactly the floor, if the value reaches it.
        assert_eq!(
            placed_bid_cpm_micros(4_000_000, 0, Some(&deal(1_500_000, Some(3))), false, 0),
            Some(1_500_000)
        );
        assert_eq!(
            placed_bid_cpm_micros(1_000_000, 0, Some(&deal(1_500_000, Some(3))), false, 0),
            None
        );
        // A deal floor above the value: no bid.
        assert_eq!(
            placed_bid_cpm_micros(1_000_000, 0, Some(&deal(1_500_000, None)), true, 2_000),
            None
        );
        // No deal: the imp's floor.
        assert_eq!(
            placed_bid_cpm_micros(1_000_000, 1_500_000, None, false, 0),
            None
        );
    }

    #[test]
    fn attribute_text_cannot_close_the_attribute() {
        assert_eq!(
            escape_attr(r#"https://c.x/a.png"onerror="alert(1)"#),
            "https://c.x/a.png&quot;onerror=&quot;alert(1)"
        );
        assert_eq!(escape_attr("<a&'>"), "&lt;a&amp;&#39;&gt;");
    }

    #[test]
    fn devices_map_from_openrtb_types() {
        assert_eq!(device_class(Some(2)), Some(Device::Desktop));
        assert_eq!(device_class(Some(4)), Some(Device::Mobile));
        assert_eq!(device_class(Some(3)), None);
        assert_eq!(device_class(None), None);
    }

    #[test]
    fn floors_in_other_currencies_are_converted_or_the_imp_is_skipped() {
        let req: BidRequest = serde_json::from_value(serde_json::json!({
            "id": "r", "imp": [
                {"id": "1", "banner": {"w": 300, "h": 250}, "bidfloor": 1.0, "bidfloorcur": "EUR"},
                {"id": "2", "banner": {"w": 300, "h": 250}, "bidfloor": 1.0, "bidfloorcur": "JPY"},
                {"id": "3", "banner": {"w": 300, "h": 250}, "bidfloor": 0.5},
                {"id": "4", "video": {}}
            ]
        }))
        .unwrap();
        let rates = Rates::parse("USD", "EUR:1.1").unwrap();
        let s = offsite_slots(&req, &rates, 0, true);
        let floors: Vec<(&str, i64)> = s
            .slots
            .iter()
            .map(|s| (s.id.as_str(), s.floor_ecpm_micros))
            .collect();
        assert_eq!(floors, vec![("1", 1_100_000), ("3", 500_000)]);
        assert_eq!((s.unsupported, s.unknown_currency), (1, 1));
        assert_eq!(response_currency(&req, &rates).as_deref(), Some("USD"));
        // A secure page and http tracking URLs: that imp is not bid on.
        let secure: BidRequest = serde_json::from_value(serde_json::json!({
            "id": "r", "imp": [
                {"id": "1", "banner": {"w": 300, "h": 250}, "secure": 1},
                {"id": "2", "banner": {"w": 300, "h": 250}}
            ]
        }))
        .unwrap();
        let s = offsite_slots(&secure, &rates, 0, false);
        assert_eq!(
            (s.slots.len(), s.slots[0].id.as_str(), s.insecure),
            (1, "2", 1)
        );
        assert_eq!(offsite_slots(&secure, &rates, 0, true).slots.len(), 2);
    }

    #[test]
    fn no_cur_means_usd_whatever_our_currency() {
        let req: BidRequest = serde_json::from_value(serde_json::json!({
            "id": "r", "imp": [{"id": "1", "banner": {"w": 300, "h": 250}}]
        }))
        .unwrap();
        let eur_with_usd = Rates::parse("EUR", "USD:0.9").unwrap();
        assert_eq!(
            response_currency(&req, &eur_with_usd).as_deref(),
            Some("USD"),
            "converted to USD, never answered in EUR unasked"
        );
        let eur_only = Rates::parse("EUR", "").unwrap();
        assert_eq!(response_currency(&req, &eur_only), None, "no rate: no bid");
    }
}
