//! Native ads: the assets a native creative carries ([`NativeAssets`]), what a native slot
//! asks for ([`NativeLayout`]), and which creative can fill it ([`fill`]).
//!
//! The main image is the creative's own `image_url`, `width` and `height`; everything else
//! a native slot may ask for (headline, body text, sponsor, icon, call to action, price,
//! rating, display URL) lives in [`NativeAssets`]. The layout is protocol-free: the OpenRTB
//! crate parses an IAB Native 1.2 request into it and writes the response from [`Filled`].

use crate::{text, Creative, ValidationError};
use serde::{Deserialize, Serialize};

/// Longest headline a creative may carry (the IAB's longest recommended title length).
pub const MAX_TITLE: usize = 140;
/// Longest description a creative may carry.
pub const MAX_DESCRIPTION: usize = 500;
/// Longest short text (sponsor, call to action, price, display URL).
pub const MAX_SHORT: usize = 90;

/// The text and icon a native creative fills a native slot's assets with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NativeAssets {
    /// Headline (title asset), at most 140 characters; never cut to fit a slot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Body text (data type 2), at most 500 characters; cut at a word, with `…`, to fit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Sponsor shown as "Sponsored by" (data type 1); defaults to the advertiser's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sponsored_by: Option<String>,
    /// Icon or logo (image type 1), absolute https.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon_url: Option<String>,
    /// Icon pixel width, 1..=4096 (needed to fill a slot that asks for an icon size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon_width: Option<u32>,
    /// Icon pixel height, 1..=4096.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon_height: Option<u32>,
    /// Call to action, e.g. `Shop now` (data type 12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cta_text: Option<String>,
    /// Price as displayed, with its currency symbol, e.g. `$4.99` (data type 6). Display
    /// text only: never read as an amount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    /// Product rating as displayed, a number from 0 to 5, e.g. `4.5` (data type 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<String>,
    /// Display URL text (data type 11); defaults to the landing page's domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_url: Option<String>,
}

/// Ad text: trimmed, non-empty, at most `max` characters, no control characters and no
/// markup (`<`, `>`), so a renderer that pastes it into HTML runs no script.
fn ad_text(raw: &str, field: &str, max: usize) -> Result<String, ValidationError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if s.chars().count() > max {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if s.chars().any(|c| c.is_control() || c == '<' || c == '>') {
        return Err(ValidationError::new(
            field,
            "must not contain control characters or markup (< >)",
        ));
    }
    Ok(s.to_string())
}

fn icon_size(v: Option<u32>, field: &str) -> Result<Option<u32>, ValidationError> {
    match v {
        Some(n) if !(1..=4096).contains(&n) => {
            Err(ValidationError::new(field, "must be between 1 and 4096"))
        }
        v => Ok(v),
    }
}

impl NativeAssets {
    /// The assets as stored: text checked and trimmed, the icon URL https; names the first
    /// bad field (under `native.`).
    pub fn validate(&self) -> Result<NativeAssets, ValidationError> {
        let t = |v: &Option<String>, field: &str, max: usize| {
            v.as_deref()
                .map(|s| ad_text(s, field, max))
                .transpose()
                .map_err(|e| e.within("native"))
        };
        let rating = t(&self.rating, "rating", 3)?;
        if let Some(r) = &rating {
            let ok = r
                .parse::<f64>()
                .is_ok_and(|x| (0.0..=5.0).contains(&x) && r.len() <= 3);
            if !ok {
                return Err(ValidationError::new(
                    "native.rating",
                    "must be a number from 0 to 5, e.g. 4.5",
                ));
            }
        }
        let icon_url = self
            .icon_url
            .as_deref()
            .map(|u| text::url(u, "native.icon_url", text::Scheme::Https))
            .transpose()?;
        let icon_width = icon_size(self.icon_width, "native.icon_width")?;
        let icon_height = icon_size(self.icon_height, "native.icon_height")?;
        if icon_url.is_none() && (icon_width.is_some() || icon_height.is_some()) {
            return Err(ValidationError::new(
                "native.icon_url",
                "is required with icon_width and icon_height",
            ));
        }
        Ok(NativeAssets {
            title: t(&self.title, "title", MAX_TITLE)?,
            description: t(&self.description, "description", MAX_DESCRIPTION)?,
            sponsored_by: t(&self.sponsored_by, "sponsored_by", MAX_SHORT)?,
            icon_url,
            icon_width,
            icon_height,
            cta_text: t(&self.cta_text, "cta_text", MAX_SHORT)?,
            price: t(&self.price, "price", MAX_SHORT)?,
            rating,
            display_url: t(&self.display_url, "display_url", MAX_SHORT)?,
        })
    }

    /// `sponsored_by` set to `name` when none was given (the advertiser's name by default).
    pub fn with_default_sponsor(mut self, name: &str) -> Self {
        if self.sponsored_by.is_none() {
            self.sponsored_by = ad_text(name, "sponsored_by", MAX_SHORT).ok();
        }
        self
    }
}

impl crate::NewCreative {
    /// A native creative with `sponsored_by` set to `name` when it has none (the
    /// advertiser's name: "Sponsored by" must name someone); other kinds unchanged.
    pub fn with_default_sponsor(mut self, name: &str) -> Self {
        if self.kind == crate::CreativeKind::Native {
            self.native = Some(
                self.native
                    .take()
                    .unwrap_or_default()
                    .with_default_sponsor(name),
            );
        }
        self
    }
}

/// Which image a native slot asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    /// Icon or logo (IAB image type 1).
    Icon,
    /// Main image (IAB image type 3, or no type).
    Main,
    /// A type we do not carry.
    Other,
}

/// Which text a native data asset asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataKind {
    /// Sponsored by (IAB data type 1).
    Sponsored,
    /// Description (2).
    Description,
    /// Rating (3).
    Rating,
    /// Price (6).
    Price,
    /// Display URL (11).
    DisplayUrl,
    /// Call to action (12).
    CtaText,
    /// A type we do not carry (likes, downloads, phone, address, ...).
    Other,
}

/// One asset a native slot asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssetWant {
    /// A headline of at most `len` characters (`None`: any length).
    Title {
        /// Longest text.
        len: Option<usize>,
    },
    /// An image.
    Image {
        /// Which.
        kind: ImageKind,
        /// Exact width, when no minimum is given.
        w: Option<u32>,
        /// Exact height, when no minimum is given.
        h: Option<u32>,
        /// Least width (wins over `w`).
        wmin: Option<u32>,
        /// Least height (wins over `h`).
        hmin: Option<u32>,
        /// MIME types accepted, lower-case (empty: any).
        mimes: Vec<String>,
    },
    /// A text element of at most `len` characters.
    Data {
        /// Which.
        kind: DataKind,
        /// Longest text.
        len: Option<usize>,
    },
    /// A video (never filled: Endcap has no video creatives).
    Video,
}

/// One asset of a native slot: its id (echoed in the answer), whether it is required, what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetSpec {
    /// The requester's asset id.
    pub id: u64,
    /// A creative that cannot fill it does not serve in the slot.
    pub required: bool,
    /// What it asks for.
    pub want: AssetWant,
}

/// What a native slot asks for: its assets, in the requester's order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NativeLayout {
    /// The assets.
    pub assets: Vec<AssetSpec>,
}

/// An asset as filled by a creative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filled<'a> {
    /// A headline.
    Title(&'a str),
    /// An image with its size, when known.
    Image {
        /// https URL.
        url: &'a str,
        /// Pixel width.
        w: Option<u32>,
        /// Pixel height.
        h: Option<u32>,
    },
    /// Text (owned when it was cut to fit or derived, like the display URL).
    Data(std::borrow::Cow<'a, str>),
}

/// The MIME type an image URL's extension names, if any.
fn image_mime(url: &str) -> Option<&'static str> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "avif" => "image/avif",
        _ => return None,
    })
}

/// Whether a side of `have` pixels meets an exact `want` or a `min`imum (the minimum wins,
/// as IAB Native says: `w` alone is exact, `wmin` allows any larger image).
fn side_fits(have: Option<u32>, exact: Option<u32>, min: Option<u32>) -> bool {
    match (min.filter(|m| *m > 0), exact.filter(|e| *e > 0)) {
        (Some(m), _) => have.is_some_and(|x| x >= m),
        (None, Some(e)) => have == Some(e),
        (None, None) => true,
    }
}

/// Text that fits `len` characters as it is.
fn whole(s: &str, len: Option<usize>) -> Option<std::borrow::Cow<'_, str>> {
    len.is_none_or(|l| s.chars().count() <= l)
        .then_some(std::borrow::Cow::Borrowed(s))
}

/// Where body text too long for `len` characters is cut: the text before the last word
/// boundary that leaves room for `…`; `None` when there is none (a cut mid-word reads as a
/// typo). Borrowed, so checking a creative before the auction allocates nothing.
fn cut_head(s: &str, len: Option<usize>) -> Option<&str> {
    let keep = len?.checked_sub(1)?;
    let end = s.char_indices().nth(keep).map_or(s.len(), |(i, _)| i);
    // The cut falls on a word boundary when the next character is whitespace.
    let head = if s[end..].starts_with(char::is_whitespace) {
        &s[..end]
    } else {
        &s[..s[..end].rfind(char::is_whitespace)?]
    };
    let head = head.trim_end_matches(|c: char| c.is_whitespace() || ",;:-".contains(c));
    (!head.is_empty()).then_some(head)
}

/// Body text within `len` characters: whole, or cut at a word and ending in `…`.
fn cut(s: &str, len: Option<usize>) -> Option<std::borrow::Cow<'_, str>> {
    match whole(s, len) {
        Some(w) => Some(w),
        None => cut_head(s, len).map(|head| format!("{head}…").into()),
    }
}

/// The landing page's domain as [`Creative::click_domain`] has it, borrowed from the
/// (normalized, so lower-case) click URL.
fn landing_domain(click_url: &str) -> Option<&str> {
    let rest = click_url.split_once("://")?.1;
    let host = rest.split(['/', '?', '#']).next()?;
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    Some(host.trim_start_matches("www.")).filter(|h| !h.is_empty())
}

/// How `c` fills one asset, `None` when it cannot. Titles, sponsors, prices, ratings, calls
/// to action and display URLs are never cut (a cut brand or price misleads); descriptions
/// are cut at a word to fit `len`.
pub fn fill_one<'a>(c: &'a Creative, want: &AssetWant) -> Option<Filled<'a>> {
    let n = c.native.as_ref();
    match want {
        AssetWant::Title { len } => {
            let t = n?.title.as_deref()?;
            whole(t, *len).map(|_| Filled::Title(t))
        }
        AssetWant::Image {
            kind,
            w,
            h,
            wmin,
            hmin,
            mimes,
        } => {
            let (url, have_w, have_h) = match kind {
                ImageKind::Main => (c.image_url.as_deref()?, c.width, c.height),
                ImageKind::Icon => {
                    let n = n?;
                    (n.icon_url.as_deref()?, n.icon_width, n.icon_height)
                }
                ImageKind::Other => return None,
            };
            let fits = side_fits(have_w, *w, *wmin) && side_fits(have_h, *h, *hmin);
            // An extension we cannot read proves nothing either way: accepted.
            let mime_ok = mimes.is_empty()
                || image_mime(url).is_none_or(|m| {
                    mimes
                        .iter()
                        .any(|x| x == m || (m == "image/jpeg" && x == "image/jpg"))
                });
            (fits && mime_ok).then_some(Filled::Image {
                url,
                w: have_w,
                h: have_h,
            })
        }
        AssetWant::Data { kind, len } => {
            let text: std::borrow::Cow<'a, str> = match kind {
                DataKind::Sponsored => n?.sponsored_by.as_deref()?.into(),
                DataKind::Description => {
                    return cut(n?.description.as_deref()?, *len).map(Filled::Data)
                }
                DataKind::Rating => n?.rating.as_deref()?.into(),
                DataKind::Price => n?.price.as_deref()?.into(),
                DataKind::CtaText => n?.cta_text.as_deref()?.into(),
                DataKind::DisplayUrl => match n.and_then(|n| n.display_url.as_deref()) {
                    Some(d) => d.into(),
                    None => landing_domain(&c.click_url)?.into(),
                },
                DataKind::Other => return None,
            };
            let fits = len.is_none_or(|l| text.chars().count() <= l);
            fits.then_some(Filled::Data(text))
        }
        AssetWant::Video => None,
    }
}

/// Whether `c` can fill every required asset of the slot (checked per candidate creative
/// before the auction, so a creative that cannot passes the slot to one that can).
pub fn fills_required(c: &Creative, layout: &NativeLayout) -> bool {
    c.kind == crate::CreativeKind::Native
        && layout
            .assets
            .iter()
            .filter(|a| a.required)
            .all(|a| match &a.want {
                // Runs per candidate creative: whether a description can be cut, without
                // writing the cut text.
                AssetWant::Data {
                    kind: DataKind::Description,
                    len,
                } => c
                    .native
                    .as_ref()
                    .and_then(|n| n.description.as_deref())
                    .is_some_and(|d| whole(d, *len).is_some() || cut_head(d, *len).is_some()),
                want => fill_one(c, want).is_some(),
            })
}

/// The assets `c` fills, by the slot's asset ids in the slot's order: every required one
/// and each optional one it can; `None` when a required one cannot be filled.
pub fn fill<'a>(c: &'a Creative, layout: &NativeLayout) -> Option<Vec<(u64, Filled<'a>)>> {
    let mut out = Vec::with_capacity(layout.assets.len());
    for a in &layout.assets {
        match fill_one(c, &a.want) {
            Some(f) => out.push((a.id, f)),
            None if a.required => return None,
            None => {}
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CreativeKind, Review};

    pub(crate) fn creative(native: NativeAssets) -> Creative {
        let now = chrono::Utc::now();
        Creative {
            id: crate::CreativeId::generate(),
            line_item_id: crate::LineItemId::generate(),
            campaign_id: crate::CampaignId::generate(),
            advertiser_id: crate::AdvertiserId::generate(),
            kind: CreativeKind::Native,
            sku: None,
            image_url: Some("https://cdn.example/main.jpg".into()),
            click_url: "https://www.acme.example/spring".into(),
            width: Some(1200),
            height: Some(627),
            review: Review::pending(),
            version: 1,
            created_at: now,
            updated_at: now,
            native: Some(native),
            iab_categories: vec![],
            app_bundle: None,
            attributes: vec![],
        }
    }

    fn full() -> NativeAssets {
        NativeAssets {
            title: Some("Spring sale on oat milk".into()),
            description: Some("Creamy oat milk from local farms, now two for one".into()),
            sponsored_by: Some("Acme".into()),
            icon_url: Some("https://cdn.example/icon.png".into()),
            icon_width: Some(100),
            icon_height: Some(100),
            cta_text: Some("Shop now".into()),
            price: Some("$4.99".into()),
            rating: Some("4.5".into()),
            display_url: None,
        }
    }

    fn ask(id: u64, required: bool, want: AssetWant) -> AssetSpec {
        AssetSpec { id, required, want }
    }

    fn img(kind: ImageKind, wmin: u32, hmin: u32) -> AssetWant {
        AssetWant::Image {
            kind,
            w: None,
            h: None,
            wmin: Some(wmin),
            hmin: Some(hmin),
            mimes: vec![],
        }
    }

    #[test]
    fn required_assets_decide_and_optional_ones_are_filled_when_possible() {
        let c = creative(full());
        let layout = NativeLayout {
            assets: vec![
                ask(7, true, AssetWant::Title { len: Some(90) }),
                ask(
                    8,
                    true,
                    AssetWant::Data {
                        kind: DataKind::Sponsored,
                        len: Some(25),
                    },
                ),
                ask(9, false, AssetWant::Video),
                ask(10, false, img(ImageKind::Main, 600, 314)),
                ask(
                    11,
                    false,
                    AssetWant::Data {
                        kind: DataKind::DisplayUrl,
                        len: None,
                    },
                ),
            ],
        };
        let got = fill(&c, &layout).unwrap();
        let ids: Vec<u64> = got.iter().map(|(i, _)| *i).collect();
        assert_eq!(ids, vec![7, 8, 10, 11], "the optional video is left out");
        assert_eq!(got[0].1, Filled::Title("Spring sale on oat milk"));
        assert_eq!(
            got[2].1,
            Filled::Image {
                url: "https://cdn.example/main.jpg",
                w: Some(1200),
                h: Some(627)
            }
        );
        assert_eq!(got[3].1, Filled::Data("acme.example".into()));
        for url in [
            "https://www.acme.example/spring",
            "https://acme.example:8443/x?y=1",
            "http://acme.example#top",
            "https://acme.example?q=www.other",
        ] {
            let mut c = creative(NativeAssets::default());
            c.click_url = url.into();
            assert_eq!(
                landing_domain(url),
                Some(c.click_domain().as_str()),
                "{url}"
            );
        }
        assert_eq!(landing_domain("acme.example"), None);
        assert!(fills_required(&c, &layout));
        // A required video: nobody fills it.
        let mut video = layout.clone();
        video.assets[2].required = true;
        assert!(fill(&c, &video).is_none());
        assert!(!fills_required(&c, &video));
        // A creative without a headline cannot fill a required title.
        let bare = creative(NativeAssets::default());
        assert!(!fills_required(&bare, &layout));
        // ...nor can a banner, whatever it carries.
        let mut banner = creative(full());
        banner.kind = CreativeKind::Banner;
        assert!(!fills_required(&banner, &layout));
    }

    #[test]
    fn images_meet_exact_sizes_or_minimums() {
        let c = creative(full());
        let fits = |want: AssetWant| fill_one(&c, &want).is_some();
        assert!(fits(img(ImageKind::Main, 1200, 627)));
        assert!(fits(img(ImageKind::Main, 836, 627)));
        assert!(!fits(img(ImageKind::Main, 1201, 627)), "under the minimum");
        assert!(fits(img(ImageKind::Icon, 50, 50)));
        assert!(!fits(img(ImageKind::Icon, 128, 128)));
        assert!(!fits(img(ImageKind::Other, 1, 1)));
        let exact = |w, h| AssetWant::Image {
            kind: ImageKind::Main,
            w: Some(w),
            h: Some(h),
            wmin: None,
            hmin: None,
            mimes: vec![],
        };
        assert!(fits(exact(1200, 627)));
        assert!(!fits(exact(600, 314)), "w alone is exact");
        // A size asked of an image whose size we do not know: not met.
        let mut unsized_ = creative(full());
        unsized_.width = None;
        assert!(fill_one(&unsized_, &img(ImageKind::Main, 1, 1)).is_none());
        assert!(fill_one(
            &unsized_,
            &AssetWant::Image {
                kind: ImageKind::Main,
                w: None,
                h: None,
                wmin: None,
                hmin: None,
                mimes: vec![]
            }
        )
        .is_some());
        let mimes = |m: &[&str]| AssetWant::Image {
            kind: ImageKind::Main,
            w: None,
            h: None,
            wmin: None,
            hmin: None,
            mimes: m.iter().map(|s| s.to_string()).collect(),
        };
        assert!(fits(mimes(&["image/jpg"])));
        assert!(fits(mimes(&["image/jpeg", "image/png"])));
        assert!(!fits(mimes(&["image/png"])));
    }

    #[test]
    fn lengths_refuse_short_texts_and_cut_descriptions_at_a_word() {
        let c = creative(full());
        let data = |kind, len| {
            fill_one(
                &c,
                &AssetWant::Data {
                    kind,
                    len: Some(len),
                },
            )
        };
        assert!(fill_one(&c, &AssetWant::Title { len: Some(10) }).is_none());
        assert!(
            data(DataKind::Sponsored, 3).is_none(),
            "a sponsor is never cut"
        );
        assert!(data(DataKind::Price, 4).is_none());
        assert_eq!(
            data(DataKind::Description, 25),
            Some(Filled::Data("Creamy oat milk from…".into()))
        );
        let Some(Filled::Data(d)) = data(DataKind::Description, 25) else {
            panic!()
        };
        assert!(d.chars().count() <= 25);
        assert_eq!(
            data(DataKind::Description, 200),
            Some(Filled::Data(
                "Creamy oat milk from local farms, now two for one".into()
            ))
        );
        assert!(
            data(DataKind::Description, 4).is_none(),
            "no word fits: refused"
        );
        // The check before the auction agrees with the fill.
        for len in [4, 25, 200] {
            let layout = NativeLayout {
                assets: vec![ask(
                    1,
                    true,
                    AssetWant::Data {
                        kind: DataKind::Description,
                        len: Some(len),
                    },
                )],
            };
            assert_eq!(
                fills_required(&c, &layout),
                data(DataKind::Description, len).is_some()
            );
        }
        assert!(data(DataKind::Other, 100).is_none());
    }

    #[test]
    fn assets_are_checked_naming_the_field() {
        let ok = full().validate().unwrap();
        assert_eq!(ok.title.as_deref(), Some("Spring sale on oat milk"));
        let bad = |f: fn(&mut NativeAssets)| {
            let mut n = full();
            f(&mut n);
            n.validate().unwrap_err().field
        };
        assert_eq!(
            bad(|n| n.title = Some("<script>x</script>".into())),
            "native.title"
        );
        assert_eq!(bad(|n| n.title = Some("x".repeat(141))), "native.title");
        assert_eq!(
            bad(|n| n.description = Some(" ".into())),
            "native.description"
        );
        assert_eq!(
            bad(|n| n.icon_url = Some("http://cdn.example/i.png".into())),
            "native.icon_url"
        );
        assert_eq!(bad(|n| n.icon_width = Some(0)), "native.icon_width");
        assert_eq!(
            bad(|n| {
                n.icon_url = None;
                n.icon_width = Some(10);
            }),
            "native.icon_url"
        );
        assert_eq!(bad(|n| n.rating = Some("9".into())), "native.rating");
        assert_eq!(bad(|n| n.rating = Some("abc".into())), "native.rating");
        let sponsored = NativeAssets::default().with_default_sponsor("Acme Foods");
        assert_eq!(sponsored.sponsored_by.as_deref(), Some("Acme Foods"));
        assert_eq!(
            full().with_default_sponsor("Other").sponsored_by.as_deref(),
            Some("Acme")
        );
    }
}
