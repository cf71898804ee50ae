//! Classification metrics: accuracy, per-class precision/recall/F1, macro-F1, SemEval's
//! F_avg and the confusion matrix. Written out here (not taken from linfa) because the
//! definitions must match the published ones exactly, and linfa 0.8.1 has been seen with
//! precision and recall swapped.

use serde::{Deserialize, Serialize};

/// Precision, recall and F1 of one label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Gold rows with this label.
    pub support: usize,
}

/// Metrics over one set of gold/predicted labels. Fractions in [0, 1].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub rows: usize,
    pub accuracy: f64,
    pub macro_f1: f64,
    /// SemEval-2016 Task 6 F_avg: mean of the F1 of `favor` and `against`, pooled over all
    /// rows; present when the labels include both.
    pub f_avg: Option<f64>,
    pub per_class: Vec<ClassMetrics>,
    /// `confusion[gold][predicted]`, in label order.
    pub confusion: Vec<Vec<usize>>,
}

impl Metrics {
    /// Computes every metric; `gold` and `pred` hold indices into `labels`.
    pub fn compute(labels: &[String], gold: &[usize], pred: &[usize]) -> Metrics {
        let k = labels.len();
        let mut confusion = vec![vec![0usize; k]; k];
        for (&g, &p) in gold.iter().zip(pred) {
            confusion[g][p] += 1;
        }
        Self::from_confusion(labels, confusion)
    }

    /// Computes every metric from `confusion[gold][predicted]` (square, in label order), so
    /// that a stream of rows can be counted as it goes instead of kept.
    pub fn from_confusion(labels: &[String], confusion: Vec<Vec<usize>>) -> Metrics {
        let k = labels.len();
        let rows: usize = confusion.iter().flatten().sum();
        let correct: usize = (0..k).map(|i| confusion[i][i]).sum();
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let per_class: Vec<ClassMetrics> = (0..k)
            .map(|c| {
                let tp = confusion[c][c];
                let predicted: usize = (0..k).map(|g| confusion[g][c]).sum();
                let support: usize = confusion[c].iter().sum();
                let precision = ratio(tp, predicted);
                let recall = ratio(tp, support);
                let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
                ClassMetrics { label: labels[c].clone(), precision, recall, f1, support }
            })
            .collect();
        // Over the labels that occur, in gold or predicted (as scikit-learn's `f1_score`): a
        // label a dataset lacks, and no row was given, would count as an F1 of 0 and sink
        // the average of the labels it does have.
        let seen: Vec<f64> = (0..k)
            .filter(|&c| per_class[c].support > 0 || (0..k).any(|g| confusion[g][c] > 0))
            .map(|c| per_class[c].f1)
            .collect();
        let macro_f1 = if seen.is_empty() { 0.0 } else { seen.iter().sum::<f64>() / seen.len() as f64 };
        let f1_of = |name: &str| per_class.iter().find(|c| c.label == name).map(|c| c.f1);
        let f_avg = match (f1_of("favor"), f1_of("against")) {
            (Some(a), Some(b)) => Some((a + b) / 2.0),
            _ => None,
        };
        Metrics { rows, accuracy: ratio(correct, rows), macro_f1, f_avg, per_class, confusion }
    }

    /// A metric by name (`accuracy`, `macro_f1`, `f_avg`), for comparisons.
    pub fn get(&self, name: &str) -> Option<f64> {
        match name {
            "accuracy" => Some(self.accuracy),
            "macro_f1" => Some(self.macro_f1),
            "f_avg" => self.f_avg,
            _ => None,
        }
    }

    /// The confusion matrix as an aligned text table (rows gold, columns predicted).
    pub fn confusion_table(&self) -> String {
        let labels: Vec<&str> = self.per_class.iter().map(|c| c.label.as_str()).collect();
        let w = labels.iter().map(|l| l.len()).max().unwrap_or(4).max(6) + 2;
        let mut s = format!("{:>w$}", "gold\\pred");
        for l in &labels {
            s += &format!("{l:>w$}");
        }
        s.push('\n');
        for (g, row) in self.confusion.iter().enumerate() {
            s += &format!("{:>w$}", labels[g]);
            for v in row {
                s += &format!("{v:>w$}");
            }
            s.push('\n');
        }
        s
    }

    /// One line for humans: the headline numbers in percent.
    pub fn summary(&self) -> String {
        let mut s = format!("accuracy {:.2}  macro-F1 {:.2}", 100.0 * self.accuracy, 100.0 * self.macro_f1);
        if let Some(f) = self.f_avg {
            s += &format!("  F_avg {:.2}", 100.0 * f);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Vec<String> {
        ["favor", "against", "none"].map(String::from).to_vec()
    }

    #[test]
    fn hand_computed_example() {
        // gold:  F F F A A A A N N N
        // pred:  F F A A A A N N F N
        let (f, a, n) = (0, 1, 2);
        let gold = [f, f, f, a, a, a, a, n, n, n];
        let pred = [f, f, a, a, a, a, n, n, f, n];
        let m = Metrics::compute(&labels(), &gold, &pred);
        assert_eq!(m.confusion, vec![vec![2, 1, 0], vec![0, 3, 1], vec![1, 0, 2]]);
        assert!((m.accuracy - 0.7).abs() < 1e-12);
        // favor: P = 2/3, R = 2/3, F1 = 2/3.
        let fav = &m.per_class[0];
        assert!((fav.precision - 2.0 / 3.0).abs() < 1e-12 && (fav.recall - 2.0 / 3.0).abs() < 1e-12);
        // against: P = 3/4, R = 3/4, F1 = 3/4. none: P = 2/3, R = 2/3.
        assert!((m.per_class[1].f1 - 0.75).abs() < 1e-12);
        assert!((m.per_class[2].f1 - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.f_avg.unwrap() - (2.0 / 3.0 + 0.75) / 2.0).abs() < 1e-12);
        assert!((m.macro_f1 - (2.0 / 3.0 + 0.75 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
    }

    #[test]
    fn precision_and_recall_are_not_swapped() {
        // Predict favor everywhere: favor recall 1, precision 1/4.
        let gold = [0, 1, 1, 2];
        let pred = [0, 0, 0, 0];
        let m = Metrics::compute(&labels(), &gold, &pred);
        assert_eq!(m.per_class[0].recall, 1.0);
        assert_eq!(m.per_class[0].precision, 0.25);
        assert!((m.per_class[0].f1 - 0.4).abs() < 1e-12);
        assert_eq!(m.per_class[1].f1, 0.0);
    }

    #[test]
    fn macro_f1_averages_the_labels_that_occur() {
        // No "none" row in gold or predicted: the mean of favor's and against's F1.
        let m = Metrics::compute(&labels(), &[0, 0, 1, 1], &[0, 1, 1, 1]);
        let (f, a) = (m.per_class[0].f1, m.per_class[1].f1);
        assert!((m.macro_f1 - (f + a) / 2.0).abs() < 1e-12, "{m:?}");
        // A label only predicted still counts (its F1 is 0).
        let m = Metrics::compute(&labels(), &[0, 0, 1, 1], &[0, 2, 1, 1]);
        assert!((m.macro_f1 - m.per_class.iter().map(|c| c.f1).sum::<f64>() / 3.0).abs() < 1e-12, "{m:?}");
    }

    #[test]
    fn no_f_avg_without_favor_and_against() {
        let l = ["positive", "neutral", "negative"].map(String::from).to_vec();
        assert!(Metrics::compute(&l, &[0, 1], &[0, 1]).f_avg.is_none());
    }
}
