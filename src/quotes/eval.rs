//! Scoring extracted quotations against gold attributions (PolNeAR-style JSONL).
//!
//! # Matching rule
//!
//! A predicted quotation matches a gold attribution of the same document when the code
//! points they share (union of spans on each side) are at least half the gold content's
//! length. Matching is one-to-one and greedy: gold attributions are taken in file order,
//! each takes the unmatched prediction with the largest overlap. Gold attributions with no
//! content span are left out of every count.
//!
//! Three views are scored:
//!
//! - *quoted*: gold `quoted = true` against predicted direct and mixed quotations whose
//!   content holds a double quotation mark (`"` `“` `”` `«` `»` `„`). Why the mark test: in
//!   PolNeAR the `quoted` flag is set exactly when the content contains a double mark (all
//!   5,183 quoted training contents have one; contents quoted only with `''` or single
//!   marks, 1,200 of them, are `quoted = false`), so a direct quotation in `''` or `‘ ’`
//!   would count as a false positive against gold that calls it unquoted;
//! - *quoted_by_kind*: the same gold against every direct and mixed prediction (the plain
//!   reading, reported alongside so the difference is visible);
//! - *all*: every gold attribution against every prediction.
//!
//! # Speaker rule
//!
//! On matched quoted attributions whose gold source is non-empty, the speaker is right when
//! a word of the gold source text (lower-cased, punctuation trimmed) equals the last word of
//! the predicted canonical speaker or of the predicted source mention, or the gold source's
//! last word appears in either. So "Pentagon spokesperson Sabrina Singh" (gold) and
//! "Sabrina Singh" (canonical) agree, as do gold "he" and a source mention "he".

use std::io::BufRead;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Extraction, QuoteKind, Segment};
use crate::error::{Error, Result};

/// One gold attribution: source, cue and content segments, and whether the content
/// contains a quotation.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GoldAttribution {
    #[serde(default)]
    pub source: Vec<Segment>,
    #[serde(default)]
    pub cue: Vec<Segment>,
    #[serde(default)]
    pub content: Vec<Segment>,
    #[serde(default)]
    pub quoted: bool,
}

/// One gold document.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GoldDoc {
    /// The row's id (numbers are kept as their decimal text; the line number if absent).
    pub id: String,
    pub text: String,
    pub attributions: Vec<GoldAttribution>,
}

#[derive(Deserialize)]
struct RawGoldDoc {
    #[serde(default)]
    id: Option<serde_json::Value>,
    text: String,
    #[serde(default)]
    attributions: Vec<GoldAttribution>,
}

/// Reads gold documents from a JSONL file; a bad row is an error naming file and line,
/// as is a span outside its document.
pub fn read_gold(path: &Path) -> Result<Vec<GoldDoc>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let shown = path.display().to_string();
    let mut docs = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| Error::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |message: String| Error::InvalidRecord { path: shown.clone(), line: i + 1, message };
        let raw: RawGoldDoc = serde_json::from_str(crate::train::data::strip_bom(&line))
            .map_err(|e| bad(format!("invalid JSON: {e}")))?;
        let n = raw.text.chars().count();
        for (k, a) in raw.attributions.iter().enumerate() {
            for seg in a.source.iter().chain(&a.cue).chain(&a.content) {
                for s in &seg.spans {
                    if s[0] > s[1] || s[1] > n {
                        return Err(bad(format!(
                            "attribution {k}: span [{}, {}) outside text of {n} code points",
                            s[0], s[1]
                        )));
                    }
                }
            }
        }
        let id = match raw.id {
            Some(serde_json::Value::String(s)) => s,
            Some(v) => v.to_string(),
            None => (i + 1).to_string(),
        };
        docs.push(GoldDoc { id, text: raw.text, attributions: raw.attributions });
    }
    Ok(docs)
}

/// Precision, recall and F1 (0..1) with the counts behind them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Prf {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Matched pairs (true positives).
    pub matched: usize,
    /// Predictions in this view.
    pub predicted: usize,
    /// Gold attributions in this view.
    pub gold: usize,
}

impl Prf {
    fn from_counts(matched: usize, predicted: usize, gold: usize) -> Prf {
        let p = if predicted == 0 { 0.0 } else { matched as f64 / predicted as f64 };
        let r = if gold == 0 { 0.0 } else { matched as f64 / gold as f64 };
        let f1 = if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) };
        Prf { precision: p, recall: r, f1, matched, predicted, gold }
    }
}

/// Scores of an extraction run against gold (see the module doc for the rules).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ExtractionScores {
    /// Gold `quoted` attributions against predicted direct and mixed quotations whose
    /// content holds a double quotation mark (see the module doc).
    pub quoted: Prf,
    /// Gold `quoted` attributions against every predicted direct and mixed quotation.
    pub quoted_by_kind: Prf,
    /// Every gold attribution against every predicted quotation.
    pub all: Prf,
    /// Share of matched quoted attributions (with a gold source) whose speaker is right.
    pub speaker_accuracy: f64,
    /// Matched quoted attributions whose gold source is non-empty.
    pub speaker_checked: usize,
    /// Of those, how many have the right speaker.
    pub speaker_correct: usize,
}

fn spans_len(spans: &[[usize; 2]]) -> usize {
    spans.iter().map(|s| s[1].saturating_sub(s[0])).sum()
}

fn overlap(a: &[[usize; 2]], b: &[[usize; 2]]) -> usize {
    let mut n = 0;
    for x in a {
        for y in b {
            let lo = x[0].max(y[0]);
            let hi = x[1].min(y[1]);
            n += hi.saturating_sub(lo);
        }
    }
    n
}

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| c.is_whitespace())
        .map(|w| {
            crate::text::normalize_str(w)
                .trim_matches(|c: char| !c.is_alphanumeric())
                .trim_end_matches("'s")
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// The speaker rule of the module doc.
pub fn speaker_matches(gold_source: &str, canonical: Option<&str>, mention: Option<&str>) -> bool {
    let gold = words(gold_source);
    let Some(gold_last) = gold.last() else {
        return false;
    };
    for cand in [canonical, mention].into_iter().flatten() {
        let w = words(cand);
        if let Some(last) = w.last()
            && gold.contains(last)
        {
            return true;
        }
        if w.contains(gold_last) {
            return true;
        }
    }
    false
}

#[derive(Clone, Copy)]
enum View {
    All,
    Kind,
    Marks,
}

fn has_double_mark(s: &str) -> bool {
    s.contains(['"', '\u{201C}', '\u{201D}', '\u{00AB}', '\u{00BB}', '\u{201E}'])
}

/// Greedy one-to-one matching; returns (gold index, predicted index) pairs.
fn match_doc(gold: &[(usize, Vec<[usize; 2]>)], pred: &[(usize, Vec<[usize; 2]>)]) -> Vec<(usize, usize)> {
    let mut used = vec![false; pred.len()];
    let mut out = Vec::new();
    for (gi, gs) in gold {
        let need = spans_len(gs);
        let mut best: Option<(usize, usize)> = None;
        for (k, (_, ps)) in pred.iter().enumerate() {
            if used[k] {
                continue;
            }
            let o = overlap(gs, ps);
            if 2 * o >= need && o > 0 && best.is_none_or(|(_, bo)| o > bo) {
                best = Some((k, o));
            }
        }
        if let Some((k, _)) = best {
            used[k] = true;
            out.push((*gi, pred[k].0));
        }
    }
    out
}

/// Scores `predicted` (one extraction per gold document, same order) against `gold`.
pub fn evaluate(gold: &[GoldDoc], predicted: &[Extraction]) -> Result<ExtractionScores> {
    if gold.len() != predicted.len() {
        return Err(Error::InvalidParam {
            name: "predicted",
            message: format!("{} extractions for {} gold documents", predicted.len(), gold.len()),
        });
    }
    let (mut qm, mut qp, mut qg, mut am, mut ap, mut ag) = (0, 0, 0, 0, 0, 0);
    let (mut checked, mut correct) = (0, 0);
    let (mut km, mut kp) = (0, 0);
    for (doc, ext) in gold.iter().zip(predicted) {
        let gold_spans = |quoted_only: bool| -> Vec<(usize, Vec<[usize; 2]>)> {
            doc.attributions
                .iter()
                .enumerate()
                .filter(|(_, a)| !quoted_only || a.quoted)
                .map(|(i, a)| (i, a.content.iter().flat_map(|s| s.spans.clone()).collect::<Vec<_>>()))
                .filter(|(_, s)| spans_len(s) > 0)
                .collect()
        };
        let pred_spans = |view: View| -> Vec<(usize, Vec<[usize; 2]>)> {
            ext.quotes
                .iter()
                .enumerate()
                .filter(|(_, q)| match view {
                    View::All => true,
                    View::Kind => q.kind != QuoteKind::Indirect,
                    View::Marks => q.kind != QuoteKind::Indirect && has_double_mark(&q.content.text),
                })
                .map(|(i, q)| (i, q.content.spans.clone()))
                .collect()
        };
        let (gq, pq) = (gold_spans(true), pred_spans(View::Marks));
        let pk = pred_spans(View::Kind);
        km += match_doc(&gq, &pk).len();
        kp += pk.len();
        let mq = match_doc(&gq, &pq);
        qm += mq.len();
        qp += pq.len();
        qg += gq.len();
        for (gi, pi) in &mq {
            let g = &doc.attributions[*gi];
            let gsrc: Vec<&str> = g.source.iter().map(|s| s.text.as_str()).collect();
            if gsrc.is_empty() {
                continue;
            }
            checked += 1;
            let q = &ext.quotes[*pi];
            if speaker_matches(&gsrc.join(" "), q.speaker.as_deref(), q.source.as_ref().map(|s| s.text.as_str())) {
                correct += 1;
            }
        }
        let (ga, pa) = (gold_spans(false), pred_spans(View::All));
        am += match_doc(&ga, &pa).len();
        ap += pa.len();
        ag += ga.len();
    }
    Ok(ExtractionScores {
        quoted: Prf::from_counts(qm, qp, qg),
        quoted_by_kind: Prf::from_counts(km, kp, qg),
        all: Prf::from_counts(am, ap, ag),
        speaker_accuracy: if checked == 0 { 0.0 } else { correct as f64 / checked as f64 },
        speaker_checked: checked,
        speaker_correct: correct,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speaker_rule() {
        assert!(speaker_matches("Pentagon spokesperson Sabrina Singh", Some("Sabrina Singh"), None));
        assert!(speaker_matches("Singh", Some("Sabrina Singh"), None));
        assert!(speaker_matches("he", Some("Joe Biden"), Some("he")));
        assert!(!speaker_matches("Rutte", Some("Joe Biden"), Some("Biden")));
        assert!(speaker_matches("North Korea’s state media", Some("North Korea's state media"), None));
    }

    #[test]
    fn overlap_counts_shared_code_points() {
        assert_eq!(overlap(&[[0, 10]], &[[5, 20]]), 5);
        assert_eq!(overlap(&[[0, 4], [6, 10]], &[[2, 8]]), 4);
        let m = match_doc(&[(0, vec![[0, 10]])], &[(0, vec![[6, 9]]), (1, vec![[0, 6]])]);
        assert_eq!(m, vec![(0, 1)]);
    }

    #[test]
    fn bad_row_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("g.jsonl");
        std::fs::write(&p, "{\"id\":\"a\",\"text\":\"hi\",\"attributions\":[]}\n{oops\n").unwrap();
        let err = read_gold(&p).unwrap_err().to_string();
        assert!(err.contains("g.jsonl:2"), "{err}");
        std::fs::write(
            &p,
            "{\"id\":1,\"text\":\"hi\",\"attributions\":[{\"content\":[{\"text\":\"x\",\"spans\":[[0,9]]}]}]}\n",
        )
        .unwrap();
        let err = read_gold(&p).unwrap_err().to_string();
        assert!(err.contains(":1:") && err.contains("outside"), "{err}");
    }
}
