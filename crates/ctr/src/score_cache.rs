//! Raw scores of feature rows already walked through a model's trees, kept across requests.
//!
//! The same (line item, placement, context) row comes back request after request: the tree
//! walk (~7 us a row for 200 trees) is the decision's largest cost, and its answer for the
//! same row bits never changes while the model is loaded. A fixed-size, direct-mapped table
//! keeps the last score per slot: a hit must match the whole row bit for bit, so it returns
//! exactly what the walk would; a collision only costs a walk. Memory is bounded by the slot
//! count, and a new model starts with an empty table (it is owned by the loaded model).

use std::sync::Mutex;

/// Slots in a model's table (a power of two): at 19 columns about 200 bytes a slot when full,
/// ~13 MB.
pub const SCORE_CACHE_SLOTS: usize = 1 << 16;

/// A row's bits and its raw (uncalibrated) score.
struct Entry {
    row: Box<[u64]>,
    score: f64,
}

/// The table: one lock per slot, so the workers only meet when they touch the same slot.
pub struct ScoreCache {
    slots: Box<[Mutex<Option<Entry>>]>,
}

impl std::fmt::Debug for ScoreCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ScoreCache({} slots)", self.slots.len())
    }
}

impl ScoreCache {
    /// An empty table of `slots` (rounded up to a power of two, at least 1).
    pub fn new(slots: usize) -> Self {
        let n = slots.max(1).next_power_of_two();
        Self {
            slots: (0..n).map(|_| Mutex::new(None)).collect(),
        }
    }

    /// The slot of a row: a multiplicative hash of its bits.
    fn slot(&self, row: &[u64]) -> usize {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for v in row {
            h = (h.rotate_left(5) ^ v).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
        (h >> 16) as usize & (self.slots.len() - 1)
    }

    /// The raw score of exactly this row, if it is in the table.
    pub fn get(&self, row: &[u64]) -> Option<f64> {
        let slot = self.slots[self.slot(row)]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        slot.as_ref().filter(|e| *e.row == *row).map(|e| e.score)
    }

    /// Keeps a row's raw score (replacing whatever shared its slot).
    pub fn put(&self, row: &[u64], score: f64) {
        let mut slot = self.slots[self.slot(row)]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match slot.as_mut() {
            // Reuses the row's allocation when the width matches (always, for one model).
            Some(e) if e.row.len() == row.len() => {
                e.row.copy_from_slice(row);
                e.score = score;
            }
            _ => {
                *slot = Some(Entry {
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
    fn a_hit_needs_the_whole_row_and_a_collision_only_evicts() {
        // One slot: every row collides.
        let c = ScoreCache::new(1);
        assert_eq!(c.get(&[1, 2, 3]), None);
        c.put(&[1, 2, 3], 0.25);
        assert_eq!(c.get(&[1, 2, 3]), Some(0.25));
        assert_eq!(c.get(&[1, 2, 4]), None, "same slot, other row: a miss");
        c.put(&[1, 2, 4], 0.5);
        assert_eq!(c.get(&[1, 2, 3]), None, "evicted");
        assert_eq!(c.get(&[1, 2, 4]), Some(0.5));
        assert_eq!(c.get(&[1, 2]), None, "a prefix is another row");
    }

    #[test]
    fn rows_spread_over_the_slots() {
        let c = ScoreCache::new(1024);
        let used: std::collections::HashSet<usize> = (0..512u64)
            .map(|i| c.slot(&[7, i, 0x7ff8_0000_0000_0000]))
            .collect();
        assert!(used.len() > 300, "{} of 512 distinct slots", used.len());
    }
}
