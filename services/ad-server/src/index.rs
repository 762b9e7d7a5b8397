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
    /// The store's change marker when the current snapshot was built.
    built_from: std::sync::Mutex<Option<Vec<(i64, i64)>>>,
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
            built_from: std::sync::Mutex::new(None),
        }
    }

    /// The snapshot to serve from.
    pub fn load(&self) -> Arc<Snapshot> {
        self.current.load_full()
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
        let campaigns: Vec<Campaign> = all(&self.store, Some(Status::Active)).await?;
        let line_items: Vec<LineItem> = all(&self.store, Some(Status::Active)).await?;
        let creatives: Vec<Creative> = all(&self.store, None).await?;
        let snap = Snapshot::build(campaigns, line_items, creatives, chrono::Utc::now());
        let n = snap.len();
        self.current.store(Arc::new(snap));
        *self.built_from.lock().unwrap_or_else(|p| p.into_inner()) = Some(marker);
        Ok(n)
    }

    /// Refreshes forever, every `every`; a failed refresh keeps the previous snapshot.
    pub async fn keep_fresh(self: Arc<Self>, every: Duration) {
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
