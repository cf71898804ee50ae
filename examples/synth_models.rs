//! Trains a stance and a sentiment model on synthetic rows and writes them as
//! `DIR/stance.safetensors` and `DIR/sentiment.safetensors`, with the default featurizer
//! (so scoring costs what it costs with real models). For load tests and the Python
//! client's test when no trained models are at hand; the models have no real-world value.
//!
//! `cargo run --release --example synth_models -- DIR [ROWS]`

use std::path::PathBuf;

use stancer::model::{self, Task};
use stancer::train::{DataInfo, Example, TrainConfig, train};

/// A small deterministic generator: the rows must not change between runs.
struct Lcg(u64);
impl Lcg {
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        xs[((self.0 >> 33) % xs.len() as u64) as usize]
    }
}

const FILLER: &[&str] =
    &["today", "in the interview", "on Monday", "to reporters", "again", "at the rally", "in a statement", "last week"];

fn rows(task: Task, n: usize) -> Vec<Example> {
    let mut g = Lcg(7);
    let targets = ["Climate Change", "Hillary Clinton", "Atheism"];
    let (good, bad, neutral): (&[&str], &[&str], &[&str]) = match task {
        Task::Stance => (
            &["I strongly support", "we must defend", "I am proud of", "vote for", "I back"],
            &["I oppose", "we must stop", "I am ashamed of", "never vote for", "down with"],
            &["the debate about", "a report on", "the schedule for", "news about", "a panel on"],
        ),
        Task::Sentiment => (
            &[
                "a wonderful success for",
                "great and happy news for",
                "an excellent day for",
                "praise for",
                "a lovely win for",
            ],
            &[
                "a terrible failure for",
                "awful and sad news for",
                "a disgraceful day for",
                "anger at",
                "a bitter loss for",
            ],
            &["a meeting with", "the schedule of", "a statement by", "the office of", "a visit by"],
        ),
    };
    (0..n)
        .map(|i| {
            let t = targets[i % targets.len()];
            let label = (i / targets.len()) % 3;
            let lead = g.pick([good, bad, neutral][label]);
            let text = format!("{lead} {t} {} {}", g.pick(FILLER), g.pick(FILLER));
            Example { id: i.to_string(), text, target: Some(t.to_string()), target_spans: vec![], label: Some(label) }
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: synth_models DIR [ROWS]")?);
    let n: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(600);
    for task in [Task::Stance, Task::Sentiment] {
        let mut cfg = TrainConfig::for_task(task, &task.to_string());
        cfg.folds = 3;
        let t = train(
            &cfg,
            &rows(task, n),
            None,
            &DataInfo { files: vec!["synthetic".into()], digest: String::new() },
            "2026-01-01T00:00:00Z",
            &|_, _, _| {},
        )?;
        let path = dir.join(format!("{task}.safetensors"));
        model::save(&t.model, &path)?;
        println!("{}: {} rows, {}", path.display(), n, t.cv.map(|m| m.summary()).unwrap_or_default());
    }
    Ok(())
}
