//! IAB Native 1.2 on OpenRTB: the native request an imp carries (`imp.native.request`), and
//! the native response markup a bid's `adm` carries.
//!
//! The request is parsed into a protocol-free [`NativeLayout`] (what the slot asks for),
//! which the auction uses to admit only creatives that fill every required asset
//! ([`endcap_core::native::fills_required`]); the answer is written from what the winning
//! creative fills ([`endcap_core::native::fill`]), with asset ids echoing the request's.

use crate::{Native, RequestError};
use endcap_core::native::{fill, AssetSpec, AssetWant, DataKind, Filled, ImageKind};
use endcap_core::{Creative, NativeLayout};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

/// Longest native request string taken (the spec's examples are under 1 KiB).
pub const MAX_NATIVE_REQUEST: usize = 32 * 1024;
/// Most assets one native request may ask for.
pub const MAX_ASSETS: usize = 64;

/// Where a native response puts our impression pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trackers {
    /// Native 1.2 `eventtrackers` (`event` 1 impression, `method` 1 image pixel): the
    /// request listed event trackers and accepts that one.
    Event,
    /// `imptrackers`: the request listed no event trackers (or predates Native 1.2).
    Imp,
}

/// A parsed native request: what the slot asks for and how to answer it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeRequest {
    /// The assets asked for, shared with the auction's slot.
    pub layout: Arc<NativeLayout>,
    /// The Native version the answer declares: `1.2`, or the request's older `1.0`/`1.1`.
    pub ver: &'static str,
    /// The request had the pre-1.1 `{"native": {...}}` root, so the answer has it too.
    pub wrapped: bool,
    /// Where our impression pixel goes.
    pub trackers: Trackers,
    /// `context` (1 content, 2 social, 3 product), when given.
    pub context: Option<u32>,
    /// `plcmttype` (1 in-feed, 2 atomic, 3 outside content, 4 recommendation), when given.
    pub plcmttype: Option<u32>,
}

/// Why an imp's native request is not bid on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NativeError {
    /// Not a valid native request (the field is named).
    #[error("{0}")]
    Malformed(RequestError),
    /// Valid, but asks for what we cannot answer (another Native major version, or event
    /// trackers none of which take our image pixel).
    #[error("unsupported native request: {0}")]
    Unsupported(String),
}

fn malformed(field: impl Into<String>, message: impl Into<String>) -> NativeError {
    NativeError::Malformed(RequestError {
        field: field.into(),
        message: message.into(),
    })
}

#[derive(Deserialize)]
struct RawRequest {
    #[serde(default)]
    ver: Option<Value>,
    // Read leniently: they change nothing we answer.
    #[serde(default)]
    context: Option<Value>,
    #[serde(default)]
    plcmttype: Option<Value>,
    #[serde(default)]
    assets: Option<Vec<Value>>,
    #[serde(default)]
    eventtrackers: Option<Vec<RawEventTracker>>,
}

#[derive(Deserialize)]
struct RawEventTracker {
    event: u32,
    #[serde(default)]
    methods: Vec<u32>,
}

#[derive(Deserialize)]
struct RawAsset {
    id: u64,
    #[serde(default)]
    required: Option<Value>,
    #[serde(default)]
    title: Option<RawTitle>,
    #[serde(default)]
    img: Option<RawImg>,
    #[serde(default)]
    data: Option<RawData>,
    #[serde(default)]
    video: Option<Value>,
}

#[derive(Deserialize)]
struct RawTitle {
    #[serde(default)]
    len: Option<u32>,
}

#[derive(Deserialize)]
struct RawImg {
    #[serde(default, rename = "type")]
    kind: Option<u32>,
    #[serde(default)]
    w: Option<u32>,
    #[serde(default)]
    h: Option<u32>,
    #[serde(default)]
    wmin: Option<u32>,
    #[serde(default)]
    hmin: Option<u32>,
    #[serde(default)]
    mimes: Vec<String>,
}

#[derive(Deserialize)]
struct RawData {
    #[serde(rename = "type")]
    kind: u32,
    #[serde(default)]
    len: Option<u32>,
}

/// A version as the request writes it (string, or a number some exchanges send).
fn version_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The answer's version for a request's, `None` for a version we do not speak.
fn answer_version(v: &str) -> Option<&'static str> {
    match v {
        "1.2" => Some("1.2"),
        "1" | "1.0" => Some("1.0"),
        "1.1" => Some("1.1"),
        _ => None,
    }
}

/// An enum value the request may send, when it is one.
fn small(v: Option<&Value>) -> Option<u32> {
    v?.as_u64().and_then(|n| u32::try_from(n).ok())
}

/// A length limit: 0 or absent is none.
fn limit(len: Option<u32>) -> Option<usize> {
    len.filter(|l| *l > 0).map(|l| l as usize)
}

impl NativeRequest {
    /// Parses `imp.native`: its `request` is the native request as a JSON string (as
    /// OpenRTB 2.x says) or, as some exchanges send it, an object; `imp.native.ver` is the
    /// version when the request names none (1.2 when neither does). `field` is the
    /// request's path, for errors (e.g. `imp[0].native.request`).
    pub fn parse(native: &Native, field: &str) -> Result<Self, NativeError> {
        let parsed;
        let root = match &native.request {
            Value::String(s) if s.len() > MAX_NATIVE_REQUEST => {
                return Err(malformed(
                    field,
                    format!("is longer than {MAX_NATIVE_REQUEST} bytes"),
                ))
            }
            Value::String(s) => {
                parsed = serde_json::from_str::<Value>(s)
                    .map_err(|e| malformed(field, format!("is not JSON: {e}")))?;
                &parsed
            }
            Value::Object(_) => &native.request,
            Value::Null => return Err(malformed(field, "is required")),
            _ => return Err(malformed(field, "must be a JSON string or object")),
        };
        // Before 1.1 the request could sit under a `native` key; 1.2 made the object the root.
        let (root, wrapped) = match root.get("native") {
            Some(inner @ Value::Object(_)) => (inner, true),
            _ => (root, false),
        };
        if !root.is_object() {
            return Err(malformed(field, "must be a JSON object"));
        }
        let raw = RawRequest::deserialize(root)
            .map_err(|e| malformed(field, format!("is not a native request: {e}")))?;
        let ver = match raw.ver.as_ref().filter(|v| !v.is_null()) {
            Some(v) => version_text(v)
                .ok_or_else(|| malformed(format!("{field}.ver"), "must be a string"))?,
            None => String::new(),
        };
        let ver = match ver.as_str() {
            "" => native
                .ver
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .unwrap_or("1.2"),
            v => v,
        };
        let ver = answer_version(ver)
            .ok_or_else(|| NativeError::Unsupported(format!("native version {ver}")))?;
        let assets = raw
            .assets
            .ok_or_else(|| malformed(format!("{field}.assets"), "is required"))?;
        if assets.is_empty() {
            return Err(malformed(
                format!("{field}.assets"),
                "needs at least one asset",
            ));
        }
        if assets.len() > MAX_ASSETS {
            return Err(malformed(
                format!("{field}.assets"),
                format!("at most {MAX_ASSETS} assets are taken"),
            ));
        }
        let mut specs: Vec<AssetSpec> = Vec::with_capacity(assets.len());
        for (i, a) in assets.into_iter().enumerate() {
            let at = format!("{field}.assets[{i}]");
            let a: RawAsset =
                serde_json::from_value(a).map_err(|e| malformed(&at, e.to_string()))?;
            if specs.iter().any(|s| s.id == a.id) {
                return Err(malformed(format!("{at}.id"), "is not unique"));
            }
            let required = match &a.required {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n <= 1) => {
                    n.as_u64() == Some(1)
                }
                Some(_) => return Err(malformed(format!("{at}.required"), "must be 0 or 1")),
            };
            let mut wants = Vec::with_capacity(1);
            if let Some(t) = &a.title {
                wants.push(AssetWant::Title { len: limit(t.len) });
            }
            if let Some(img) = a.img {
                let kind = match img.kind {
                    None | Some(3) => ImageKind::Main,
                    Some(1) => ImageKind::Icon,
                    Some(_) => ImageKind::Other,
                };
                wants.push(AssetWant::Image {
                    kind,
                    w: img.w,
                    h: img.h,
                    wmin: img.wmin,
                    hmin: img.hmin,
                    mimes: img
                        .mimes
                        .iter()
                        .map(|m| m.trim().to_ascii_lowercase())
                        .collect(),
                });
            }
            if let Some(d) = &a.data {
                let kind = match d.kind {
                    1 => DataKind::Sponsored,
                    2 => DataKind::Description,
                    3 => DataKind::Rating,
                    6 => DataKind::Price,
                    11 => DataKind::DisplayUrl,
                    12 => DataKind::CtaText,
                    _ => DataKind::Other,
                };
                wants.push(AssetWant::Data {
                    kind,
                    len: limit(d.len),
                });
            }
            if a.video.is_some() {
                wants.push(AssetWant::Video);
            }
            let want = match wants.len() {
                1 => wants.remove(0),
                0 => return Err(malformed(&at, "needs one of title, img, data or video")),
                _ => {
                    return Err(malformed(
                        &at,
                        "must have only one of title, img, data or video",
                    ))
                }
            };
            specs.push(AssetSpec {
                id: a.id,
                required,
                want,
            });
        }
        // Event trackers exist from 1.2 on. Listed ones must take our image pixel for
        // impressions, or the impression (and, billed through `adm`, the charge) is lost.
        let trackers = match raw.eventtrackers.as_deref() {
            Some(list) if ver == "1.2" && !list.is_empty() => {
                if list.iter().any(|t| t.event == 1 && t.methods.contains(&1)) {
                    Trackers::Event
                } else {
                    return Err(NativeError::Unsupported(
                        "no event tracker takes an impression image pixel".into(),
                    ));
                }
            }
            _ => Trackers::Imp,
        };
        Ok(Self {
            layout: Arc::new(NativeLayout { assets: specs }),
            ver,
            wrapped,
            trackers,
            context: small(raw.context.as_ref()),
            plcmttype: small(raw.plcmttype.as_ref()),
        })
    }

    /// The native response (`adm`) for creative `c`: the assets it fills with the request's
    /// ids, `link.url` our signed `click` URL, and our impression `pixel` as an event
    /// tracker or imp tracker; `None` when `c` cannot fill a required asset.
    pub fn markup(&self, c: &Creative, click: &str, pixel: &str) -> Option<String> {
        let filled = fill(c, &self.layout)?;
        let assets = filled
            .into_iter()
            .map(|(id, f)| {
                let mut a = RespAsset {
                    id,
                    title: None,
                    img: None,
                    data: None,
                };
                match f {
                    Filled::Title(text) => a.title = Some(RespTitle { text }),
                    Filled::Image { url, w, h } => a.img = Some(RespImg { url, w, h }),
                    Filled::Data(value) => a.data = Some(RespData { value }),
                }
                a
            })
            .collect();
        let (eventtrackers, imptrackers) = match self.trackers {
            Trackers::Event => (
                vec![RespEventTracker {
                    event: 1,
                    method: 1,
                    url: pixel,
                }],
                vec![],
            ),
            Trackers::Imp => (vec![], vec![pixel]),
        };
        let resp = Resp {
            ver: self.ver,
            assets,
            link: RespLink { url: click },
            eventtrackers,
            imptrackers,
        };
        let out = if self.wrapped {
            serde_json::to_string(&Wrapped { native: resp })
        } else {
            serde_json::to_string(&resp)
        };
        out.ok()
    }
}

#[derive(Serialize)]
struct Wrapped<'a> {
    native: Resp<'a>,
}

#[derive(Serialize)]
struct Resp<'a> {
    ver: &'static str,
    assets: Vec<RespAsset<'a>>,
    link: RespLink<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    eventtrackers: Vec<RespEventTracker<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    imptrackers: Vec<&'a str>,
}

#[derive(Serialize)]
struct RespAsset<'a> {
    id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<RespTitle<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    img: Option<RespImg<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<RespData<'a>>,
}

#[derive(Serialize)]
struct RespTitle<'a> {
    text: &'a str,
}

#[derive(Serialize)]
struct RespImg<'a> {
    url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    w: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    h: Option<u32>,
}

#[derive(Serialize)]
struct RespData<'a> {
    value: std::borrow::Cow<'a, str>,
}

#[derive(Serialize)]
struct RespLink<'a> {
    url: &'a str,
}

#[derive(Serialize)]
struct RespEventTracker<'a> {
    event: u8,
    method: u8,
    url: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The request of the IAB Native 1.2 specification's example (section 6).
    fn iab_example() -> Value {
        json!({"ver": "1.2", "context": 2, "contextsubtype": 20, "plcmttype": 11,
        "plcmtcnt": 1, "aurlsupport": 0, "durlsupport": 0, "privacy": 1,
        "eventtrackers": [{"event": 1, "methods": [1, 2]}, {"event": 2, "methods": [1]}],
        "assets": [
            {"id": 123, "required": 1, "title": {"len": 140}},
            {"id": 128, "required": 0, "img": {"wmin": 836, "hmin": 627, "type": 3}},
            {"id": 124, "required": 1, "img": {"wmin": 50, "hmin": 50, "type": 1}},
            {"id": 126, "required": 1, "data": {"type": 1, "len": 25}},
            {"id": 127, "required": 1, "data": {"type": 2, "len": 140}}
        ]})
    }

    fn native(request: Value) -> Native {
        Native {
            request,
            ..Default::default()
        }
    }

    fn parse(request: Value) -> Result<NativeRequest, NativeError> {
        NativeRequest::parse(&native(request), "imp[0].native.request")
    }

    fn field(r: Result<NativeRequest, NativeError>) -> String {
        match r {
            Err(NativeError::Malformed(e)) => e.field,
            other => panic!("{other:?}"),
        }
    }

    fn creative() -> Creative {
        serde_json::from_value(json!({
            "id": endcap_core::CreativeId::generate(),
            "line_item_id": endcap_core::LineItemId::generate(),
            "campaign_id": endcap_core::CampaignId::generate(),
            "advertiser_id": endcap_core::AdvertiserId::generate(),
            "kind": "native", "sku": null,
            "image_url": "https://cdn.example/main.jpg",
            "click_url": "https://acme.example/spring",
            "width": 1200, "height": 627, "version": 1,
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
            "native": {"title": "Oat milk, two for one",
                "description": "Creamy oat milk from local farms", "sponsored_by": "Acme",
                "icon_url": "https://cdn.example/icon.png", "icon_width": 80, "icon_height": 80}
        }))
        .unwrap()
    }

    #[test]
    fn the_iab_example_is_parsed_and_answered_in_the_1_2_format() {
        let r = parse(Value::String(iab_example().to_string())).unwrap();
        assert_eq!(
            (r.ver, r.wrapped, r.trackers),
            ("1.2", false, Trackers::Event)
        );
        assert_eq!((r.context, r.plcmttype), (Some(2), Some(11)));
        let ids: Vec<(u64, bool)> = r.layout.assets.iter().map(|a| (a.id, a.required)).collect();
        assert_eq!(
            ids,
            vec![
                (123, true),
                (128, false),
                (124, true),
                (126, true),
                (127, true)
            ]
        );
        assert_eq!(
            r.layout.assets[2].want,
            AssetWant::Image {
                kind: ImageKind::Icon,
                w: None,
                h: None,
                wmin: Some(50),
                hmin: Some(50),
                mimes: vec![]
            }
        );
        let adm = r
            .markup(
                &creative(),
                "https://ads.example/c",
                "https://ads.example/i",
            )
            .unwrap();
        let adm: Value = serde_json::from_str(&adm).unwrap();
        assert_eq!(
            adm,
            json!({"ver": "1.2",
                "assets": [
                    {"id": 123, "title": {"text": "Oat milk, two for one"}},
                    {"id": 128, "img": {"url": "https://cdn.example/main.jpg", "w": 1200, "h": 627}},
                    {"id": 124, "img": {"url": "https://cdn.example/icon.png", "w": 80, "h": 80}},
                    {"id": 126, "data": {"value": "Acme"}},
                    {"id": 127, "data": {"value": "Creamy oat milk from local farms"}}
                ],
                "link": {"url": "https://ads.example/c"},
                "eventtrackers": [{"event": 1, "method": 1, "url": "https://ads.example/i"}]})
        );
        // Without a sponsor the creative cannot fill asset 126: no markup.
        let mut c = creative();
        if let Some(n) = c.native.as_mut() {
            n.sponsored_by = None;
        }
        assert!(r.markup(&c, "c", "i").is_none());
    }

    #[test]
    fn an_object_request_reads_as_its_string_and_the_old_root_is_answered_in_kind() {
        let as_string = parse(Value::String(iab_example().to_string())).unwrap();
        assert_eq!(parse(iab_example()).unwrap(), as_string);
        let old = json!({"native": {"ver": "1.1", "assets": [
            {"id": 1, "required": 1, "title": {"len": 90}}]}});
        let r = parse(Value::String(old.to_string())).unwrap();
        assert_eq!((r.ver, r.wrapped, r.trackers), ("1.1", true, Trackers::Imp));
        let adm: Value = serde_json::from_str(&r.markup(&creative(), "c", "i").unwrap()).unwrap();
        assert_eq!(
            adm,
            json!({"native": {"ver": "1.1", "assets": [{"id": 1, "title": {"text": "Oat milk, two for one"}}],
                "link": {"url": "c"}, "imptrackers": ["i"]}})
        );
        // imp.native.ver stands in for a missing version; a version we do not speak is
        // not bid on.
        let bare = json!({"assets": [{"id": 1, "title": {"len": 90}}]});
        let with_ver = |ver: &str| {
            let mut n = native(bare.clone());
            n.ver = Some(ver.into());
            NativeRequest::parse(&n, "f")
        };
        let r = with_ver("1.1").unwrap();
        assert_eq!(r.ver, "1.1");
        assert_eq!(parse(bare.clone()).unwrap().ver, "1.2");
        assert_eq!(with_ver(" ").unwrap().ver, "1.2", "a blank version is none");
        let r = with_ver("2.0");
        assert!(matches!(r, Err(NativeError::Unsupported(_))), "{r:?}");
        // No event tracker takes an image pixel for impressions: not bid on.
        let js_only = json!({"assets": [{"id": 1, "title": {"len": 90}}],
            "eventtrackers": [{"event": 1, "methods": [2]}]});
        assert!(matches!(parse(js_only), Err(NativeError::Unsupported(_))));
        // No event trackers listed: imptrackers.
        let none = json!({"assets": [{"id": 1, "title": {"len": 90}}], "eventtrackers": []});
        assert_eq!(parse(none).unwrap().trackers, Trackers::Imp);
    }

    #[test]
    fn malformed_requests_name_the_field() {
        let p = "imp[0].native.request";
        assert_eq!(field(parse(Value::Null)), p);
        assert_eq!(field(parse(json!(7))), p);
        // The IAB OpenRTB 2.5 example elides its assets as `[ ... ]`: not JSON.
        assert_eq!(
            field(parse(json!(
                "{\"native\":{\"ver\":\"1.0\",\"assets\":[ ... ]}}"
            ))),
            p
        );
        assert_eq!(field(parse(json!("[1]"))), p);
        assert_eq!(field(parse(json!({}))), format!("{p}.assets"));
        assert_eq!(field(parse(json!({"assets": []}))), format!("{p}.assets"));
        assert_eq!(
            field(parse(json!({"assets": [{"title": {"len": 9}}]}))),
            format!("{p}.assets[0]"),
            "an asset needs its id"
        );
        assert_eq!(
            field(parse(json!({"assets": [{"id": 1}]}))),
            format!("{p}.assets[0]")
        );
        assert_eq!(
            field(parse(
                json!({"assets": [{"id": 1, "title": {"len": 9}, "img": {"type": 3}}]})
            )),
            format!("{p}.assets[0]")
        );
        assert_eq!(
            field(parse(json!({"assets": [
                {"id": 1, "title": {"len": 9}}, {"id": 1, "data": {"type": 2}}]}))),
            format!("{p}.assets[1].id")
        );
        assert_eq!(
            field(parse(json!({"assets": [{"id": 1, "data": {"len": 9}}]}))),
            format!("{p}.assets[0]"),
            "data needs its type"
        );
        assert_eq!(
            field(parse(
                json!({"assets": [{"id": 1, "required": 3, "title": {"len": 9}}]})
            )),
            format!("{p}.assets[0].required")
        );
        assert_eq!(field(parse(json!("x".repeat(MAX_NATIVE_REQUEST + 1)))), p);
    }
}
