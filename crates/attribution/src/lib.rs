//! Endcap's offline-to-online attribution engine.
//!
//! Links ad exposures ([`Touch`]: impressions and clicks) to receipt lines through the
//! identity map, and splits each line's amount among the exposures that earned it:
//! eligible when the exposure's user maps to the receipt's customer, the line came 0 to
//! `window` whole days after it (click window for clicks, view window for views, inclusive),
//! and the line's SKU matches under the campaign's scope. Each advertiser stands alone: a
//! line's credit is shared only among one advertiser's eligible exposures, clicks beating
//! views, by the run's model; [`retailer_total`] counts each credited line once across
//! advertisers. Amounts are integer micros split by [`split_exact`], so the credits of a line
//! add up to its amount exactly. Pure: no I/O.
//!
//! The file formats of `attribution-job run` (CSV in, CSV out) are read and written here
//! too, [`lift`] measures a campaign's incrementality from its holdout, and [`BrandHistory`]
//! tells new-to-brand sales from repeat ones.
#![warn(missing_docs)]

mod files;
mod lift;
mod ntb;
mod scan;
mod settings;
mod split;

pub use files::{
    by_campaign_csv, lines_csv, read_catalog, read_exposures, read_identity, read_receipts,
    total_csv, RowError,
};
pub use lift::{lift, Arm, Estimate, Lift, LiftInput};
pub use ntb::{BrandHistory, NTB_LOOKBACK_DAYS};
pub use scan::{read_current_receipts, CurrentReceipts, Eligibility};
pub use settings::{scope_name, settings_version};
pub use split::{split_exact, weights};

use endcap_core::{AttributionModel, AttributionSettings, MatchScope};
use endcap_events::{AdEvent, ReceiptLineEvent};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Maps and sets over per-line keys: a fast non-cryptographic hasher (the keys are ours,
/// not an attacker's, and SipHash was a seventh of a run).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;
use uuid::Uuid;

/// Seconds in an attribution day (windows are whole days of 86,400 s).
pub const DAY_SECS: i64 = 86_400;

/// A view or a click.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TouchKind {
    /// An impression.
    View,
    /// A click (beats every view of the same advertiser).
    Click,
}

/// An ad exposure as attribution reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touch {
    /// Its event id (the decision id).
    pub event_id: Uuid,
    /// View or click.
    pub kind: TouchKind,
    /// When, ms since the epoch.
    pub ts_ms: i64,
    /// Hashed online user key.
    pub user_key: String,
    /// Owner.
    pub advertiser_id: Uuid,
    /// Campaign.
    pub campaign_id: Uuid,
    /// Line item.
    pub line_item_id: Uuid,
    /// SKUs the line item promotes.
    pub skus: Vec<String>,
}

impl From<(&AdEvent, TouchKind)> for Touch {
    fn from((e, kind): (&AdEvent, TouchKind)) -> Self {
        Self {
            event_id: e.event_id(),
            kind,
            ts_ms: e.ts_ms,
            user_key: e.exposure.user_key.clone(),
            advertiser_id: e.exposure.advertiser_id.as_uuid(),
            campaign_id: e.exposure.campaign_id.as_uuid(),
            line_item_id: e.exposure.line_item_id.as_uuid(),
            skus: e.promoted_skus.clone(),
        }
    }
}

impl From<(&endcap_events::ExposureRead, TouchKind)> for Touch {
    fn from((e, kind): (&endcap_events::ExposureRead, TouchKind)) -> Self {
        Self {
            event_id: e.event_id,
            kind,
            ts_ms: e.ts_ms as i64,
            user_key: e.user_key.clone(),
            advertiser_id: e.advertiser_id,
            campaign_id: e.campaign_id,
            line_item_id: e.line_item_id,
            skus: e.promoted_skus.clone(),
        }
    }
}

/// What the catalog says of a SKU.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Product {
    /// Brand ("" when unknown: never matches).
    pub brand: String,
    /// Category ("" when unknown: never matches).
    pub category: String,
}

/// SKU -> product.
pub type Catalog = HashMap<String, Product>;

/// Online user key -> customer key; a user key with no entry maps to itself.
pub type IdentityMap = HashMap<String, String>;

/// How a run attributes.
pub struct Rules<'a> {
    /// Windows and scope of each campaign (or the run's override).
    pub settings: &'a dyn Fn(Uuid) -> AttributionSettings,
    /// How an advertiser's credit for a line is split.
    pub model: AttributionModel,
    /// Half-life of the time-decay model, seconds (default 7 days).
    pub half_life_secs: i64,
}

/// One exposure's share of one receipt line.
#[derive(Debug, Clone, PartialEq)]
pub struct Credit {
    /// The receipt.
    pub receipt_id: String,
    /// Its version.
    pub version: i64,
    /// The line.
    pub line_no: u32,
    /// The customer.
    pub customer_key: String,
    /// The exposure credited.
    pub event_id: Uuid,
    /// View or click.
    pub kind: TouchKind,
    /// Owner of the exposure.
    pub advertiser_id: Uuid,
    /// Its campaign.
    pub campaign_id: Uuid,
    /// Its line item.
    pub line_item_id: Uuid,
    /// Share of the line, 0..=1 (the shares of one advertiser sum to 1).
    pub weight: f64,
    /// Attributed amount, micros (negative for returns).
    pub amount_micros: i64,
    /// Attributed units, in millionths.
    pub units_micros: i64,
    /// The line's SKU is one the exposure promoted (else a halo sale).
    pub direct: bool,
    /// Seconds from the exposure to the purchase.
    pub lag_secs: i64,
}

/// The current content of each receipt: only its highest version's lines; a receipt whose
/// highest version is in `voided` (a version with no lines) is dropped.
pub fn current_lines(
    lines: Vec<ReceiptLineEvent>,
    voided: &HashMap<String, i64>,
) -> Vec<ReceiptLineEvent> {
    // Keys borrowed from the lines (no copy per line), hashed fast: this runs over every
    // receipt line of a run.
    let keep: Vec<bool> = {
        let mut top: FastMap<&str, i64> =
            FastMap::with_capacity_and_hasher(lines.len(), Default::default());
        for l in &lines {
            let v = top.entry(l.receipt_id.as_str()).or_insert(l.version);
            *v = (*v).max(l.version);
        }
        for (id, v) in voided {
            if let Some(t) = top.get_mut(id.as_str()) {
                *t = (*t).max(*v);
            }
        }
        lines
            .iter()
            .map(|l| {
                top.get(l.receipt_id.as_str()) == Some(&l.version)
                    && voided.get(&l.receipt_id) != Some(&l.version)
            })
            .collect()
    };
    lines
        .into_iter()
        .zip(keep)
        .filter_map(|(l, k)| k.then_some(l))
        .collect()
}

fn brand_or_category(catalog: &Catalog, sku: &str, scope: MatchScope) -> Option<String> {
    let p = catalog.get(sku)?;
    let v = match scope {
        MatchScope::Brand => &p.brand,
        MatchScope::Category => &p.category,
        MatchScope::Sku => return None,
    };
    (!v.trim().is_empty()).then(|| v.clone())
}

/// Whether a line's SKU matches a touch's promoted SKUs under `scope`. A promoted SKU
/// itself matches under every scope (a direct sale); brand and category matches need both
/// SKUs in the catalog with that field non-empty (a line whose SKU is not in the catalog
/// can match only its own SKU).
pub fn matches(scope: MatchScope, line_sku: &str, promoted: &[String], catalog: &Catalog) -> bool {
    if promoted.iter().any(|p| p == line_sku) {
        return true;
    }
    // Under SKU scope nothing else matches: skip the catalog look-ups (a hash of the SKU
    // for every exposure in the window of every line).
    if scope == MatchScope::Sku {
        return false;
    }
    let Some(want) = brand_or_category(catalog, line_sku, scope) else {
        return false;
    };
    promoted
        .iter()
        .any(|p| brand_or_category(catalog, p, scope).as_deref() == Some(want.as_str()))
}

/// A stable shard of a customer key, 0..n (FNV-1a 64: the same on every run and machine),
/// for `--shard i/N`: a shard holds every receipt and exposure of its customers.
pub fn shard_of(customer_key: &str, n: u32) -> u32 {
    (endcap_core::fnv1a64(customer_key.as_bytes()) % u64::from(n.max(1))) as u32
}

/// Keeps shard `i` of `n` (0-based): the receipt lines of its customers, and the exposures
/// whose user maps (through `identity`) to one of them.
pub fn keep_shard(
    touches: Vec<Touch>,
    lines: Vec<ReceiptLineEvent>,
    identity: &IdentityMap,
    i: u32,
    n: u32,
) -> (Vec<Touch>, Vec<ReceiptLineEvent>) {
    let customer = |u: &str| identity.get(u).map_or(u, String::as_str).to_string();
    let touches = touches
        .into_iter()
        .filter(|t| shard_of(&customer(&t.user_key), n) == i)
        .collect();
    let lines = lines
        .into_iter()
        .filter(|l| shard_of(&l.customer_key, n) == i)
        .collect();
    (touches, lines)
}

/// Attributes every line to the exposures that earned it.
pub fn attribute(
    touches: &[Touch],
    lines: &[ReceiptLineEvent],
    catalog: &Catalog,
    identity: &IdentityMap,
    rules: &Rules<'_>,
) -> Vec<Credit> {
    // Each customer's exposures with their window and scope worked out once (the settings
    // closure is a map look-up), sorted by time so a line scans only those that can reach
    // it; `seen` keeps the input order for the de-duplication rule below.
    struct Prepared<'t> {
        t: &'t Touch,
        window_ms: i64,
        scope: MatchScope,
        seen: usize,
    }
    let mut by_customer: FastMap<&str, (i64, Vec<Prepared<'_>>)> = FastMap::default();
    for t in touches {
        let customer = identity
            .get(&t.user_key)
            .map(String::as_str)
            .unwrap_or(t.user_key.as_str());
        let s = (rules.settings)(t.campaign_id);
        let window_ms = match t.kind {
            TouchKind::Click => i64::from(s.click_window_days.days()),
            TouchKind::View => i64::from(s.view_window_days.days()),
        } * DAY_SECS
            * 1_000;
        let (reach, mine) = by_customer.entry(customer).or_default();
        *reach = (*reach).max(window_ms);
        let seen = mine.len();
        mine.push(Prepared {
            t,
            window_ms,
            scope: s.scope,
            seen,
        });
    }
    for (_, mine) in by_customer.values_mut() {
        mine.sort_by_key(|p| p.t.ts_ms);
    }
    let mut out = Vec::new();
    // A line's eligible exposures as (advertiser, time, event id, order seen, exposure),
    // one buffer for every line: sorted, they are what a map of advertiser -> map of
    // (time, event id) -> exposure held, without two maps allocated per line.
    let mut eligible: Vec<(Uuid, i64, Uuid, usize, &Touch)> = Vec::new();
    for line in lines {
        let Some((reach, mine)) = by_customer.get(line.customer_key.as_str()) else {
            continue;
        };
        eligible.clear();
        let start = mine.partition_point(|p| p.t.ts_ms < line.ts_ms.saturating_sub(*reach));
        for p in mine[start..].iter().take_while(|p| p.t.ts_ms <= line.ts_ms) {
            let lag = line.ts_ms - p.t.ts_ms;
            if (0..=p.window_ms).contains(&lag) && matches(p.scope, &line.sku, &p.t.skus, catalog) {
                eligible.push((p.t.advertiser_id, p.t.ts_ms, p.t.event_id, p.seen, p.t));
            }
        }
        // De-duplicated by event id: of exposures alike in advertiser, time and event id
        // the last seen stands (as a map insert would leave it), so it sorts first.
        eligible.sort_unstable_by(|a, b| {
            (a.0, a.1, a.2, std::cmp::Reverse(a.3)).cmp(&(b.0, b.1, b.2, std::cmp::Reverse(b.3)))
        });
        eligible.dedup_by_key(|e| (e.0, e.1, e.2));
        for set in eligible.chunk_by(|a, b| a.0 == b.0) {
            let clicked = set.iter().any(|e| e.4.kind == TouchKind::Click);
            let chosen: Vec<&Touch> = set
                .iter()
                .map(|e| e.4)
                .filter(|t| !clicked || t.kind == TouchKind::Click)
                .collect();
            let lags: Vec<i64> = chosen
                .iter()
                .map(|t| (line.ts_ms - t.ts_ms) / 1_000)
                .collect();
            let w = weights(rules.model, &lags, rules.half_life_secs);
            let amounts = split_exact(line.amount_micros, &w);
            let units = split_exact(i64::from(line.quantity) * 1_000_000, &w);
            for (i, t) in chosen.iter().enumerate() {
                if w[i] <= 0.0 {
                    continue;
                }
                out.push(Credit {
                    receipt_id: line.receipt_id.clone(),
                    version: line.version,
                    line_no: line.line_no,
                    customer_key: line.customer_key.clone(),
                    event_id: t.event_id,
                    kind: t.kind,
                    advertiser_id: t.advertiser_id,
                    campaign_id: t.campaign_id,
                    line_item_id: t.line_item_id,
                    weight: w[i],
                    amount_micros: amounts[i],
                    units_micros: units[i],
                    direct: t.skus.iter().any(|s| s == &line.sku),
                    lag_secs: lags[i],
                });
            }
        }
    }
    out
}

/// Attributed totals of a group (a campaign, or the retailer).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Receipts with a line crediting the group.
    pub orders: u64,
    /// Units, in millionths.
    pub units_micros: i64,
    /// Sales, micros (net of returns).
    pub sales_micros: i64,
    /// Of which on the promoted SKUs.
    pub direct_sales_micros: i64,
    /// Of which on other SKUs of the brand or category.
    pub halo_sales_micros: i64,
}

/// Totals per campaign, each advertiser's credit standing alone.
pub fn by_campaign(credits: &[Credit]) -> BTreeMap<Uuid, Totals> {
    let mut out: BTreeMap<Uuid, Totals> = BTreeMap::new();
    // Hashed and sized up front: one entry per credit at most.
    let mut orders: FastSet<(Uuid, &str)> =
        FastSet::with_capacity_and_hasher(credits.len(), Default::default());
    for c in credits {
        let t = out.entry(c.campaign_id).or_default();
        t.units_micros += c.units_micros;
        t.sales_micros += c.amount_micros;
        if c.direct {
            t.direct_sales_micros += c.amount_micros;
        } else {
            t.halo_sales_micros += c.amount_micros;
        }
        if orders.insert((c.campaign_id, c.receipt_id.as_str())) {
            t.orders += 1;
        }
    }
    out
}

/// The retailer's total: every credited line once, whichever advertisers shared it.
pub fn retailer_total(credits: &[Credit], lines: &[ReceiptLineEvent]) -> Totals {
    // One map (credited line -> credited on a promoted SKU), sized up front.
    let mut credited: FastMap<(&str, i64, u32), bool> =
        FastMap::with_capacity_and_hasher(credits.len(), Default::default());
    for c in credits {
        *credited
            .entry((c.receipt_id.as_str(), c.version, c.line_no))
            .or_default() |= c.direct;
    }
    let mut t = Totals::default();
    let mut orders: FastSet<&str> =
        FastSet::with_capacity_and_hasher(credited.len(), Default::default());
    for l in lines {
        let Some(&direct) = credited.get(&(l.receipt_id.as_str(), l.version, l.line_no)) else {
            continue;
        };
        t.units_micros += i64::from(l.quantity) * 1_000_000;
        t.sales_micros += l.amount_micros;
        if direct {
            t.direct_sales_micros += l.amount_micros;
        } else {
            t.halo_sales_micros += l.amount_micros;
        }
        if orders.insert(l.receipt_id.as_str()) {
            t.orders += 1;
        }
    }
    t
}
