//! Multinomial logistic regression over sparse rows, fitted to convergence by L-BFGS.
//!
//! Why our own learner: linfa's learners take dense matrices, and a hashed n-gram matrix
//! densified is rows x 2^20 floats. This one follows linfa's shape instead (`Params ->
//! check() -> fit(&Dataset)`, sample weights from the dataset) and works only on the
//! columns the data uses: those are remapped to a compact range before optimising, so the
//! optimiser's vectors are as long as the vocabulary actually seen, not the hash space.
//!
//! Objective (mean over weighted rows):
//! `L(W, b) = sum_i s_i * CE(softmax(W x_i + b), y_i) / sum_i s_i + l2 / 2 * ||W||^2`,
//! with `s_i` the dataset weight of row `i` times its class weight. The bias is not
//! regularised.

use linfa::dataset::{AsSingleTargets, DatasetBase};
use linfa::prelude::*;
use ndarray::Array1;
use rayon::prelude::*;

use super::sparse::{CsrMatrix, SparseRows};
use crate::error::{Error, Result};

/// Most labels a model may have (scores live in a fixed-size buffer on the hot path).
pub const MAX_CLASSES: usize = 64;

/// How rows of each class are weighted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassWeight {
    /// Every row counts once.
    None,
    /// Rows weighted by `n / (k * n_class)`, so rare classes count as much as common ones.
    #[default]
    Balanced,
}

/// Unchecked hyperparameters; `check()` turns them into [`ValidLogisticParams`].
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticParams(ValidLogisticParams);

/// Checked hyperparameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidLogisticParams {
    n_classes: usize,
    l2: f64,
    class_weight: ClassWeight,
    max_iter: usize,
    tolerance: f64,
    memory: usize,
    min_count: u32,
}

impl LogisticParams {
    /// Defaults for `n_classes` labels (targets are `0..n_classes`).
    pub fn new(n_classes: usize) -> Self {
        LogisticParams(ValidLogisticParams {
            n_classes,
            l2: 1e-4,
            class_weight: ClassWeight::Balanced,
            max_iter: 500,
            tolerance: 1e-5,
            memory: 6,
            min_count: 1,
        })
    }
    /// L2 penalty on the weights (not the bias).
    pub fn l2(mut self, l2: f64) -> Self {
        self.0.l2 = l2;
        self
    }
    pub fn class_weight(mut self, w: ClassWeight) -> Self {
        self.0.class_weight = w;
        self
    }
    /// Iteration cap; reaching it is reported as not converged.
    pub fn max_iter(mut self, n: usize) -> Self {
        self.0.max_iter = n;
        self
    }
    /// Ignore columns that occur fewer than this many times in the training rows.
    pub fn min_count(mut self, n: u32) -> Self {
        self.0.min_count = n.max(1);
        self
    }
    /// Stop when the largest gradient entry falls below this.
    pub fn tolerance(mut self, t: f64) -> Self {
        self.0.tolerance = t;
        self
    }
}

impl ParamGuard for LogisticParams {
    type Checked = ValidLogisticParams;
    type Error = Error;

    fn check_ref(&self) -> Result<&ValidLogisticParams> {
        let p = &self.0;
        let bad = |name, message: String| Err(Error::InvalidParam { name, message });
        if p.n_classes < 2 {
            return bad("n_classes", format!("{} (need at least 2 labels)", p.n_classes));
        }
        if !(p.l2.is_finite() && p.l2 > 0.0) {
            return bad("l2", format!("{} (must be finite and > 0)", p.l2));
        }
        if p.max_iter == 0 {
            return bad("max_iter", "0 (must be at least 1)".into());
        }
        if !(p.tolerance.is_finite() && p.tolerance > 0.0) {
            return bad("tolerance", format!("{} (must be finite and > 0)", p.tolerance));
        }
        Ok(p)
    }

    fn check(self) -> Result<ValidLogisticParams> {
        self.check_ref()?;
        Ok(self.0)
    }
}

/// How the optimisation ended.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FitReport {
    pub iterations: usize,
    /// Final value of the objective.
    pub loss: f64,
    /// Largest absolute gradient entry at the end.
    pub grad_max: f64,
    pub converged: bool,
}

/// A fitted model over the columns the training data used.
#[derive(Debug, Clone, PartialEq)]
pub struct FittedLogistic {
    pub n_classes: usize,
    /// Global column (hash bucket) of each compact column, ascending.
    pub columns: Vec<u32>,
    /// `columns.len() x n_classes`, row-major.
    pub weights: Vec<f32>,
    pub bias: Vec<f32>,
    pub report: FitReport,
}

impl FittedLogistic {
    /// Class probabilities of one sparse row given in global columns.
    pub fn predict_proba(&self, indices: &[u32], values: &[f32]) -> Vec<f32> {
        let k = self.n_classes;
        let mut z: Vec<f32> = self.bias.clone();
        for (&c, &v) in indices.iter().zip(values) {
            if let Ok(j) = self.columns.binary_search(&c) {
                for (zc, w) in z.iter_mut().zip(&self.weights[j * k..(j + 1) * k]) {
                    *zc += v * w;
                }
            }
        }
        softmax_in_place(&mut z);
        z
    }
}

/// Numerically stable softmax.
pub fn softmax_in_place(z: &mut [f32]) {
    let m = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut s = 0.0;
    for v in z.iter_mut() {
        *v = (*v - m).exp();
        s += *v;
    }
    for v in z.iter_mut() {
        *v /= s;
    }
}

impl<R: SparseRows, T: AsSingleTargets<Elem = usize>> Fit<R, T, Error> for ValidLogisticParams {
    type Object = FittedLogistic;

    fn fit(&self, dataset: &DatasetBase<R, T>) -> Result<FittedLogistic> {
        let x = &dataset.records;
        let y = dataset.as_single_targets();
        let n = x.nsamples();
        let k = self.n_classes;
        if n == 0 {
            return Err(Error::Data("no training rows".into()));
        }
        if y.len() != n {
            return Err(Error::Data(format!("{} rows but {} labels", n, y.len())));
        }
        if let Some(bad) = y.iter().find(|&&c| c >= k) {
            return Err(Error::Data(format!("label index {bad} out of range for {k} classes")));
        }
        // Sample weights: dataset weight times class weight.
        let mut counts = vec![0usize; k];
        for &c in y.iter() {
            counts[c] += 1;
        }
        let s: Vec<f64> = (0..n)
            .map(|i| {
                let cw = match self.class_weight {
                    ClassWeight::None => 1.0,
                    ClassWeight::Balanced => n as f64 / (k as f64 * counts[y[i]] as f64),
                };
                cw * dataset.weight_for(i) as f64
            })
            .collect();
        let s_total: f64 = s.iter().sum();
        if s_total <= 0.0 || !s_total.is_finite() {
            return Err(Error::Data("sample weights sum to zero".into()));
        }

        // Compact the columns the data uses, most frequent first: the optimiser's random
        // accesses then mostly hit a small, cache-resident prefix of the weights. Counted
        // in one array over the hash space, which then holds each column's rank: sorting a
        // copy of every entry instead cost as much memory as the matrix itself.
        let mut slot = vec![0u32; x.nfeatures()];
        for i in 0..n {
            for &c in x.row(i).0 {
                slot[c as usize] += 1;
            }
        }
        let mut order: Vec<u32> = (0..slot.len() as u32).filter(|&c| slot[c as usize] > 0).collect();
        order.sort_by_key(|&c| (std::cmp::Reverse(slot[c as usize]), c));
        // Columns seen fewer than `min_count` times are dropped: they are most of the
        // vocabulary of n-grams, carry almost nothing that generalises, and the optimiser's
        // cost per iteration grows with the number of columns.
        let d = order.iter().take_while(|&&c| slot[c as usize] >= self.min_count).count();
        for (r, &c) in order.iter().enumerate() {
            slot[c as usize] = if r < d { r as u32 } else { u32::MAX };
        }
        order.truncate(d);
        let mut cx = CsrMatrix::new(d);
        // Each row sorted by rank with repeated columns merged: fewer entries, and the pass
        // walks the weights in one direction, which the prefetcher likes.
        let mut entries: Vec<(u32, f32)> = Vec::new();
        let mut buf_i = Vec::new();
        let mut buf_v = Vec::new();
        for i in 0..n {
            entries.clear();
            let (cols, vals) = x.row(i);
            for (&c, &v) in cols.iter().zip(vals) {
                let r = slot[c as usize];
                if r != u32::MAX {
                    entries.push((r, v));
                }
            }
            entries.sort_unstable_by_key(|e| e.0);
            buf_i.clear();
            buf_v.clear();
            for &(r, v) in &entries {
                if buf_i.last() == Some(&r) {
                    *buf_v.last_mut().expect("same length") += v;
                } else {
                    buf_i.push(r);
                    buf_v.push(v);
                }
            }
            cx.push_row(&buf_i, &buf_v);
        }
        drop(slot);
        let xt = cx.transpose();
        let problem = Problem {
            x: &cx,
            xt: &xt,
            y: y.as_slice().expect("contiguous targets"),
            s: &s,
            s_total,
            k,
            d,
            l2: self.l2,
        };
        let mut w = vec![0.0f64; d * k + k];
        let report = lbfgs(&problem, &mut w, self.max_iter, self.tolerance, self.memory);
        // Hand back the kept columns in ascending order, which prediction's binary search needs.
        let mut kept: Vec<(u32, u32)> = order.iter().zip(0..).map(|(&c, r)| (c, r)).collect();
        kept.sort_unstable();
        let mut weights = vec![0f32; d * k];
        for (j, &(_, r)) in kept.iter().enumerate() {
            for c in 0..k {
                weights[j * k + c] = w[r as usize * k + c] as f32;
            }
        }
        let columns: Vec<u32> = kept.into_iter().map(|(c, _)| c).collect();
        Ok(FittedLogistic {
            n_classes: k,
            columns,
            weights,
            bias: w[d * k..].iter().map(|&v| v as f32).collect(),
            report,
        })
    }
}

/// Builds the linfa dataset the learner fits on.
pub fn dataset<R: SparseRows>(x: R, y: Vec<usize>) -> DatasetBase<R, Array1<usize>> {
    DatasetBase::new(x, Array1::from(y))
}

struct Problem<'a> {
    /// Rows over compact column ranks.
    x: &'a CsrMatrix,
    /// The same entries by column, rows ascending (`x.transpose()`).
    xt: &'a CsrMatrix,
    y: &'a [usize],
    s: &'a [f64],
    s_total: f64,
    k: usize,
    d: usize,
    l2: f64,
}

impl Problem<'_> {
    /// Objective at `w`; writes the gradient into `g`.
    fn loss_grad(&self, w: &[f64], g: &mut [f64]) -> f64 {
        // Fixed label counts get a loop the compiler keeps in registers; this pass is the
        // whole cost of training.
        match self.k {
            2 => self.loss_grad_k::<2>(w, g),
            3 => self.loss_grad_k::<3>(w, g),
            4 => self.loss_grad_k::<4>(w, g),
            _ => self.loss_grad_k::<0>(w, g),
        }
    }

    /// `K == 0` means "use `self.k`" (any number of labels, slower).
    ///
    /// Two passes, each spread over the cores: rows (each row's weighted residuals,
    /// softmax minus one-hot, and loss term), then columns (each column's gradient, adding
    /// its rows' residuals in row order). Every sum is made in the order a single
    /// row-by-row pass makes it, so the result is the same to the bit whatever the number
    /// of threads, and a model's bytes depend only on its data and seed.
    fn loss_grad_k<const K: usize>(&self, w: &[f64], g: &mut [f64]) -> f64 {
        let (k, d) = (if K == 0 { self.k } else { K }, self.d);
        let (wm, b) = w.split_at(d * k);
        let (gm, gb) = g.split_at_mut(d * k);
        let n = self.x.nrows();
        let mut resid = vec![0.0f64; n * k];
        let mut terms = vec![0.0f64; n];
        resid.par_chunks_mut(k).zip(terms.par_iter_mut()).enumerate().with_min_len(64).for_each(|(i, (z, term))| {
            let (cols, vals) = self.x.row(i);
            if K > 0 {
                let mut zk = [0.0f64; K];
                zk.copy_from_slice(b);
                for (&col, &v) in cols.iter().zip(vals) {
                    let row: &[f64; K] = wm[col as usize * K..][..K].try_into().expect("row");
                    for c in 0..K {
                        zk[c] += v as f64 * row[c];
                    }
                }
                z.copy_from_slice(&zk);
            } else {
                z.copy_from_slice(b);
                for (&col, &v) in cols.iter().zip(vals) {
                    for (zc, wv) in z.iter_mut().zip(&wm[col as usize * k..(col as usize + 1) * k]) {
                        *zc += v as f64 * wv;
                    }
                }
            }
            let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let lse = m + z.iter().map(|&v| (v - m).exp()).sum::<f64>().ln();
            let si = self.s[i] / self.s_total;
            let yi = self.y[i];
            *term = si * (lse - z[yi]);
            for (c, zc) in z.iter_mut().enumerate() {
                *zc = si * ((*zc - lse).exp() - if c == yi { 1.0 } else { 0.0 });
            }
        });
        let xt = self.xt;
        gm.par_chunks_mut(k).zip(wm.par_chunks(k)).enumerate().with_min_len(256).for_each(|(j, (gj, wj))| {
            let (rows, vals) = xt.row(j);
            if K > 0 {
                let mut acc = [0.0f64; K];
                for (&i, &v) in rows.iter().zip(vals) {
                    let r: &[f64; K] = resid[i as usize * K..][..K].try_into().expect("row");
                    for c in 0..K {
                        acc[c] += r[c] * v as f64;
                    }
                }
                gj.copy_from_slice(&acc);
            } else {
                gj.iter_mut().for_each(|v| *v = 0.0);
                for (&i, &v) in rows.iter().zip(vals) {
                    for (gv, rc) in gj.iter_mut().zip(&resid[i as usize * k..(i as usize + 1) * k]) {
                        *gv += rc * v as f64;
                    }
                }
            }
            for (gv, &wv) in gj.iter_mut().zip(wj) {
                *gv += self.l2 * wv;
            }
        });
        gb.iter_mut().for_each(|v| *v = 0.0);
        for r in resid.chunks_exact(k) {
            for (gbc, rc) in gb.iter_mut().zip(r) {
                *gbc += rc;
            }
        }
        let loss = terms.iter().fold(0.0, |sum, t| sum + t);
        loss + 0.5 * self.l2 * dot(wm, wm)
    }
}

/// Sum of `a[i] * b[i]` over eight running sums. One running sum serialises on the add's
/// latency (these vectors have a million entries); eight let the CPU pipeline and
/// vectorise the adds.
fn dot_with<A: Copy, B: Copy>(a: &[A], b: &[B], mul: impl Fn(A, B) -> f64) -> f64 {
    let mut acc = [0.0f64; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = ca.remainder().iter().zip(cb.remainder()).map(|(&x, &y)| mul(x, y)).sum();
    for (xa, xb) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += mul(xa[l], xb[l]);
        }
    }
    acc.iter().sum::<f64>() + tail
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    dot_with(a, b, |x, y| x * y)
}

/// Dot product of a stored (f32) history vector with a working (f64) vector.
fn dot32(a: &[f32], b: &[f64]) -> f64 {
    dot_with(a, b, |x, y| x as f64 * y)
}

fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0.0f64, |m, v| m.max(v.abs()))
}

/// Fewest vector entries a core is given: the optimiser's vectors have as many entries as
/// features x labels (up to millions), and an element-wise pass over them is shared by the
/// cores without changing any result. (Its dot products stay on one core: their sums would
/// otherwise depend on how the vector was split.)
const PAR_MIN: usize = 1 << 14;

/// `f(a[i], b[i])` for every `i`, over the cores.
fn par_zip(a: &mut [f64], b: &[f32], f: impl Fn(&mut f64, f32) + Sync) {
    a.par_iter_mut().zip(b).with_min_len(PAR_MIN).for_each(|(x, &y)| f(x, y));
}

/// One curvature pair of L-BFGS. Stored in f32: the two-loop recursion is bound by memory
/// traffic over these vectors (the model has as many entries as features x labels), and
/// halving it costs nothing measurable in convergence.
struct Pair {
    s: Vec<f32>,
    y: Vec<f32>,
    rho: f64,
}

/// Limited-memory BFGS with a backtracking (Armijo) line search.
fn lbfgs(p: &Problem<'_>, w: &mut [f64], max_iter: usize, tol: f64, memory: usize) -> FitReport {
    let dim = w.len();
    let mut g = vec![0.0; dim];
    let mut f = p.loss_grad(w, &mut g);
    let mut hist: std::collections::VecDeque<Pair> = std::collections::VecDeque::with_capacity(memory);
    let mut dir = vec![0.0; dim];
    let mut w_new = vec![0.0; dim];
    let mut g_new = vec![0.0; dim];
    let mut alpha = vec![0.0; memory];
    let mut iterations = 0;
    // The gradient must also fall to a tenth of where it started: the mean loss's gradient
    // over many rows whose features are each rare starts below any absolute tolerance (8e-4
    // on 1,350 rows whose cue words occur three times each), and an absolute test alone
    // stopped such a fit before its first step, leaving a model that gave every row one
    // label. The shipped models' fits start at 1.1e-2 and above, where a tenth is above the
    // tuned 1e-3, so they are unchanged.
    let g0 = max_abs(&g);
    let tol = if g0 > 0.0 { tol.min(0.1 * g0) } else { tol };
    let mut converged = g0 < tol;
    let mut flat = 0;
    while !converged && iterations < max_iter {
        iterations += 1;
        // Two-loop recursion: dir = -H g.
        dir.copy_from_slice(&g);
        for (j, pair) in hist.iter().enumerate().rev() {
            alpha[j] = pair.rho * dot32(&pair.s, &dir);
            let a = alpha[j];
            par_zip(&mut dir, &pair.y, |d, y| *d -= a * y as f64);
        }
        let gamma = match hist.back() {
            Some(pair) => {
                let yy = dot_with(&pair.y, &pair.y, |a, b| a as f64 * b as f64);
                1.0 / (pair.rho * yy)
            }
            None => 1.0 / max_abs(&g).max(1e-12),
        };
        dir.par_iter_mut().with_min_len(PAR_MIN).for_each(|d| *d *= gamma);
        for (j, pair) in hist.iter().enumerate() {
            let beta = pair.rho * dot32(&pair.y, &dir);
            let a = alpha[j] - beta;
            par_zip(&mut dir, &pair.s, |d, s| *d += a * s as f64);
        }
        dir.par_iter_mut().with_min_len(PAR_MIN).for_each(|d| *d = -*d);
        let mut slope = dot(&g, &dir);
        if slope >= 0.0 {
            // Not a descent direction (curvature pairs went stale): restart from -g.
            hist.clear();
            let scale = 1.0 / max_abs(&g).max(1e-12);
            for (d, gv) in dir.iter_mut().zip(&g) {
                *d = -gv * scale;
            }
            slope = dot(&g, &dir);
        }
        let mut step = 1.0;
        let mut f_new;
        loop {
            w_new.par_iter_mut().zip(w.par_iter().zip(&dir)).with_min_len(PAR_MIN).for_each(|(wn, (wv, dv))| {
                *wn = wv + step * dv;
            });
            f_new = p.loss_grad(&w_new, &mut g_new);
            if f_new <= f + 1e-4 * step * slope || step < 1e-10 {
                break;
            }
            step *= 0.5;
        }
        if step < 1e-10 && f_new > f {
            // No descent left along any direction we can find: the optimum to within
            // floating-point precision.
            converged = max_abs(&g) < tol.sqrt();
            break;
        }
        let mut pair = if hist.len() == memory {
            hist.pop_front().expect("full history")
        } else {
            Pair { s: vec![0.0; dim], y: vec![0.0; dim], rho: 0.0 }
        };
        pair.s.par_iter_mut().zip(w_new.par_iter().zip(&*w)).with_min_len(PAR_MIN).for_each(|(s, (wn, wv))| {
            *s = (wn - wv) as f32;
        });
        pair.y.par_iter_mut().zip(g_new.par_iter().zip(&g)).with_min_len(PAR_MIN).for_each(|(y, (gn, gv))| {
            *y = (gn - gv) as f32;
        });
        let sy = dot_with(&pair.s, &pair.y, |a, b| a as f64 * b as f64);
        w.copy_from_slice(&w_new);
        std::mem::swap(&mut g, &mut g_new);
        let rel = (f - f_new).abs() / f.abs().max(1e-12);
        f = f_new;
        if sy > 1e-12 {
            pair.rho = 1.0 / sy;
            hist.push_back(pair);
        }
        flat = if rel < 1e-12 { flat + 1 } else { 0 };
        converged = max_abs(&g) < tol || flat >= 5;
    }
    FitReport { iterations, loss: f, grad_max: max_abs(&g), converged }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> (CsrMatrix, Vec<usize>) {
        // Class 0 has feature 10, class 1 feature 20, class 2 feature 30; feature 5 is noise.
        let mut x = CsrMatrix::new(1 << 10);
        let mut y = Vec::new();
        for i in 0..60 {
            let c = i % 3;
            x.push_row(&[5, 10 * (c as u32 + 1)], &[1.0, 1.0]);
            y.push(c);
        }
        (x, y)
    }

    #[test]
    fn separates_toy_classes_and_converges() {
        let (x, y) = toy();
        let m = LogisticParams::new(3).l2(1e-3).fit(&dataset(x.clone(), y.clone())).unwrap();
        assert!(m.report.converged, "{:?}", m.report);
        assert_eq!(m.columns, vec![5, 10, 20, 30]);
        for i in 0..3 {
            let (idx, val) = x.row(i);
            let p = m.predict_proba(idx, val);
            let best = (0..3).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
            assert_eq!(best, y[i]);
            assert!(p[y[i]] > 0.9);
        }
    }

    #[test]
    fn gradient_is_zero_at_optimum() {
        let (x, y) = toy();
        let m = LogisticParams::new(3).l2(1e-2).tolerance(1e-8).fit(&dataset(x, y)).unwrap();
        assert!(m.report.grad_max < 1e-7, "{:?}", m.report);
    }

    /// Many rows, each with a cue column of its own that occurs in three rows of one class:
    /// the mean loss's gradient starts below the tolerance, and the fit must still happen.
    #[test]
    fn fits_rare_features_whose_gradient_starts_below_the_tolerance() {
        let mut x = CsrMatrix::new(1 << 12);
        let mut y = Vec::new();
        for cue in 0..450u32 {
            for _ in 0..3 {
                x.push_row(&[0, 1 + cue], &[0.5, 0.5]);
                y.push(cue as usize % 3);
            }
        }
        let m = LogisticParams::new(3).l2(1e-4).tolerance(1e-3).fit(&dataset(x.clone(), y.clone())).unwrap();
        assert!(m.report.iterations > 0, "{:?}", m.report);
        let right = (0..y.len())
            .filter(|&i| {
                let (idx, val) = x.row(i);
                let p = m.predict_proba(idx, val);
                (0..3).max_by(|&a, &b| p[a].total_cmp(&p[b])) == Some(y[i])
            })
            .count();
        assert_eq!(right, y.len());
    }

    /// `n` rows of 12 random columns of 2^16, whose range depends on the row's class.
    fn random_rows(n: usize) -> (CsrMatrix, Vec<usize>) {
        let mut x = CsrMatrix::new(1 << 16);
        let mut y = Vec::new();
        let mut seed = 7u64;
        let mut next = |m: u64| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) % m
        };
        for _ in 0..n {
            let c = next(3) as usize;
            let mut cols: Vec<u32> = (0..12).map(|_| next(20_000) as u32 + 1000 * c as u32).collect();
            cols.sort_unstable();
            cols.dedup();
            let vals: Vec<f32> = cols.iter().map(|_| 1.0 + next(4) as f32 / 4.0).collect();
            x.push_row(&cols, &vals);
            y.push(c);
        }
        (x, y)
    }

    fn bits(m: &FittedLogistic) -> Vec<u32> {
        m.weights.iter().chain(&m.bias).map(|w| w.to_bits()).collect()
    }

    #[test]
    fn the_fit_is_the_same_to_the_bit_on_any_number_of_threads() {
        // Big enough that both passes of the gradient and the optimiser's element-wise
        // passes are split over the threads: 3,000 rows, 60,000 weights.
        let (x, y) = random_rows(3000);
        let fit = |threads| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| LogisticParams::new(3).l2(1e-4).fit(&dataset(x.clone(), y.clone())).unwrap())
        };
        let one = fit(1);
        assert!(one.report.iterations > 5, "{:?}", one.report);
        for threads in [2, 3, 8] {
            let many = fit(threads);
            assert_eq!(many.report.iterations, one.report.iterations);
            assert_eq!(many.columns, one.columns);
            assert!(bits(&many) == bits(&one), "{threads} threads");
        }
    }

    #[test]
    fn some_rows_fit_as_a_copy_of_them_would_and_rare_columns_are_dropped() {
        let (x, y) = random_rows(2000);
        // Every third row, last first, as a fold or a head takes them.
        let rows: Vec<usize> = (0..x.nrows()).rev().step_by(3).collect();
        let mut copy = CsrMatrix::new(x.ncols);
        for &r in &rows {
            let (i, v) = x.row(r);
            copy.push_row(i, v);
        }
        let sub_y: Vec<usize> = rows.iter().map(|&r| y[r]).collect();
        let params = LogisticParams::new(3).l2(1e-3).min_count(3);
        let viewed = params.fit(&dataset(x.rows(&rows), sub_y.clone())).unwrap();
        let copied = params.fit(&dataset(copy.clone(), sub_y)).unwrap();
        assert_eq!(viewed.columns, copied.columns);
        assert!(bits(&viewed) == bits(&copied));
        // Kept: exactly the columns the chosen rows use three times or more, ascending.
        let mut count = std::collections::BTreeMap::new();
        for &c in &copy.indices {
            *count.entry(c).or_insert(0) += 1;
        }
        let used = count.len();
        let want: Vec<u32> = count.into_iter().filter(|&(_, n)| n >= 3).map(|(c, _)| c).collect();
        assert!(!want.is_empty() && want.len() < used, "{} of {used} kept", want.len());
        assert_eq!(viewed.columns, want);
    }

    #[test]
    fn transpose_lists_each_column_s_rows_in_order() {
        let mut x = CsrMatrix::new(4);
        x.push_row(&[0, 2], &[1.0, 2.0]);
        x.push_row(&[], &[]);
        x.push_row(&[2, 3], &[3.0, 4.0]);
        let t = x.transpose();
        assert_eq!((t.nrows(), t.ncols), (4, 3));
        assert_eq!(t.row(0), (&[0u32][..], &[1.0f32][..]));
        assert_eq!(t.row(1), (&[][..], &[][..]));
        assert_eq!(t.row(2), (&[0u32, 2][..], &[2.0f32, 3.0][..]));
        assert_eq!(t.row(3), (&[2u32][..], &[4.0f32][..]));
        assert_eq!(t.transpose(), x);
    }

    #[test]
    fn bad_params_are_refused_before_work() {
        assert!(matches!(LogisticParams::new(1).check(), Err(Error::InvalidParam { name: "n_classes", .. })));
        assert!(matches!(LogisticParams::new(3).l2(-1.0).check(), Err(Error::InvalidParam { name: "l2", .. })));
        let (x, _) = toy();
        let r = LogisticParams::new(2).fit(&dataset(x, vec![0; 59]));
        assert!(matches!(r, Err(Error::Data(_))));
    }

    /// linfa-logistic (dense) as an oracle: with no class weights, our mean objective with
    /// `l2 = alpha / n` has the same optimum as its summed objective with `alpha`.
    #[test]
    fn matches_linfa_logistic_on_small_dense_data() {
        use ndarray::Array2;
        let n = 90;
        let d = 6;
        let mut dense = Array2::<f64>::zeros((n, d));
        let mut x = CsrMatrix::new(64);
        let mut y = Vec::new();
        let mut state = 12345u64;
        for i in 0..n {
            let c = i % 3;
            let mut idx = Vec::new();
            let mut val = Vec::new();
            for j in 0..d {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let noise = ((state >> 33) % 1000) as f64 / 1000.0;
                let v = noise + if j % 3 == c { 0.8 } else { 0.0 };
                dense[[i, j]] = v as f32 as f64;
                idx.push(j as u32 * 7);
                val.push(v as f32);
            }
            x.push_row(&idx, &val);
            y.push(c);
        }
        let alpha = 1.0;
        let oracle = linfa_logistic::MultiLogisticRegression::default()
            .alpha(alpha)
            .gradient_tolerance(1e-10)
            .max_iterations(1000)
            .fit(&linfa::Dataset::new(dense.clone(), ndarray::Array1::from(y.clone())))
            .unwrap();
        let ours = LogisticParams::new(3)
            .l2(alpha / n as f64)
            .class_weight(ClassWeight::None)
            .tolerance(1e-9)
            .fit(&dataset(x.clone(), y))
            .unwrap();
        assert!(ours.report.converged, "{:?}", ours.report);
        let theirs = oracle.predict_probabilities(&dense);
        // linfa orders the classes of its probability columns by label value: 0, 1, 2.
        for i in 0..n {
            let (idx, val) = x.row(i);
            let p = ours.predict_proba(idx, val);
            for c in 0..3 {
                assert!(
                    (p[c] as f64 - theirs[[i, c]]).abs() < 2e-3,
                    "row {i} class {c}: {} vs {}",
                    p[c],
                    theirs[[i, c]]
                );
            }
        }
    }
}
