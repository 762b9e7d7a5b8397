//! Each campaign's billable spend and open reservations, in process or shared through Redis.
//!
//! Charges are clamped at charge time. Shared between replicas, a charge is one atomic
//! `MULTI INCRBY` of the campaign's day and total counters; the replica reads back the new
//! values, takes the part that went past the budget back out (`DECRBY`) and bills only the
//! rest. Every charge sees every earlier one, and an in-flight excess only makes later
//! charges more careful, so the billable sum never passes the budget while Redis answers
//! (the proof is in `docs/ARCHITECTURE.md`). When Redis does not answer within the timeout
//! (or the replica's circuit breaker is open), a replica bills at most its share of what was
//! left at the last sync: the remaining budget divided by the replicas that sent a heartbeat
//! in the last 15 seconds, the last count known. Those offline charges travel to Redis with
//! the replica's next shared charge of the campaign (in the same atomic call, ahead of it, so
//! its clamp counts them) or the next sync, whichever comes first.
//!
//! The overspend bound during an outage: each replica that cannot reach Redis may bill its
//! share (remaining / replicas counted) on top of what the replicas still reaching Redis bill
//! up to the budget. With k of n replicas offline that is at most k/n of the remaining budget
//! (all of it when every replica is offline and replicas were added during the outage, never
//! more). A charge racing the first shared charge after an outage can be clamped without that
//! replica's backlog for one round trip.
//!
//! Decisions reserve their expected cost; a reservation counts against the room a decision
//! sees until it is released (impression, loss notice) or expires. Reservations are this
//! replica's own.

use crate::{clamp, ChargeSplit, Limits, Spent};
use endcap_core::CampaignId;
use endcap_redis::{CallError, RedisHandle};
use redis::aio::ConnectionManager;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Prefix of the Redis keys the counters live under.
pub const SYNC_PREFIX: &str = "endcap:charge";
const REPLICAS_KEY: &str = "endcap:replicas";
const HEARTBEAT_WINDOW_MS: i64 = 15_000;
const DAY_KEY_TTL_SECS: i64 = 3 * 86_400;

/// A campaign's offline charges, nanos per accounting day.
type Pending = (CampaignId, BTreeMap<i32, i64>);
/// Bound on each of the sync's Redis calls (it runs off the request path, every second).
/// Well under the ad server's 900 ms bound on a whole sync, so a pipeline that Redis applied
/// is also accounted locally before the sync can be cut off (else it would be sent again).
const SYNC_TIMEOUT: Duration = Duration::from_millis(250);

#[derive(Debug, Default)]
struct CampaignState {
    /// Accounting day `today` belongs to.
    day: i32,
    /// Billable spend today and in total: this replica's own (local) or Redis's as last read.
    today: i64,
    total: i64,
    /// Redis's figures have been read at least once (shared mode).
    synced: bool,
    /// Charges billed while Redis was unreachable, not yet added to it, summed per
    /// accounting day: the backlog is one entry per day however long the outage lasts.
    offline: BTreeMap<i32, i64>,
}

impl CampaignState {
    fn spent(&self, day: i32) -> Spent {
        let mut s = Spent {
            today: if self.day == day { self.today } else { 0 },
            total: self.total,
        };
        for (d, n) in &self.offline {
            s.total += n;
            if *d == day {
                s.today += n;
            }
        }
        s
    }
}

#[derive(Debug)]
struct Reservation {
    campaign: CampaignId,
    nanos: i64,
    expires: Instant,
}

/// Shards of the open reservations (a power of two).
const RESERVATION_SHARDS: usize = 64;

/// One shard of the open reservations.
#[derive(Debug, Default)]
struct ReservationShard {
    by_id: HashMap<Uuid, Reservation>,
    /// Reservation ids by expiry, soonest first: expiry pops the expired ones instead of
    /// scanning every open reservation.
    expiry: BinaryHeap<Reverse<(Instant, Uuid)>>,
}

/// Open reservations, in shards by id. A minute of bids whose impressions never come is
/// millions of reservations; in one table, an insert that made it grow rehashed all of them
/// at once, a 67 ms pause of the request path (seen in a profile, BENCHMARKS.md issue 12).
/// A shard grows alone, 1/64 of that.
#[derive(Debug)]
struct Reservations {
    shards: Vec<ReservationShard>,
}

impl Default for Reservations {
    fn default() -> Self {
        Self {
            shards: (0..RESERVATION_SHARDS)
                .map(|_| Default::default())
                .collect(),
        }
    }
}

impl Reservations {
    /// The shard of an id: its low bits (random in v7 and v4 ids).
    fn shard(&mut self, id: &Uuid) -> &mut ReservationShard {
        let i = id.as_u64_pair().1 as usize & (RESERVATION_SHARDS - 1);
        &mut self.shards[i]
    }

    /// Opens a reservation; the one it replaces under the same id, if any.
    fn insert(&mut self, id: Uuid, r: Reservation) -> Option<Reservation> {
        let shard = self.shard(&id);
        shard.expiry.push(Reverse((r.expires, id)));
        shard.by_id.insert(id, r)
    }

    fn remove(&mut self, id: &Uuid) -> Option<Reservation> {
        self.shard(id).by_id.remove(id)
    }

    /// Removes the reservations expired at `now` (already released ones are skipped).
    fn expire(&mut self, now: Instant) -> Vec<Reservation> {
        let mut gone = Vec::new();
        for shard in &mut self.shards {
            while shard
                .expiry
                .peek()
                .is_some_and(|Reverse((at, _))| *at <= now)
            {
                if let Some(Reverse((_, id))) = shard.expiry.pop() {
                    if shard.by_id.get(&id).is_some_and(|r| r.expires <= now) {
                        gone.extend(shard.by_id.remove(&id));
                    }
                }
            }
        }
        gone
    }
}

#[derive(Debug, Default)]
struct Inner {
    campaigns: HashMap<CampaignId, CampaignState>,
    reservations: Reservations,
    reserved: HashMap<CampaignId, i64>,
    replicas: i64,
}

impl Inner {
    fn drop_reservation(&mut self, id: &Uuid) -> Option<Reservation> {
        let r = self.reservations.remove(id)?;
        self.unreserve(&r);
        Some(r)
    }

    /// Takes a reservation that is gone out of its campaign's reserved sum.
    fn unreserve(&mut self, r: &Reservation) {
        if let Some(sum) = self.reserved.get_mut(&r.campaign) {
            *sum -= r.nanos;
            if *sum <= 0 {
                self.reserved.remove(&r.campaign);
            }
        }
    }
}

/// Billable spend per campaign and open reservations.
pub struct Budgets {
    inner: Mutex<Inner>,
    redis: Option<RedisHandle>,
    replica: String,
    timeout: Duration,
}

fn day_key(c: CampaignId, day: i32) -> String {
    format!("{SYNC_PREFIX}:{c}:{day}")
}

fn total_key(c: CampaignId) -> String {
    format!("{SYNC_PREFIX}:{c}:total")
}

impl Budgets {
    /// This process's own counters (the embedded default: one ad server).
    pub fn local() -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            redis: None,
            replica: String::new(),
            timeout: Duration::ZERO,
        }
    }

    /// Counters shared through Redis; `replica` names this process in heartbeats, and a
    /// charge waits at most `timeout` for Redis before billing against the local share.
    pub fn shared(redis: RedisHandle, replica: String, timeout: Duration) -> Self {
        Self {
            inner: Mutex::new(Inner {
                replicas: 1,
                ..Inner::default()
            }),
            redis: Some(redis),
            replica,
            timeout,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Billable spend so far; `None` while shared counters were never read (a replica does
    /// not serve a campaign before its first sync).
    pub fn spent(&self, campaign: CampaignId, day: i32) -> Option<Spent> {
        self.known_spent(&self.lock(), campaign, day)
    }

    /// `spent` under a lock already held.
    fn known_spent(&self, inner: &Inner, campaign: CampaignId, day: i32) -> Option<Spent> {
        match inner.campaigns.get(&campaign) {
            Some(s) if s.synced || self.redis.is_none() => Some(s.spent(day)),
            None if self.redis.is_none() => Some(Spent::default()),
            _ => None,
        }
    }

    /// Nanos reserved by open decisions of this replica.
    pub fn reserved(&self, campaign: CampaignId) -> i64 {
        self.lock().reserved.get(&campaign).copied().unwrap_or(0)
    }

    /// Reserves `nanos` of the campaign's budget for decision `id` until `ttl` passes, if it
    /// fits in what is left after spend and other reservations.
    pub fn reserve(
        &self,
        id: Uuid,
        campaign: CampaignId,
        limits: Limits,
        day: i32,
        nanos: i64,
        ttl: Duration,
    ) -> bool {
        let mut inner = self.lock();
        let Some(spent) = self.known_spent(&inner, campaign, day) else {
            return false;
        };
        let reserved = inner.reserved.get(&campaign).copied().unwrap_or(0);
        if spent.room(limits) - reserved < nanos.max(0) {
            return false;
        }
        if nanos > 0 {
            let expires = Instant::now() + ttl;
            let earlier = inner.reservations.insert(
                id,
                Reservation {
                    campaign,
                    nanos,
                    expires,
                },
            );
            // The same decision reserving again replaces its reservation: the earlier
            // amount stops counting (decision ids are fresh, so this is a safeguard).
            if let Some(earlier) = earlier {
                inner.unreserve(&earlier);
            }
            *inner.reserved.entry(campaign).or_default() += nanos;
        }
        true
    }

    /// Releases decision `id`'s reservation (its impression arrived, or the exchange said we
    /// lost). Unknown ids are ignored.
    pub fn release(&self, id: Uuid) {
        self.lock().drop_reservation(&id);
    }

    /// Drops expired reservations (already released ones are skipped).
    pub fn expire_reservations(&self) {
        let now = Instant::now();
        let mut inner = self.lock();
        for r in inner.reservations.expire(now) {
            inner.unreserve(&r);
        }
    }

    /// Replicas counted from heartbeats at the last sync (1 when not shared).
    pub fn replicas(&self) -> i64 {
        self.lock().replicas.max(1)
    }

    /// Seeds local counters from the ledger at start (embedded defaults): billable nanos per
    /// campaign and accounting day.
    pub fn rebuild(&self, rows: impl IntoIterator<Item = (CampaignId, i32, i64)>, today: i32) {
        let mut inner = self.lock();
        for (c, day, nanos) in rows {
            let s = inner.campaigns.entry(c).or_default();
            if s.day != today {
                s.day = today;
                s.today = 0;
            }
            s.total += nanos;
            if day == today {
                s.today += nanos;
            }
        }
    }

    /// Charges `amount` nanos to a campaign, clamped to what is left of its budgets.
    pub async fn charge(
        &self,
        campaign: CampaignId,
        limits: Limits,
        day: i32,
        amount: i64,
    ) -> ChargeSplit {
        if amount <= 0 {
            return ChargeSplit::default();
        }
        if let Some(redis) = &self.redis {
            // This replica's offline charges of the campaign that Redis has not seen go in
            // the same atomic call, ahead of this charge, so its clamp counts them (else the
            // first charges after an outage would be clamped against Redis alone and could
            // bill the budget again). Taken out of the backlog while in flight, so the sync
            // does not send them too; put back if the call fails.
            let pending: Vec<(i32, i64)> = {
                let mut inner = self.lock();
                inner
                    .campaigns
                    .get_mut(&campaign)
                    .map(|s| std::mem::take(&mut s.offline).into_iter().collect())
                    .unwrap_or_default()
            };
            let sent = pending.clone();
            let shared = redis
                .call(self.timeout, |conn| {
                    charge_in_redis(conn, campaign, limits, day, amount, sent)
                })
                .await;
            if shared.is_err() && !pending.is_empty() {
                let mut inner = self.lock();
                let s = inner.campaigns.entry(campaign).or_default();
                for (d, n) in &pending {
                    *s.offline.entry(*d).or_default() += n;
                }
            }
            match shared {
                Ok((split, today, total)) => {
                    let mut inner = self.lock();
                    let s = inner.campaigns.entry(campaign).or_default();
                    s.day = day;
                    s.today = today;
                    s.total = total;
                    s.synced = true;
                    return split;
                }
                // The breaker is open: Redis is known down and was already reported.
                Err(CallError::Unavailable) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "shared charge failed; billing against this replica's share")
                }
            }
        }
        let mut inner = self.lock();
        let replicas = inner.replicas.max(1);
        let local = self.redis.is_none();
        let s = inner.campaigns.entry(campaign).or_default();
        if !local && !s.synced {
            // Redis unreachable and this campaign's shared spend never read: nothing is
            // known to be left, so nothing is billed.
            return ChargeSplit {
                billable: 0,
                over_budget: amount,
            };
        }
        if s.day != day {
            s.day = day;
            s.today = 0;
        }
        if local {
            let split = clamp(amount, limits, s.spent(day));
            s.today += split.billable;
            s.total += split.billable;
            split
        } else {
            // Offline: this replica may bill only its share of what was left when Redis
            // was last read.
            let known = Spent {
                today: s.today,
                total: s.total,
            };
            let mine = s.spent(day);
            let share = Limits {
                daily_nanos: known.today + (limits.daily_nanos - known.today).max(0) / replicas,
                total_nanos: known.total + (limits.total_nanos - known.total).max(0) / replicas,
            };
            let split = clamp(amount, share, mine);
            if split.billable > 0 {
                *s.offline.entry(day).or_default() += split.billable;
            }
            split
        }
    }

    /// Sends offline charges and a heartbeat, counts live replicas, and reads every listed
    /// campaign's counters (shared mode; a no-op locally).
    pub async fn sync(&self, serving: &[CampaignId], day: i32) -> Result<(), CallError> {
        let Some(redis) = &self.redis else {
            return Ok(());
        };
        if redis.is_open() {
            return Ok(());
        }
        // Offline charges stay in the local view until Redis has them; the sent ones are then
        // dropped (newer ones stay) and count as known spend until the read below lands.
        let (offline, mut campaigns): (Vec<Pending>, Vec<CampaignId>) = {
            let inner = self.lock();
            let offline = inner
                .campaigns
                .iter()
                .filter(|(_, s)| !s.offline.is_empty())
                .map(|(c, s)| (*c, s.offline.clone()))
                .collect();
            // Every campaign this replica has charged, besides the serving ones: a paused
            // campaign's late clicks are still charged against fresh figures.
            (offline, inner.campaigns.keys().copied().collect())
        };
        campaigns.extend_from_slice(serving);
        campaigns.sort_unstable();
        campaigns.dedup();
        if !offline.is_empty() {
            let mut p = redis::pipe();
            p.atomic();
            for (c, charges) in &offline {
                for (d, n) in charges {
                    p.cmd("INCRBY").arg(day_key(*c, *d)).arg(*n).ignore();
                    p.cmd("EXPIRE")
                        .arg(day_key(*c, *d))
                        .arg(DAY_KEY_TTL_SECS)
                        .ignore();
                    p.cmd("INCRBY").arg(total_key(*c)).arg(*n).ignore();
                }
            }
            redis
                .call(SYNC_TIMEOUT, |mut conn| async move {
                    p.query_async::<()>(&mut conn).await
                })
                .await?;
            let mut inner = self.lock();
            for (c, sent) in &offline {
                if let Some(s) = inner.campaigns.get_mut(c) {
                    // Charges added while the pipeline was in flight stay in the backlog.
                    for (d, nanos) in sent {
                        if let Some(left) = s.offline.get_mut(d) {
                            *left -= nanos;
                            if *left <= 0 {
                                s.offline.remove(d);
                            }
                        }
                        s.total += nanos;
                        if *d == s.day {
                            s.today += nanos;
                        }
                    }
                }
            }
        }
        let now_ms = chrono::Utc::now().timestamp_millis();
        let mut heartbeat = redis::pipe();
        heartbeat
            .cmd("ZADD")
            .arg(REPLICAS_KEY)
            .arg(now_ms)
            .arg(&self.replica)
            .cmd("ZREMRANGEBYSCORE")
            .arg(REPLICAS_KEY)
            .arg("-inf")
            .arg(now_ms - HEARTBEAT_WINDOW_MS)
            .cmd("ZCARD")
            .arg(REPLICAS_KEY);
        let (_, _, replicas): (i64, i64, i64) = redis
            .call(SYNC_TIMEOUT, |mut conn| async move {
                heartbeat.query_async(&mut conn).await
            })
            .await?;
        let mut read: Vec<(CampaignId, i64, i64)> = Vec::with_capacity(campaigns.len());
        for chunk in campaigns.chunks(500) {
            let keys: Vec<String> = chunk
                .iter()
                .flat_map(|c| [day_key(*c, day), total_key(*c)])
                .collect();
            let values: Vec<Option<i64>> = redis
                .call(SYNC_TIMEOUT, |mut conn| async move {
                    redis::cmd("MGET").arg(&keys).query_async(&mut conn).await
                })
                .await?;
            for (i, c) in chunk.iter().enumerate() {
                let d = values.get(2 * i).copied().flatten().unwrap_or(0);
                let t = values.get(2 * i + 1).copied().flatten().unwrap_or(0);
                read.push((*c, d, t));
            }
        }
        let mut inner = self.lock();
        inner.replicas = replicas.max(1);
        for (c, d, t) in read {
            let s = inner.campaigns.entry(c).or_default();
            if s.synced && s.day > day {
                // A charge after midnight already wrote the new day's figures.
                continue;
            }
            // Within a day the shared counters only grow: a charge that answered while this
            // read was in flight may know more than the read.
            let same_day = s.synced && s.day == day;
            s.today = if same_day { s.today.max(d) } else { d };
            s.total = if s.synced { s.total.max(t) } else { t };
            s.day = day;
            s.synced = true;
        }
        Ok(())
    }
}

/// The atomic shared charge: add this replica's unsent offline charges (`pending`, nanos per
/// accounting day), add the charge, read back, take the excess out.
async fn charge_in_redis(
    mut conn: ConnectionManager,
    campaign: CampaignId,
    limits: Limits,
    day: i32,
    amount: i64,
    pending: Vec<(i32, i64)>,
) -> Result<(ChargeSplit, i64, i64), redis::RedisError> {
    let (kd, kt) = (day_key(campaign, day), total_key(campaign));
    let mut p = redis::pipe();
    p.atomic();
    for (d, n) in &pending {
        p.cmd("INCRBY").arg(day_key(campaign, *d)).arg(*n).ignore();
        p.cmd("EXPIRE")
            .arg(day_key(campaign, *d))
            .arg(DAY_KEY_TTL_SECS)
            .ignore();
        p.cmd("INCRBY").arg(&kt).arg(*n).ignore();
    }
    let (d, t): (i64, i64) = p
        .cmd("INCRBY")
        .arg(&kd)
        .arg(amount)
        .cmd("INCRBY")
        .arg(&kt)
        .arg(amount)
        .cmd("EXPIRE")
        .arg(&kd)
        .arg(DAY_KEY_TTL_SECS)
        .ignore()
        .query_async(&mut conn)
        .await?;
    let excess = (d - limits.daily_nanos)
        .max(t - limits.total_nanos)
        .clamp(0, amount);
    if excess > 0 {
        // If this fails the counters stay high: later charges bill less, never more.
        redis::pipe()
            .atomic()
            .cmd("DECRBY")
            .arg(&kd)
            .arg(excess)
            .ignore()
            .cmd("DECRBY")
            .arg(&kt)
            .arg(excess)
            .ignore()
            .query_async::<()>(&mut conn)
            .await?;
    }
    Ok((
        ChargeSplit {
            billable: amount - excess,
            over_budget: excess,
        },
        d - excess,
        t - excess,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(daily: i64, total: i64) -> Limits {
        Limits {
            daily_nanos: daily,
            total_nanos: total,
        }
    }

    #[tokio::test]
    async fn local_charges_stop_at_the_budget_and_the_rest_is_over_budget() {
        let b = Budgets::local();
        let c = CampaignId::generate();
        let l = limits(1_000, 10_000);
        let mut billed = 0;
        let mut over = 0;
        for _ in 0..7 {
            let s = b.charge(c, l, 5, 300).await;
            billed += s.billable;
            over += s.over_budget;
        }
        assert_eq!((billed, over), (1_000, 1_100));
        // A new accounting day has a fresh daily budget but the same total.
        assert_eq!(b.charge(c, l, 6, 300).await.billable, 300);
        assert_eq!(
            b.spent(c, 6),
            Some(Spent {
                today: 300,
                total: 1_300
            })
        );
    }

    #[test]
    fn reservations_hold_room_until_released_or_expired() {
        let b = Budgets::local();
        let c = CampaignId::generate();
        let l = limits(1_000, 1_000);
        let (r1, r2) = (Uuid::now_v7(), Uuid::now_v7());
        assert!(b.reserve(r1, c, l, 1, 700, Duration::from_secs(60)));
        assert!(!b.reserve(r2, c, l, 1, 400, Duration::from_secs(60)));
        b.release(r1);
        assert!(b.reserve(r2, c, l, 1, 400, Duration::ZERO));
        b.expire_reservations();
        assert_eq!(b.reserved(c), 0);
    }

    #[test]
    fn reservations_across_every_shard_release_and_expire_exactly() {
        let b = Budgets::local();
        let (c, d) = (CampaignId::generate(), CampaignId::generate());
        let l = limits(1_000_000, 1_000_000);
        let ids: Vec<Uuid> = (0..2_000).map(|_| Uuid::now_v7()).collect();
        for (i, id) in ids.iter().enumerate() {
            let (camp, ttl) = if i % 2 == 0 {
                (c, Duration::ZERO)
            } else {
                (d, Duration::from_secs(60))
            };
            assert!(b.reserve(*id, camp, l, 1, 10, ttl));
        }
        assert_eq!((b.reserved(c), b.reserved(d)), (10_000, 10_000));
        {
            let inner = b.lock();
            let used = inner
                .reservations
                .shards
                .iter()
                .filter(|s| !s.by_id.is_empty());
            assert_eq!(
                used.count(),
                RESERVATION_SHARDS,
                "ids spread over every shard"
            );
        }
        // Releasing a few of each, then expiring: c's are all gone, d's stay but the released.
        for id in &ids[..100] {
            b.release(*id);
        }
        assert_eq!((b.reserved(c), b.reserved(d)), (9_500, 9_500));
        b.expire_reservations();
        assert_eq!((b.reserved(c), b.reserved(d)), (0, 9_500));
        b.expire_reservations();
        assert_eq!(
            b.reserved(d),
            9_500,
            "expiry does not touch what is still open"
        );
        for id in &ids {
            b.release(*id);
        }
        assert_eq!(b.reserved(d), 0);
        let inner = b.lock();
        assert!(inner.reservations.shards.iter().all(|s| s.by_id.is_empty()));
    }

    #[test]
    fn a_decision_reserving_again_replaces_its_reservation() {
        let b = Budgets::local();
        let c = CampaignId::generate();
        let l = limits(1_000, 1_000);
        let id = Uuid::now_v7();
        assert!(b.reserve(id, c, l, 1, 300, Duration::from_secs(60)));
        assert!(b.reserve(id, c, l, 1, 200, Duration::from_secs(60)));
        assert_eq!(b.reserved(c), 200, "not 500");
        b.release(id);
        assert_eq!(b.reserved(c), 0);
    }

    #[test]
    fn ledger_rows_rebuild_spend_after_a_restart() {
        let b = Budgets::local();
        let c = CampaignId::generate();
        b.rebuild([(c, 9, 100), (c, 10, 250), (c, 10, 50)], 10);
        assert_eq!(
            b.spent(c, 10),
            Some(Spent {
                today: 300,
                total: 400
            })
        );
    }

    #[tokio::test]
    async fn a_shared_replica_that_never_read_a_campaign_neither_serves_nor_bills_it() {
        let b = Budgets::shared(
            RedisHandle::default(),
            "r1".into(),
            Duration::from_millis(5),
        );
        let c = CampaignId::generate();
        assert_eq!(b.spent(c, 1), None);
        assert!(!b.reserve(
            Uuid::now_v7(),
            c,
            limits(1_000, 1_000),
            1,
            1,
            Duration::ZERO
        ));
        let s = b.charge(c, limits(1_000, 10_000), 1, 600).await;
        assert_eq!((s.billable, s.over_budget), (0, 600));
    }

    #[tokio::test]
    async fn offline_a_replica_bills_only_its_share_of_what_was_left() {
        let b = Budgets::shared(
            RedisHandle::default(),
            "r1".into(),
            Duration::from_millis(5),
        );
        let c = CampaignId::generate();
        {
            // As the last sync left it: 200 of 1,000 spent today, four replicas alive.
            let mut inner = b.lock();
            inner.replicas = 4;
            let s = inner.campaigns.entry(c).or_default();
            (s.day, s.today, s.total, s.synced) = (1, 200, 200, true);
        }
        // A quarter of the 800 left: 200.
        let first = b.charge(c, limits(1_000, 10_000), 1, 150).await;
        let second = b.charge(c, limits(1_000, 10_000), 1, 150).await;
        assert_eq!((first.billable, second.billable), (150, 50));
        assert_eq!(
            b.spent(c, 1),
            Some(Spent {
                today: 400,
                total: 400
            })
        );
        // The backlog is one sum per accounting day, however many charges it holds.
        let _ = b.charge(c, limits(1_000, 10_000), 2, 10).await;
        let _ = b.charge(c, limits(1_000, 10_000), 2, 10).await;
        let offline = b.lock().campaigns[&c].offline.clone();
        assert_eq!(
            offline.into_iter().collect::<Vec<_>>(),
            vec![(1, 200), (2, 20)]
        );
    }
}
