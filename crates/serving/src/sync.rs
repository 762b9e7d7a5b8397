//! Offsite identity: user sync with exchanges, and the bid request's user key from it.
//!
//! `GET /v1/usersync?exchange=NAME&uid=THEIR_ID` (with Prebid's privacy parameters): the
//! browser's `endcap_uid` cookie is our id (minted when missing: 32 random bytes, hex, so
//! it has the shape of every other user key); the pair (exchange, HMAC of their id) ->
//! our id is stored in the campaign store, and the browser is sent on to the exchange's
//! sync URL with our id in its `${UID}` macro, so its bid requests carry it as
//! `user.buyeruid`. When the exchange keeps its own id instead, a bid request's
//! `user.buyeruid` or `user.id` is looked up through the stored pairs (cached, bounded by the
//! lookup timeout; a miss is "no user", never an error).

use crate::{ServeError, Server};
use endcap_core::{HashedKey, ValidationError};
use endcap_openrtb::PrivacySignals;
use moka::sync::Cache;
use serde::Deserialize;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// The cookie holding our user id.
pub const UID_COOKIE: &str = "endcap_uid";
/// How long the cookie lives: 400 days, the most browsers keep one.
pub const UID_COOKIE_MAX_AGE_SECS: u64 = 400 * 86_400;
/// The macro an exchange's sync URL carries our id in.
pub const UID_MACRO: &str = "${UID}";
/// Longest exchange user id taken.
pub const MAX_EXCHANGE_UID_BYTES: usize = 256;

/// The query of `GET /v1/usersync`, as Prebid's user syncs send it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SyncQuery {
    /// The exchange's name (as in `ENDCAP_EXCHANGES`).
    pub exchange: Option<String>,
    /// The exchange's user id (optional: without it we only hand ours out).
    pub uid: Option<String>,
    /// `1` when GDPR applies.
    pub gdpr: Option<String>,
    /// The TCF v2 consent string.
    pub gdpr_consent: Option<String>,
    /// The US Privacy string.
    pub us_privacy: Option<String>,
    /// The GPP string.
    pub gpp: Option<String>,
    /// GPP sections in force, comma separated.
    pub gpp_sid: Option<String>,
}

/// What a user sync answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncAnswer {
    /// Send the browser on to the exchange's sync URL (our id in its macro), setting our
    /// cookie to `uid`.
    Redirect {
        /// Where to.
        location: String,
        /// Our user id, for the cookie.
        uid: String,
    },
    /// A pixel: the exchange has no sync URL (`uid` set: our cookie is set), or the
    /// privacy signals forbid identifying the user (`uid` none: nothing stored or set).
    Pixel {
        /// Our user id, for the cookie.
        uid: Option<String>,
    },
}

/// Exchange user ids -> our user keys: the campaign store's pairs behind an in-process cache.
pub struct ExchangeIds {
    store: endcap_store::CampaignStore,
    /// (exchange, uid key) -> our user key ("" when not synced).
    cache: Cache<(String, String), Arc<str>>,
    timeout: Duration,
    /// Syncs refused because the privacy signals forbid them.
    pub refused: AtomicU64,
    /// Pairs stored.
    pub stored: AtomicU64,
}

impl ExchangeIds {
    /// Pairs of `store`, `capacity` cached for `ttl`, each store read bounded by `timeout`.
    pub fn new(
        store: endcap_store::CampaignStore,
        capacity: u64,
        ttl: Duration,
        timeout: Duration,
    ) -> Self {
        Self {
            store,
            cache: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
            timeout,
            refused: AtomicU64::new(0),
            stored: AtomicU64::new(0),
        }
    }
}

/// The key an exchange's user id is stored under: HMAC-SHA256 keyed by the user-key salt of
/// `exchange` and the id, so a raw id is never stored and ids of two exchanges never meet.
pub fn exchange_uid_key(salt: &str, exchange: &str, uid: &str) -> String {
    HashedKey::hash_raw(salt, &format!("{exchange}\u{1f}{uid}"))
        .as_str()
        .to_string()
}

/// A fresh user id of ours: 32 random bytes from the OS as hex (none when the OS gives no
/// randomness: the sync then hands out no id rather than a guessable one).
fn mint_uid() -> Option<String> {
    let mut b = [0u8; 32];
    if let Err(e) = getrandom::fill(&mut b) {
        tracing::warn!(error = %e, "no randomness for a user id; the sync hands none out");
        return None;
    }
    Some(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Percent-encodes a value for a URL's query (RFC 3986 unreserved bytes kept).
fn encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl Server {
    /// A user sync: finds or mints our user id (`cookie`, the `endcap_uid` cookie's value),
    /// stores the exchange's id against it when the privacy signals allow, and answers where
    /// the browser goes next. An unknown exchange, or a uid over 256 bytes, is refused
    /// naming the parameter.
    pub async fn user_sync(
        &self,
        q: &SyncQuery,
        cookie: Option<&str>,
    ) -> Result<SyncAnswer, ServeError> {
        let param =
            |field: &str, msg: &str| ServeError::Parameter(ValidationError::new(field, msg));
        let exchange = non_empty(&q.exchange)
            .ok_or_else(|| param("exchange", "required: the name of a configured exchange"))?;
        if !self.config.exchanges.values().any(|x| x.name == exchange) {
            return Err(param("exchange", "not a configured exchange"));
        }
        let uid = non_empty(&q.uid);
        if uid.is_some_and(|u| u.len() > MAX_EXCHANGE_UID_BYTES) {
            return Err(param("uid", "longer than 256 bytes"));
        }
        let gpp_sid: Vec<i64> = match non_empty(&q.gpp_sid) {
            None => Vec::new(),
            Some(s) => s
                .split(',')
                .map(|p| p.trim().parse::<i64>())
                .collect::<Result<_, _>>()
                .map_err(|_| param("gpp_sid", "not comma-separated section ids"))?,
        };
        let gdpr = match non_empty(&q.gdpr) {
            None => None,
            Some("0") => Some(0),
            Some("1") => Some(1),
            Some(_) => return Err(param("gdpr", "must be 0 or 1")),
        };
        let signals = PrivacySignals {
            gdpr,
            consent: non_empty(&q.gdpr_consent),
            us_privacy: non_empty(&q.us_privacy),
            gpp: non_empty(&q.gpp),
            gpp_sid: &gpp_sid,
        };
        if !signals.allow(&self.config.consent) {
            self.exchange_ids.refused.fetch_add(1, Relaxed);
            return Ok(SyncAnswer::Pixel { uid: None });
        }
        // Our id: the cookie's when it is one of ours, else a new one.
        let ours = match cookie.and_then(|c| HashedKey::parse(c.trim(), "endcap_uid").ok()) {
            Some(k) => k.as_str().to_string(),
            None => match mint_uid() {
                Some(k) => k,
                None => return Ok(SyncAnswer::Pixel { uid: None }),
            },
        };
        // Unreplaced macros (`$UID`, `{uid}`) are not ids.
        if let Some(uid) = uid.filter(|u| !u.contains(['$', '{', '}'])) {
            let key = exchange_uid_key(self.config.user_key_salt.expose(), exchange, uid);
            self.exchange_ids
                .store
                .upsert_exchange_uid(exchange, &key, &ours)
                .await?;
            self.exchange_ids
                .cache
                .insert((exchange.to_string(), key), ours.as_str().into());
            self.exchange_ids.stored.fetch_add(1, Relaxed);
        }
        Ok(match self.config.sync_urls.get(exchange) {
            Some(url) => SyncAnswer::Redirect {
                location: url
                    .replace(UID_MACRO, &ours)
                    .replace("${GDPR}", &gdpr.map(|g| g.to_string()).unwrap_or_default())
                    .replace(
                        "${GDPR_CONSENT}",
                        &encode(signals.consent.unwrap_or_default()),
                    )
                    .replace(
                        "${US_PRIVACY}",
                        &encode(signals.us_privacy.unwrap_or_default()),
                    )
                    .replace("${GPP}", &encode(signals.gpp.unwrap_or_default()))
                    .replace(
                        "${GPP_SID}",
                        &encode(non_empty(&q.gpp_sid).unwrap_or_default()),
                    ),
                uid: ours,
            },
            None => SyncAnswer::Pixel { uid: Some(ours) },
        })
    }

    /// Our user key for an exchange's own user id, if it was synced: cached, and bounded by
    /// the lookup timeout; a miss, a timeout or a store fault is "not synced".
    pub(crate) async fn synced_user_key(&self, exchange: &str, uid: &str) -> Option<String> {
        let uid = uid.trim();
        if uid.is_empty() || uid.len() > MAX_EXCHANGE_UID_BYTES {
            return None;
        }
        let key = (
            exchange.to_string(),
            exchange_uid_key(self.config.user_key_salt.expose(), exchange, uid),
        );
        let ids = &self.exchange_ids;
        let found = match ids.cache.get(&key) {
            Some(k) => k,
            None => {
                let read = ids.store.user_key_for_exchange_uid(&key.0, &key.1);
                match tokio::time::timeout(ids.timeout, read).await {
                    Ok(Ok(k)) => {
                        let k: Arc<str> = k.unwrap_or_default().into();
                        ids.cache.insert(key, k.clone());
                        k
                    }
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "exchange uid lookup failed; no user");
                        return None;
                    }
                    Err(_) => return None,
                }
            }
        };
        (!found.is_empty()).then(|| found.to_string())
    }

    /// The user key of a personalisable bid request from `exchange`, first found of:
    /// 1. `user.eids`: the customer key the retailer's identity map links an external id to
    ///    (`source` + `external_id` uploads), so the request is the shopper (segments by
    ///    customer key, the shopper's holdout arm, exposures attributed to their receipts);
    /// 2. `user.buyeruid` when it is one of our ids (SHA-256-shaped hex, as we hand them out);
    /// 3. the exchange's own id in `user.buyeruid`, then in `user.id`, through the synced pairs.
    ///
    /// "" when none is known. Each step is cached and bounded; a miss is never an error.
    pub(crate) async fn offsite_user_key(
        &self,
        exchange: &str,
        user: &endcap_openrtb::User,
    ) -> String {
        let eids: Vec<String> = user
            .eid_pairs()
            .iter()
            .map(|(source, id)| {
                HashedKey::external_id(self.config.user_key_salt.expose(), source, id)
                    .as_str()
                    .to_string()
            })
            .collect();
        if !eids.is_empty() {
            if let Some(customer) = self.identities.customer_of_any(&eids).await {
                return customer;
            }
        }
        let buyeruid = user.buyeruid.as_deref().map(str::trim).unwrap_or_default();
        if let Ok(k) = HashedKey::parse(buyeruid, "user.buyeruid") {
            return k.as_str().to_string();
        }
        if let Some(k) = self.synced_user_key(exchange, buyeruid).await {
            return k;
        }
        match user.id.as_deref() {
            Some(id) => self.synced_user_key(exchange, id).await.unwrap_or_default(),
            None => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchange_uid_keys_are_hashed_per_exchange() {
        let a = exchange_uid_key("salt-0123456789ab", "adx", "their-id");
        assert_eq!(a.len(), 64);
        assert!(!a.contains("their-id"));
        assert_eq!(a, exchange_uid_key("salt-0123456789ab", "adx", "their-id"));
        assert_ne!(
            a,
            exchange_uid_key("salt-0123456789ab", "other", "their-id")
        );
        assert_ne!(a, exchange_uid_key("another-salt-0000", "adx", "their-id"));
    }

    #[test]
    fn minted_ids_are_fresh_user_keys() {
        let (a, b) = (mint_uid().unwrap(), mint_uid().unwrap());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(HashedKey::parse(&a, "uid").is_ok(), "{a}");
    }

    #[test]
    fn values_are_percent_encoded() {
        assert_eq!(encode("CO+x/y=z&"), "CO%2Bx%2Fy%3Dz%26");
        assert_eq!(encode("1YNN-a_b.c~"), "1YNN-a_b.c~");
    }
}
