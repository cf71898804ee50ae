//! Compressed sparse rows: the training matrix, never densified.

use linfa::dataset::Records;

/// A CSR matrix of f32 values with u32 column indices. Rows may repeat a column; repeated
/// entries add up, which is exactly what the featurizer's hashing collisions mean.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CsrMatrix {
    /// Row `i` spans `indices[indptr[i]..indptr[i + 1]]`.
    pub indptr: Vec<usize>,
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
    /// Number of columns (hash buckets).
    pub ncols: usize,
}

impl CsrMatrix {
    /// An empty matrix with `ncols` columns.
    pub fn new(ncols: usize) -> Self {
        CsrMatrix { indptr: vec![0], indices: Vec::new(), values: Vec::new(), ncols }
    }

    /// Appends a row.
    pub fn push_row(&mut self, indices: &[u32], values: &[f32]) {
        debug_assert_eq!(indices.len(), values.len());
        self.indices.extend_from_slice(indices);
        self.values.extend_from_slice(values);
        self.indptr.push(self.indices.len());
    }

    pub fn nrows(&self) -> usize {
        self.indptr.len() - 1
    }

    /// Row `i` as (indices, values).
    pub fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.indptr[i], self.indptr[i + 1]);
        (&self.indices[a..b], &self.values[a..b])
    }

    /// The rows at `rows`, in that order (for cross-validation folds).
    pub fn select(&self, rows: &[usize]) -> CsrMatrix {
        let mut m = CsrMatrix::new(self.ncols);
        for &r in rows {
            let (i, v) = self.row(r);
            m.push_row(i, v);
        }
        m
    }

    /// The transpose: row `j` of it lists the rows of this matrix with an entry in column
    /// `j`, in ascending order, with their values.
    pub fn transpose(&self) -> CsrMatrix {
        let mut counts = vec![0usize; self.ncols + 1];
        for &c in &self.indices {
            counts[c as usize + 1] += 1;
        }
        for j in 0..self.ncols {
            counts[j + 1] += counts[j];
        }
        let indptr = counts.clone();
        let mut next = counts;
        let mut indices = vec![0u32; self.nnz()];
        let mut values = vec![0f32; self.nnz()];
        for i in 0..self.nrows() {
            let (cols, vals) = self.row(i);
            for (&c, &v) in cols.iter().zip(vals) {
                let p = &mut next[c as usize];
                indices[*p] = i as u32;
                values[*p] = v;
                *p += 1;
            }
        }
        CsrMatrix { indptr, indices, values, ncols: self.nrows() }
    }

    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }
}

impl Records for CsrMatrix {
    type Elem = f32;
    fn nsamples(&self) -> usize {
        self.nrows()
    }
    fn nfeatures(&self) -> usize {
        self.ncols
    }
}
