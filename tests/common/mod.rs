//! Small labelled data the tests write themselves.

#![allow(dead_code)]

use std::path::Path;

/// Stance rows for two targets, with clear cue words per label, as JSONL.
pub fn stance_jsonl() -> String {
    stance_jsonl_rows(12)
}

/// [`stance_jsonl`] with `per_target` rows of each label for each target.
pub fn stance_jsonl_rows(per_target: usize) -> String {
    let mut out = String::new();
    let favor = ["love", "support", "great", "proud of", "stand with"];
    let against = ["hate", "oppose", "awful", "ashamed of", "reject"];
    let none = ["the weather today", "my lunch", "a football game", "traffic again", "a new phone"];
    let mut n = 0;
    for target in ["Wind Power", "Tax Cuts"] {
        for i in 0..per_target {
            let topic = target.to_lowercase();
            let rows = [
                (format!("I {} {topic} so much #{i}", favor[i % 5]), "favor"),
                (format!("We {} {topic}, always {i}", against[i % 5]), "against"),
                (format!("Thinking about {} {i}", none[i % 5]), "none"),
            ];
            for (text, label) in rows {
                n += 1;
                out += &format!(
                    "{}\n",
                    serde_json::json!({"id": format!("r{n}"), "text": text, "target": target, "label": label})
                );
            }
        }
    }
    out
}

/// Sentiment rows about a person, with the person's span, as JSONL.
pub fn sentiment_jsonl() -> String {
    let mut out = String::new();
    let words = [("praised", "positive"), ("met", "neutral"), ("attacked", "negative")];
    for i in 0..30 {
        let (verb, label) = words[i % 3];
        let text = format!("Critics {verb} Smith on day {i}.");
        let start = text.find("Smith").unwrap();
        out += &format!(
            "{}\n",
            serde_json::json!({"id": i, "text": text, "target": "Smith", "target_spans": [[start, start + 5]], "label": label})
        );
    }
    out
}

pub fn write(dir: &Path, name: &str, body: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}
