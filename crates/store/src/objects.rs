//! Generic persistence of the domain objects: one table shape, one document column.

use crate::{micros, AuditEntry, Idempotency, Page, Result, StoreError};
use chrono::{DateTime, Utc};
use endcap_core::{Advertiser, AdvertiserId, Campaign, Creative, LineItem, Status};
use serde::{de::DeserializeOwned, Serialize};
use sqlx::{AnyConnection, AnyPool, Row};

mod sealed {
    pub trait Sealed {}
}

/// A domain object the store keeps: advertisers, campaigns, line items, creatives.
pub trait StoredObject: Serialize + DeserializeOwned + Clone + Send + sealed::Sealed {
    /// Its table.
    const TABLE: &'static str;
    /// Its name in errors and the audit log.
    const KIND: &'static str;
    /// Its id as text.
    fn id_text(&self) -> String;
    /// The advertiser that owns it.
    fn owner(&self) -> AdvertiserId;
    /// Its parent's id, if it has one.
    fn parent_text(&self) -> Option<String>;
    /// Its lifecycle state, if it has one.
    fn status(&self) -> Option<Status>;
    /// Its optimistic-concurrency version.
    fn version(&self) -> i64;
    /// When it was created.
    fn created(&self) -> DateTime<Utc>;
    /// Sets version and modification time for a save.
    fn stamp(&mut self, version: i64, at: DateTime<Utc>);
}

macro_rules! stored {
    ($t:ty, $table:literal, $kind:literal, owner: |$o:ident| $owner:expr, parent: |$p:ident| $parent:expr, status: |$s:ident| $status:expr) => {
        impl sealed::Sealed for $t {}
        impl StoredObject for $t {
            const TABLE: &'static str = $table;
            const KIND: &'static str = $kind;
            fn id_text(&self) -> String {
                self.id.to_string()
            }
            fn owner(&self) -> AdvertiserId {
                let $o = self;
                $owner
            }
            fn parent_text(&self) -> Option<String> {
                let $p = self;
                $parent
            }
            fn status(&self) -> Option<Status> {
                let $s = self;
                $status
            }
            fn version(&self) -> i64 {
                self.version
            }
            fn created(&self) -> DateTime<Utc> {
                self.created_at
            }
            fn stamp(&mut self, version: i64, at: DateTime<Utc>) {
                self.version = version;
                self.updated_at = at;
            }
        }
    };
}

stored!(Advertiser, "advertisers", "advertiser",
    owner: |a| a.id, parent: |_a| None, status: |_a| None);
stored!(Campaign, "campaigns", "campaign",
    owner: |c| c.advertiser_id, parent: |c| Some(c.advertiser_id.to_string()), status: |c| Some(c.status));
stored!(LineItem, "line_items", "line_item",
    owner: |l| l.advertiser_id, parent: |l| Some(l.campaign_id.to_string()), status: |l| Some(l.status));
stored!(Creative, "creatives", "creative",
    owner: |c| c.advertiser_id, parent: |c| Some(c.line_item_id.to_string()), status: |_c| None);

/// Reads one object by id.
pub(crate) async fn fetch<T: StoredObject>(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<T>> {
    let sql = format!("SELECT doc FROM {} WHERE id = $1", T::TABLE);
    let row = sqlx::query(&sql).bind(id).fetch_optional(conn).await?;
    match row {
        Some(r) => Ok(Some(serde_json::from_str(&r.try_get::<String, _>("doc")?)?)),
        None => Ok(None),
    }
}

/// Inserts a new object and its audit entry.
pub(crate) async fn insert<T: StoredObject>(
    conn: &mut AnyConnection,
    actor: &str,
    obj: &T,
) -> Result<()> {
    bump_change_seq(conn).await?;
    let doc = serde_json::to_string(obj)?;
    let sql = format!(
        "INSERT INTO {} (id, advertiser_id, parent_id, status, version, created_at, updated_at, doc) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        T::TABLE
    );
    sqlx::query(&sql)
        .bind(obj.id_text())
        .bind(obj.owner().to_string())
        .bind(obj.parent_text())
        .bind(obj.status().map(|s| s.as_str()))
        .bind(obj.version())
        .bind(micros(obj.created()))
        .bind(micros(obj.created()))
        .bind(&doc)
        .execute(&mut *conn)
        .await?;
    audit(
        conn,
        actor,
        "create",
        T::KIND,
        &obj.id_text(),
        Some(obj.owner()),
        obj.version(),
        &doc,
    )
    .await
}

/// Runs `change` on `current` after checking the caller's version is the current one.
pub(crate) fn guarded<T: StoredObject>(
    current: &T,
    sent_version: i64,
    change: impl FnOnce(&T) -> Result<T>,
) -> Result<T> {
    // Access is checked inside `change` first, so a foreign object answers 404 and never
    // leaks its version through a 409.
    let next = change(current)?;
    if current.version() != sent_version {
        return Err(StoreError::Conflict {
            sent: sent_version,
            current: current.version(),
        });
    }
    Ok(next)
}

/// Saves a changed object if its stored version is still `sent_version`.
pub(crate) async fn replace<T: StoredObject>(
    conn: &mut AnyConnection,
    actor: &str,
    mut next: T,
    sent_version: i64,
) -> Result<T> {
    bump_change_seq(conn).await?;
    let now = Utc::now();
    next.stamp(sent_version + 1, now);
    let doc = serde_json::to_string(&next)?;
    let sql = format!(
        "UPDATE {} SET status = $1, version = $2, updated_at = $3, doc = $4 WHERE id = $5 AND version = $6",
        T::TABLE
    );
    let done = sqlx::query(&sql)
        .bind(next.status().map(|s| s.as_str()))
        .bind(next.version())
        .bind(micros(now))
        .bind(&doc)
        .bind(next.id_text())
        .bind(sent_version)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() != 1 {
        // Lost a race with a concurrent writer between our read and this write.
        let sql = format!("SELECT version FROM {} WHERE id = $1", T::TABLE);
        let current: i64 = sqlx::query(&sql)
            .bind(next.id_text())
            .fetch_one(&mut *conn)
            .await?
            .try_get("version")?;
        return Err(StoreError::Conflict {
            sent: sent_version,
            current,
        });
    }
    audit(
        conn,
        actor,
        "update",
        T::KIND,
        &next.id_text(),
        Some(next.owner()),
        next.version(),
        &doc,
    )
    .await?;
    Ok(next)
}

/// Advances the store's change sequence inside the writer's transaction. It runs before the
/// object's own write so that every writer takes this row's lock first (one lock order, so two
/// transactions that each write several objects cannot deadlock).
pub(crate) async fn bump_change_seq(conn: &mut AnyConnection) -> Result<()> {
    sqlx::query("UPDATE store_changes SET seq = seq + 1 WHERE id = 1")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Appends one audit entry.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn audit(
    conn: &mut AnyConnection,
    actor: &str,
    action: &str,
    kind: &str,
    object_id: &str,
    owner: Option<AdvertiserId>,
    version: i64,
    doc: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (id, at, actor, action, object_type, object_id, advertiser_id, version, doc) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(micros(Utc::now()))
    .bind(actor)
    .bind(action)
    .bind(kind)
    .bind(object_id)
    .bind(owner.map(|a| a.to_string()))
    .bind(version)
    .bind(doc)
    .execute(conn)
    .await?;
    Ok(())
}

/// The object an earlier request with this idempotency key created, if any.
pub(crate) async fn idem_lookup<T: StoredObject>(
    pool: &AnyPool,
    i: &Idempotency,
) -> Result<Option<T>> {
    let row = sqlx::query(
        "SELECT request_hash, object_type, doc FROM idempotency_keys WHERE scope = $1 AND idem_key = $2",
    )
    .bind(&i.scope)
    .bind(&i.key)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let hash: String = row.try_get("request_hash")?;
    let kind: String = row.try_get("object_type")?;
    if hash != i.request_hash || kind != T::KIND {
        return Err(StoreError::IdempotencyMismatch);
    }
    Ok(Some(serde_json::from_str(
        &row.try_get::<String, _>("doc")?,
    )?))
}

/// Records what a request with an idempotency key created.
pub(crate) async fn idem_record<T: StoredObject>(
    conn: &mut AnyConnection,
    i: &Idempotency,
    obj: &T,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO idempotency_keys (scope, idem_key, request_hash, object_type, object_id, doc, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&i.scope)
    .bind(&i.key)
    .bind(&i.request_hash)
    .bind(T::KIND)
    .bind(obj.id_text())
    .bind(serde_json::to_string(obj)?)
    .bind(micros(Utc::now()))
    .execute(conn)
    .await?;
    Ok(())
}

/// One page of `select_from_where` (a `SELECT ... WHERE 1 = 1` whose rows have an `id`)
/// under the given filters (column, operator, value; `None` skips it), ordered by id, with
/// the cursor of the next page: the keyset pagination every listing uses.
pub(crate) async fn id_page<T>(
    pool: &AnyPool,
    select_from_where: &str,
    filters: &[(&str, &str, Option<String>)],
    limit: u32,
    mut each: impl FnMut(&sqlx::any::AnyRow) -> Result<T>,
) -> Result<Page<T>> {
    let mut sql = select_from_where.to_string();
    let mut args: Vec<&str> = Vec::new();
    for (col, op, v) in filters {
        if let Some(v) = v {
            args.push(v);
            sql.push_str(&format!(" AND {col} {op} ${}", args.len()));
        }
    }
    sql.push_str(&format!(" ORDER BY id LIMIT {}", limit + 1));
    let mut q = sqlx::query(&sql);
    for a in args {
        q = q.bind(a);
    }
    let rows = q.fetch_all(pool).await?;
    let more = rows.len() > limit as usize;
    let shown = &rows[..rows.len().min(limit as usize)];
    let items = shown.iter().map(&mut each).collect::<Result<Vec<T>>>()?;
    let next_cursor = match (more, shown.last()) {
        (true, Some(last)) => Some(last.try_get::<String, _>("id")?),
        _ => None,
    };
    Ok(Page { items, next_cursor })
}

/// One page of the audit log.
pub(crate) async fn audit_page(
    pool: &AnyPool,
    object_id: Option<&str>,
    advertiser_id: Option<AdvertiserId>,
    after: Option<&str>,
    limit: u32,
) -> Result<Page<AuditEntry>> {
    let filters = [
        ("object_id", "=", object_id.map(str::to_string)),
        ("advertiser_id", "=", advertiser_id.map(|a| a.to_string())),
        ("id", ">", after.map(str::to_string)),
    ];
    id_page(
        pool,
        "SELECT id, at, actor, action, object_type, object_id, advertiser_id, version, doc FROM audit_log WHERE 1 = 1",
        &filters,
        limit.clamp(1, 500),
        |r| {
            let at: i64 = r.try_get("at")?;
            Ok(AuditEntry {
                id: r.try_get("id")?,
                at: DateTime::from_timestamp_micros(at).unwrap_or_default(),
                actor: r.try_get("actor")?,
                action: r.try_get("action")?,
                object_type: r.try_get("object_type")?,
                object_id: r.try_get("object_id")?,
                advertiser_id: r.try_get("advertiser_id")?,
                version: r.try_get("version")?,
                doc: serde_json::from_str(&r.try_get::<String, _>("doc")?)?,
            })
        },
    )
    .await
}
