//! The parts of OpenRTB 2.6 a bidder needs.
//!
//! Request types keep only the fields Endcap reads and ignore the rest (exchanges send many
//! extensions); response types write only what a valid BidResponse needs. Prices cross this
//! boundary as OpenRTB's floating CPM in currency units and are turned into integer micros
//! right here ([`cpm_to_micros`], [`micros_to_cpm`]), so nothing past it handles floats.
#![warn(missing_docs)]

use serde::{Deserialize, Serialize};

mod bidding;
mod blocking;
mod consent;
mod eids;
mod fx;
mod native;
mod price;

pub use bidding::{
    bid_cpm_micros, bid_for, device_class, escape_attr, offsite_slots, placed_bid_cpm_micros,
    response_currency, BidUrls, BillingNotice, Exchange, OffsiteSlots, AUCTION_PRICE_MACRO,
};
pub use blocking::{deal_price_floor, request_blocks, slot_terms, SEAT};
pub use consent::{
    us_opt_outs, us_privacy_opted_out, ConsentError, ConsentPolicy, GppString, PrivacySignals,
    PublisherRestriction, TcString, UsOptOuts, VendorSet, REQUIRED_PURPOSES,
};
pub use eids::{Eid, EidUid, MAX_EIDS};
pub use fx::Rates;
pub use native::{NativeError, NativeRequest, Trackers, MAX_ASSETS, MAX_NATIVE_REQUEST};
pub use price::{clearing_price, ClearPrice, HmacSha1Price, PriceDecoder, PriceError};

/// A bid request.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct BidRequest {
    /// Request id, echoed in the response.
    pub id: String,
    /// Impressions offered.
    #[serde(default)]
    pub imp: Vec<Imp>,
    /// The site, for web traffic.
    #[serde(default)]
    pub site: Option<Site>,
    /// The app, for app traffic.
    #[serde(default)]
    pub app: Option<App>,
    /// The device.
    #[serde(default)]
    pub device: Option<Device>,
    /// The user.
    #[serde(default)]
    pub user: Option<User>,
    /// 1 for a test request: answer, but bill nothing.
    #[serde(default)]
    pub test: u8,
    /// Auction type: 1 first price, 2 second price.
    #[serde(default)]
    pub at: Option<u8>,
    /// Milliseconds the exchange waits for the answer.
    #[serde(default)]
    pub tmax: Option<u64>,
    /// Currencies the exchange accepts.
    #[serde(default)]
    pub cur: Vec<String>,
    /// Blocked IAB content categories of the advertiser.
    #[serde(default)]
    pub bcat: Vec<String>,
    /// Blocked advertiser domains.
    #[serde(default)]
    pub badv: Vec<String>,
    /// Regulations in force for this request.
    #[serde(default)]
    pub regs: Option<Regs>,
    /// The taxonomy of `bcat` (OpenRTB 2.6 list; absent or 1: IAB Content Taxonomy 1.0,
    /// the only one Endcap speaks).
    #[serde(default)]
    pub cattax: Option<u16>,
    /// Blocked app bundles (apps whose ads may not show).
    #[serde(default)]
    pub bapp: Vec<String>,
}

/// `regs`: the privacy rules in force (OpenRTB 2.6, with 2.5's `ext` placements read too).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Regs {
    /// 1 when GDPR applies.
    #[serde(default)]
    pub gdpr: Option<u8>,
    /// The IAB US Privacy string (CCPA), e.g. `1YYN`.
    #[serde(default)]
    pub us_privacy: Option<String>,
    /// The IAB Global Privacy Platform string.
    #[serde(default)]
    pub gpp: Option<String>,
    /// GPP sections in force (`-1` or `0` alone: none). Signed, as exchanges send `[-1]`.
    #[serde(default)]
    pub gpp_sid: Vec<i64>,
    /// OpenRTB 2.5 extension (`ext.gdpr`, `ext.us_privacy`).
    #[serde(default)]
    pub ext: Option<serde_json::Value>,
}

/// One impression offered.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Imp {
    /// Impression id, unique in the request.
    pub id: String,
    /// Banner object, for display.
    #[serde(default)]
    pub banner: Option<Banner>,
    /// Native object.
    #[serde(default)]
    pub native: Option<Native>,
    /// Video object (Endcap does not bid on video).
    #[serde(default)]
    pub video: Option<serde_json::Value>,
    /// Minimum CPM bid, in `bidfloorcur`.
    #[serde(default)]
    pub bidfloor: f64,
    /// Currency of the floor (default USD).
    #[serde(default)]
    pub bidfloorcur: Option<String>,
    /// The publisher's placement id.
    #[serde(default)]
    pub tagid: Option<String>,
    /// 1: the page is https, so markup and every URL in it must be (OpenRTB `imp.secure`).
    #[serde(default)]
    pub secure: Option<u8>,
    /// Private marketplace deals offered on this impression.
    #[serde(default)]
    pub pmp: Option<Pmp>,
}

/// `imp.pmp`: the deals an impression is offered through.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Pmp {
    /// 1: only bids on one of `deals` are accepted; 0: the open auction too.
    #[serde(default)]
    pub private_auction: u8,
    /// The deals.
    #[serde(default)]
    pub deals: Vec<Deal>,
}

/// One deal of `imp.pmp`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Deal {
    /// The deal id (matched against line items' `targeting.deals`).
    pub id: String,
    /// The deal's floor CPM in `bidfloorcur`; absent: the imp's floor applies.
    #[serde(default)]
    pub bidfloor: Option<f64>,
    /// Currency of the deal's floor (default USD).
    #[serde(default)]
    pub bidfloorcur: Option<String>,
    /// The deal's auction type: 1 first price, 2 second price, 3 fixed price at `bidfloor`
    /// (exchange-specific values from 500 are taken, and bid as the request's type).
    #[serde(default)]
    pub at: Option<u32>,
    /// Seats allowed to bid (empty: any); Endcap bids only when [`SEAT`] is named.
    #[serde(default)]
    pub wseat: Vec<String>,
}

/// A banner slot.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Banner {
    /// Width.
    #[serde(default)]
    pub w: Option<u32>,
    /// Height.
    #[serde(default)]
    pub h: Option<u32>,
    /// Allowed sizes.
    #[serde(default)]
    pub format: Vec<Format>,
    /// Blocked creative attributes (OpenRTB list 5.3; ids outside 1..=17 are ignored).
    #[serde(default)]
    pub battr: Vec<i64>,
}

/// One allowed banner size.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Format {
    /// Width.
    #[serde(default)]
    pub w: u32,
    /// Height.
    #[serde(default)]
    pub h: u32,
}

/// A native slot.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Native {
    /// The native request: a JSON string per the spec, or an object (parsed by
    /// [`NativeRequest::parse`]).
    #[serde(default)]
    pub request: serde_json::Value,
    /// Native spec version.
    #[serde(default)]
    pub ver: Option<String>,
    /// Blocked creative attributes (OpenRTB list 5.3; ids outside 1..=17 are ignored).
    #[serde(default)]
    pub battr: Vec<i64>,
}

/// The site.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Site {
    /// Site id.
    #[serde(default)]
    pub id: Option<String>,
    /// Domain.
    #[serde(default)]
    pub domain: Option<String>,
    /// Page URL.
    #[serde(default)]
    pub page: Option<String>,
    /// IAB categories of the site.
    #[serde(default)]
    pub cat: Vec<String>,
}

/// The app.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct App {
    /// App id.
    #[serde(default)]
    pub id: Option<String>,
    /// Bundle id.
    #[serde(default)]
    pub bundle: Option<String>,
    /// IAB categories of the app.
    #[serde(default)]
    pub cat: Vec<String>,
}

/// The device.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Device {
    /// OpenRTB device type: 1 mobile/tablet, 2 PC, 3 TV, 4 phone, 5 tablet, 6 connected, 7 set top box.
    #[serde(default)]
    pub devicetype: Option<u8>,
    /// Advertising id.
    #[serde(default)]
    pub ifa: Option<String>,
    /// User agent.
    #[serde(default)]
    pub ua: Option<String>,
}

/// The user.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct User {
    /// Exchange-specific user id.
    #[serde(default)]
    pub id: Option<String>,
    /// Buyer-specific user id (a hashed retailer user key when the exchange syncs ids).
    #[serde(default)]
    pub buyeruid: Option<String>,
    /// The TCF v2 consent string, when GDPR applies.
    #[serde(default)]
    pub consent: Option<String>,
    /// OpenRTB 2.5 extension (`ext.consent`).
    #[serde(default)]
    pub ext: Option<serde_json::Value>,
    /// Extended ids (UID2, RampID, ...): see [`User::eid_pairs`].
    #[serde(default)]
    pub eids: Vec<Eid>,
}

/// A bid response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BidResponse {
    /// The request's id.
    pub id: String,
    /// Bids by seat.
    pub seatbid: Vec<SeatBid>,
    /// Currency of the prices.
    pub cur: String,
}

/// Bids of one seat.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeatBid {
    /// The bids.
    pub bid: Vec<Bid>,
    /// Seat id.
    pub seat: String,
}

/// One bid.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bid {
    /// Bid id.
    pub id: String,
    /// The impression bid on.
    pub impid: String,
    /// CPM price in the response currency.
    pub price: f64,
    /// Ad markup.
    pub adm: String,
    /// Win notice URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nurl: Option<String>,
    /// Billing notice URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub burl: Option<String>,
    /// Loss notice URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lurl: Option<String>,
    /// Seconds the bid may wait between the auction and the billing notice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<u32>,
    /// Creative id.
    pub crid: String,
    /// Campaign id.
    pub cid: String,
    /// Advertiser domains.
    pub adomain: Vec<String>,
    /// Width, for banners.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub w: Option<u32>,
    /// Height, for banners.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub h: Option<u32>,
    /// The markup's type, as OpenRTB 2.6 lists it: 1 banner, 4 native.
    pub mtype: u8,
    /// The creative's IAB categories (taxonomy `cattax`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cat: Vec<String>,
    /// Taxonomy of `cat`: 1, IAB Content Taxonomy 1.0 (sent with `cat`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cattax: Option<u8>,
    /// The app the creative promotes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle: Option<String>,
    /// The creative's attributes (OpenRTB list 5.3).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attr: Vec<u8>,
    /// The deal the bid is made through.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dealid: Option<String>,
}

/// OpenRTB 2.6 `bid.mtype` values Endcap answers.
pub mod mtype {
    /// Banner markup.
    pub const BANNER: u8 = 1;
    /// Native markup.
    pub const NATIVE: u8 = 4;
}

/// Why a request is refused outright.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct RequestError {
    /// JSON path of the field.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn err(field: impl Into<String>, message: impl Into<String>) -> RequestError {
    RequestError {
        field: field.into(),
        message: message.into(),
    }
}

impl BidRequest {
    /// Whether the user may be treated as a person (segments, caps, holdouts, user-level
    /// logging) rather than served contextually. Every signal present must allow it:
    /// - GDPR (`regs.gdpr` = 1): `user.consent` must be a TCF v2 string granting `policy`'s
    ///   vendor the purposes it needs ([`ConsentPolicy::allows`]); no string, an undecodable
    ///   one or no configured vendor id means no consent.
    /// - US Privacy: a sale opt-out (`1?Y?`) or a malformed string refuses.
    /// - GPP: the sections in force (`gpp_sid`, or every section of `gpp` when it names
    ///   none) must allow it ([`ConsentPolicy::gpp_allows`]); a malformed string, or sections
    ///   in force without a string, refuses.
    ///
    /// Refused requests still get contextual ads.
    pub fn personalization_allowed(&self, policy: &ConsentPolicy) -> bool {
        let Some(r) = &self.regs else {
            return true;
        };
        let ext = |k: &str| r.ext.as_ref().and_then(|e| e.get(k));
        PrivacySignals {
            gdpr: r
                .gdpr
                .map(u64::from)
                .or_else(|| ext("gdpr").and_then(|v| v.as_u64())),
            consent: self.user.as_ref().and_then(|u| {
                u.consent.as_deref().or_else(|| {
                    u.ext
                        .as_ref()
                        .and_then(|e| e.get("consent"))
                        .and_then(|v| v.as_str())
                })
            }),
            us_privacy: r
                .us_privacy
                .as_deref()
                .or_else(|| ext("us_privacy").and_then(|v| v.as_str())),
            gpp: r.gpp.as_deref(),
            gpp_sid: &r.gpp_sid,
        }
        .allow(policy)
    }
}

/// Most banner sizes (and currencies) one impression (request) may list.
pub const MAX_FORMATS: usize = 20;
/// Most blocked advertisers or categories one request may list.
pub const MAX_BLOCKED: usize = 500;

/// Most deals one impression may offer.
pub const MAX_DEALS: usize = 100;

/// Most impressions one bid request may carry (a page has a handful of slots; more is
/// abuse, and each costs a full auction).
pub const MAX_IMPS: usize = 20;

impl BidRequest {
    /// Checks what the spec requires: an id, at least one impression, unique impression
    /// ids, finite non-negative floors.
    pub fn validate(&self) -> Result<(), RequestError> {
        if self.id.trim().is_empty() {
            return Err(err("id", "is required"));
        }
        if self.imp.is_empty() {
            return Err(err("imp", "needs at least one impression"));
        }
        if self.imp.len() > MAX_IMPS {
            return Err(err(
                "imp",
                format!(
                    "has {} impressions; at most {MAX_IMPS} are taken",
                    self.imp.len()
                ),
            ));
        }
        let mut ids = std::collections::HashSet::with_capacity(self.imp.len());
        for (i, imp) in self.imp.iter().enumerate() {
            if imp.id.trim().is_empty() {
                return Err(err(format!("imp[{i}].id"), "is required"));
            }
            if imp.id.len() > 64 {
                return Err(err(format!("imp[{i}].id"), "is longer than 64 bytes"));
            }
            if !ids.insert(imp.id.as_str()) {
                return Err(err(format!("imp[{i}].id"), "is not unique"));
            }
            if !imp.bidfloor.is_finite() || imp.bidfloor < 0.0 {
                return Err(err(
                    format!("imp[{i}].bidfloor"),
                    "must be a finite CPM >= 0",
                ));
            }
            if let Some(pmp) = &imp.pmp {
                if pmp.deals.len() > MAX_DEALS {
                    return Err(err(
                        format!("imp[{i}].pmp.deals"),
                        format!("at most {MAX_DEALS} deals are taken"),
                    ));
                }
                for (j, d) in pmp.deals.iter().enumerate() {
                    if d.id.trim().is_empty() {
                        return Err(err(format!("imp[{i}].pmp.deals[{j}].id"), "is required"));
                    }
                    if d.bidfloor.is_some_and(|f| !f.is_finite() || f < 0.0) {
                        return Err(err(
                            format!("imp[{i}].pmp.deals[{j}].bidfloor"),
                            "must be a finite CPM >= 0",
                        ));
                    }
                }
            }
            if imp
                .banner
                .as_ref()
                .is_some_and(|b| b.format.len() > MAX_FORMATS)
            {
                return Err(err(
                    format!("imp[{i}].banner.format"),
                    format!("at most {MAX_FORMATS} sizes are taken"),
                ));
            }
        }
        for (field, n, max) in [
            ("badv", self.badv.len(), MAX_BLOCKED),
            ("bcat", self.bcat.len(), MAX_BLOCKED),
            ("bapp", self.bapp.len(), MAX_BLOCKED),
            ("cur", self.cur.len(), MAX_FORMATS),
        ] {
            if n > max {
                return Err(err(
                    field,
                    format!("has {n} entries; at most {max} are taken"),
                ));
            }
        }
        Ok(())
    }
}

/// An OpenRTB CPM (currency units per thousand) as integer micros, rounded to the nearest.
pub fn cpm_to_micros(cpm: f64) -> i64 {
    (cpm * 1_000_000.0).round().clamp(0.0, i64::MAX as f64) as i64
}

/// Integer micros per thousand as an OpenRTB CPM.
pub fn micros_to_cpm(micros: i64) -> f64 {
    micros as f64 / 1_000_000.0
}

/// No-bid reason codes, as the OpenRTB 2.x list numbers them (`BidResponse.nbr`).
pub mod nbr {
    /// Unknown error.
    pub const UNKNOWN_ERROR: u8 = 0;
    /// Technical error.
    pub const TECHNICAL_ERROR: u8 = 1;
    /// Invalid request.
    pub const INVALID_REQUEST: u8 = 2;
    /// Known web spider.
    pub const KNOWN_WEB_SPIDER: u8 = 3;
    /// Suspected non-human traffic.
    pub const SUSPECTED_NON_HUMAN: u8 = 4;
    /// Cloud, data center or proxy IP.
    pub const CLOUD_DATACENTER_PROXY: u8 = 5;
    /// Unsupported device.
    pub const UNSUPPORTED_DEVICE: u8 = 6;
    /// Blocked publisher or site.
    pub const BLOCKED_PUBLISHER: u8 = 7;
    /// Unmatched user.
    pub const UNMATCHED_USER: u8 = 8;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_capped_and_named() {
        let formats: Vec<serde_json::Value> = (0..21)
            .map(|i| serde_json::json!({"w": 300 + i, "h": 250}))
            .collect();
        let r: BidRequest = serde_json::from_value(serde_json::json!({"id": "r",
            "imp": [{"id": "1", "banner": {"format": formats}}]}))
        .unwrap();
        assert_eq!(r.validate().unwrap_err().field, "imp[0].banner.format");
        let r: BidRequest = serde_json::from_value(serde_json::json!({"id": "r",
            "imp": [{"id": "1"}], "badv": vec!["a.example"; 501]}))
        .unwrap();
        assert_eq!(r.validate().unwrap_err().field, "badv");
    }

    #[test]
    fn privacy_signals_turn_personalization_off() {
        let with = |regs: serde_json::Value| -> BidRequest {
            serde_json::from_value(
                serde_json::json!({"id": "r", "imp": [{"id": "1"}], "regs": regs}),
            )
            .unwrap()
        };
        let policy = ConsentPolicy {
            vendor_id: Some(755),
        };
        let allowed = |regs: serde_json::Value| with(regs).personalization_allowed(&policy);
        let none: BidRequest =
            serde_json::from_value(serde_json::json!({"id": "r", "imp": [{"id": "1"}]})).unwrap();
        assert!(none.personalization_allowed(&policy));
        assert!(allowed(serde_json::json!({"gdpr": 0})));
        assert!(!allowed(serde_json::json!({"gdpr": 1})));
        assert!(!allowed(serde_json::json!({"ext": {"gdpr": 1}})));
        assert!(!allowed(serde_json::json!({"us_privacy": "1YYN"})));
        assert!(!allowed(serde_json::json!({"ext": {"us_privacy": "1NYN"}})));
        assert!(allowed(serde_json::json!({"us_privacy": "1YNN"})));
        assert!(allowed(serde_json::json!({"us_privacy": "1---"})));
        assert!(allowed(serde_json::json!({"us_privacy": ""})));
        assert!(!allowed(serde_json::json!({"us_privacy": "yes"})));
        // The specification's example TC string does not name our vendor.
        assert!(!allowed(
            serde_json::json!({"gpp": "DBABMA~CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA", "gpp_sid": [2]})
        ));
        assert!(allowed(
            serde_json::json!({"gpp": "DBABTA~1YNN", "gpp_sid": [6]})
        ));
        assert!(!allowed(
            serde_json::json!({"gpp": "DBABTA~1YYN", "gpp_sid": [6]})
        ));
        assert!(!allowed(
            serde_json::json!({"gpp": "garbage", "gpp_sid": [6]})
        ));
        // Sections in force without the string to read them.
        assert!(!allowed(serde_json::json!({"gpp_sid": [2]})));
        // `-1`: no section applies.
        assert!(allowed(serde_json::json!({"gpp_sid": [-1]})));
        assert!(allowed(
            serde_json::json!({"gpp": "DBABTA~1YYN", "gpp_sid": [-1]})
        ));
    }

    #[test]
    fn gdpr_requests_are_personalised_only_with_our_consent() {
        let consenting = consent::encode::Tc {
            vendors: vec![755],
            ..Default::default()
        }
        .encode();
        let refusing = consent::encode::Tc::default().encode();
        let req = |user: serde_json::Value| -> BidRequest {
            serde_json::from_value(serde_json::json!({"id": "r", "imp": [{"id": "1"}],
                "regs": {"gdpr": 1}, "user": user}))
            .unwrap()
        };
        let ours = ConsentPolicy {
            vendor_id: Some(755),
        };
        assert!(req(serde_json::json!({"consent": consenting})).personalization_allowed(&ours));
        // OpenRTB 2.5 puts the string in user.ext.
        assert!(
            req(serde_json::json!({"ext": {"consent": consenting}})).personalization_allowed(&ours)
        );
        assert!(!req(serde_json::json!({"consent": refusing})).personalization_allowed(&ours));
        assert!(!req(serde_json::json!({"consent": "garbage"})).personalization_allowed(&ours));
        assert!(!req(serde_json::json!({})).personalization_allowed(&ours));
        // No vendor id configured: contextual, as before consent was decoded.
        assert!(!req(serde_json::json!({"consent": consenting}))
            .personalization_allowed(&ConsentPolicy::default()));
        // Other signals still apply on top of consent.
        let mut r = req(serde_json::json!({"consent": consenting}));
        if let Some(regs) = r.regs.as_mut() {
            regs.us_privacy = Some("1YYN".into());
        }
        assert!(!r.personalization_allowed(&ours));
        // The same string in a GPP TCF section.
        let gpp = consent::encode::gpp(&[(2, &consenting)]);
        let r: BidRequest = serde_json::from_value(serde_json::json!({"id": "r",
            "imp": [{"id": "1"}], "regs": {"gpp": gpp, "gpp_sid": [2]}}))
        .unwrap();
        assert!(r.personalization_allowed(&ours));
        assert!(!r.personalization_allowed(&ConsentPolicy::default()));
    }

    #[test]
    fn every_conformance_request_parses_and_validates() {
        // The IAB examples are the ad server's test fixtures (ENDCAP_CONFORMANCE_DIR overrides).
        let dir = std::env::var("ENDCAP_CONFORMANCE_DIR").unwrap_or_else(|_| {
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../services/ad-server/tests/fixtures/openrtb"
            )
            .to_string()
        });
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir}: {e}")) {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                let text = std::fs::read_to_string(&path).unwrap();
                let req: BidRequest = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                req.validate()
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                n += 1;
            }
        }
        assert!(n >= 11, "found {n} requests");
    }

    #[test]
    fn requests_without_id_or_imps_are_refused_naming_the_field() {
        let r: BidRequest = serde_json::from_str(r#"{"id":"","imp":[]}"#).unwrap();
        assert_eq!(r.validate().unwrap_err().field, "id");
        let r: BidRequest = serde_json::from_str(r#"{"id":"x","imp":[]}"#).unwrap();
        assert_eq!(r.validate().unwrap_err().field, "imp");
        let r: BidRequest =
            serde_json::from_str(r#"{"id":"x","imp":[{"id":"1"},{"id":"1"}]}"#).unwrap();
        assert_eq!(r.validate().unwrap_err().field, "imp[1].id");
        let r: BidRequest =
            serde_json::from_str(r#"{"id":"x","imp":[{"id":"1","bidfloor":-1}]}"#).unwrap();
        assert_eq!(r.validate().unwrap_err().field, "imp[0].bidfloor");
    }

    #[test]
    fn prices_round_trip_through_micros() {
        assert_eq!(cpm_to_micros(0.03), 30_000);
        assert_eq!(cpm_to_micros(1.234567), 1_234_567);
        assert_eq!(micros_to_cpm(2_500_000), 2.5);
        assert_eq!(cpm_to_micros(-3.0), 0);
    }
}
