//! Keeps the eligibility snapshot fresh: rebuilt from the campaign store every few seconds
//! off the request path and swapped in whole, so requests read it without a lock.

use arc_swap::ArcSwap;
use endcap_auction::Snapshot;
use endcap_core::{Advertiser, Campaign, CampaignId, Creative, LineItem, LineItemId, Status};
use endcap_store::CampaignStore;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Every campaign and line item this process has served, as last seen: a charge for an ad
/// served before its campaign was paused still needs the campaign's budget.
#[derive(Default)]
pub struct Known {
    /// Campaigns by id.
    pub campaigns: HashMap<CampaignId, Arc<Campaign>>,
    /// Line items by id.
    pub line_items: HashMap<LineItemId, Arc<LineItem>>,
}

/// The current snapshot and how to rebuild it.
pub struct Index {
    store: CampaignStore,
    current: ArcSwap<Snapshot>,
    known: ArcSwap<Known>,
    /// The store's change marker when the current snapshot was built.
    built_from: std::sync::Mutex<Option<i64>>,
    /// The retailer's calendar, in which flights are paced.
    clock: endcap_billing::RetailerClock,
    /// The traffic curve the next snapshot paces with ([`Index::set_traffic`]).
    traffic: ArcSwap<endcap_auction::TrafficCurve>,
}

impl Index {
    /// An empty index over a store (call [`Index::refresh`] to fill it).
    pub fn new(store: CampaignStore) -> Self {
        Self {
            store,
            current: ArcSwap::from_pointee(Snapshot::default()),
            known: ArcSwap::from_pointee(Known::default()),
            built_from: std::sync::Mutex::new(None),
            clock: endcap_billing::RetailerClock::default(),
            traffic: ArcSwap::from_pointee(endcap_auction::TrafficCurve::flat()),
        }
    }

    /// The same index pacing in the retailer's calendar.
    pub fn with_clock(mut self, clock: endcap_billing::RetailerClock) -> Self {
        self.clock = clock;
        self
    }

    /// Hands over a new traffic curve: the next refresh rebuilds the snapshot with it.
    pub fn set_traffic(&self, curve: endcap_auction::TrafficCurve) {
        self.traffic.store(Arc::new(curve));
        *self.built_from.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The snapshot to serve from.
    pub fn load(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// A campaign served at some point, as last seen.
    pub fn campaign(&self, id: CampaignId) -> Option<Arc<Campaign>> {
        self.known.load().campaigns.get(&id).cloned()
    }

    /// A line item served at some point, as last seen.
    pub fn line_item(&self, id: LineItemId) -> Option<Arc<LineItem>> {
        self.known.load().line_items.get(&id).cloned()
    }

    /// Reads a campaign this process has not indexed from the store, and remembers it.
    pub async fn fetch_campaign(
        &self,
        id: CampaignId,
    ) -> Result<Option<Arc<Campaign>>, endcap_store::StoreError> {
        match self.store.get::<Campaign>(&id.to_string()).await {
            Ok(c) => {
                let c = Arc::new(c);
                let mut known = Known {
                    campaigns: self.known.load().campaigns.clone(),
                    line_items: self.known.load().line_items.clone(),
                };
                known.campaigns.insert(id, c.clone());
                self.known.store(Arc::new(known));
                Ok(Some(c))
            }
            Err(endcap_store::StoreError::NotFound(_)) => {
                tracing::warn!(campaign = %id, "campaign not found for a charge");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Ids of the campaigns that can serve now (whose shared spend must be kept fresh).
    pub fn serving_campaigns(&self) -> Vec<CampaignId> {
        self.current.load().campaign_ids()
    }

    /// Rebuilds the snapshot if the store changed since the last build. A rebuild reads and
    /// parses every serving object, which competes with requests for CPU, so the periodic
    /// check costs three small aggregate queries when nothing changed.
    pub async fn refresh_if_changed(&self) -> Result<Option<usize>, endcap_store::StoreError> {
        let marker = self.store.change_marker().await?;
        let same = self
            .built_from
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|m| *m == marker);
        if same {
            return Ok(None);
        }
        self.refresh().await.map(Some)
    }

    /// Rebuilds the snapshot from the store and swaps it in.
    pub async fn refresh(&self) -> Result<usize, endcap_store::StoreError> {
        let marker = self.store.change_marker().await?;
        // Every campaign, not only active ones: a paused campaign's budget (and its changes)
        // still governs the charges of ads it served before the pause.
        let campaigns: Vec<Campaign> = self.store.list_all(None).await?;
        let line_items: Vec<LineItem> = self.store.list_all(Some(Status::Active)).await?;
        let creatives: Vec<Creative> = self.store.list_all(None).await?;
        let advertisers: Vec<Advertiser> = self.store.list_all(None).await?;
        let mut known = Known {
            campaigns: self.known.load().campaigns.clone(),
            line_items: self.known.load().line_items.clone(),
        };
        for c in &campaigns {
            known.campaigns.insert(c.id, Arc::new(c.clone()));
        }
        for l in &line_items {
            known.line_items.insert(l.id, Arc::new(l.clone()));
        }
        // Advertisers' declared domains ride on their line items (OpenRTB `adomain`, `badv`).
        let mut snap = Snapshot::build(campaigns, line_items, creatives, chrono::Utc::now())
            .with_advertisers(&advertisers);
        // Availability of the SKUs it promotes, bounded, so a request never reads the store.
        let outs = self
            .store
            .stock_outs(&snap.skus(), endcap_auction::MAX_STOCK_OUTS + 1)
            .await?;
        if outs.len() > endcap_auction::MAX_STOCK_OUTS {
            tracing::warn!(
                max = endcap_auction::MAX_STOCK_OUTS,
                "more stock-outs than the snapshot holds; the rest count as in stock"
            );
        }
        snap.set_stock(outs);
        snap.set_advertiser_caps(&advertisers);
        snap.set_pacing(&self.clock, self.traffic.load_full());
        let n = snap.len();
        self.current.store(Arc::new(snap));
        self.known.store(Arc::new(known));
        *self.built_from.lock().unwrap_or_else(|p| p.into_inner()) = Some(marker);
        Ok(n)
    }

    /// Refreshes forever, every `every`; a failed refresh keeps the previous snapshot.
    pub async fn keep_fresh(self: Arc<Self>, every: Duration) {
        // Only paused or ended campaigns leave the snapshot; a paused one keeps its budget
        // in `known` for the charges still to come.
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match self.refresh_if_changed().await {
                Ok(Some(n)) => tracing::debug!(line_items = n, "index rebuilt"),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "index refresh failed; serving the previous snapshot")
                }
            }
        }
    }
}
