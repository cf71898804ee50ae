//! From attributed quotations to per-quotation predictions and per-speaker verdicts.
//!
//! This is the roll-up shared by the gRPC service and the CLI, so it knows nothing of
//! either: plain types, serde-serializable so the CLI can print them as JSON.
//!
//! Roll-up rule (also documented in the proto): quotations are grouped by speaker name,
//! trimmed and compared case-insensitively; a speaker's probability vector for each model
//! is the mean of the per-quotation probability vectors (each quotation counts the same,
//! however long), and the label is its argmax, ties going to the earlier label. The mean
//! of probabilities, rather than a vote of labels, keeps a speaker with two lukewarm
//! "favor" quotes and one confident "against" from looking more decided than they are.
//! The canonical name is the most frequent spelling (ties: the one seen first).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::features::Input;
use crate::model::{LinearModel, Prediction, Task};
use crate::quotes::{self, Quote, Speaker};
use crate::text::is_blank;

/// Explanations longer than this are cut: past a few dozen features an explanation stops
/// explaining, and each one costs a string.
pub const MAX_EXPLAIN: usize = 50;

/// One quotation attributed to a speaker by the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quotation {
    pub id: String,
    pub speaker: String,
    pub text: String,
}

/// The scores of one quotation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuoteScore {
    pub id: String,
    /// The speaker as given, trimmed.
    pub speaker: String,
    pub stance: Prediction,
    pub sentiment: Prediction,
}

/// Mean of several predictions' probability vectors, and its most probable label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    pub label: String,
    /// Mean probability of every label, in the model's label order.
    pub probabilities: Vec<(String, f32)>,
}

/// Where one speaker stands over all of their quotations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeakerVerdict {
    /// The most frequent spelling of the name.
    pub speaker: String,
    /// Every distinct spelling seen (trimmed), in order of first appearance.
    pub aliases: Vec<String>,
    pub quote_count: usize,
    pub stance: Aggregate,
    pub sentiment: Aggregate,
    /// Ids of the quotations behind the verdict, in input order.
    pub quote_ids: Vec<String>,
}

/// Everything [`score_quotations`] found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub target: String,
    /// One per input quotation, in input order.
    pub quotes: Vec<QuoteScore>,
    /// One per speaker, in order of first appearance.
    pub speakers: Vec<SpeakerVerdict>,
}

/// Checks that the target and every quotation can be scored, naming the first bad field
/// (`target`, `quotations[3].speaker`, `quotations[3].text`) so a caller can fix it. A field
/// of only spaces and zero-width characters is as empty as "" ([`is_blank`]): scored, it
/// would be an empty text given the scores of the model's bias alone.
pub fn validate(target: &str, quotations: &[Quotation]) -> Result<()> {
    if is_blank(target) {
        return Err(Error::InvalidInput {
            field: "target".into(),
            message: "must not be empty (stance is always toward a target)".into(),
        });
    }
    for (i, q) in quotations.iter().enumerate() {
        if is_blank(&q.speaker) {
            return Err(Error::InvalidInput {
                field: format!("quotations[{i}].speaker"),
                message: "must not be empty (verdicts are per speaker)".into(),
            });
        }
        if is_blank(&q.text) {
            return Err(Error::InvalidInput {
                field: format!("quotations[{i}].text"),
                message: "must not be empty".into(),
            });
        }
    }
    Ok(())
}

/// Checks that `model` does the task it is being used for; the field names the request
/// field that chose it.
pub fn check_task(model: &LinearModel, task: Task, field: &str) -> Result<()> {
    if model.task() != task {
        return Err(Error::InvalidInput {
            field: field.into(),
            message: format!("model {:?} is a {} model, expected a {task} model", model.name(), model.task()),
        });
    }
    Ok(())
}

/// Scores one text with both models. The sentiment model is given the target, as it is
/// trained toward a person (its featurizer finds the target's mentions for its window
/// features); the stance model picks its head by the target.
pub fn score_text(
    text: &str,
    target: &str,
    stance: &LinearModel,
    sentiment: &LinearModel,
    explain: usize,
) -> (Prediction, Prediction) {
    let explain = explain.min(MAX_EXPLAIN);
    // The marks around a quotation are the publisher's typography, not what was said:
    // scored, they moved a stance by 15 points between “…” and ‘…’.
    let text = text.trim_matches(|c: char| c.is_whitespace() || is_quote_mark(c));
    let target = target.trim();
    let st = stance.predict(&Input { text, target: Some(target), target_spans: &[] }, explain);
    let se = sentiment.predict(&Input { text, target: Some(target), target_spans: &[] }, explain);
    (st, se)
}

/// A quotation mark, trimmed off the ends of a quotation before it is scored: what
/// normalisation folds to `"` or `'` (the marks quotation extraction pairs), and the CJK
/// corner brackets, which it keeps.
fn is_quote_mark(c: char) -> bool {
    matches!(c, '"' | '\'' | '\u{300c}' | '\u{300d}' | '\u{300e}' | '\u{300f}')
        || matches!(crate::text::fold_char(c), Some("\"" | "'"))
}

/// Scores every quotation and rolls the scores up per speaker. Validates first, so an
/// invalid request does no work. `cancelled` is asked before each quotation, and once it
/// says so the work stops with [`Error::Cancelled`]: a server whose caller has gone
/// (deadline passed, call cancelled) frees its worker instead of finishing for no one.
pub fn score_quotations(
    quotations: &[Quotation],
    target: &str,
    stance: &LinearModel,
    sentiment: &LinearModel,
    explain: usize,
    cancelled: &dyn Fn() -> bool,
) -> Result<Analysis> {
    validate(target, quotations)?;
    check_task(stance, Task::Stance, "stance_model")?;
    check_task(sentiment, Task::Sentiment, "sentiment_model")?;
    let quotes: Vec<QuoteScore> = quotations
        .iter()
        .map(|q| {
            if cancelled() {
                return Err(Error::Cancelled);
            }
            let (stance, sentiment) = score_text(&q.text, target, stance, sentiment, explain);
            Ok(QuoteScore { id: q.id.clone(), speaker: q.speaker.trim().to_string(), stance, sentiment })
        })
        .collect::<Result<_>>()?;
    let speakers = aggregate(&quotes);
    Ok(Analysis { target: target.to_string(), quotes, speakers })
}

/// One quotation found in a document, with its predictions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentQuote {
    /// `q1`, `q2`, ... in document order; the ids the verdicts refer to.
    pub id: String,
    #[serde(flatten)]
    pub quote: Quote,
    pub stance: Prediction,
    pub sentiment: Prediction,
}

/// A document's quotations, their predictions and one verdict per attributed speaker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentAnalysis {
    pub target: String,
    /// Every quotation found, attributed or not, in document order.
    pub quotes: Vec<DocumentQuote>,
    /// The speakers found, with their aliases and roles.
    pub speakers: Vec<Speaker>,
    /// One verdict per speaker over their attributed quotations; unattributed quotations
    /// are left out.
    pub verdicts: Vec<SpeakerVerdict>,
}

/// Finds the quotations in `text`, scores each one's content, and rolls the attributed
/// ones up per canonical speaker; `cancelled` as in [`score_quotations`]. A document with
/// more than `max_quotes` quotations is refused ([`Error::LimitExceeded`], as the server's
/// `max_document_quotations`) before any of them is scored; `usize::MAX` for no limit.
pub fn analyze_document(
    text: &str,
    target: &str,
    stance: &LinearModel,
    sentiment: &LinearModel,
    explain: usize,
    max_quotes: usize,
    cancelled: &dyn Fn() -> bool,
) -> Result<DocumentAnalysis> {
    if is_blank(text) {
        return Err(Error::InvalidInput { field: "text".into(), message: "must not be empty".into() });
    }
    if is_blank(target) {
        return Err(Error::InvalidInput {
            field: "target".into(),
            message: "must not be empty (stance is always toward a target)".into(),
        });
    }
    check_task(stance, Task::Stance, "stance_model")?;
    check_task(sentiment, Task::Sentiment, "sentiment_model")?;
    let extraction = quotes::extract(text);
    if extraction.quotes.len() > max_quotes {
        return Err(Error::LimitExceeded {
            limit: "max_document_quotations",
            message: format!(
                "the document has {} quotations; the server analyses at most {max_quotes} in one document (split \
                 it over several requests, or several AnalyzeStream items)",
                extraction.quotes.len()
            ),
        });
    }
    let scored: Vec<DocumentQuote> = extraction
        .quotes
        .into_iter()
        .enumerate()
        .map(|(i, quote)| {
            if cancelled() {
                return Err(Error::Cancelled);
            }
            let (stance, sentiment) = score_text(&quote.content.text, target, stance, sentiment, explain);
            Ok(DocumentQuote { id: format!("q{}", i + 1), quote, stance, sentiment })
        })
        .collect::<Result<_>>()?;
    let attributed: Vec<QuoteScore> = scored
        .iter()
        .filter_map(|q| {
            Some(QuoteScore {
                id: q.id.clone(),
                speaker: q.quote.speaker.clone()?,
                stance: q.stance.clone(),
                sentiment: q.sentiment.clone(),
            })
        })
        .collect();
    let verdicts = aggregate(&attributed);
    Ok(DocumentAnalysis { target: target.trim().to_string(), quotes: scored, speakers: extraction.speakers, verdicts })
}

/// Groups scored quotations by speaker (trimmed, case-insensitive) and rolls each group
/// up (see the module doc). Quotations with an empty speaker are left out: an
/// unattributed quotation says nothing about anyone.
pub fn aggregate(quotes: &[QuoteScore]) -> Vec<SpeakerVerdict> {
    let mut order: Vec<String> = Vec::new();
    let mut groups: HashMap<String, Vec<&QuoteScore>> = HashMap::new();
    for q in quotes {
        let name = q.speaker.trim();
        if name.is_empty() {
            continue;
        }
        let key = name.to_lowercase();
        let group = groups.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            Vec::new()
        });
        group.push(q);
    }
    order.into_iter().filter_map(|key| groups.remove(&key)).map(|group| verdict(&group)).collect()
}

fn verdict(group: &[&QuoteScore]) -> SpeakerVerdict {
    // Spellings with their counts, in order of first appearance.
    let mut spellings: Vec<(String, usize)> = Vec::new();
    for q in group {
        let s = q.speaker.trim();
        match spellings.iter_mut().find(|(t, _)| t == s) {
            Some((_, n)) => *n += 1,
            None => spellings.push((s.to_string(), 1)),
        }
    }
    let mut canonical = 0;
    for (i, (_, n)) in spellings.iter().enumerate() {
        if *n > spellings[canonical].1 {
            canonical = i;
        }
    }
    SpeakerVerdict {
        speaker: spellings[canonical].0.clone(),
        aliases: spellings.into_iter().map(|(s, _)| s).collect(),
        quote_count: group.len(),
        stance: mean(group.iter().map(|q| &q.stance)),
        sentiment: mean(group.iter().map(|q| &q.sentiment)),
        quote_ids: group.iter().map(|q| q.id.clone()).collect(),
    }
}

/// Mean of probability vectors that share one label order (they come from one model).
fn mean<'a>(predictions: impl Iterator<Item = &'a Prediction>) -> Aggregate {
    let mut sum: Vec<(String, f32)> = Vec::new();
    let mut n = 0usize;
    for p in predictions {
        if sum.is_empty() {
            sum = p.probabilities.iter().map(|(l, _)| (l.clone(), 0.0)).collect();
        }
        for ((_, s), (_, v)) in sum.iter_mut().zip(&p.probabilities) {
            *s += v;
        }
        n += 1;
    }
    if n > 0 {
        for (_, s) in &mut sum {
            *s /= n as f32;
        }
    }
    let mut best = 0;
    for (i, (_, v)) in sum.iter().enumerate() {
        if *v > sum[best].1 {
            best = i;
        }
    }
    Aggregate { label: sum.get(best).map(|(l, _)| l.clone()).unwrap_or_default(), probabilities: sum }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Contribution;

    fn pred(labels: &[&str], p: &[f32]) -> Prediction {
        let mut best = 0;
        for i in 0..p.len() {
            if p[i] > p[best] {
                best = i;
            }
        }
        Prediction {
            label: labels[best].to_string(),
            probabilities: labels.iter().map(|l| l.to_string()).zip(p.to_vec()).collect(),
            head: "(pooled)".into(),
            pooled: false,
            top_features: Vec::<Contribution>::new(),
        }
    }

    fn qs(id: &str, speaker: &str, stance: &[f32]) -> QuoteScore {
        QuoteScore {
            id: id.into(),
            speaker: speaker.into(),
            stance: pred(&["favor", "against", "none"], stance),
            sentiment: pred(&["positive", "neutral", "negative"], &[0.2, 0.5, 0.3]),
        }
    }

    #[test]
    fn groups_case_insensitively_and_means_probabilities() {
        let quotes = vec![
            qs("1", "Ann Lee", &[0.6, 0.3, 0.1]),
            qs("2", "Bob", &[0.1, 0.8, 0.1]),
            qs("3", "ann lee", &[0.55, 0.35, 0.1]),
            qs("4", " ann lee ", &[0.05, 0.9, 0.05]),
            qs("5", "", &[1.0, 0.0, 0.0]),
        ];
        let v = aggregate(&quotes);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].quote_ids, ["1", "3", "4"]);
        assert_eq!(v[0].quote_count, 3);
        // "ann lee" is spelled that way twice (once with spaces), "Ann Lee" once.
        assert_eq!(v[0].speaker, "ann lee");
        assert_eq!(v[0].aliases, ["Ann Lee", "ann lee"]);
        // Mean: favor 0.4, against 0.516..: two lukewarm favors lose to one firm against.
        assert_eq!(v[0].stance.label, "against");
        let sum: f32 = v[0].stance.probabilities.iter().map(|(_, p)| p).sum();
        assert!((sum - 1.0).abs() < 1e-5);
        assert!((v[0].stance.probabilities[0].1 - 0.4).abs() < 1e-5);
        assert_eq!(v[1].speaker, "Bob");
        assert_eq!(v[1].sentiment.label, "neutral");
    }

    #[test]
    fn canonical_name_tie_goes_to_first_spelling() {
        let v = aggregate(&[qs("a", "OBAMA", &[1.0, 0.0, 0.0]), qs("b", "Obama", &[0.0, 1.0, 0.0])]);
        assert_eq!(v[0].speaker, "OBAMA");
        // A tie in probabilities goes to the earlier label.
        assert_eq!(v[0].stance.label, "favor");
    }

    #[test]
    fn validation_names_the_field() {
        let q = |s: &str, t: &str| Quotation { id: "x".into(), speaker: s.into(), text: t.into() };
        let err = validate("t", &[q("a", "b"), q("a", "b"), q("a", "b"), q("a", "  ")]);
        assert!(err.unwrap_err().to_string().contains("quotations[3].text"));
        let err = validate("t", &[q("a", "b"), q(" ", "b")]);
        assert!(err.unwrap_err().to_string().contains("quotations[1].speaker"));
        let err = validate(" ", &[]);
        assert!(err.unwrap_err().to_string().contains("target"));
        let err = validate("t", &[q("a", "b"), q("a", "\u{200B}\u{FEFF} \u{2060}")]);
        assert!(err.unwrap_err().to_string().contains("quotations[1].text"));
        let err = validate("t", &[q("\u{200C}\u{200D}", "b")]);
        assert!(err.unwrap_err().to_string().contains("quotations[0].speaker"));
        assert!(validate("\u{FEFF}", &[]).unwrap_err().to_string().contains("target"));
        assert!(validate("t", &[]).is_ok());
    }
}
