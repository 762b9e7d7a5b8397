//! Keeps the eligibility snapshot fresh: rebuilt from the campaign store every few seconds
//! off the request path and swapped in whole, so requests read it without a lock.

use arc_swap::ArcSwap;
use endcap_auction::Snapshot;
use endcap_core::{Campaign, Creative, LineItem, Status};
use endcap_store::{CampaignStore, ListQuery, StoredObject};
use std::sync::Arc;
use std::time::Duration;

/// The current snapshot and how to rebuild it.
pub struct Index {
    store: CampaignStore,
    current: ArcSwap<Snapshot>,
}

async fn all<T: StoredObject>(
    store: &CampaignStore,
    status: Option<Status>,
) -> Result<Vec<T>, endcap_store::StoreError> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list::<T>(&ListQuery {
                status,
                after: after.clone(),
                limit: 200,
                ..Default::default()
            })
            .await?;
        out.extend(page.items);
        match page.next_cursor {
            Some(c) => after = Some(c),
            None => return Ok(out),
        }
    }
}

impl Index {
    /// An empty index over a store (call [`Index::refresh`] to fill it).
    pub fn new(store: CampaignStore) -> Self {
        Self {
            store,
            current: ArcSwap::from_pointee(Snapshot::default()),
        }
    }

    /// The snapshot to serve from.
    pub fn load(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Rebuilds the snapshot from the store and swaps it in.
    pub async fn refresh(&self) -> Result<usize, endcap_store::StoreError> {
        let campaigns: Vec<Campaign> = all(&self.store, Some(Status::Active)).await?;
        let line_items: Vec<LineItem> = all(&self.store, Some(Status::Active)).await?;
        let creatives: Vec<Creative> = all(&self.store, None).await?;
        let snap = Snapshot::build(campaigns, line_items, creatives, chrono::Utc::now());
        let n = snap.len();
        self.current.store(Arc::new(snap));
        Ok(n)
    }

    /// Refreshes forever, every `every`; a failed refresh keeps the previous snapshot.
    pub async fn keep_fresh(self: Arc<Self>, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match self.refresh().await {
                Ok(n) => tracing::debug!(line_items = n, "index refreshed"),
                Err(e) => {
                    tracing::warn!(error = %e, "index refresh failed; serving the previous snapshot")
                }
            }
        }
    }
}
