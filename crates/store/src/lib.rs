//! Endcap's campaign store.
//!
//! One interface, [`CampaignStore`], over two backends chosen by URL: SQLite
//! (`sqlite://PATH`, the embedded default) and PostgreSQL (`postgres://...`, production).
//! Both run the same portable SQL and the same migrations from `schemas/migrations/`.
//! Every write is one transaction that also appends to the audit log and, when the caller
//! passed an idempotency key, records the result for retries. Updates are optimistic: the
//! caller names the version it read, and a stale version is a [`StoreError::Conflict`].
#![warn(missing_docs)]

mod ingest;
mod keys;
mod members;
mod migrate;
mod objects;
mod periods;
mod retention;
mod stock;
mod sync;
#[doc(hidden)]
pub mod testing;

use chrono::{DateTime, Utc};
use endcap_core::{
    Advertiser, AdvertiserId, Campaign, CampaignId, Creative, CreativeId, LineItem, LineItemId,
    NewAdvertiser, NewCampaign, NewCreative, NewLineItem, Status, ValidationError,
};
use serde::Serialize;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Row};
use std::time::Duration;

pub use ingest::{LedgerEntry, Segment};
pub use keys::{ApiKey, ApiKeySecret};
pub use objects::StoredObject;
pub use periods::ClosedPeriod;
pub use retention::{RetentionRun, StoreRetention};
pub use stock::Availability;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The object (of the named kind) does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The caller's version is stale: someone else wrote in between.
    #[error("version conflict: you sent version {sent}, the current version is {current}")]
    Conflict {
        /// Version the caller sent.
        sent: i64,
        /// Version stored now.
        current: i64,
    },
    /// The requested change is not valid.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// An idempotency key was reused for a different request.
    #[error("this Idempotency-Key was already used for a different request")]
    IdempotencyMismatch,
    /// The database URL names no supported backend.
    #[error("unsupported database url {0:?}: use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    /// An applied migration's SQL was edited afterwards.
    #[error(
        "migration {version} ({name}) changed after it was applied; add a new migration instead"
    )]
    MigrationChanged {
        /// Its version.
        version: i64,
        /// Its name.
        name: &'static str,
    },
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored document no longer matches the domain types.
    #[error("stored document is unreadable: {0}")]
    Corrupt(#[from] serde_json::Error),
}

/// Shorthand for store results.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A local SQLite file: the embedded default.
    Sqlite,
    /// A PostgreSQL server: production.
    Postgres,
}

/// What a caller supplies with an `Idempotency-Key`: who, which key, and a hash of the
/// request so that the same key with a different body is refused instead of replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    /// Whose key namespace (the API key id), so tenants cannot collide.
    pub scope: String,
    /// The header's value.
    pub key: String,
    /// Hash of method, path and body.
    pub request_hash: String,
}

/// The result of a create: the object, and whether it is a replay of an earlier request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created<T> {
    /// The object as first created.
    pub value: T,
    /// `true` when an earlier request with the same idempotency key created it.
    pub replayed: bool,
}

/// Filters and cursor for a listing.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Only objects of this advertiser.
    pub advertiser_id: Option<AdvertiserId>,
    /// Only children of this parent (campaign of line items, line item of creatives).
    pub parent_id: Option<String>,
    /// Only objects in this state.
    pub status: Option<Status>,
    /// Resume after this id (the previous page's `next_cursor`).
    pub after: Option<String>,
    /// Page size; clamped to 1..=200.
    pub limit: u32,
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// The objects, oldest first.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// One audit log entry: who changed what, when, and the object as it was after.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Entry id (time ordered).
    pub id: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Who (`role:key-id`).
    pub actor: String,
    /// `create` or `update`.
    pub action: String,
    /// `advertiser`, `campaign`, `line_item`, `creative`, `api_key`.
    pub object_type: String,
    /// The object's id.
    pub object_id: String,
    /// The owning advertiser, if any.
    pub advertiser_id: Option<String>,
    /// The object's version after the change.
    pub version: i64,
    /// The object after the change.
    pub doc: serde_json::Value,
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn is_unique_violation(e: &StoreError) -> bool {
    matches!(e, StoreError::Database(sqlx::Error::Database(d)) if d.is_unique_violation())
}

/// The campaign store: advertisers, campaigns, line items, creatives, API keys, audit log.
#[derive(Debug, Clone)]
pub struct CampaignStore {
    pool: AnyPool,
    backend: Backend,
}

impl CampaignStore {
    /// Connects to `url` (`sqlite://PATH` or `postgres://...`), creating a SQLite file when
    /// missing, and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let (backend, url) = if let Some(rest) = url.strip_prefix("sqlite:") {
            let sep = if rest.contains('?') { '&' } else { '?' };
            let url = if rest.contains("mode=") || rest.contains(":memory:") {
                url.to_string()
            } else {
                format!("{url}{sep}mode=rwc")
            };
            (Backend::Sqlite, url)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_string())
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        };
        // SQLite takes one writer at a time; a single connection turns lock contention into
        // queueing instead of SQLITE_BUSY errors.
        let max = match backend {
            Backend::Sqlite => 1,
            Backend::Postgres => 10,
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(10))
            .connect(&url)
            .await?;
        migrate::run(&pool, backend).await?;
        Ok(Self { pool, backend })
    }

    /// Which backend this store uses.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Checks that the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// The store's change sequence: every write of a stored object advances it in the same
    /// transaction, so an unchanged value means nothing to rebuild (whatever the writers'
    /// clocks say).
    pub async fn change_marker(&self) -> Result<i64> {
        let row = sqlx::query("SELECT seq FROM store_changes WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("seq")?)
    }

    /// Reads one object by id.
    pub async fn get<T: StoredObject>(&self, id: &str) -> Result<T> {
        let mut conn = self.pool.acquire().await?;
        objects::fetch::<T>(&mut conn, id)
            .await?
            .ok_or(StoreError::NotFound(T::KIND))
    }

    /// Lists objects of one kind, oldest first, one page at a time.
    pub async fn list<T: StoredObject>(&self, q: &ListQuery) -> Result<Page<T>> {
        let filters = [
            ("advertiser_id", "=", q.advertiser_id.map(|a| a.to_string())),
            ("parent_id", "=", q.parent_id.clone()),
            ("status", "=", q.status.map(|s| s.as_str().to_string())),
            ("id", ">", q.after.clone()),
        ];
        let sql = format!("SELECT id, doc FROM {} WHERE 1 = 1", T::TABLE);
        objects::id_page(&self.pool, &sql, &filters, q.limit.clamp(1, 200), |row| {
            Ok(serde_json::from_str(&row.try_get::<String, _>("doc")?)?)
        })
        .await
    }

    /// Every object of one kind in a state (or all), oldest first, read page by page (for
    /// batch jobs and the ad server's index, which need them all).
    pub async fn list_all<T: StoredObject>(&self, status: Option<Status>) -> Result<Vec<T>> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .list::<T>(&ListQuery {
                    status,
                    after: after.take(),
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

    /// Creates an advertiser.
    pub async fn create_advertiser(
        &self,
        actor: &str,
        new: NewAdvertiser,
        idem: Option<&Idempotency>,
    ) -> Result<Created<Advertiser>> {
        self.create(actor, idem, None::<&str>, |_: Option<&Advertiser>, now| {
            Ok(Advertiser {
                id: AdvertiserId::generate(),
                name: new.name,
                currency: new.currency,
                frequency_cap: new.frequency_cap,
                version: 1,
                created_at: now,
                updated_at: now,
                domains: new.domains,
            })
        })
        .await
    }

    /// Creates a campaign under an advertiser; `make` validates against the advertiser
    /// (access, then input) inside the transaction.
    pub async fn create_campaign(
        &self,
        actor: &str,
        advertiser_id: AdvertiserId,
        idem: Option<&Idempotency>,
        make: impl FnOnce(&Advertiser) -> Result<NewCampaign>,
    ) -> Result<Created<Campaign>> {
        let parent = advertiser_id.to_string();
        self.create(
            actor,
            idem,
            Some(parent.as_str()),
            |adv: Option<&Advertiser>, now| {
                let adv = adv.ok_or(StoreError::NotFound(Advertiser::KIND))?;
                let n = make(adv)?;
                Ok(Campaign {
                    id: CampaignId::generate(),
                    advertiser_id: adv.id,
                    name: n.name,
                    status: n.status,
                    currency: adv.currency,
                    budget: n.budget,
                    start_at: n.start_at,
                    end_at: n.end_at,
                    attribution: n.attribution,
                    holdout_percent: n.holdout_percent,
                    frequency_cap: n.frequency_cap,
                    version: 1,
                    created_at: now,
                    updated_at: now,
                })
            },
        )
        .await
    }

    /// Creates a line item under a campaign; `make` checks access and input against it.
    pub async fn create_line_item(
        &self,
        actor: &str,
        campaign_id: CampaignId,
        idem: Option<&Idempotency>,
        make: impl FnOnce(&Campaign) -> Result<NewLineItem>,
    ) -> Result<Created<LineItem>> {
        let parent = campaign_id.to_string();
        self.create(
            actor,
            idem,
            Some(parent.as_str()),
            |c: Option<&Campaign>, now| {
                let c = c.ok_or(StoreError::NotFound(Campaign::KIND))?;
                let n = make(c)?;
                Ok(LineItem {
                    id: LineItemId::generate(),
                    campaign_id: c.id,
                    advertiser_id: c.advertiser_id,
                    name: n.name,
                    status: n.status,
                    pricing: n.pricing,
                    targeting: n.targeting,
                    frequency_cap: n.frequency_cap,
                    promoted_skus: n.promoted_skus,
                    placement_multipliers: n.placement_multipliers,
                    version: 1,
                    created_at: now,
                    updated_at: now,
                })
            },
        )
        .await
    }

    /// Creates a creative under a line item; `make` checks access and input against it.
    pub async fn create_creative(
        &self,
        actor: &str,
        line_item_id: LineItemId,
        idem: Option<&Idempotency>,
        make: impl FnOnce(&LineItem) -> Result<NewCreative>,
    ) -> Result<Created<Creative>> {
        let parent = line_item_id.to_string();
        self.create(
            actor,
            idem,
            Some(parent.as_str()),
            |li: Option<&LineItem>, now| {
                let li = li.ok_or(StoreError::NotFound(LineItem::KIND))?;
                let n = make(li)?;
                Ok(Creative {
                    id: CreativeId::generate(),
                    line_item_id: li.id,
                    campaign_id: li.campaign_id,
                    advertiser_id: li.advertiser_id,
                    kind: n.kind,
                    sku: n.sku,
                    image_url: n.image_url,
                    click_url: n.click_url,
                    width: n.width,
                    height: n.height,
                    native: n.native,
                    review: endcap_core::Review::pending(),
                    version: 1,
                    created_at: now,
                    updated_at: now,
                    iab_categories: n.iab_categories,
                    app_bundle: n.app_bundle,
                    attributes: n.attributes,
                })
            },
        )
        .await
    }

    /// Records a creative's review if `sent_version` is still current; `review` checks
    /// access and makes the review inside the transaction (audited like every change).
    pub async fn review_creative(
        &self,
        actor: &str,
        id: CreativeId,
        sent_version: i64,
        review: impl FnOnce(&Creative) -> Result<endcap_core::Review>,
    ) -> Result<Creative> {
        let mut tx = self.pool.begin().await?;
        let current: Creative = objects::fetch(&mut tx, &id.to_string())
            .await?
            .ok_or(StoreError::NotFound(Creative::KIND))?;
        let next = objects::guarded(&current, sent_version, |c| {
            let mut next = c.clone();
            next.review = review(c)?;
            Ok(next)
        })?;
        let saved = objects::replace(&mut tx, actor, next, sent_version).await?;
        tx.commit().await?;
        Ok(saved)
    }

    /// Changes a creative if `sent_version` is still current; `change` checks access and
    /// applies the patch inside the transaction.
    pub async fn update_creative(
        &self,
        actor: &str,
        id: CreativeId,
        sent_version: i64,
        change: impl FnOnce(&Creative) -> Result<Creative>,
    ) -> Result<Creative> {
        let mut tx = self.pool.begin().await?;
        let current: Creative = objects::fetch(&mut tx, &id.to_string())
            .await?
            .ok_or(StoreError::NotFound(Creative::KIND))?;
        let next = objects::guarded(&current, sent_version, change)?;
        let saved = objects::replace(&mut tx, actor, next, sent_version).await?;
        tx.commit().await?;
        Ok(saved)
    }

    /// Changes an advertiser if `sent_version` is still current; `change` checks access and
    /// applies the patch inside the transaction.
    pub async fn update_advertiser(
        &self,
        actor: &str,
        id: AdvertiserId,
        sent_version: i64,
        change: impl FnOnce(&Advertiser) -> Result<Advertiser>,
    ) -> Result<Advertiser> {
        let mut tx = self.pool.begin().await?;
        let current: Advertiser = objects::fetch(&mut tx, &id.to_string())
            .await?
            .ok_or(StoreError::NotFound(Advertiser::KIND))?;
        let next = objects::guarded(&current, sent_version, change)?;
        let saved = objects::replace(&mut tx, actor, next, sent_version).await?;
        tx.commit().await?;
        Ok(saved)
    }

    /// Approves a creative as `actor` (seeding, demos and tests; people use the API).
    pub async fn approve_creative(&self, actor: &str, creative: &Creative) -> Result<Creative> {
        self.review_creative(actor, creative.id, creative.version, |_| {
            Ok(endcap_core::Review {
                status: endcap_core::ReviewStatus::Approved,
                reason: None,
                reviewed_by: Some(actor.to_string()),
                reviewed_at: Some(chrono::Utc::now()),
            })
        })
        .await
    }

    /// Changes a campaign if `sent_version` is still current; `change` checks access and
    /// applies the patch inside the transaction.
    pub async fn update_campaign(
        &self,
        actor: &str,
        id: CampaignId,
        sent_version: i64,
        change: impl FnOnce(&Campaign) -> Result<Campaign>,
    ) -> Result<Campaign> {
        let mut tx = self.pool.begin().await?;
        let current: Campaign = objects::fetch(&mut tx, &id.to_string())
            .await?
            .ok_or(StoreError::NotFound(Campaign::KIND))?;
        let next = objects::guarded(&current, sent_version, change)?;
        let saved = objects::replace(&mut tx, actor, next, sent_version).await?;
        tx.commit().await?;
        Ok(saved)
    }

    /// Changes a line item if `sent_version` is still current; `change` sees the line item
    /// and its campaign.
    pub async fn update_line_item(
        &self,
        actor: &str,
        id: LineItemId,
        sent_version: i64,
        change: impl FnOnce(&LineItem, &Campaign) -> Result<LineItem>,
    ) -> Result<LineItem> {
        let mut tx = self.pool.begin().await?;
        let current: LineItem = objects::fetch(&mut tx, &id.to_string())
            .await?
            .ok_or(StoreError::NotFound(LineItem::KIND))?;
        let campaign: Campaign = objects::fetch(&mut tx, &current.campaign_id.to_string())
            .await?
            .ok_or(StoreError::NotFound(Campaign::KIND))?;
        let next = objects::guarded(&current, sent_version, |c| change(c, &campaign))?;
        let saved = objects::replace(&mut tx, actor, next, sent_version).await?;
        tx.commit().await?;
        Ok(saved)
    }

    /// Reads the audit log, newest last, optionally for one object or one advertiser.
    pub async fn audit_log(
        &self,
        object_id: Option<&str>,
        advertiser_id: Option<AdvertiserId>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<AuditEntry>> {
        objects::audit_page(&self.pool, object_id, advertiser_id, after, limit).await
    }

    /// Records an action that changes no stored object (segment member changes, uploads,
    /// conversions) in the audit log: who, what, on which object, and `detail` (counts and
    /// the request id, never the keys themselves).
    pub async fn record_activity(
        &self,
        actor: &str,
        action: &str,
        object_type: &str,
        object_id: &str,
        advertiser_id: Option<AdvertiserId>,
        detail: &serde_json::Value,
    ) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        objects::audit(
            &mut conn,
            actor,
            action,
            object_type,
            object_id,
            advertiser_id,
            0,
            &detail.to_string(),
        )
        .await
    }

    /// The shared create path: replay by idempotency key, load the parent, build, insert,
    /// audit, record the idempotency result, commit — all or nothing.
    async fn create<P: StoredObject, T: StoredObject>(
        &self,
        actor: &str,
        idem: Option<&Idempotency>,
        parent_id: Option<&str>,
        build: impl FnOnce(Option<&P>, DateTime<Utc>) -> Result<T>,
    ) -> Result<Created<T>> {
        if let Some(i) = idem {
            if let Some(prev) = objects::idem_lookup::<T>(&self.pool, i).await? {
                return Ok(Created {
                    value: prev,
                    replayed: true,
                });
            }
        }
        let attempt = async {
            let mut tx = self.pool.begin().await?;
            let parent: Option<P> = match parent_id {
                Some(id) => Some(
                    objects::fetch(&mut tx, id)
                        .await?
                        .ok_or(StoreError::NotFound(P::KIND))?,
                ),
                None => None,
            };
            let obj = build(parent.as_ref(), Utc::now())?;
            objects::insert(&mut tx, actor, &obj).await?;
            if let Some(i) = idem {
                objects::idem_record(&mut tx, i, &obj).await?;
            }
            tx.commit().await?;
            Ok(obj)
        };
        match attempt.await {
            Ok(value) => Ok(Created {
                value,
                replayed: false,
            }),
            // A concurrent request with the same key won the race: answer with its result.
            Err(e) if is_unique_violation(&e) => match idem {
                Some(i) => objects::idem_lookup::<T>(&self.pool, i)
                    .await?
                    .map(|value| Created {
                        value,
                        replayed: true,
                    })
                    .ok_or(e),
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}
