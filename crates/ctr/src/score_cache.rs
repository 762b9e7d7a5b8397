//! Raw scores of feature rows already walked through a model's trees, kept across requests.
//!
//! The same (line item, placement, context) row comes back request after request: the tree
//! walk (~7 us a row for 200 trees) is the decision's largest cost, and its answer for the
//! same row bits never changes while the model is loaded. A fixed-size, set-associative
//! table keeps recent scores in sets of four, most recently used first: a hit must match the
//! whole row bit for bit, so it returns exactly what the walk would; a set that is full drops
//! its least recently used row, which then only costs a walk. Memory is bounded by the slot count, and a new model starts with an
//! empty table (it is owned by the loaded model).

use std::sync::Mutex;

/// Rows in a model's table: at 19 columns about 200 bytes a row when full, ~13 MB.
pub const SCORE_CACHE_SLOTS: usize = 1 << 16;

/// Rows a set holds: with one, 5,000 candidates in 65,536 slots collided on ~7% of rows (a
/// walk each, 16% of a decision's time); four ways make that rare.
const WAYS: usize = 4;

/// A row's bits and its raw (uncalibrated) score.
struct Entry {
    row: Box<[u64]>,
    score: f64,
}

/// The table: sets of [`WAYS`] rows, one lock per set, so the workers only meet when they
/// touch the same set.
pub struct ScoreCache {
    sets: Box<[Mutex<[Option<Entry>; WAYS]>]>,
}

impl std::fmt::Debug for ScoreCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ScoreCache({} slots)", self.sets.len() * WAYS)
    }
}

impl ScoreCache {
    /// An empty table of about `slots` rows (sets rounded up to a power of two, at least 1).
    pub fn new(slots: usize) -> Self {
        let n = slots.div_ceil(WAYS).max(1).next_power_of_two();
        Self {
            sets: (0..n).map(|_| Mutex::new(Default::default())).collect(),
        }
    }

    /// A row's hash: multiplicative, over its bits.
    fn hash(row: &[u64]) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for v in row {
            h = (h.rotate_left(5) ^ v).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
        h
    }

    /// The set of a row: the hash's high bits, the best mixed of a multiplicative hash.
    fn slot(&self, row: &[u64]) -> usize {
        (Self::hash(row) >> 32) as usize & (self.sets.len() - 1)
    }

    /// The raw score of exactly this row, if it is in the table; a hit becomes its set's
    /// most recently used row.
    pub fn get(&self, row: &[u64]) -> Option<f64> {
        let mut set = self.sets[self.slot(row)]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let way = set
            .iter()
            .position(|e| e.as_ref().is_some_and(|e| *e.row == *row))?;
        set[..=way].rotate_right(1);
        set[0].as_ref().map(|e| e.score)
    }

    /// Keeps a row's raw score as its set's most recently used row: updated in place if
    /// there, else in the least recently used way (empty ways are always last).
    pub fn put(&self, row: &[u64], score: f64) {
        let mut set = self.sets[self.slot(row)]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let way = set
            .iter()
            .position(|e| e.as_ref().is_some_and(|e| *e.row == *row))
            .unwrap_or(WAYS - 1);
        set[..=way].rotate_right(1);
        match set[0].as_mut() {
            // Reuses the evicted row's allocation when the width matches (always, for one
            // model).
            Some(e) if e.row.len() == row.len() => {
                e.row.copy_from_slice(row);
                e.score = score;
            }
            _ => {
                set[0] = Some(Entry {
                    row: row.into(),
                    score,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hit_needs_the_whole_row_and_a_full_set_only_evicts() {
        // One set: every row lands in it.
        let c = ScoreCache::new(1);
        assert_eq!(c.get(&[1, 2, 3]), None);
        c.put(&[1, 2, 3], 0.25);
        assert_eq!(c.get(&[1, 2, 3]), Some(0.25));
        assert_eq!(c.get(&[1, 2, 4]), None, "same set, other row: a miss");
        assert_eq!(c.get(&[1, 2]), None, "a prefix is another row");
        c.put(&[1, 2, 3], 0.75);
        assert_eq!(c.get(&[1, 2, 3]), Some(0.75), "a row is kept once, updated");
        for i in 0..3 {
            c.put(&[9, i], i as f64);
        }
        assert_eq!(c.get(&[1, 2, 3]), Some(0.75), "four ways: all four kept");
        for i in 0..3 {
            assert_eq!(c.get(&[9, i]), Some(i as f64));
        }
        // Use order now (most recent first): [9,2], [9,1], [9,0], [1,2,3].
        c.put(&[7, 7], 1.0);
        assert_eq!(c.get(&[7, 7]), Some(1.0));
        assert_eq!(c.get(&[1, 2, 3]), None, "the least recently used made way");
        for i in 0..3 {
            assert_eq!(c.get(&[9, i]), Some(i as f64));
        }
    }

    #[test]
    fn a_full_set_keeps_its_hot_rows() {
        // A direct-mapped choice of victim would, over many cold rows, evict the hot row
        // as often as any other; recency keeps it as long as it is read between misses.
        let c = ScoreCache::new(1);
        c.put(&[1], 0.5);
        for i in 0..1000u64 {
            assert_eq!(c.get(&[1]), Some(0.5), "hot row lost after {i} cold rows");
            c.put(&[100, i], 0.0);
        }
        // Read, then three cold rows in a row: the hot one is the fourth most recent.
        assert_eq!(c.get(&[1]), Some(0.5));
        for i in 0..3u64 {
            c.put(&[200, i], 0.0);
        }
        assert_eq!(c.get(&[1]), Some(0.5));
        for i in 0..4u64 {
            c.put(&[300, i], 0.0);
        }
        assert_eq!(c.get(&[1]), None, "four newer rows push it out");
    }

    #[test]
    fn rows_spread_over_the_sets() {
        let c = ScoreCache::new(4096);
        let used: std::collections::HashSet<usize> = (0..512u64)
            .map(|i| c.slot(&[7, i, 0x7ff8_0000_0000_0000]))
            .collect();
        assert!(used.len() > 300, "{} of 512 distinct sets", used.len());
    }
}
