//! Streaming training for data too large to hold: AdaGrad over chunks read from the files,
//! epoch after epoch, with memory bounded by the weight tables plus one chunk.
//!
//! The objective is the one [`super::logistic`] minimises (class-weighted mean cross-entropy
//! plus L2). Each epoch reads the rows afresh; a chunk is featurized in parallel, shuffled
//! with the seed, and applied in order, so the same data and seed give the same model. Every
//! row in `holdout` (by its text) is never trained on and measures the model at the end; a last pass over
//! the training rows computes the exact objective and its largest gradient entry, so the
//! reported loss and convergence are measured, not estimated.

use std::collections::HashMap;

use rayon::prelude::*;

use super::{DataInfo, SplitMix64, Stage, TrainConfig, Trained, assemble, one_label};
use crate::error::{Error, Result};
use crate::features::{Featurizer, Input, Lexicon, SparseVec, prefetch};
use crate::metrics::Metrics;
use crate::model::{Head, POOLED_HEAD, SeenTexts, Task, TrainingInfo, WeightTable};
use crate::train::{ClassWeight, Example, FitReport};

/// Settings of the streaming solver.
#[derive(Debug, Clone, PartialEq)]
pub struct SgdConfig {
    pub epochs: usize,
    /// AdaGrad base step.
    pub learning_rate: f32,
    /// One row in `holdout` is held out for evaluation, chosen by a hash of its text and the
    /// seed, so that rows sharing a text are all held out or all trained on (a repeated text
    /// would otherwise be scored by a model trained on it); 0 holds none out.
    pub holdout: usize,
    /// Rows featurized together (and held in memory at once).
    pub chunk_rows: usize,
    /// Most heads (targets + pooled) a model may grow, which bounds memory on data with
    /// unbounded target sets: past it, the targets with the most training rows get heads
    /// and the pooled head answers for the rest.
    pub max_heads: usize,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig { epochs: 5, learning_rate: 0.05, holdout: 10, chunk_rows: 16_384, max_heads: 64 }
    }
}

impl SgdConfig {
    /// Whether a row with `text` is held out of training (and measures the model) under
    /// the fold `seed`.
    pub fn holds_out(&self, text: &str, seed: u64) -> bool {
        self.holdout != 0 && text_held_out(text, seed, self.holdout)
    }

    /// Checks the settings before any data is read, naming the first one out of range.
    pub fn check(&self) -> Result<()> {
        let bad = |name, message: String| Err(Error::InvalidParam { name, message });
        if self.epochs == 0 {
            return bad("epochs", "0 must be 1 or more".into());
        }
        if self.chunk_rows == 0 {
            return bad("chunk_rows", "0 must be 1 or more".into());
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad("learning_rate", format!("{} must be a number > 0", self.learning_rate));
        }
        Ok(())
    }
}

/// Opens a fresh pass over the training rows (called once per epoch).
pub type RowSource<'a> = dyn Fn() -> Result<Box<dyn Iterator<Item = Result<Example>>>> + Sync + 'a;

struct Table {
    name: String,
    w: Vec<f32>,
    g2: Vec<f32>,
    b: Vec<f32>,
    b2: Vec<f32>,
    /// Rows this head has trained on so far.
    steps: u64,
    /// The step at which each bucket was last in a row (its weights have had their L2
    /// decay up to and including that step).
    last: Vec<u64>,
}

impl Table {
    fn new(name: String, dim: usize, k: usize) -> Self {
        Table {
            name,
            w: vec![0.0; dim * k],
            g2: vec![0.0; dim * k],
            b: vec![0.0; k],
            b2: vec![0.0; k],
            steps: 0,
            last: vec![0; dim],
        }
    }

    /// Applies the L2 decay that `bucket`'s weights missed in the steps since it was last
    /// in a row, up to but not including step `now`.
    ///
    /// Why: the objective's L2 term pulls every weight at every step, but a step only
    /// touches the features of its row. Decaying only there left a feature seen in a few
    /// rows out of a million almost unregularised (large weights, an objective several
    /// times the converged solver's). The missed steps are applied at once with the
    /// coordinate's current AdaGrad rate, the usual lazy form of the update.
    fn catch_up(&mut self, bucket: usize, now: u64, k: usize, eta: f32, l2: f32) {
        let missed = now.saturating_sub(self.last[bucket] + 1);
        self.last[bucket] = now;
        if missed == 0 {
            return;
        }
        let j = bucket * k;
        for (w, g2) in self.w[j..j + k].iter_mut().zip(&self.g2[j..j + k]) {
            if *w != 0.0 {
                let rate = eta / (g2.sqrt() + 1e-6);
                // (1 - rate * l2)^missed, as an exponential: the rate times l2 is small.
                *w *= (-rate * l2 * missed as f32).exp();
            }
        }
    }
}

impl Table {
    /// One AdaGrad step on row `x` of label `y` (weighted `weight`): the row's weights
    /// catch up on their missed L2 decay, then move along the row's gradient.
    fn step(&mut self, x: &SparseVec, y: usize, weight: f32, eta: f32, l2: f32, z: &mut [f32]) {
        let k = z.len();
        let now = self.steps;
        self.steps += 1;
        // The row's buckets are random and the tables far larger than the caches: each
        // bucket's lines are asked for a few buckets ahead, so that the misses overlap.
        const AHEAD: usize = 8;
        for (n, &i) in x.indices.iter().enumerate() {
            if let Some(&next) = x.indices.get(n + AHEAD) {
                let j = next as usize;
                prefetch(self.w.as_ptr().wrapping_add(j * k));
                prefetch(self.g2.as_ptr().wrapping_add(j * k));
                prefetch(self.last.as_ptr().wrapping_add(j));
            }
            self.catch_up(i as usize, now, k, eta, l2);
        }
        scores(&self.w, &self.b, x, z);
        crate::train::softmax_in_place(z);
        for (c, zc) in z.iter_mut().enumerate() {
            *zc = weight * (*zc - if c == y { 1.0 } else { 0.0 });
        }
        for (&i, &v) in x.indices.iter().zip(&x.values) {
            let base = i as usize * k;
            for (c, &zc) in z.iter().enumerate() {
                let j = base + c;
                let g = zc * v + l2 * self.w[j];
                self.g2[j] += g * g;
                self.w[j] -= eta * g / (self.g2[j].sqrt() + 1e-6);
            }
        }
        for (c, &zc) in z.iter().enumerate() {
            self.b2[c] += zc * zc;
            self.b[c] -= eta * zc / (self.b2[c].sqrt() + 1e-6);
        }
    }
}

/// A head's class-weighted loss and its gradient summed over the training rows, and the
/// rows' total weight, for the exact objective the last pass reports.
#[derive(Default)]
struct Objective {
    /// Empty until the head's first row (a head may have none).
    grad: Vec<f64>,
    loss: f64,
    weight: f64,
}

impl Objective {
    fn add(&mut self, t: &Table, x: &SparseVec, y: usize, weight: f64, dim: usize, z: &mut [f32]) {
        let k = z.len();
        if self.grad.is_empty() {
            self.grad.resize(dim * k, 0.0);
        }
        scores(&t.w, &t.b, x, z);
        let m = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let lse = m + z.iter().map(|&v| (v - m).exp()).sum::<f32>().ln();
        self.loss += weight * (lse - z[y]) as f64;
        self.weight += weight;
        for (c, &zc) in z.iter().enumerate() {
            let d = weight * (((zc - lse).exp() - if c == y { 1.0 } else { 0.0 }) as f64);
            for (&f, &v) in x.indices.iter().zip(&x.values) {
                self.grad[f as usize * k + c] += d * v as f64;
            }
        }
    }
}

/// Raw scores of a featurized row under one weight table, into `z`.
fn scores(w: &[f32], b: &[f32], x: &SparseVec, z: &mut [f32]) {
    let k = z.len();
    z.copy_from_slice(b);
    for (&i, &v) in x.indices.iter().zip(&x.values) {
        for (zc, wc) in z.iter_mut().zip(&w[i as usize * k..(i as usize + 1) * k]) {
            *zc += v * wc;
        }
    }
}

/// Which heads a row trains (its target's for stance, and always the pooled one).
fn row_heads(task: Task, e: &Example) -> Option<String> {
    if task == Task::Stance {
        e.target.as_deref().map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
    } else {
        None
    }
}

/// Trains by streaming `source` (see the module doc).
pub fn train_streaming(
    cfg: &TrainConfig,
    sgd: &SgdConfig,
    source: &RowSource<'_>,
    lexicon: Option<Lexicon>,
    data: &DataInfo,
    created_at: &str,
    progress: &(dyn Fn(Stage, usize, usize) + Sync),
) -> Result<Trained> {
    sgd.check()?;
    cfg.check()?;
    let k = cfg.task.labels().len();
    let featurizer = Featurizer::new(cfg.featurizer.clone(), lexicon.clone())?;
    let dim = featurizer.dim();
    let is_train = |e: &Example| !sgd.holds_out(&e.text, cfg.seed);

    // Counting pass: class weights need the label counts, and heads need the targets.
    let mut counts = vec![0usize; k];
    let mut rows = 0usize;
    // Targets in order of appearance, with the labels their rows carry (a bit each) and
    // their number of training rows.
    let mut targets: Vec<(String, u64, usize)> = Vec::new();
    let mut target_of: HashMap<String, usize> = HashMap::new();
    for (i, e) in source()?.enumerate() {
        let e = e?;
        let label = e.label.ok_or_else(|| Error::Data(format!("row {} ({}) has no label", i + 1, e.id)))?;
        if is_train(&e) {
            counts[label] += 1;
            rows += 1;
            if let Some(t) = row_heads(cfg.task, &e) {
                let n = targets.len();
                let at = *target_of.entry(t.to_lowercase()).or_insert(n);
                if at == n {
                    targets.push((t, 0, 0));
                }
                targets[at].1 |= 1 << label;
                targets[at].2 += 1;
            }
        }
    }
    drop(target_of);
    if rows == 0 {
        return Err(Error::Data("no training rows".into()));
    }
    if let [(label, _)] = counts.iter().enumerate().filter(|(_, n)| **n > 0).collect::<Vec<_>>()[..] {
        return Err(one_label(rows, cfg.task.labels()[label]));
    }
    // As in the in-memory trainer, a target whose rows all carry one label gets no head; and
    // past `max_heads`, only the targets with the most rows get one (each head is a table
    // over the whole hash space): the pooled head answers for the others.
    let (mut targets, mut pooled_only): (Vec<_>, Vec<_>) =
        targets.into_iter().partition(|(_, labels, _)| labels.count_ones() > 1);
    if targets.len() >= sgd.max_heads {
        let mut by_rows: Vec<usize> = (0..targets.len()).collect();
        by_rows.sort_by_key(|&t| std::cmp::Reverse(targets[t].2));
        let mut kept = vec![false; targets.len()];
        for &t in &by_rows[..sgd.max_heads.saturating_sub(1)] {
            kept[t] = true;
        }
        let (keep, cut) = targets.into_iter().zip(kept).partition::<Vec<_>, _>(|(_, kept)| *kept);
        targets = keep.into_iter().map(|(t, _)| t).collect();
        pooled_only.extend(cut.into_iter().map(|(t, _)| t));
    }
    let mut names: Vec<String> = targets.into_iter().map(|(name, ..)| name).collect();
    let head_of: HashMap<String, usize> = names.iter().enumerate().map(|(h, n)| (n.to_lowercase(), h)).collect();
    let pooled = names.len();
    names.push(POOLED_HEAD.to_string());
    let class_w: Vec<f32> = (0..k)
        .map(|c| match cfg.class_weight {
            ClassWeight::None => 1.0,
            ClassWeight::Balanced if counts[c] > 0 => rows as f32 / (k as f32 * counts[c] as f32),
            ClassWeight::Balanced => 0.0,
        })
        .collect();
    let mut tables: Vec<Table> = names.iter().map(|n| Table::new(n.clone(), dim, k)).collect();
    let own_head = |e: &Example| row_heads(cfg.task, e).and_then(|t| head_of.get(&t.to_lowercase()).copied());

    let featurize = |chunk: &[(usize, Example)]| -> Vec<SparseVec> {
        chunk
            .par_iter()
            .map(|(_, e)| {
                let mut v = SparseVec::default();
                featurizer.featurize(
                    &Input { text: &e.text, target: e.target.as_deref(), target_spans: &e.target_spans },
                    &mut v,
                );
                v
            })
            .collect()
    };
    let l2 = cfg.l2 as f32;
    let eta = sgd.learning_rate;
    let mut rng = SplitMix64(cfg.seed);
    let total_steps = sgd.epochs + 1;
    for epoch in 0..sgd.epochs {
        progress(Stage::Fit, epoch, total_steps);
        for_chunks(source, sgd.chunk_rows, &is_train, |chunk| {
            let feats = featurize(chunk);
            let mut order: Vec<usize> = (0..chunk.len()).collect();
            for i in (1..order.len()).rev() {
                order.swap(i, (rng.next() % (i as u64 + 1)) as usize);
            }
            let own: Vec<Option<usize>> = chunk.iter().map(|(_, e)| own_head(e)).collect();
            // Heads never share a weight, so each takes its rows in the shuffled order on a
            // core of its own: the pooled head on one, the targets' on the others, with the
            // same updates as one after the other.
            tables.par_iter_mut().enumerate().for_each(|(h, t)| {
                let mut z = vec![0f32; k];
                for &o in order.iter().filter(|&&o| h == pooled || own[o] == Some(h)) {
                    let y = chunk[o].1.label.expect("labelled");
                    t.step(&feats[o], y, class_w[y], eta, l2, &mut z);
                }
            });
            Ok(())
        })?;
    }

    // Final pass, on the weights as they will be stored: exact objective and gradient per
    // head on the training rows, and metrics on the held-out rows.
    tables.par_iter_mut().for_each(|t| {
        for bucket in 0..dim {
            t.catch_up(bucket, t.steps, k, eta, l2);
        }
        t.last = Vec::new();
        for row in t.w.chunks_exact_mut(k) {
            super::round_row(row, cfg.prune);
        }
        t.g2 = Vec::new();
    });
    progress(Stage::Fit, sgd.epochs, total_steps);
    let mut objectives: Vec<Objective> = tables.iter().map(|_| Objective::default()).collect();
    let mut gold = Vec::new();
    let mut pred = Vec::new();
    let mut seen = SeenTexts::for_texts(rows);
    let all = |_: &Example| true;
    for_chunks(source, sgd.chunk_rows, &all, |chunk| {
        let feats = featurize(chunk);
        let own: Vec<Option<usize>> = chunk.iter().map(|(_, e)| own_head(e)).collect();
        let mut z = vec![0f32; k];
        for (((_, e), x), own) in chunk.iter().zip(&feats).zip(&own) {
            if is_train(e) {
                seen.insert(&e.text);
            } else {
                let t = &tables[own.unwrap_or(pooled)];
                scores(&t.w, &t.b, x, &mut z);
                gold.push(e.label.expect("labelled"));
                pred.push((0..k).max_by(|&a, &b| z[a].total_cmp(&z[b])).unwrap_or(0));
            }
        }
        // Each head sums its own rows in order, on a core of its own.
        tables.par_iter().zip(&mut objectives).enumerate().for_each(|(h, (t, obj))| {
            let mut z = vec![0f32; k];
            for (((_, e), x), own) in chunk.iter().zip(&feats).zip(&own) {
                if is_train(e) && (h == pooled || *own == Some(h)) {
                    let y = e.label.expect("labelled");
                    obj.add(t, x, y, class_w[y] as f64, dim, &mut z);
                }
            }
        });
        Ok(())
    })?;
    let mut heads = Vec::with_capacity(tables.len());
    for (t, obj) in tables.into_iter().zip(objectives) {
        let n = obj.weight.max(1e-12);
        let reg: f64 = t.w.iter().map(|&w| (w as f64).powi(2)).sum();
        let grad_max = obj.grad.iter().zip(&t.w).map(|(&g, &w)| (g / n + cfg.l2 * w as f64).abs()).fold(0.0, f64::max);
        let report = FitReport {
            iterations: sgd.epochs,
            loss: obj.loss / n + 0.5 * cfg.l2 * reg,
            grad_max,
            converged: grad_max < cfg.tolerance,
        };
        heads.push((Head { name: t.name, weights: WeightTable::from_dense(&t.w, k), bias: t.b }, report));
    }
    // Heads in the same order as the in-memory trainer: targets sorted, pooled last.
    let pooled_head = heads.pop().expect("pooled head");
    heads.sort_by_key(|h| h.0.name.to_lowercase());
    heads.push(pooled_head);
    let labels: Vec<String> = cfg.task.labels().iter().map(|s| s.to_string()).collect();
    let holdout = (!gold.is_empty()).then(|| Metrics::compute(&labels, &gold, &pred));
    let info = TrainingInfo {
        data_digest: data.digest.clone(),
        files: data.files.clone(),
        rows,
        l2: cfg.l2,
        seed: cfg.seed,
        folds: 0,
        class_weight: cfg.class_weight,
        min_count: cfg.min_count,
        tolerance: Some(cfg.tolerance),
        solver: "sgd".into(),
        fit: Vec::new(),
        seen_texts: None,
    };
    progress(Stage::Fit, total_steps, total_steps);
    let model = assemble(cfg, lexicon, heads, info, holdout.clone(), created_at)?.with_seen_texts(seen, rows);
    Ok(Trained {
        model,
        cv: holdout,
        predictions: pred,
        pooled_only: pooled_only.into_iter().map(|(name, ..)| name).collect(),
    })
}

/// Whether the row with `text` is held out: about one text in `holdout`, the same for every
/// row that has it.
fn text_held_out(text: &str, seed: u64, holdout: usize) -> bool {
    SplitMix64(crate::features::fnv(seed, text.as_bytes())).next().is_multiple_of(holdout as u64)
}

/// Reads `source` in chunks of the rows `keep` accepts (by position) and hands each to `f`.
fn for_chunks(
    source: &RowSource<'_>,
    chunk_rows: usize,
    keep: &dyn Fn(&Example) -> bool,
    mut f: impl FnMut(&[(usize, Example)]) -> Result<()>,
) -> Result<()> {
    let mut chunk = Vec::with_capacity(chunk_rows);
    for (i, e) in source()?.enumerate() {
        let e = e?;
        if keep(&e) {
            chunk.push((i, e));
        }
        if chunk.len() == chunk_rows {
            f(&chunk)?;
            chunk.clear();
        }
    }
    if !chunk.is_empty() {
        f(&chunk)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<Example> {
        (0..300)
            .map(|i| {
                let (text, label) = match i % 3 {
                    0 => (format!("I love this plan {i}"), 0),
                    1 => (format!("I hate this plan {i}"), 1),
                    _ => (format!("the weather is mild {i}"), 2),
                };
                let target = if i % 2 == 0 { "A" } else { "B" };
                Example {
                    id: i.to_string(),
                    text,
                    target: Some(target.into()),
                    target_spans: vec![],
                    label: Some(label),
                }
            })
            .collect()
    }

    fn run(seed: u64) -> Trained {
        let data = rows();
        let source = move || -> Result<Box<dyn Iterator<Item = Result<Example>>>> {
            Ok(Box::new(data.clone().into_iter().map(Ok)))
        };
        let cfg = TrainConfig { seed, ..TrainConfig::for_task(Task::Stance, "s") };
        let sgd = SgdConfig { chunk_rows: 64, ..SgdConfig::default() };
        train_streaming(&cfg, &sgd, &source, None, &DataInfo::default(), "x", &|_, _, _| {}).unwrap()
    }

    #[test]
    fn past_the_most_heads_the_targets_with_most_rows_get_them() {
        // Targets T0..T5 with 10, 60, 20, 50, 30, 40 rows, three labels each.
        let sizes = [10, 60, 20, 50, 30, 40];
        let data: Vec<Example> = sizes
            .iter()
            .enumerate()
            .flat_map(|(t, &n)| (0..n).map(move |i| (t, i)))
            .map(|(t, i)| Example {
                id: format!("{t}-{i}"),
                text: format!("{} plan {i}", ["love", "hate", "mild"][i % 3]),
                target: Some(format!("T{t}")),
                target_spans: vec![],
                label: Some(i % 3),
            })
            .collect();
        let source =
            || -> Result<Box<dyn Iterator<Item = Result<Example>>>> { Ok(Box::new(data.clone().into_iter().map(Ok))) };
        let cfg = TrainConfig { folds: 0, ..TrainConfig::for_task(Task::Stance, "s") };
        let sgd = SgdConfig { holdout: 0, max_heads: 4, ..SgdConfig::default() };
        let t = train_streaming(&cfg, &sgd, &source, None, &DataInfo::default(), "x", &|_, _, _| {}).unwrap();
        // Three targets' heads, in order of appearance, and the pooled head.
        let heads: Vec<&str> = t.model.heads().iter().map(|h| h.name.as_str()).collect();
        assert_eq!(heads, ["T1", "T3", "T5", POOLED_HEAD]);
        assert_eq!(t.pooled_only, ["T0", "T2", "T4"]);
        assert_eq!(t.model.head_for(Some("T2")), 3);
    }

    #[test]
    fn rare_features_are_regularised_like_the_converged_solver_does() {
        // Noisy labels and words seen in one row each: with L2 applied only when a feature
        // is in a row, those words' weights grew to fit the noise and the objective came
        // out far above the converged solver's.
        let mut rng = SplitMix64(11);
        let signal = ["love it", "hate it", "whatever"];
        let data: Vec<Example> = (0..3000)
            .map(|i| {
                let label = (rng.next() % 3) as usize;
                let said = if rng.next() % 10 < 6 { label } else { (rng.next() % 3) as usize };
                let rare: Vec<String> =
                    (0..4).map(|_| (0..6).map(|_| (b'a' + (rng.next() % 26) as u8) as char).collect()).collect();
                Example {
                    id: i.to_string(),
                    text: format!("{} {}", signal[said], rare.join(" ")),
                    target: None,
                    target_spans: vec![],
                    label: Some(label),
                }
            })
            .collect();
        let cfg = TrainConfig { folds: 0, ..TrainConfig::for_task(Task::Sentiment, "s") };
        let source =
            || -> Result<Box<dyn Iterator<Item = Result<Example>>>> { Ok(Box::new(data.clone().into_iter().map(Ok))) };
        let sgd = SgdConfig { holdout: 0, ..SgdConfig::default() };
        let streamed = train_streaming(&cfg, &sgd, &source, None, &DataInfo::default(), "x", &|_, _, _| {}).unwrap();
        let exact = super::super::train(&cfg, &data, None, &DataInfo::default(), "x", &|_, _, _| {}).unwrap();
        let pooled_loss = |t: &Trained| t.model.meta().training.fit.last().unwrap().loss;
        let (s, e) = (pooled_loss(&streamed), pooled_loss(&exact));
        assert!(s < 1.25 * e, "sgd objective {s} vs converged {e}");
    }

    #[test]
    fn streams_learns_and_is_deterministic() {
        let a = run(3);
        let holdout = a.cv.as_ref().unwrap();
        // One text in ten, by hash: near 30 of the 300 distinct texts.
        assert!((15..=45).contains(&holdout.rows), "{}", holdout.rows);
        assert!(holdout.accuracy > 0.95, "{}", holdout.summary());
        // The held-out rows' predictions come in the order read; the model records the texts
        // it was trained on, and none it held out.
        let sgd = SgdConfig::default();
        let (held, trained): (Vec<Example>, Vec<Example>) = rows().into_iter().partition(|e| sgd.holds_out(&e.text, 3));
        assert_eq!(a.predictions.len(), held.len());
        let correct = held.iter().zip(&a.predictions).filter(|(e, p)| e.label == Some(**p)).count();
        assert_eq!(correct as f64 / held.len() as f64, holdout.accuracy);
        let seen = a.model.seen_texts().unwrap();
        assert!(trained.iter().all(|e| seen.contains(&e.text)));
        assert!(held.iter().filter(|e| seen.contains(&e.text)).count() <= 1);
        assert_eq!(a.model.meta().training.seen_texts.as_ref().unwrap().texts, trained.len());
        let heads: Vec<&str> = a.model.heads().iter().map(|h| h.name.as_str()).collect();
        assert_eq!(heads, ["A", "B", POOLED_HEAD]);
        let b = run(3);
        assert_eq!(a.model.heads(), b.model.heads());
        assert!(a.model.meta().training.fit.iter().all(|f| f.loss.is_finite() && f.grad_max.is_finite()));
    }

    #[test]
    fn rows_sharing_a_text_are_held_out_together() {
        let held = (0..10_000).filter(|i| text_held_out(&format!("text {i}"), 42, 10)).count();
        assert!((800..=1200).contains(&held), "{held}");
        // Three copies of each text (with their own ids): held out three at a time.
        let data: Vec<Example> = rows()
            .into_iter()
            .flat_map(|e| (0..3).map(move |c| Example { id: format!("{}-{c}", e.id), ..e.clone() }))
            .collect();
        let source = move || -> Result<Box<dyn Iterator<Item = Result<Example>>>> {
            Ok(Box::new(data.clone().into_iter().map(Ok)))
        };
        let cfg = TrainConfig::for_task(Task::Stance, "s");
        let t = train_streaming(&cfg, &SgdConfig::default(), &source, None, &DataInfo::default(), "x", &|_, _, _| {})
            .unwrap();
        let rows = t.cv.unwrap().rows;
        assert!(rows > 0 && rows.is_multiple_of(3), "{rows}");
        assert_eq!(t.model.meta().training.rows + rows, 900);
    }

    #[test]
    fn a_target_of_one_label_gets_no_head() {
        let cfg = TrainConfig::for_task(Task::Stance, "s");
        let train_on = |data: Vec<Example>| {
            let source = move || -> Result<Box<dyn Iterator<Item = Result<Example>>>> {
                Ok(Box::new(data.clone().into_iter().map(Ok)))
            };
            train_streaming(&cfg, &SgdConfig::default(), &source, None, &DataInfo::default(), "x", &|_, _, _| {})
        };
        let mut data = rows();
        for e in data.iter_mut().filter(|e| e.target.as_deref() == Some("B")) {
            e.label = Some(0);
        }
        let t = train_on(data.clone()).unwrap();
        let heads: Vec<&str> = t.model.heads().iter().map(|h| h.name.as_str()).collect();
        assert_eq!(heads, ["A", POOLED_HEAD]);
        assert_eq!(t.pooled_only, ["B"]);

        for e in &mut data {
            e.label = Some(1);
        }
        let err = train_on(data).unwrap_err();
        assert!(err.to_string().contains("all 270 training rows have the label \"against\""), "{err}");
    }

    #[test]
    fn heads_trained_side_by_side_are_the_heads_trained_one_after_the_other() {
        let on = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| run(5))
        };
        let one = on(1);
        for threads in [2, 3, 8] {
            let many = on(threads);
            assert_eq!(many.model.heads(), one.model.heads(), "{threads} threads");
            assert_eq!(many.model.meta().training.fit, one.model.meta().training.fit, "{threads} threads");
            assert_eq!(many.cv, one.cv);
        }
    }
}
