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

    /// The rows at `rows`, in that order, without copying them: a fold or a head fits on
    /// its rows of the one featurized matrix, not on a copy as large as its share of it.
    pub fn rows<'a>(&'a self, rows: &'a [usize]) -> RowSubset<'a> {
        RowSubset { matrix: self, rows }
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

/// Sparse rows a learner can fit on: a whole matrix, or some of its rows.
pub trait SparseRows: Records<Elem = f32> {
    /// Row `i` as (column indices, values).
    fn row(&self, i: usize) -> (&[u32], &[f32]);
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

impl SparseRows for CsrMatrix {
    fn row(&self, i: usize) -> (&[u32], &[f32]) {
        CsrMatrix::row(self, i)
    }
}

/// Some rows of a [`CsrMatrix`], in a given order, borrowed (see [`CsrMatrix::rows`]).
#[derive(Debug, Clone, Copy)]
pub struct RowSubset<'a> {
    matrix: &'a CsrMatrix,
    rows: &'a [usize],
}

impl Records for RowSubset<'_> {
    type Elem = f32;
    fn nsamples(&self) -> usize {
        self.rows.len()
    }
    fn nfeatures(&self) -> usize {
        self.matrix.ncols
    }
}

impl SparseRows for RowSubset<'_> {
    fn row(&self, i: usize) -> (&[u32], &[f32]) {
        self.matrix.row(self.rows[i])
    }
}
