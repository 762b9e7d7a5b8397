//! What a request tells the decision engine.

use chrono::{DateTime, Utc};
use endcap_core::Device;

/// The kind of slot being filled, which decides which creatives fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotKind {
    /// A placement on the retailer's own site or app (sponsored products, banners).
    Onsite,
    /// An OpenRTB banner taking any of these sizes (width, height).
    OffsiteBanner {
        /// Accepted sizes.
        sizes: Vec<(u32, u32)>,
    },
    /// An OpenRTB native slot.
    OffsiteNative,
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

    /// An offsite native slot.
    pub fn offsite_native() -> Self {
        Self {
            names: vec!["offsite".into(), "offsite:native".into()],
            kind: SlotKind::OffsiteNative,
        }
    }
}

/// The request's facts about the user and the page.
#[derive(Debug, Clone)]
pub struct Context {
    /// Hashed user key (empty when unknown: no caps, no holdout bucket but "exposed").
    pub user_key: String,
    /// The user's segments.
    pub segments: Vec<String>,
    /// Search keywords, normalized (lower case, single spaces).
    pub keywords: Vec<String>,
    /// Categories of the page.
    pub categories: Vec<String>,
    /// SKUs shown on the page.
    pub skus_on_page: Vec<String>,
    /// Store (geo).
    pub store_id: Option<String>,
    /// Device class.
    pub device: Option<Device>,
    /// When.
    pub now: DateTime<Utc>,
    /// A uniform draw in [0, 1) for this request (pacing throttles); derived from the
    /// request so decisions are reproducible.
    pub draw: f64,
}

impl Context {
    /// Normalizes search text the way line item keywords are normalized.
    pub fn normalize_keyword(raw: &str) -> String {
        raw.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    }
}
