//! What a request tells the decision engine.

use chrono::{DateTime, Utc};
use endcap_billing::LocalTime;
use endcap_core::{AdChannel, CreativeKind, Device};

/// The kind of slot being filled, which decides which creatives fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotKind {
    /// A placement on the retailer's own site or app that was not declared: any creative.
    Onsite,
    /// A declared onsite placement: only the creatives it accepts.
    OnsiteDeclared(Accepts),
    /// An OpenRTB banner taking any of these sizes (width, height).
    OffsiteBanner {
        /// Accepted sizes.
        sizes: Vec<(u32, u32)>,
    },
    /// An OpenRTB native slot: only native creatives that fill its required assets.
    OffsiteNative(std::sync::Arc<endcap_core::NativeLayout>),
}

/// What a declared placement accepts (`ENDCAP_PLACEMENTS`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accepts {
    /// Creative kinds it takes.
    pub kinds: Vec<CreativeKind>,
    /// Banner sizes it takes (width, height); empty: any size.
    pub banner_sizes: Vec<(u32, u32)>,
}

impl Accepts {
    /// Parses `kind|kind:WxH|...` (`sponsored_product`, `native`, `banner`, `banner:970x250`).
    pub fn parse(raw: &str) -> Option<Self> {
        let mut a = Self::default();
        for part in raw.split('|').map(str::trim) {
            let (kind, size) = part.split_once(':').unwrap_or((part, ""));
            let kind = match kind {
                "sponsored_product" => CreativeKind::SponsoredProduct,
                "native" => CreativeKind::Native,
                "banner" => CreativeKind::Banner,
                _ => return None,
            };
            if !size.is_empty() {
                let (w, h) = size.split_once('x')?;
                if kind != CreativeKind::Banner {
                    return None;
                }
                a.banner_sizes.push((w.parse().ok()?, h.parse().ok()?));
            }
            if !a.kinds.contains(&kind) {
                a.kinds.push(kind);
            }
        }
        (!a.kinds.is_empty()).then_some(a)
    }

    /// Whether a creative fits.
    pub fn fits(&self, c: &endcap_core::Creative) -> bool {
        self.kinds.contains(&c.kind)
            && (c.kind != CreativeKind::Banner
                || self.banner_sizes.is_empty()
                || self
                    .banner_sizes
                    .iter()
                    .any(|(w, h)| c.width == Some(*w) && c.height == Some(*h)))
    }
}

/// One placement to fill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// Placement names this slot answers to (onsite: its name; offsite: `offsite` plus
    /// `offsite:banner:WxH` or `offsite:native`).
    pub names: Vec<String>,
    /// What fits.
    pub kind: SlotKind,
}

impl Slot {
    /// A declared onsite placement: only what it accepts fits.
    pub fn onsite_declared(name: &str, accepts: Accepts) -> Self {
        Self {
            names: vec![name.to_string()],
            kind: SlotKind::OnsiteDeclared(accepts),
        }
    }

    /// An onsite placement.
    pub fn onsite(name: &str) -> Self {
        Self {
            names: vec![name.to_string()],
            kind: SlotKind::Onsite,
        }
    }

    /// An offsite banner accepting any of `sizes`: one slot, so one imp gets one decision
    /// (and a holdout user at most one ghost) however many sizes it lists.
    pub fn offsite_banner(sizes: &[(u32, u32)]) -> Self {
        let mut names = vec!["offsite".to_string()];
        names.extend(sizes.iter().map(|(w, h)| format!("offsite:banner:{w}x{h}")));
        Self {
            names,
            kind: SlotKind::OffsiteBanner {
                sizes: sizes.to_vec(),
            },
        }
    }

    /// An offsite native slot asking for `layout`'s assets.
    pub fn offsite_native(layout: std::sync::Arc<endcap_core::NativeLayout>) -> Self {
        Self {
            names: vec!["offsite".into(), "offsite:native".into()],
            kind: SlotKind::OffsiteNative(layout),
        }
    }
}

/// The request's facts about the user and the page.
#[derive(Debug, Clone)]
pub struct Context {
    /// Hashed user key (empty when unknown: no caps, no holdout bucket but "exposed").
    pub user_key: String,
    /// The holdout unit: the shopper's customer key when the identity map links the user
    /// key to one (so a shopper's devices share an arm), else the user key; `None` when the
    /// identity lookup failed (campaigns with a holdout then sit this request out).
    pub holdout_key: Option<String>,
    /// The user's segments.
    pub segments: Vec<String>,
    /// Advertisers the page will not show (the retailer's request, e.g. a competitor's
    /// brand page): their line items are filtered out.
    pub blocked_advertisers: Vec<endcap_core::AdvertiserId>,
    /// Creatives the page will not show: another creative of the line item may serve.
    pub blocked_creatives: Vec<endcap_core::CreativeId>,
    /// Advertiser domains the publisher blocks (OpenRTB `badv`), lower-case without `www.`:
    /// a line item whose advertiser declared one of them, or a subdomain of one, does not
    /// bid; for an advertiser that declared no domains, a creative whose landing page is on
    /// one is not shown. Either way the next ad takes the slot.
    pub blocked_domains: Vec<String>,
    /// Search keywords, normalized (lower case, single spaces).
    pub keywords: Vec<String>,
    /// The shopper's search text as typed (empty off search pages); matched against
    /// keyword targeting by match type.
    pub query: String,
    /// Categories of the page.
    pub categories: Vec<String>,
    /// SKUs shown on the page.
    pub skus_on_page: Vec<String>,
    /// The retailer's organic results for this request, best first (empty: no
    /// restriction): a sponsored-product line item serves only a product among them.
    pub candidate_skus: Vec<String>,
    /// Store (geo).
    pub store_id: Option<String>,
    /// Device class.
    pub device: Option<Device>,
    /// Page type (search, category, product, home...), "" when not given.
    pub page_type: String,
    /// Onsite (`/v1/decisions`) or offsite (`/openrtb2/bid`).
    pub channel: AdChannel,
    /// When.
    pub now: DateTime<Utc>,
    /// `now` in the retailer's calendar: the accounting day budgets and pacing use.
    pub local: LocalTime,
    /// A uniform draw in [0, 1) for this request's pacing throttles ([`crate::uniform_draw`]).
    pub draw: f64,
    /// The publisher's category and app blocks (OpenRTB `bcat`, `bapp`; empty onsite).
    pub blocks: crate::RequestBlocks,
}

impl Context {
    /// A `badv` entry as [`Context::blocked_domains`] holds it.
    pub fn blocked_domain(raw: &str) -> String {
        raw.trim()
            .to_ascii_lowercase()
            .trim_start_matches("www.")
            .to_string()
    }

    /// Normalizes search text the way line item keywords are normalized.
    pub fn normalize_keyword(raw: &str) -> String {
        raw.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    }
}

/// A uniform draw in [0, 1) from a per-thread generator seeded from the OS (for pacing
/// throttles and tie-breaks; not for secrets).
pub fn uniform_draw() -> f64 {
    fastrand::f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_draw_is_uniform_on_the_unit_interval() {
        // 20 buckets, 200,000 draws: a chi-square over 19 degrees of freedom is under 43.8
        // with probability 0.999 when the draw is uniform. The old UUID-bit draw put every
        // value in [0.5, 0.75), which fails this by orders of magnitude.
        let n = 200_000;
        let mut buckets = [0u32; 20];
        for _ in 0..n {
            let d = uniform_draw();
            assert!((0.0..1.0).contains(&d));
            buckets[(d * 20.0) as usize] += 1;
        }
        let expected = f64::from(n) / 20.0;
        let chi2: f64 = buckets
            .iter()
            .map(|b| (f64::from(*b) - expected).powi(2) / expected)
            .sum();
        assert!(chi2 < 43.8, "chi-square {chi2} over buckets {buckets:?}");
    }
}
