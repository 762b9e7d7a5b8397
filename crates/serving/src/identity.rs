//! The identity map at decision time: which shopper (customer key) an online user key
//! belongs to, so the holdout unit is the shopper and not the device.

use endcap_store::CampaignStore;
use moka::sync::Cache;
use std::sync::Arc;
use std::time::Duration;

/// Identity links from the campaign store, behind an in-process cache.
pub struct Identities {
    store: CampaignStore,
    /// User key -> customer key ("" when the user key is linked to nobody).
    cache: Cache<String, Arc<str>>,
    timeout: Duration,
}

impl Identities {
    /// Links read from `store` within `timeout`, `capacity` users cached for `ttl`.
    pub fn new(store: CampaignStore, capacity: u64, ttl: Duration, timeout: Duration) -> Self {
        Self {
            store,
            cache: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
            timeout,
        }
    }

    /// The holdout unit of a user: its customer key when linked, else the user key itself;
    /// `None` when the store did not answer in time (the caller then keeps campaigns with a
    /// holdout out of the request rather than guess an arm).
    pub async fn holdout_key(&self, user_key: &str) -> Option<String> {
        if user_key.is_empty() {
            return Some(String::new());
        }
        let unit = |c: &str| {
            if c.is_empty() {
                user_key.to_string()
            } else {
                c.to_string()
            }
        };
        if let Some(c) = self.cache.get(user_key) {
            return Some(unit(&c));
        }
        match tokio::time::timeout(self.timeout, self.store.customer_key(user_key)).await {
            Ok(Ok(found)) => {
                let c: Arc<str> = found.unwrap_or_default().into();
                self.cache.insert(user_key.to_string(), c.clone());
                Some(unit(&c))
            }
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "identity lookup failed; holdout campaigns sit out");
                None
            }
            Err(_) => None,
        }
    }

    /// The customer key the first of `keys` (external ids' keys, in the request's order)
    /// that is linked belongs to: the cache first, then the store for the rest, all within
    /// one lookup timeout; a timeout or a store fault ends the search with what was found.
    pub async fn customer_of_any(&self, keys: &[String]) -> Option<String> {
        let mut missing = Vec::new();
        for k in keys {
            match self.cache.get(k) {
                Some(c) if !c.is_empty() => return Some(c.to_string()),
                Some(_) => {}
                None => missing.push(k),
            }
        }
        if missing.is_empty() {
            return None;
        }
        let search = async {
            for k in missing {
                match self.store.customer_key(k).await {
                    Ok(found) => {
                        let c: Arc<str> = found.unwrap_or_default().into();
                        self.cache.insert(k.clone(), c.clone());
                        if !c.is_empty() {
                            return Some(c.to_string());
                        }
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "eid lookup failed; no user from eids");
                        return None;
                    }
                }
            }
            None
        };
        tokio::time::timeout(self.timeout, search)
            .await
            .ok()
            .flatten()
    }
}
