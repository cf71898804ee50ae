//! Training: labelled rows -> features -> one logistic head per target (+ pooled) ->
//! a [`LinearModel`], with stratified k-fold cross-validation.
//!
//! Rows are featurized once; folds and heads fit on their rows of that one sparse matrix,
//! borrowed rather than copied.
//! Folds are stratified by (target, label) and dealt from a seeded shuffle, so the same data
//! and seed give the same folds, the same weights and the same file bytes. (linfa's own
//! fold iterator needs dense records and does not stratify, so the folds are made here and
//! each fold is fitted through linfa's `Fit` on a linfa `Dataset`.)

pub mod data;
mod logistic;
mod sgd;
mod sparse;

use std::collections::BTreeMap;

use half::f16;
use linfa::prelude::*;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use data::{Example, ReadReport, Record, Unlabelled};
pub use logistic::{
    ClassWeight, FitReport, FittedLogistic, LogisticParams, MAX_CLASSES, ValidLogisticParams, dataset, softmax_in_place,
};
pub use sgd::{RowSource, SgdConfig, train_streaming};
pub use sparse::CsrMatrix;

use crate::error::{Error, Result};
use crate::features::{Featurizer, FeaturizerConfig, Input, Lexicon, SparseVec};
use crate::metrics::Metrics;
use crate::model::{
    FORMAT_VERSION, Head, LinearModel, ModelMeta, POOLED_HEAD, SeenTexts, Task, TrainingInfo, WeightTable,
};

/// Everything that decides a trained model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub task: Task,
    pub name: String,
    pub featurizer: FeaturizerConfig,
    /// L2 penalty (see [`LogisticParams::l2`]).
    pub l2: f64,
    pub class_weight: ClassWeight,
    /// Cross-validation folds; 0 or 1 skips cross-validation.
    pub folds: usize,
    pub seed: u64,
    /// Weights below this magnitude (for every label) are dropped from the file.
    pub prune: f32,
    pub max_iter: usize,
    /// Optimiser stops when the largest gradient entry is below this (and below a tenth of
    /// where it started).
    pub tolerance: f64,
    /// Features seen fewer times than this in a head's training rows get no weight.
    pub min_count: u32,
}

impl TrainConfig {
    /// The defaults for a task, as tuned on 5-fold cross-validation of the training files
    /// (SemEval-2016 for stance, NewsMTSC for sentiment; see models/MODELS.md): char 4-5-grams
    /// beat 2-5 and 3-5 for tweets, 3-5 was best for news sentences, and keeping features
    /// seen once beat dropping them on both. News sentences take word 1-2-grams: trigrams
    /// added nothing there (macro-F1 67.22 vs 67.18, means over three fold seeds) and cost
    /// one core 14% of its scoring speed, while tweets lost 0.1-0.7 F_avg without them.
    pub fn for_task(task: Task, name: &str) -> TrainConfig {
        let featurizer = match task {
            Task::Stance => FeaturizerConfig { window: 0, char_ngrams: [4, 5], ..FeaturizerConfig::default() },
            Task::Sentiment => FeaturizerConfig {
                target_features: false,
                word_ngrams: [1, 2],
                char_ngrams: [3, 5],
                ..FeaturizerConfig::default()
            },
        };
        TrainConfig {
            task,
            name: name.to_string(),
            featurizer,
            l2: 1e-4,
            class_weight: ClassWeight::Balanced,
            // NewsMTSC is three times SemEval's size in rows and four in features: three folds
            // keep its retraining, cross-validation included, quick (4.6 s on two cores).
            folds: match task {
                Task::Stance => 5,
                Task::Sentiment => 3,
            },
            seed: 42,
            prune: 1e-3,
            max_iter: 500,
            // Tuned on CV of the training files: stopping at 1e-3 instead of 1e-4 halves the
            // iterations and scores as well or better (stance F_avg 69.95 vs 69.52,
            // sentiment macro-F1 66.93 vs 66.83); early stopping regularises a little.
            tolerance: 1e-3,
            min_count: 1,
        }
    }
}

impl TrainConfig {
    /// Checks the settings before any data is read, naming the first one out of range.
    pub fn check(&self) -> Result<()> {
        self.featurizer.check()?;
        let bad = |name, message: String| Err(Error::InvalidParam { name, message });
        if self.folds == 1 || self.folds > 50 {
            return bad("folds", format!("{} (use 0 to skip, or 2..=50)", self.folds));
        }
        if !(self.l2.is_finite() && self.l2 > 0.0) {
            return bad("l2", format!("{} must be a number > 0", self.l2));
        }
        if !(self.tolerance.is_finite() && self.tolerance > 0.0) {
            return bad("tolerance", format!("{} must be a number > 0", self.tolerance));
        }
        Ok(())
    }

    /// The configuration a model was trained with, as recorded in its file (settings older
    /// files did not record take the defaults of the task).
    pub fn from_meta(meta: &ModelMeta) -> TrainConfig {
        let d = TrainConfig::for_task(meta.task, &meta.name);
        let t = &meta.training;
        TrainConfig {
            featurizer: meta.featurizer.clone(),
            l2: t.l2,
            class_weight: t.class_weight,
            seed: t.seed,
            min_count: t.min_count,
            tolerance: t.tolerance.unwrap_or(d.tolerance),
            ..d
        }
    }
}

/// Provenance of the training data, recorded in the model.
#[derive(Debug, Clone, Default)]
pub struct DataInfo {
    pub files: Vec<String>,
    pub digest: String,
}

/// Where training is; passed to a progress callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Featurize,
    /// Fitting cross-validation folds and final heads: `done` of `total` fits.
    Fit,
}

/// What training produced.
#[derive(Debug, Clone)]
pub struct Trained {
    pub model: LinearModel,
    /// Cross-validated metrics (every row predicted by a model that did not see it); from
    /// the streaming solver, metrics on its held-out rows.
    pub cv: Option<Metrics>,
    /// The label index each row got from a model that did not see it, in row order: every
    /// row under cross-validation, the held-out rows (in the order read) when streaming;
    /// empty when there was neither. `cv` is computed from these.
    pub predictions: Vec<usize>,
    /// Targets with no head of their own, which the pooled head answers for: those whose
    /// training rows all carry one label, and (streaming) those past the most heads a model
    /// may grow, which have fewer rows than the targets that got heads.
    pub pooled_only: Vec<String>,
}

/// Featurizes every example into one sparse matrix (in parallel, in order).
pub fn featurize_all(f: &Featurizer, examples: &[Example]) -> CsrMatrix {
    let rows: Vec<SparseVec> = examples
        .par_iter()
        .map(|e| {
            let mut v = SparseVec::default();
            f.featurize(&Input { text: &e.text, target: e.target.as_deref(), target_spans: &e.target_spans }, &mut v);
            v
        })
        .collect();
    let mut x = CsrMatrix::new(f.dim());
    for r in &rows {
        x.push_row(&r.indices, &r.values);
    }
    x
}

/// What [`evaluate`] measured.
pub struct Evaluation {
    pub metrics: Metrics,
    /// Rows that named a target (a stance model's rows that name none are all answered by
    /// the pooled head, which a caller may want to say).
    pub targeted: usize,
}

/// Scores labelled rows with `model` and counts its confusion as they stream by, a chunk at
/// a time on every core, so memory stays flat however many rows there are.
pub fn evaluate<E>(model: &LinearModel, rows: impl Iterator<Item = Result<E>>) -> Result<Evaluation>
where
    E: std::borrow::Borrow<Example> + Send + Sync,
{
    evaluate_each(model, rows, |_, _| {})
}

/// [`evaluate`], also handing each labelled row, in order, to `each` with the label the
/// model predicted for it (an index into the task's labels, as the row's own label is).
pub fn evaluate_each<E>(
    model: &LinearModel,
    mut rows: impl Iterator<Item = Result<E>>,
    mut each: impl FnMut(&Example, usize),
) -> Result<Evaluation>
where
    E: std::borrow::Borrow<Example> + Send + Sync,
{
    // Rows carry the task's label index; the model's labels are matched by name.
    let task_labels = model.task().labels();
    let to_model: Vec<Option<usize>> = task_labels.iter().map(|t| model.labels().iter().position(|l| l == t)).collect();
    let to_task: Vec<usize> =
        model.labels().iter().enumerate().map(|(i, l)| task_labels.iter().position(|t| t == l).unwrap_or(i)).collect();
    let k = model.labels().len();
    let mut confusion = vec![vec![0usize; k]; k];
    let mut targeted = 0;
    loop {
        let chunk = rows.by_ref().take(4096).collect::<Result<Vec<E>>>()?;
        if chunk.is_empty() {
            break;
        }
        targeted += chunk.iter().filter(|e| e.borrow().target.is_some()).count();
        let pairs: Vec<Option<(Option<usize>, usize)>> = chunk
            .par_iter()
            .map(|e| {
                let e = e.borrow();
                let input = Input { text: &e.text, target: e.target.as_deref(), target_spans: &e.target_spans };
                let gold = e.label?;
                Some((to_model.get(gold).copied().flatten(), model.predict_index(&input)))
            })
            .collect();
        for (e, pair) in chunk.iter().zip(pairs) {
            let Some((gold, pred)) = pair else {
                continue;
            };
            let gold = gold.ok_or_else(|| {
                Error::Data(format!("model {:?} has labels {:?}, not all of the task's", model.name(), model.labels()))
            })?;
            confusion[gold][pred] += 1;
            each(e.borrow(), to_task[pred]);
        }
    }
    Ok(Evaluation { metrics: Metrics::from_confusion(model.labels(), confusion), targeted })
}

/// Which head names train on which rows: per target (stance) plus the pooled head on all.
/// A target whose rows all carry one label gets no head of its own, as a head can only
/// learn to tell apart labels it has seen (an analyst's rare target, or a fold that holds
/// out a target's only "favor" row); the pooled head answers for it.
fn head_rows(task: Task, examples: &[Example], rows: &[usize]) -> Vec<(String, Vec<usize>)> {
    let (mut heads, _) = target_rows(task, examples, rows);
    heads.push((POOLED_HEAD.to_string(), rows.to_vec()));
    heads
}

/// The targets among `rows` (stance) with their rows: those whose rows carry two labels or
/// more, and the names of the others.
fn target_rows(task: Task, examples: &[Example], rows: &[usize]) -> (Vec<(String, Vec<usize>)>, Vec<String>) {
    let mut targets: BTreeMap<String, (String, Vec<usize>)> = BTreeMap::new();
    if task == Task::Stance {
        for &r in rows {
            if let Some(t) = &examples[r].target {
                targets.entry(t.trim().to_lowercase()).or_insert_with(|| (t.trim().to_string(), Vec::new())).1.push(r);
            }
        }
    }
    let one_label = |rows: &[usize]| rows.iter().all(|&r| examples[r].label == examples[rows[0]].label);
    let (single, heads): (Vec<_>, Vec<_>) = targets.into_values().partition(|(_, rows)| one_label(rows));
    (heads, single.into_iter().map(|(name, _)| name).collect())
}

/// Stratified, grouped folds: row indices of each fold. Rows with the same text stay in one
/// fold (NewsMTSC has one row per person mentioned in a sentence; splitting a sentence
/// across folds would leak it into its own test fold). Groups are shuffled with the seed
/// within each (target, label) stratum of their first row and dealt round-robin.
pub fn stratified_folds(examples: &[Example], k: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut units: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, e) in examples.iter().enumerate() {
        units.entry(e.text.as_str()).or_default().push(i);
    }
    let mut strata: BTreeMap<(String, Option<usize>), Vec<Vec<usize>>> = BTreeMap::new();
    for rows in units.into_values() {
        let first = &examples[rows[0]];
        strata.entry((first.target.clone().unwrap_or_default().to_lowercase(), first.label)).or_default().push(rows);
    }
    let mut rng = SplitMix64(seed);
    let mut folds = vec![Vec::new(); k];
    let mut next = 0;
    for (_, mut group) in strata {
        // Units keep their order of first appearance inside a stratum before shuffling.
        group.sort_by_key(|u| u[0]);
        for i in (1..group.len()).rev() {
            let j = (rng.next() % (i as u64 + 1)) as usize;
            group.swap(i, j);
        }
        for unit in group {
            folds[next % k].extend(unit);
            next += 1;
        }
    }
    for f in &mut folds {
        f.sort_unstable();
    }
    folds
}

/// A small, stable PRNG: the folds of a seed must not change with a dependency's version.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Rounds one row of weights as the file will store it: a row whose weights are all below
/// `prune` in magnitude becomes zero (and is not stored), the rest become f16 values. Done
/// before a model is handed out, so it predicts the same before saving and after loading.
fn round_row(row: &mut [f32], prune: f32) {
    if row.iter().all(|w| w.abs() < prune) {
        row.fill(0.0);
    } else {
        for w in row.iter_mut() {
            *w = f16::from_f32(*w).to_f32();
        }
    }
}

/// Fits one head on `rows` and returns it pruned and f16-rounded.
fn fit_head(cfg: &TrainConfig, x: &CsrMatrix, y: &[usize], rows: &[usize], name: &str) -> Result<(Head, FitReport)> {
    let k = cfg.task.labels().len();
    let sub_y: Vec<usize> = rows.iter().map(|&r| y[r]).collect();
    let mut fitted = LogisticParams::new(k)
        .l2(cfg.l2)
        .class_weight(cfg.class_weight)
        .max_iter(cfg.max_iter)
        .tolerance(cfg.tolerance)
        .min_count(cfg.min_count)
        .fit(&dataset(x.rows(rows), sub_y))?;
    for row in fitted.weights.chunks_exact_mut(k) {
        round_row(row, cfg.prune);
    }
    // The fit orders columns by frequency; the table wants them by bucket.
    let mut order: Vec<usize> = (0..fitted.columns.len()).collect();
    order.sort_unstable_by_key(|&j| fitted.columns[j]);
    let rows = order.iter().map(|&j| (fitted.columns[j], &fitted.weights[j * k..(j + 1) * k]));
    let weights = WeightTable::from_rows(x.ncols, k, rows)?;
    Ok((Head { name: name.to_string(), weights, bias: fitted.bias.clone() }, fitted.report))
}

/// Fits every head on `rows`; with `needed`, only the heads it names (a fold's model needs
/// the pooled head only if some held-out row's target has no head of its own).
fn fit_heads(
    cfg: &TrainConfig,
    examples: &[Example],
    x: &CsrMatrix,
    y: &[usize],
    rows: &[usize],
    needed: Option<&std::collections::HashSet<String>>,
    tick: &(dyn Fn() + Sync),
) -> Result<Vec<(Head, FitReport)>> {
    head_rows(cfg.task, examples, rows)
        .into_iter()
        .filter(|(name, _)| needed.is_none_or(|n| n.contains(&name.to_lowercase())))
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|(name, rows)| {
            // Only the pooled head can get here with one label (see `head_rows`).
            if let Some(&first) = rows.first().filter(|&&f| rows.iter().all(|&r| y[r] == y[f])) {
                return Err(one_label(rows.len(), cfg.task.labels()[y[first]]));
            }
            let r = fit_head(cfg, x, y, &rows, &name);
            tick();
            r
        })
        .collect()
}

/// The error of training rows that all carry `label`.
fn one_label(rows: usize, label: &str) -> Error {
    Error::Data(format!("all {rows} training rows have the label {label:?}; training needs rows of 2 labels or more"))
}

fn assemble(
    cfg: &TrainConfig,
    lexicon: Option<Lexicon>,
    heads: Vec<(Head, FitReport)>,
    info: TrainingInfo,
    metrics: Option<Metrics>,
    created_at: &str,
) -> Result<LinearModel> {
    let (heads, fits): (Vec<Head>, Vec<FitReport>) = heads.into_iter().unzip();
    let meta = ModelMeta {
        format_version: FORMAT_VERSION,
        name: cfg.name.clone(),
        task: cfg.task,
        labels: cfg.task.labels().iter().map(|s| s.to_string()).collect(),
        featurizer: cfg.featurizer.clone(),
        heads: heads.iter().map(|h| h.name.clone()).collect(),
        training: TrainingInfo { fit: fits, ..info },
        metrics,
        created_at: created_at.to_string(),
        stancer_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    LinearModel::new(meta, lexicon, heads)
}

/// Trains a model on `examples` (all labelled), cross-validating first when
/// `cfg.folds >= 2`. `created_at` is recorded as given, so a caller that fixes it gets
/// byte-identical files from identical data and seed.
pub fn train(
    cfg: &TrainConfig,
    examples: &[Example],
    lexicon: Option<Lexicon>,
    data: &DataInfo,
    created_at: &str,
    progress: &(dyn Fn(Stage, usize, usize) + Sync),
) -> Result<Trained> {
    cfg.check()?;
    let y: Vec<usize> = examples
        .iter()
        .enumerate()
        .map(|(i, e)| e.label.ok_or_else(|| Error::Data(format!("row {} ({}) has no label", i + 1, e.id))))
        .collect::<Result<_>>()?;
    if examples.is_empty() {
        return Err(Error::Data("no training rows".into()));
    }
    // Said of the data first, before a cross-validation fold would say it of its part.
    if y.iter().all(|&c| c == y[0]) {
        return Err(one_label(y.len(), cfg.task.labels()[y[0]]));
    }
    let featurizer = Featurizer::new(cfg.featurizer.clone(), lexicon.clone())?;
    progress(Stage::Featurize, 0, examples.len());
    let x = featurize_all(&featurizer, examples);
    progress(Stage::Featurize, examples.len(), examples.len());

    let all: Vec<usize> = (0..examples.len()).collect();
    let n_heads = head_rows(cfg.task, examples, &all).len();
    let folds = if cfg.folds >= 2 { stratified_folds(examples, cfg.folds, cfg.seed) } else { Vec::new() };
    let total = n_heads * (folds.len() + 1);
    let done = std::sync::atomic::AtomicUsize::new(0);
    let tick = || {
        let d = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        progress(Stage::Fit, d, total);
    };
    let info = TrainingInfo {
        data_digest: data.digest.clone(),
        files: data.files.clone(),
        rows: examples.len(),
        l2: cfg.l2,
        seed: cfg.seed,
        folds: cfg.folds,
        class_weight: cfg.class_weight,
        min_count: cfg.min_count,
        tolerance: Some(cfg.tolerance),
        solver: "lbfgs".into(),
        fit: Vec::new(),
        seen_texts: None,
    };

    // Cross-validation: each fold's model predicts the rows it did not see.
    // The final fit runs beside the folds, so both cores stay busy to the end.
    let cross_validate = || -> Result<Option<(Metrics, Vec<usize>)>> {
        let mut cv_predictions = vec![0usize; examples.len()];
        let cv = if folds.is_empty() {
            None
        } else {
            let per_fold: Vec<Vec<(usize, usize)>> = folds
                .par_iter()
                .enumerate()
                .map(|(fold, held)| {
                    let held_set: std::collections::HashSet<usize> = held.iter().copied().collect();
                    let train_rows: Vec<usize> = all.iter().copied().filter(|r| !held_set.contains(r)).collect();
                    let trained_heads: std::collections::HashSet<String> =
                        head_rows(cfg.task, examples, &train_rows).into_iter().map(|(n, _)| n.to_lowercase()).collect();
                    let needed: std::collections::HashSet<String> = held
                        .iter()
                        .map(|&r| examples[r].target.as_deref().map(|t| t.trim().to_lowercase()))
                        .map(|t| {
                            t.filter(|t| cfg.task == Task::Stance && trained_heads.contains(t))
                                .unwrap_or_else(|| POOLED_HEAD.to_lowercase())
                        })
                        .collect();
                    for _ in needed.len()..n_heads {
                        tick();
                    }
                    let heads: std::collections::HashMap<String, Head> =
                        fit_heads(cfg, examples, &x, &y, &train_rows, Some(&needed), &tick)
                            .map_err(|e| match e {
                                // The data may be fine and only a fold too small: say which.
                                Error::Data(m) => Error::Data(format!(
                                    "cross-validation fold {} of {} trains on {} of the {} rows: {m} (use fewer folds, \
                                     or 0 to skip cross-validation)",
                                    fold + 1,
                                    folds.len(),
                                    train_rows.len(),
                                    examples.len()
                                )),
                                e => e,
                            })?
                            .into_iter()
                            .map(|(h, _)| (h.name.to_lowercase(), h))
                            .collect();
                    let pooled = POOLED_HEAD.to_lowercase();
                    Ok(held
                        .iter()
                        .map(|&r| {
                            let (idx, val) = x.row(r);
                            let name = examples[r].target.as_deref().map(|t| t.trim().to_lowercase());
                            let head = name
                                .and_then(|n| heads.get(&n))
                                .or_else(|| heads.get(&pooled))
                                .expect("needed head fitted");
                            (r, head.predict_index(idx, val))
                        })
                        .collect())
                })
                .collect::<Result<_>>()?;
            for (r, p) in per_fold.into_iter().flatten() {
                cv_predictions[r] = p;
            }
            Some((Metrics::compute(&featurizer_labels(cfg.task), &y, &cv_predictions), cv_predictions))
        };
        Ok(cv)
    };
    let (cv_result, heads) = rayon::join(cross_validate, || fit_heads(cfg, examples, &x, &y, &all, None, &tick));
    let (cv, predictions) = cv_result?.unzip();
    let heads = heads?;
    let mut seen = SeenTexts::for_texts(examples.len());
    for e in examples {
        seen.insert(&e.text);
    }
    let model = assemble(cfg, lexicon, heads, info, cv.clone(), created_at)?.with_seen_texts(seen, examples.len());
    Ok(Trained {
        model,
        cv,
        predictions: predictions.unwrap_or_default(),
        pooled_only: target_rows(cfg.task, examples, &all).1,
    })
}

fn featurizer_labels(task: Task) -> Vec<String> {
    task.labels().iter().map(|s| s.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn examples() -> Vec<Example> {
        let mut v = Vec::new();
        for i in 0..30 {
            let (text, label) = match i % 3 {
                0 => (format!("I love this {i}"), 0),
                1 => (format!("I hate this {i}"), 1),
                _ => (format!("the weather is {i}"), 2),
            };
            let target = if i % 2 == 0 { "A" } else { "B" };
            v.push(Example {
                id: i.to_string(),
                text,
                target: Some(target.into()),
                target_spans: vec![],
                label: Some(label),
            });
        }
        v
    }

    #[test]
    fn folds_partition_rows_and_are_stratified() {
        let ex = examples();
        let folds = stratified_folds(&ex, 3, 7);
        let mut all: Vec<usize> = folds.concat();
        all.sort();
        assert_eq!(all, (0..30).collect::<Vec<_>>());
        for f in &folds {
            assert_eq!(f.len(), 10);
            // Each (target, label) group of 5 rows spreads over the 3 folds as 2/2/1.
            for t in ["A", "B"] {
                for c in 0..3 {
                    let n = f.iter().filter(|&&r| ex[r].label == Some(c) && ex[r].target.as_deref() == Some(t)).count();
                    assert!((1..=2).contains(&n), "fold {f:?} has {n} of ({t}, {c})");
                }
            }
        }
        assert_eq!(folds, stratified_folds(&ex, 3, 7));
        // Rows sharing a text land in the same fold.
        let mut dup = ex.clone();
        dup[1].text = dup[0].text.clone();
        let f = stratified_folds(&dup, 3, 7);
        assert!(f.iter().any(|f| f.contains(&0) && f.contains(&1)));
        assert_ne!(folds, stratified_folds(&ex, 3, 8));
    }

    #[test]
    fn trains_per_target_heads_and_cross_validates() {
        let cfg = TrainConfig { folds: 3, ..TrainConfig::for_task(Task::Stance, "t") };
        let t = train(&cfg, &examples(), None, &DataInfo::default(), "2026-01-01T00:00:00Z", &|_, _, _| {}).unwrap();
        let heads: Vec<&str> = t.model.heads().iter().map(|h| h.name.as_str()).collect();
        assert_eq!(heads, ["A", "B", POOLED_HEAD]);
        let cv = t.cv.unwrap();
        assert!(cv.accuracy > 0.9, "{}", cv.summary());
        let p = t.model.predict(&Input { text: "I love it", target: Some("a"), target_spans: &[] }, 3);
        assert_eq!((p.label.as_str(), p.head.as_str(), p.pooled), ("favor", "A", false));
        assert_eq!(p.top_features.len(), 3);
        let p = t.model.predict(&Input { text: "I hate it", target: Some("never seen"), target_spans: &[] }, 0);
        assert_eq!((p.label.as_str(), p.head.as_str(), p.pooled), ("against", POOLED_HEAD, true));
    }

    #[test]
    fn a_target_of_one_label_is_answered_by_the_pooled_head() {
        let mut ex = examples();
        for e in &mut ex {
            if e.target.as_deref() == Some("B") {
                e.label = Some(0);
            }
        }
        // C has two labels, but the fold that holds out its one "against" row trains it on
        // "none" alone: that fold's C rows go to its pooled head.
        for i in 0..5 {
            ex.push(Example {
                id: format!("c{i}"),
                text: format!("{} {i}", if i == 0 { "I hate that" } else { "the sky is" }),
                target: Some("C".into()),
                target_spans: vec![],
                label: Some(if i == 0 { 1 } else { 2 }),
            });
        }
        let cfg = TrainConfig { folds: 5, ..TrainConfig::for_task(Task::Stance, "t") };
        let t = train(&cfg, &ex, None, &DataInfo::default(), "x", &|_, _, _| {}).unwrap();
        let heads: Vec<&str> = t.model.heads().iter().map(|h| h.name.as_str()).collect();
        assert_eq!(heads, ["A", "C", POOLED_HEAD]);
        assert_eq!(t.pooled_only, ["B"]);
        assert_eq!(t.cv.unwrap().rows, ex.len());
        let p = t.model.predict(&Input { text: "I love it", target: Some("b"), target_spans: &[] }, 0);
        assert_eq!((p.head.as_str(), p.pooled), (POOLED_HEAD, true));

        // Rows of one label in all can train nothing.
        for e in &mut ex {
            e.label = Some(0);
        }
        let err = train(&cfg, &ex, None, &DataInfo::default(), "x", &|_, _, _| {}).unwrap_err();
        let all_favor = format!("all {} training rows have the label \"favor\"", ex.len());
        assert!(err.to_string().contains(&all_favor), "{err}");

        // Data of two labels that a fold leaves with one: the error names the fold.
        ex.truncate(3);
        ex[1].label = Some(1);
        let err = train(&cfg, &ex, None, &DataInfo::default(), "x", &|_, _, _| {}).unwrap_err().to_string();
        assert!(
            err.contains("cross-validation fold ")
                && err.contains(" of 5 trains on 2 of the 3 rows: all 2 training rows have the label \"favor\""),
            "{err}"
        );
        assert!(err.contains("use fewer folds, or 0 to skip cross-validation"), "{err}");
        let cfg = TrainConfig { folds: 0, ..cfg };
        assert!(train(&cfg, &ex, None, &DataInfo::default(), "x", &|_, _, _| {}).is_ok());
    }
}
