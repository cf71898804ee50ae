//! Trained linear models: labels, one weight table per head, prediction and explanation.
//!
//! A stance model has one head per target seen in training and a pooled head trained on all
//! targets, which answers for targets it has never seen; every prediction says which head
//! answered, so a caller can tell a confident per-target answer from a fallback. A sentiment
//! model has only the pooled head.

mod io;
mod score;
mod seen;
mod table;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

pub use io::{FORMAT_VERSION, file_digest, from_bytes, load, save};
pub use seen::SeenTexts;
pub use table::WeightTable;

use crate::error::{Error, Result};
use crate::features::{Featurizer, FeaturizerConfig, Input, Lexicon};
use crate::metrics::Metrics;
use crate::train::FitReport;

/// Name of the head trained on all rows, used when no per-target head matches.
pub const POOLED_HEAD: &str = "(pooled)";

/// What a model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Favor / against / none toward a target.
    Stance,
    /// Positive / neutral / negative (toward a target person, or of the whole text).
    Sentiment,
}

impl Task {
    /// The labels of the task, in the order models store them.
    pub fn labels(self) -> &'static [&'static str] {
        match self {
            Task::Stance => &["favor", "against", "none"],
            Task::Sentiment => &["positive", "neutral", "negative"],
        }
    }

    /// The canonical label for `raw`, accepting the spellings of the public data sets
    /// (Emergent's for / observing, abbreviations). `None` if it is not a label of the task.
    pub fn canonical_label(self, raw: &str) -> Option<&'static str> {
        let l = raw.trim().to_ascii_lowercase();
        let canon = match (self, l.as_str()) {
            (Task::Stance, "favor" | "favour" | "for" | "pro") => "favor",
            (Task::Stance, "against" | "con") => "against",
            (Task::Stance, "none" | "neither" | "observing" | "neutral") => "none",
            (Task::Sentiment, "positive" | "pos") => "positive",
            (Task::Sentiment, "neutral" | "neu") => "neutral",
            (Task::Sentiment, "negative" | "neg") => "negative",
            _ => return None,
        };
        Some(canon)
    }

    /// The metric model selection and `--promote` look at first.
    pub fn primary_metric(self) -> &'static str {
        match self {
            Task::Stance => "f_avg",
            Task::Sentiment => "macro_f1",
        }
    }
}

impl std::fmt::Display for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Task::Stance => "stance",
            Task::Sentiment => "sentiment",
        })
    }
}

impl std::str::FromStr for Task {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "stance" => Ok(Task::Stance),
            "sentiment" => Ok(Task::Sentiment),
            _ => Err(format!("unknown task {s:?} (expected stance or sentiment)")),
        }
    }
}

/// Everything about a model except its weights; stored as JSON in the file's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    pub format_version: u32,
    pub name: String,
    pub task: Task,
    pub labels: Vec<String>,
    pub featurizer: FeaturizerConfig,
    /// Head names in file order; [`POOLED_HEAD`] is always present.
    pub heads: Vec<String>,
    pub training: TrainingInfo,
    /// Cross-validated metrics, if cross-validation was run.
    pub metrics: Option<Metrics>,
    /// RFC 3339 time of training.
    pub created_at: String,
    /// Version of stancer that trained the model.
    pub stancer_version: String,
}

/// Provenance of a model: which data, which parameters, how the optimiser ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    /// SHA-256 over the training files' bytes, in the order given.
    pub data_digest: String,
    pub files: Vec<String>,
    pub rows: usize,
    pub l2: f64,
    pub seed: u64,
    pub folds: usize,
    /// The remaining settings of the fit, so that `train --compare` can cross-validate this
    /// model's configuration again on new data.
    #[serde(default)]
    pub class_weight: crate::train::ClassWeight,
    #[serde(default = "one")]
    pub min_count: u32,
    #[serde(default)]
    pub tolerance: Option<f64>,
    /// `lbfgs` or `sgd`.
    #[serde(default)]
    pub solver: String,
    /// Final state of the optimiser for each head, in head order.
    pub fit: Vec<FitReport>,
    /// The filter of training texts the file holds (tensor `training.seen_texts`), if any:
    /// files written before it have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen_texts: Option<SeenTextsInfo>,
}

/// What the file says of its filter of training texts ([`SeenTexts`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeenTextsInfo {
    /// Texts inserted (rows trained on; repeated texts count each time).
    pub texts: usize,
    pub hashes: u32,
}

fn one() -> u32 {
    1
}

/// One weight table.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    pub name: String,
    pub weights: WeightTable,
    pub bias: Vec<f32>,
}

impl Head {
    /// Raw label scores (before softmax) of a featurized row, written into `z`.
    pub fn scores(&self, indices: &[u32], values: &[f32], z: &mut [f32]) {
        let k = z.len();
        z.copy_from_slice(&self.bias);
        debug_assert_eq!(k, self.weights.k());
        for (&i, &x) in indices.iter().zip(values) {
            if let Some(row) = self.weights.row(i) {
                for (zc, w) in z.iter_mut().zip(row) {
                    *zc += x * w;
                }
            }
        }
    }

    /// Most probable label index of a featurized row (cross-validation featurizes once and
    /// scores held-out rows straight from the matrix).
    pub fn predict_index(&self, indices: &[u32], values: &[f32]) -> usize {
        let mut z = vec![0f32; self.bias.len()];
        self.scores(indices, values, &mut z);
        argmax(&z)
    }
}

/// One feature's part in a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contribution {
    /// Readable feature name (`w:not good`, `c:<hil`, `lex:vader:neg`, `win:L:blamed`).
    pub feature: String,
    /// Feature value times its weight for the predicted label: positive pushes toward it.
    pub weight: f32,
}

/// A model's answer for one input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub label: String,
    /// Probability of every label, in the model's label order.
    pub probabilities: Vec<(String, f32)>,
    /// Which head answered.
    pub head: String,
    /// True when the pooled head answered because no head matched the target.
    pub pooled: bool,
    /// Top contributing features, when an explanation was asked for.
    pub top_features: Vec<Contribution>,
}

/// A trained model ready to predict.
#[derive(Debug, Clone)]
pub struct LinearModel {
    meta: ModelMeta,
    featurizer: Featurizer,
    heads: Vec<Head>,
    /// Lower-cased, trimmed head names, in head order.
    head_keys: Vec<String>,
    pooled: usize,
    seen: Option<SeenTexts>,
}

impl LinearModel {
    /// Assembles a model, checking that heads, labels and featurizer agree.
    pub fn new(meta: ModelMeta, lexicon: Option<Lexicon>, heads: Vec<Head>) -> Result<Self> {
        let featurizer = Featurizer::new(meta.featurizer.clone(), lexicon)?;
        let k = meta.labels.len();
        let dim = featurizer.dim();
        for h in &heads {
            if h.weights.dim() != dim || h.weights.k() != k || h.bias.len() != k {
                return Err(Error::Data(format!("head {:?} has the wrong shape for {} labels", h.name, k)));
            }
        }
        let head_keys: Vec<String> = heads.iter().map(|h| h.name.trim().to_lowercase()).collect();
        let pooled = head_keys
            .iter()
            .rposition(|k| k == POOLED_HEAD)
            .ok_or_else(|| Error::Data(format!("model has no {POOLED_HEAD} head")))?;
        Ok(LinearModel { meta, featurizer, heads, head_keys, pooled, seen: None })
    }

    /// The model with the filter of the `texts` texts it was trained on.
    pub fn with_seen_texts(mut self, seen: SeenTexts, texts: usize) -> Self {
        self.meta.training.seen_texts = Some(SeenTextsInfo { texts, hashes: seen.hashes() });
        self.seen = Some(seen);
        self
    }

    /// Which texts the model was trained on (`None` for files written before filters were).
    pub fn seen_texts(&self) -> Option<&SeenTexts> {
        self.seen.as_ref()
    }

    pub fn meta(&self) -> &ModelMeta {
        &self.meta
    }
    pub fn name(&self) -> &str {
        &self.meta.name
    }
    pub fn task(&self) -> Task {
        self.meta.task
    }
    pub fn labels(&self) -> &[String] {
        &self.meta.labels
    }
    pub fn heads(&self) -> &[Head] {
        &self.heads
    }
    pub fn featurizer(&self) -> &Featurizer {
        &self.featurizer
    }

    /// The head that answers for `target`: its own if one was trained, else the pooled one.
    pub fn head_for(&self, target: Option<&str>) -> usize {
        let Some(t) = target else {
            return self.pooled;
        };
        // Every row asks, so the common case is kept cheap (a trim, a lower-cased copy and a
        // hashed lookup cost 5% of scoring): a target with visible ASCII at both ends needs
        // no trimming, and an ASCII target matches a lower-cased key without lower-casing.
        // Models have a few heads, one per target, so a scan beats hashing the target.
        let visible = |b: Option<&u8>| b.is_some_and(u8::is_ascii_graphic);
        let t = if visible(t.as_bytes().first()) && visible(t.as_bytes().last()) { t } else { t.trim() };
        let found = if t.is_ascii() {
            self.head_keys.iter().rposition(|k| k.eq_ignore_ascii_case(t))
        } else {
            let t = t.to_lowercase();
            self.head_keys.iter().rposition(|k| *k == t)
        };
        found.unwrap_or(self.pooled)
    }

    /// Label probabilities of `input` under head `h`, written into `z`.
    fn probabilities(&self, h: usize, input: &Input<'_>, z: &mut [f32]) {
        let head = &self.heads[h];
        score::with_sink(&head.weights, |sink| {
            self.featurizer.featurize_into(input, sink);
            sink.finish(&head.bias, z);
        });
        crate::train::softmax_in_place(z);
    }

    /// Index of the most probable label of `input` (the fast path for evaluation).
    pub fn predict_index(&self, input: &Input<'_>) -> usize {
        let mut z = [0f32; crate::train::MAX_CLASSES];
        let k = self.meta.labels.len();
        self.predict_probabilities(input, &mut z[..k]);
        argmax(&z[..k])
    }

    /// Writes the probability of every label of `input` into `z` (one per label) and returns
    /// the index of the head that answered: [`predict`](Self::predict) without allocating,
    /// for batch scoring.
    pub fn predict_probabilities(&self, input: &Input<'_>, z: &mut [f32]) -> usize {
        let h = self.head_for(input.target);
        self.probabilities(h, input, z);
        h
    }

    /// Predicts `input`; with `explain > 0`, also returns that many top features.
    pub fn predict(&self, input: &Input<'_>, explain: usize) -> Prediction {
        let h = self.head_for(input.target);
        let k = self.meta.labels.len();
        let mut z = vec![0f32; k];
        self.probabilities(h, input, &mut z);
        let best = argmax(&z);
        let top_features = if explain > 0 { self.explain(h, input, best, explain) } else { Vec::new() };
        Prediction {
            label: self.meta.labels[best].clone(),
            probabilities: self.meta.labels.iter().cloned().zip(z).collect(),
            head: self.heads[h].name.clone(),
            pooled: h == self.pooled && self.meta.task == Task::Stance,
            top_features,
        }
    }

    /// The `n` features that pushed hardest toward or away from label `class` under head `h`
    /// (as [`predict_probabilities`](Self::predict_probabilities) returns it).
    pub fn explain(&self, h: usize, input: &Input<'_>, class: usize, n: usize) -> Vec<Contribution> {
        let head = &self.heads[h];
        let mut by_name: HashMap<String, f32> = HashMap::new();
        for (i, x, name) in self.featurizer.featurize_named(input).features {
            *by_name.entry(name).or_insert(0.0) += x * head.weights.row(i).map_or(0.0, |r| r[class]);
        }
        let mut all: Vec<Contribution> = by_name
            .into_iter()
            .filter(|(_, w)| *w != 0.0)
            .map(|(feature, weight)| Contribution { feature, weight })
            .collect();
        all.sort_by(|a, b| b.weight.abs().total_cmp(&a.weight.abs()).then_with(|| a.feature.cmp(&b.feature)));
        all.truncate(n);
        all
    }
}

fn argmax(z: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in z.iter().enumerate() {
        if *v > z[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(heads: &[&str]) -> LinearModel {
        let featurizer = FeaturizerConfig { hash_bits: 10, ..FeaturizerConfig::default() };
        let heads: Vec<Head> = heads
            .iter()
            .map(|name| Head {
                name: name.to_string(),
                weights: WeightTable::from_rows(1 << 10, 3, []).unwrap(),
                bias: vec![0.0; 3],
            })
            .collect();
        let meta = ModelMeta {
            format_version: FORMAT_VERSION,
            name: "t".into(),
            task: Task::Stance,
            labels: Task::Stance.labels().iter().map(|s| s.to_string()).collect(),
            featurizer,
            heads: heads.iter().map(|h| h.name.clone()).collect(),
            training: TrainingInfo {
                data_digest: String::new(),
                files: vec![],
                rows: 0,
                l2: 1.0,
                seed: 0,
                folds: 0,
                class_weight: Default::default(),
                min_count: 1,
                tolerance: None,
                solver: String::new(),
                fit: vec![],
                seen_texts: None,
            },
            metrics: None,
            created_at: String::new(),
            stancer_version: String::new(),
        };
        LinearModel::new(meta, None, heads).unwrap()
    }

    #[test]
    fn targets_find_their_head_whatever_the_case_and_spacing() {
        let long = "Z".repeat(70);
        let m = model(&["Hillary Clinton", "Émile Zola", &long, POOLED_HEAD]);
        assert_eq!(m.head_for(Some("Hillary Clinton")), 0);
        assert_eq!(m.head_for(Some("  hillary CLINTON\t")), 0);
        assert_eq!(m.head_for(Some("ÉMILE ZOLA")), 1);
        assert_eq!(m.head_for(Some(&long.to_lowercase())), 2);
        assert_eq!(m.head_for(Some("Hillary")), 3);
        assert_eq!(m.head_for(Some("")), 3);
        assert_eq!(m.head_for(None), 3);
    }
}
