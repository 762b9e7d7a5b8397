//! The fast reader behind `attribution-job run` on files: receipt lines parsed straight
//! from the file's bytes on every core, and only the current lines that an exposure can
//! credit kept as [`ReceiptLineEvent`]s (a run credits about one line in ten; building the
//! other nine, five owned strings each, was most of the run).
//!
//! It reads the common, clean file only. Anything else (a quote, a CR outside CRLF, bytes
//! that are not UTF-8, a repeated column, a bad row) makes it step aside with `None`, and
//! the general readers of `files.rs` (csv + serde) give the same answer with their exact
//! `FILE:LINE: field: reason` errors: the csv crate's rules for those cases are not
//! repeated here.

use crate::files::time_ms;
use crate::{matches, shard_of, Catalog, IdentityMap, Rules, Touch, TouchKind, DAY_SECS};
use endcap_core::MatchScope;
use endcap_events::ReceiptLineEvent;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Below this many bytes a file is read on one thread (starting threads would cost more).
const PARALLEL_BYTES: usize = 1 << 20;

/// A CSV file the fast path can read: its trimmed header and the bytes after it.
pub(crate) struct Table<'a> {
    header: Vec<&'a str>,
    body: &'a [u8],
}

impl<'a> Table<'a> {
    /// `None` when the file has a quote, a CR that does not end a line, a header that is
    /// missing, blank, repeated or not UTF-8: the csv crate reads those its own way.
    pub(crate) fn new(data: &'a [u8]) -> Option<Self> {
        // The csv crate skips a UTF-8 byte order mark at the start of a file.
        let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
        if memchr::memchr(b'"', data).is_some()
            || memchr::memchr_iter(b'\r', data).any(|i| data.get(i + 1) != Some(&b'\n'))
        {
            return None;
        }
        let end = memchr::memchr(b'\n', data).unwrap_or(data.len());
        let head = std::str::from_utf8(data.get(..end)?).ok()?;
        if head.trim().is_empty() {
            return None;
        }
        let header: Vec<&str> = head.split(',').map(str::trim).collect();
        let mut names = header.clone();
        names.sort_unstable();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return None;
        }
        let body = data.get(end + 1..).unwrap_or_default();
        Some(Self { header, body })
    }

    /// The index of a column.
    pub(crate) fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| *h == name)
    }

    /// Calls `row` with the untrimmed fields of every record of `piece` (a part of the body
    /// cut at line ends), in order; false as soon as `piece` is not UTF-8, a record has
    /// not one field per column, or `row` refuses a record.
    pub(crate) fn rows(&self, piece: &'a [u8], mut row: impl FnMut(&[&'a str]) -> bool) -> bool {
        let Ok(text) = std::str::from_utf8(piece) else {
            return false;
        };
        let n = self.header.len();
        let mut fields: Vec<&'a str> = Vec::with_capacity(n + 1);
        let mut start = 0;
        // One vectorised search finds both separators (`str::split` by line, then by
        // comma, was over a third of the reading).
        let ends = memchr::memchr2_iter(b',', b'\n', piece).chain([piece.len()]);
        for at in ends {
            // Separators are ASCII, so `start..at` always falls on character boundaries.
            fields.push(text.get(start..at).unwrap_or_default());
            start = at + 1;
            if piece.get(at) == Some(&b',') {
                if fields.len() > n {
                    return false;
                }
                continue;
            }
            // The csv crate skips empty lines (LF or CRLF).
            let blank = matches!(fields.as_slice(), [""] | ["\r"]);
            if !blank && (fields.len() != n || !row(&fields)) {
                return false;
            }
            fields.clear();
        }
        true
    }

    /// The body in up to `n` pieces of about equal size, each cut just after a line end
    /// (no quotes, so every LF ends a record).
    fn pieces(&self, n: usize) -> Vec<&'a [u8]> {
        let mut out = Vec::with_capacity(n);
        let mut rest = self.body;
        for k in (1..n.max(1)).rev() {
            let want = rest.len() / (k + 1);
            let Some(cut) = rest
                .get(want..)
                .and_then(|tail| memchr::memchr(b'\n', tail))
                .map(|i| want + i + 1)
            else {
                break;
            };
            let (head, tail) = rest.split_at(cut);
            out.push(head);
            rest = tail;
        }
        out.push(rest);
        out
    }
}

/// `str::trim`, as the csv crate trims fields, with the common case decided on two bytes:
/// printable ASCII at both ends is never whitespace.
fn trim(s: &str) -> &str {
    let plain = |b: Option<&u8>| b.is_some_and(|&b| b > b' ' && b < 0x80);
    if plain(s.as_bytes().first()) && plain(s.as_bytes().last()) {
        s
    } else {
        s.trim()
    }
}

/// An RFC 3339 time in the one form the simulator and most exports write,
/// `YYYY-MM-DDTHH:MM:SS[.mmm]Z`, read without chrono; `None` for every other form
/// (and for out-of-range fields), which [`time_ms`] reads instead.
pub(crate) fn utc_ms(raw: &str) -> Option<i64> {
    fn num(digits: &[u8]) -> Option<i64> {
        digits.iter().try_fold(0i64, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    }
    let (date_time, ms) = match raw.as_bytes() {
        [head @ .., b'.', m0, m1, m2, b'Z'] if head.len() == 19 => (head, num(&[*m0, *m1, *m2])?),
        [head @ .., b'Z'] if head.len() == 19 => (head, 0),
        _ => return None,
    };
    let &[y0, y1, y2, y3, b'-', mo0, mo1, b'-', d0, d1, b'T', h0, h1, b':', mi0, mi1, b':', s0, s1] =
        date_time
    else {
        return None;
    };
    let (year, month, day) = (num(&[y0, y1, y2, y3])?, num(&[mo0, mo1])?, num(&[d0, d1])?);
    let (hour, minute, second) = (num(&[h0, h1])?, num(&[mi0, mi1])?, num(&[s0, s1])?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    // Second 60 (a leap second) and years before 1900 go to chrono.
    if year < 1900 || !(1..=12).contains(&month) || !(1..=month_days).contains(&day) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    // Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1_000 + ms)
}

/// The exposures of a file the fast path can read (`None`: see the module docs), as
/// `read_exposures` reads them: one thread (the job reads the receipts meanwhile).
pub(crate) fn exposures(data: &[u8]) -> Option<Vec<Touch>> {
    let table = Table::new(data)?;
    let column = |name| table.column(name);
    let (event_id, kind, ts, user_key) = (
        column("event_id")?,
        column("kind")?,
        column("ts")?,
        column("user_key")?,
    );
    let (campaign_id, line_item_id, advertiser_id, skus) = (
        column("campaign_id")?,
        column("line_item_id")?,
        column("advertiser_id")?,
        column("skus"),
    );
    let mut out = Vec::with_capacity(table.body.len() / 160);
    let ok = table.rows(table.body, |f| {
        let field = |i: usize| f.get(i).copied().map_or("", trim);
        let kind = match field(kind) {
            "impression" => TouchKind::View,
            "click" => TouchKind::Click,
            _ => return false,
        };
        let (user_key, ts) = (field(user_key), field(ts));
        let Some(ts_ms) = utc_ms(ts).or_else(|| time_ms(ts).ok()) else {
            return false;
        };
        let uuid = |i| uuid::Uuid::parse_str(field(i)).ok();
        let (Some(event_id), Some(advertiser_id), Some(campaign_id), Some(line_item_id)) = (
            uuid(event_id),
            uuid(advertiser_id),
            uuid(campaign_id),
            uuid(line_item_id),
        ) else {
            return false;
        };
        if user_key.is_empty() {
            return false;
        }
        out.push(Touch {
            event_id,
            kind,
            ts_ms,
            user_key: user_key.to_string(),
            advertiser_id,
            campaign_id,
            line_item_id,
            // As `read_exposures` splits them.
            skus: skus
                .map(field)
                .unwrap_or_default()
                .split('|')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        });
        true
    });
    ok.then_some(out)
}

/// An exposure as the reader checks it: when, for how long it can earn, and what.
struct Seen<'t> {
    ts_ms: i64,
    window_ms: i64,
    scope: MatchScope,
    skus: &'t [String],
}

/// A customer's exposures, by time.
struct Shopper<'t> {
    seen: Vec<Seen<'t>>,
    /// The longest window of any of them.
    reach_ms: i64,
    in_shard: bool,
}

impl Shopper<'_> {
    /// Whether one of the exposures can earn a line: `attribute`'s eligibility (window,
    /// then scope) for any exposure, so the lines left out get no credit there either.
    fn can_credit(&self, ts_ms: i64, sku: &str, catalog: &Catalog) -> bool {
        let from = ts_ms.saturating_sub(self.reach_ms);
        let start = self.seen.partition_point(|s| s.ts_ms < from);
        self.seen
            .get(start..)
            .unwrap_or_default()
            .iter()
            .take_while(|s| s.ts_ms <= ts_ms)
            .any(|s| {
                ts_ms - s.ts_ms <= s.window_ms
                    && (s.skus.iter().any(|p| p == sku)
                        || (s.scope != MatchScope::Sku && matches(s.scope, sku, s.skus, catalog)))
            })
    }
}

/// A receipt id with its hash, computed once on the reading threads.
#[derive(Clone, Copy)]
struct Key<'a> {
    hash: u64,
    id: &'a str,
}

impl PartialEq for Key<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.id == other.id
    }
}

impl Eq for Key<'_> {}

impl Hash for Key<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// Passes a [`Key`]'s hash through (it is already a good one).
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used by `Key`; fold anything else in rather than drop it.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Every receipt line, as much as numbering lines and finding current versions needs.
struct Line<'a> {
    key: Key<'a>,
    version: i64,
    in_shard: bool,
    /// One of the shard's exposures can credit it: a [`Candidate`] follows.
    candidate: bool,
}

/// A line that may be credited, borrowed from the file until it proves current.
struct Candidate<'a> {
    key: Key<'a>,
    version: i64,
    customer_key: &'a str,
    store_id: &'a str,
    channel: &'static str,
    ts_ms: i64,
    sku: &'a str,
    quantity: i32,
    amount_micros: i64,
}

/// The columns of a receipts file.
struct Columns {
    receipt_id: usize,
    version: Option<usize>,
    customer_key: usize,
    store_id: usize,
    channel: Option<usize>,
    ts: usize,
    sku: usize,
    quantity: usize,
    amount_micros: usize,
}

/// A receipt's line counts: the numbering of its first version, and its highest version
/// in the shard with that version's line count.
struct Receipt {
    first_version: i64,
    first_lines: u32,
    top: i64,
    top_lines: u32,
}

/// The receipt lines `attribution-job run` attributes, read by [`read_current_receipts`].
#[derive(Debug, Clone, PartialEq)]
pub struct CurrentReceipts {
    /// The shard's current lines (highest version of their receipt) that some exposure can
    /// credit, in file order, numbered as [`crate::read_receipts`] numbers them.
    pub creditable: Vec<ReceiptLineEvent>,
    /// How many current lines the shard has, credited or not.
    pub current: usize,
}

/// What `read_receipts`, `keep_shard` and `current_lines` give `attribute` and
/// `retailer_total`, read fast: the current lines of shard `shard` of `shards` that one of
/// `touches` (the shard's exposures) can earn under `rules`, and the count of all current
/// lines. `None` when the file needs the general reader (see the module docs); the
/// credits and totals from the lines given are the same as from all current lines.
pub fn read_current_receipts<'d>(
    data: &'d [u8],
    touches: &[Touch],
    catalog: &Catalog,
    identity: &IdentityMap,
    rules: &Rules<'_>,
    shard: u32,
    shards: u32,
) -> Option<CurrentReceipts> {
    let table = Table::new(data)?;
    let column = |name| table.column(name);
    let cols = Columns {
        receipt_id: column("receipt_id")?,
        version: column("version"),
        customer_key: column("customer_key")?,
        store_id: column("store_id")?,
        channel: column("channel"),
        ts: column("ts")?,
        sku: column("sku")?,
        quantity: column("quantity")?,
        amount_micros: column("amount_micros")?,
    };
    let (index, shoppers) = shoppers(touches, identity, rules, shard, shards);
    let hasher = foldhash::fast::RandomState::default();
    let threads = if table.body.len() < PARALLEL_BYTES {
        1
    } else {
        // Each thread of `current` walks every line: past a few, more threads cost more.
        std::thread::available_parallelism().map_or(1, |n| usize::from(n).min(8))
    };
    let read = |piece: &'d [u8]| -> Option<(Vec<Line<'d>>, Vec<Candidate<'d>>)> {
        // About 80 bytes a line: one allocation instead of twenty doublings.
        let mut lines = Vec::with_capacity(piece.len() / 64);
        let mut candidates = Vec::new();
        // The previous line's customer and what was found for it: a receipt's lines (and
        // in many exports a shopper's receipts) come together, and a comparison is cheaper
        // than a hash and a look-up.
        let mut last: Option<(&str, Option<&Shopper<'_>>, bool)> = None;
        let ok = table.rows(piece, |f| {
            let field = |i: usize| f.get(i).copied().map_or("", trim);
            let Some(line) = receipt_line(&cols, field, &hasher) else {
                return false;
            };
            let (shopper, in_shard) = match last {
                Some((key, shopper, in_shard)) if key == line.customer_key => (shopper, in_shard),
                _ => {
                    let shopper = index.get(line.customer_key).and_then(|&i| shoppers.get(i));
                    let in_shard = match shopper {
                        Some(s) => s.in_shard,
                        None => shards <= 1 || shard_of(line.customer_key, shards) == shard,
                    };
                    last = Some((line.customer_key, shopper, in_shard));
                    (shopper, in_shard)
                }
            };
            let candidate =
                in_shard && shopper.is_some_and(|s| s.can_credit(line.ts_ms, line.sku, catalog));
            lines.push(Line {
                key: line.key,
                version: line.version,
                in_shard,
                candidate,
            });
            if candidate {
                candidates.push(line);
            }
            true
        });
        ok.then_some((lines, candidates))
    };
    let pieces = table.pieces(threads);
    let parts: Vec<Option<(Vec<Line<'d>>, Vec<Candidate<'d>>)>> = if pieces.len() == 1 {
        pieces.iter().map(|&p| read(p)).collect()
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = pieces.iter().map(|&p| s.spawn(move || read(p))).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    };
    let parts: Vec<(Vec<Line<'d>>, Vec<Candidate<'d>>)> =
        parts.into_iter().collect::<Option<_>>()?;
    Some(current(&parts, threads))
}

/// The shard's exposures by customer (through the identity map), each with its window.
fn shoppers<'t>(
    touches: &'t [Touch],
    identity: &'t IdentityMap,
    rules: &Rules<'_>,
    shard: u32,
    shards: u32,
) -> (FastMap<&'t str, usize>, Vec<Shopper<'t>>) {
    let mut index: FastMap<&str, usize> = FastMap::default();
    let mut shoppers: Vec<Shopper<'t>> = Vec::new();
    for t in touches {
        let customer = identity
            .get(&t.user_key)
            .map_or(t.user_key.as_str(), String::as_str);
        let i = *index.entry(customer).or_insert_with(|| {
            shoppers.push(Shopper {
                seen: Vec::new(),
                reach_ms: 0,
                in_shard: shards <= 1 || shard_of(customer, shards) == shard,
            });
            shoppers.len() - 1
        });
        let s = (rules.settings)(t.campaign_id);
        // The window exactly as `attribute` computes it.
        let window_ms = match t.kind {
            TouchKind::Click => i64::from(s.click_window_days.days()),
            TouchKind::View => i64::from(s.view_window_days.days()),
        } * DAY_SECS
            * 1_000;
        if let Some(shopper) = shoppers.get_mut(i) {
            shopper.reach_ms = shopper.reach_ms.max(window_ms);
            shopper.seen.push(Seen {
                ts_ms: t.ts_ms,
                window_ms,
                scope: s.scope,
                skus: &t.skus,
            });
        }
    }
    for s in &mut shoppers {
        s.seen.sort_by_key(|t| t.ts_ms);
    }
    (index, shoppers)
}

/// One receipt line, checked as `read_receipts` checks it; `None` for a row it would refuse
/// or read differently (a hexadecimal number, say): the general reader then takes over.
fn receipt_line<'a>(
    cols: &Columns,
    field: impl Fn(usize) -> &'a str,
    hasher: &foldhash::fast::RandomState,
) -> Option<Candidate<'a>> {
    let id = field(cols.receipt_id);
    let customer_key = field(cols.customer_key);
    let sku = field(cols.sku);
    if id.is_empty() || customer_key.is_empty() || sku.is_empty() {
        return None;
    }
    let version = match cols.version.map(&field) {
        None | Some("") => 1,
        Some(v) => v.parse::<i64>().ok()?,
    };
    let channel = match cols.channel.map(&field) {
        None | Some("" | "in_store") => "in_store",
        Some("online") => "online",
        Some("pickup") => "pickup",
        Some(_) => return None,
    };
    let quantity: i32 = field(cols.quantity).parse().ok()?;
    let amount_micros: i64 = field(cols.amount_micros).parse().ok()?;
    if version < 1 || ((quantity < 0) != (amount_micros < 0) && amount_micros != 0) {
        return None;
    }
    let ts = field(cols.ts);
    let ts_ms = utc_ms(ts).or_else(|| time_ms(ts).ok())?;
    Some(Candidate {
        key: Key {
            hash: hasher.hash_one(id),
            id,
        },
        version,
        customer_key,
        store_id: field(cols.store_id),
        channel,
        ts_ms,
        sku,
        quantity,
        amount_micros,
    })
}

/// Numbers the lines in file order within each receipt and version (over the whole file,
/// as `read_receipts` does), finds each receipt's highest version in the shard, and keeps
/// the candidates of that version. The receipts are split among `threads` by hash, each
/// thread walking every line in file order and keeping the receipts of its share.
fn current(parts: &[(Vec<Line<'_>>, Vec<Candidate<'_>>)], threads: usize) -> CurrentReceipts {
    let candidates: Vec<&Candidate<'_>> = parts.iter().flat_map(|(_, c)| c).collect();
    let shares = threads.max(1) as u64;
    let results: Vec<Share> = if shares == 1 {
        vec![share(parts, &candidates, 0, 1)]
    } else {
        std::thread::scope(|s| {
            let candidates = &candidates;
            let handles: Vec<_> = (0..shares)
                .map(|k| s.spawn(move || share(parts, candidates, k, shares)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    };
    // Back in file order: each candidate kept by exactly one share.
    let mut slots: Vec<Option<ReceiptLineEvent>> = candidates.iter().map(|_| None).collect();
    let mut current = 0;
    for r in results {
        current += r.current;
        for (i, line) in r.kept {
            if let Some(slot) = slots.get_mut(i) {
                *slot = Some(line);
            }
        }
    }
    // Sized up front: `flatten` gives no exact length, and growing moved every line.
    let mut creditable = Vec::with_capacity(slots.iter().flatten().count());
    creditable.extend(slots.into_iter().flatten());
    CurrentReceipts {
        creditable,
        current,
    }
}

/// What one thread of [`current`] found for its share of the receipts.
struct Share {
    /// The current candidates of the share: (candidate index in file order, line).
    kept: Vec<(usize, ReceiptLineEvent)>,
    /// The current lines of the share.
    current: usize,
}

/// [`current`] for the receipts whose hash falls in share `k` of `shares`.
fn share(
    parts: &[(Vec<Line<'_>>, Vec<Candidate<'_>>)],
    candidates: &[&Candidate<'_>],
    k: u64,
    shares: u64,
) -> Share {
    // Bits the slots below and the map do not index by (they take the low bits; the map
    // its top seven too): a share's keys then spread over all of them.
    let mine = |line: &&Line<'_>| (line.key.hash >> 32) % shares == k;
    let lines = || parts.iter().flat_map(|(lines, _)| lines).filter(mine);
    let total: usize = parts.iter().map(|(lines, _)| lines.len()).sum();
    // Most receipts come once in a file (one line, one version): those need no map. A
    // first pass marks, by hash, the slots seen once and those seen again, in two bit
    // sets small enough for the cache (16 slots a line: few receipts share a slot). Only
    // the lines of a slot seen again (a receipt that recurs, or two on one slot) go
    // through the map: one cache miss a line in a table of every receipt was a fifth of
    // the run.
    let slots = (total / shares as usize * 16)
        .next_power_of_two()
        .max(1 << 16);
    let at = |line: &Line<'_>| {
        let slot = (line.key.hash as usize) & (slots - 1);
        (slot / 64, 1u64 << (slot % 64))
    };
    let mut seen = vec![0u64; slots / 64];
    let mut again = vec![0u64; slots / 64];
    for line in lines() {
        let (w, bit) = at(line);
        if seen[w] & bit != 0 {
            again[w] |= bit;
        }
        seen[w] |= bit;
    }
    drop(seen);
    let mut receipts: HashMap<Key<'_>, Receipt, BuildHasherDefault<Prehashed>> = HashMap::default();
    // Numbers of the versions after a receipt's first (rare: corrections).
    let mut others: FastMap<(&str, i64), u32> = FastMap::default();
    // Candidates as (index, line number, whether the map decides if they are current).
    let mut numbered: Vec<(usize, u32, bool)> = Vec::new();
    let mut once_current = 0;
    let mut ordinal = 0;
    for line in parts.iter().flat_map(|(lines, _)| lines) {
        let index = ordinal;
        ordinal += usize::from(line.candidate);
        if !mine(&line) {
            continue;
        }
        let (w, bit) = at(line);
        if again[w] & bit == 0 {
            // The receipt's one line: number 0, current when in the shard (a candidate
            // always is).
            once_current += usize::from(line.in_shard);
            if line.candidate {
                numbered.push((index, 0, false));
            }
            continue;
        }
        let r = receipts.entry(line.key).or_insert(Receipt {
            first_version: line.version,
            first_lines: 0,
            top: 0,
            top_lines: 0,
        });
        let n = if r.first_version == line.version {
            &mut r.first_lines
        } else {
            others.entry((line.key.id, line.version)).or_insert(0)
        };
        *n += 1;
        let number = *n - 1;
        if line.in_shard {
            if line.version > r.top {
                (r.top, r.top_lines) = (line.version, 1);
            } else if line.version == r.top {
                r.top_lines += 1;
            }
        }
        if line.candidate {
            numbered.push((index, number, true));
        }
    }
    let mut kept = Vec::with_capacity(numbered.len());
    kept.extend(numbered.into_iter().filter_map(|(i, line_no, mapped)| {
        let c = candidates.get(i)?;
        let current = !mapped || receipts.get(&c.key).is_some_and(|r| r.top == c.version);
        current.then(|| (i, c.line(line_no)))
    }));
    let repeated: usize = receipts.values().map(|r| r.top_lines as usize).sum();
    Share {
        kept,
        current: once_current + repeated,
    }
}

impl Candidate<'_> {
    /// The line, owned at last.
    fn line(&self, line_no: u32) -> ReceiptLineEvent {
        ReceiptLineEvent {
            receipt_id: self.key.id.to_string(),
            version: self.version,
            line_no,
            customer_key: self.customer_key.to_string(),
            store_id: self.store_id.to_string(),
            channel: self.channel.to_string(),
            ts_ms: self.ts_ms,
            sku: self.sku.to_string(),
            brand: String::new(),
            category: String::new(),
            quantity: self.quantity,
            amount_micros: self.amount_micros,
        }
    }
}

/// Which receipt lines any exposure can earn at all (`attribute`'s window and scope test),
/// so a reader can drop the rest before attributing: the credits are the same.
pub struct Eligibility<'t> {
    index: FastMap<&'t str, usize>,
    shoppers: Vec<Shopper<'t>>,
}

impl<'t> Eligibility<'t> {
    /// The test for these exposures, customers found through `identity`.
    pub fn new(touches: &'t [Touch], identity: &'t IdentityMap, rules: &Rules<'_>) -> Self {
        let (index, shoppers) = shoppers(touches, identity, rules, 0, 1);
        Self { index, shoppers }
    }

    /// Whether an exposure of the customer can earn a line of `sku` at `ts_ms`.
    pub fn can_credit(&self, customer_key: &str, ts_ms: i64, sku: &str, catalog: &Catalog) -> bool {
        self.index
            .get(customer_key)
            .and_then(|&i| self.shoppers.get(i))
            .is_some_and(|s| s.can_credit(ts_ms, sku, catalog))
    }

    /// Whether the customer has any exposure.
    pub fn exposed(&self, customer_key: &str) -> bool {
        self.index.contains_key(customer_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn pieces_are_cut_after_line_ends_and_cover_the_body() {
        let table = Table::new(b"a,b\n1,2\n3,4\n5,6\n7,8").unwrap();
        for n in 1..6 {
            let pieces = table.pieces(n);
            assert_eq!(pieces.concat(), b"1,2\n3,4\n5,6\n7,8");
            assert!(pieces.iter().rev().skip(1).all(|p| p.ends_with(b"\n")));
        }
    }

    proptest! {
        #[test]
        fn the_fast_time_reader_agrees_with_chrono(
            y in 1890..2200i64, mo in 0..14i64, d in 0..33i64, h in 0..26i64,
            mi in 0..62i64, s in 0..62i64, ms in 0..1000i64, fraction in any::<bool>(),
        ) {
            let raw = if fraction {
                format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
            } else {
                format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
            };
            if let Some(fast) = utc_ms(&raw) {
                prop_assert_eq!(Ok(fast), time_ms(&raw));
            } else {
                // Only what chrono refuses, leap seconds and old years are left to it.
                prop_assert!(time_ms(&raw).is_err() || s == 60 || y < 1900, "{}", raw);
            }
        }
    }
}
