//! A head's weights as a sparse table indexed by hash bucket.
//!
//! Why not a dense `buckets x labels` array: a trained head uses 3-30% of its 2^20 buckets,
//! and scoring is one random lookup per feature. Dense, the six stance heads take 72 MB and
//! nearly every lookup misses the caches; here a head is a bitmap of used buckets with a
//! running count every 64 buckets (256 KB, which stays in L2) plus only the used rows, so a
//! lookup is one bitmap word, a popcount and, for a used bucket, one row.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::features::prefetch;

/// 64 buckets: which are used, and how many used buckets come before them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[repr(C, align(16))]
struct Block {
    bits: u64,
    base: u32,
}

/// The non-zero rows of a `dim x k` weight matrix, found by bucket in constant time.
#[derive(Debug, Clone)]
pub struct WeightTable {
    /// Tells tables apart for the per-thread caches that remember sums of their rows: an
    /// address could be reused by a table loaded later, an id never is. Clones share it,
    /// as tables never change once built.
    id: u64,
    k: usize,
    dim: usize,
    blocks: Vec<Block>,
    /// Used rows in bucket order, `k` weights each.
    rows: Vec<f32>,
}

impl WeightTable {
    /// Builds a table from `(bucket, row)` pairs in strictly increasing bucket order; rows
    /// that are all zero are left out. Errors name the first bad bucket.
    pub fn from_rows<'a>(dim: usize, k: usize, rows: impl IntoIterator<Item = (u32, &'a [f32])>) -> Result<Self> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let mut t = WeightTable { id, k, dim, blocks: vec![Block::default(); dim.div_ceil(64)], rows: Vec::new() };
        let mut last: Option<u32> = None;
        for (bucket, row) in rows {
            if bucket as usize >= dim {
                return Err(Error::Data(format!("bucket {bucket} outside the {dim} hash buckets")));
            }
            if last.is_some_and(|l| bucket <= l) {
                return Err(Error::Data(format!("bucket {bucket} out of order or repeated")));
            }
            if row.len() != k {
                return Err(Error::Data(format!("bucket {bucket} has {} weights, expected {k}", row.len())));
            }
            last = Some(bucket);
            if row.iter().all(|&w| w == 0.0) {
                continue;
            }
            t.blocks[bucket as usize / 64].bits |= 1 << (bucket % 64);
            t.rows.extend_from_slice(row);
        }
        let mut count = 0u32;
        for b in &mut t.blocks {
            b.base = count;
            count += b.bits.count_ones();
        }
        Ok(t)
    }

    /// Builds a table from a dense row-major `dim x k` matrix.
    pub fn from_dense(dense: &[f32], k: usize) -> Self {
        let rows = dense.chunks_exact(k).enumerate().map(|(b, r)| (b as u32, r));
        Self::from_rows(dense.len() / k, k, rows).expect("dense rows are in order and in range")
    }

    /// The weights of `bucket`, or `None` when all are zero.
    #[inline]
    pub fn row(&self, bucket: u32) -> Option<&[f32]> {
        self.locate(bucket).map(|r| self.row_at(r))
    }

    /// The number of `bucket`'s row among the stored rows, or `None` when it has none.
    #[inline]
    pub fn locate(&self, bucket: u32) -> Option<u32> {
        let b = self.blocks.get(bucket as usize / 64)?;
        let bit = bucket % 64;
        if (b.bits >> bit) & 1 == 0 {
            return None;
        }
        Some(b.base + (b.bits & ((1u64 << bit) - 1)).count_ones())
    }

    /// Stored row `r` (from [`locate`](Self::locate)).
    #[inline]
    pub fn row_at(&self, r: u32) -> &[f32] {
        &self.rows[r as usize * self.k..(r as usize + 1) * self.k]
    }

    /// Starts loading what [`locate`](Self::locate) reads for `bucket`. Scoring asks a few
    /// features ahead: the lookups are random and otherwise wait on memory one by one.
    #[inline]
    pub fn prefetch_block(&self, bucket: u32) {
        prefetch(self.blocks.as_ptr().wrapping_add(bucket as usize / 64));
    }

    /// Starts loading stored row `r`.
    #[inline]
    pub fn prefetch_row(&self, r: u32) {
        prefetch(self.rows.as_ptr().wrapping_add(r as usize * self.k));
    }

    /// Used rows with their buckets, in bucket order.
    pub fn rows(&self) -> impl Iterator<Item = (u32, &[f32])> {
        let buckets = self.blocks.iter().enumerate().flat_map(|(i, b)| {
            let mut bits = b.bits;
            std::iter::from_fn(move || {
                (bits != 0).then(|| {
                    let bit = bits.trailing_zeros();
                    bits &= bits - 1;
                    (i * 64) as u32 + bit
                })
            })
        });
        buckets.zip(self.rows.chunks_exact(self.k))
    }

    /// This table's id, unique in the process and never 0.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Number of hash buckets the table covers.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Weights per row (the number of labels).
    pub fn k(&self) -> usize {
        self.k
    }

    /// Number of stored (non-zero) rows.
    pub fn len(&self) -> usize {
        self.rows.len() / self.k.max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// Equal weights, whatever the ids.
impl PartialEq for WeightTable {
    fn eq(&self, other: &Self) -> bool {
        (self.k, self.dim, &self.blocks, &self.rows) == (other.k, other.dim, &other.blocks, &other.rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_match_the_dense_matrix() {
        let k = 3;
        let dim = 1000;
        let mut dense = vec![0f32; dim * k];
        for b in [0usize, 1, 63, 64, 65, 127, 128, 500, 999] {
            dense[b * k + b % k] = b as f32 + 0.5;
        }
        let t = WeightTable::from_dense(&dense, k);
        assert_eq!(t.len(), 9);
        for b in 0..dim {
            let want = &dense[b * k..(b + 1) * k];
            match t.row(b as u32) {
                Some(r) => assert_eq!(r, want),
                None => assert!(want.iter().all(|&w| w == 0.0), "bucket {b}"),
            }
        }
        assert_eq!(t.row(dim as u32 + 100), None);
        let back: Vec<(u32, Vec<f32>)> = t.rows().map(|(b, r)| (b, r.to_vec())).collect();
        assert_eq!(back.len(), 9);
        assert_eq!(back[3], (64, vec![0.0, 64.5, 0.0]));
        let again = WeightTable::from_rows(dim, k, back.iter().map(|(b, r)| (*b, r.as_slice()))).unwrap();
        assert_eq!(again, t);
    }

    #[test]
    fn bad_rows_are_refused() {
        let r = [1.0f32, 2.0];
        assert!(WeightTable::from_rows(10, 2, [(10, &r[..])]).unwrap_err().to_string().contains("outside"));
        assert!(WeightTable::from_rows(10, 2, [(3, &r[..]), (3, &r[..])]).is_err());
        assert!(WeightTable::from_rows(10, 2, [(5, &r[..]), (4, &r[..])]).is_err());
        assert!(WeightTable::from_rows(10, 3, [(1, &r[..])]).is_err());
    }
}
