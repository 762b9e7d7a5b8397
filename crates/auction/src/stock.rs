//! Per-store availability of promoted SKUs, as the snapshot holds it: which (store, SKU)
//! pairs are out of stock. Unknown availability means in stock, so only stock-outs are kept,
//! and only for SKUs a serving line item promotes or a creative shows. Built off the request
//! path; a request's lookups hash its store id once and then compare small integers, with
//! no allocation.

use endcap_core::{Creative, CreativeId, LineItem, LineItemId};
use std::collections::{HashMap, HashSet};

/// Most (store, SKU) stock-outs a snapshot holds; past it the rest are left out (they count
/// as in stock, the rule for unknown availability) and the loader logs it.
pub const MAX_STOCK_OUTS: usize = 2_000_000;

/// Stock-outs by store, indexed for the serving line items.
#[derive(Debug, Default)]
pub struct Stock {
    /// Store ids with at least one stock-out, numbered.
    stores: HashMap<String, u32>,
    /// Out-of-stock (store, SKU) pairs, by number.
    out: HashSet<(u32, u32)>,
    /// Line items every promoted SKU of which is out of stock somewhere: their SKU numbers
    /// (a line item with a SKU out of stock nowhere is never sold out, so it is not listed).
    line_items: HashMap<LineItemId, Box<[u32]>>,
    /// Creatives whose SKU is out of stock somewhere: that SKU's number.
    creatives: HashMap<CreativeId, u32>,
}

impl Stock {
    /// Indexes stock-outs (`(sku, store_id)`, SKUs compared case-insensitively as targeting
    /// compares them) for the given line items and creatives; at most [`MAX_STOCK_OUTS`].
    pub fn build<'a>(
        outs: impl IntoIterator<Item = (String, String)>,
        line_items: impl IntoIterator<Item = &'a LineItem>,
        creatives: impl IntoIterator<Item = &'a Creative>,
    ) -> Self {
        let mut skus: HashMap<String, u32> = HashMap::new();
        let mut s = Self::default();
        for (sku, store) in outs.into_iter().take(MAX_STOCK_OUTS) {
            let next = skus.len() as u32;
            let sku = *skus.entry(sku.to_ascii_lowercase()).or_insert(next);
            let next = s.stores.len() as u32;
            let store = *s.stores.entry(store).or_insert(next);
            s.out.insert((store, sku));
        }
        if s.out.is_empty() {
            return Self::default();
        }
        let id = |sku: &str| skus.get(&sku.to_ascii_lowercase()).copied();
        for li in line_items {
            if li.promoted_skus.is_empty() {
                continue;
            }
            let ids: Option<Vec<u32>> = li.promoted_skus.iter().map(|k| id(k)).collect();
            if let Some(ids) = ids {
                s.line_items.insert(li.id, ids.into_boxed_slice());
            }
        }
        for c in creatives {
            if let Some(sku) = c.sku.as_deref().and_then(id) {
                s.creatives.insert(c.id, sku);
            }
        }
        s
    }

    /// Availability at one store; `None` when nothing is known to be out of stock there.
    pub fn at(&self, store_id: &str) -> Option<AtStore<'_>> {
        self.stores
            .get(store_id)
            .map(|&store| AtStore { stock: self, store })
    }

    /// Out-of-stock pairs held.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// True when no stock-out is known.
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }
}

/// The stock-outs of one store.
#[derive(Debug, Clone, Copy)]
pub struct AtStore<'a> {
    stock: &'a Stock,
    store: u32,
}

impl AtStore<'_> {
    /// Whether every promoted SKU of the line item is out of stock here (a line item that
    /// promotes none is never sold out).
    pub fn sold_out(&self, li: &LineItem) -> bool {
        self.stock.line_items.get(&li.id).is_some_and(|ids| {
            ids.iter()
                .all(|&k| self.stock.out.contains(&(self.store, k)))
        })
    }

    /// Whether the creative may be shown here: it shows no SKU, or its SKU is not out of
    /// stock here.
    pub fn shows_in_stock(&self, c: &Creative) -> bool {
        self.stock
            .creatives
            .get(&c.id)
            .is_none_or(|&k| !self.stock.out.contains(&(self.store, k)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_item(skus: &[&str]) -> LineItem {
        let mut li: LineItem = serde_json::from_value(serde_json::json!({
            "id": uuid::Uuid::now_v7(), "campaign_id": uuid::Uuid::now_v7(),
            "advertiser_id": uuid::Uuid::now_v7(), "name": "li", "status": "active",
            "pricing": {"model": "cpm", "bid_micros": 1_000_000},
            "targeting": {}, "promoted_skus": [], "version": 1,
            "created_at": "2026-11-01T00:00:00Z", "updated_at": "2026-11-01T00:00:00Z"
        }))
        .expect("a line item");
        li.promoted_skus = skus.iter().map(|s| s.to_string()).collect();
        li
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn a_line_item_is_sold_out_only_where_every_promoted_sku_is_out() {
        let both = line_item(&["SKU-1", "sku-2"]);
        let one = line_item(&["sku-1"]);
        let none = line_item(&[]);
        let stock = Stock::build(
            pairs(&[("sku-1", "s1"), ("sku-2", "s1"), ("sku-1", "s2")]),
            [&both, &one, &none],
            [],
        );
        let s1 = stock.at("s1").expect("s1 has stock-outs");
        let s2 = stock.at("s2").expect("s2 has stock-outs");
        assert!(s1.sold_out(&both), "both SKUs out at s1 (case ignored)");
        assert!(!s2.sold_out(&both), "sku-2 is in stock at s2");
        assert!(s2.sold_out(&one));
        assert!(
            !s1.sold_out(&none),
            "a line item promoting nothing is never sold out"
        );
        assert!(stock.at("s3").is_none(), "unknown availability is in stock");
    }

    #[test]
    fn nothing_out_of_stock_holds_nothing() {
        let li = line_item(&["a"]);
        let stock = Stock::build(Vec::new(), [&li], []);
        assert!(stock.is_empty());
        assert!(stock.line_items.is_empty());
    }
}
