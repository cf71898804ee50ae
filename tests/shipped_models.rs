//! The models the repository ships: they load, have the promised heads and labels, fit the
//! size budget, and (when ../shared/data is present) score real rows through the CLI.

use std::path::{Path, PathBuf};

use stancer::features::Input;
use stancer::model::{self, POOLED_HEAD, Task};

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models")
}

#[test]
fn shipped_models_load_and_fit_the_size_budget() {
    let stance = model::load(&models_dir().join("stance.safetensors")).unwrap();
    assert_eq!(stance.task(), Task::Stance);
    let heads: Vec<&str> = stance.heads().iter().map(|h| h.name.as_str()).collect();
    for t in [
        "Atheism",
        "Climate Change is a Real Concern",
        "Feminist Movement",
        "Hillary Clinton",
        "Legalization of Abortion",
        POOLED_HEAD,
    ] {
        assert!(heads.contains(&t), "{heads:?}");
    }
    assert!(stance.meta().metrics.as_ref().unwrap().f_avg.is_some());

    let sentiment = model::load(&models_dir().join("sentiment.safetensors")).unwrap();
    assert_eq!(sentiment.task(), Task::Sentiment);
    assert_eq!(sentiment.labels(), ["positive", "neutral", "negative"]);
    // Whole-quote sentiment: no target at all.
    let p = sentiment
        .predict(&Input { text: "This is a disgraceful, shameful failure.", target: None, target_spans: &[] }, 0);
    assert_eq!(p.label, "negative");

    let total: u64 = ["stance", "sentiment"]
        .iter()
        .map(|n| std::fs::metadata(models_dir().join(format!("{n}.safetensors"))).unwrap().len())
        .sum();
    assert!(total < 20_000_000, "shipped models take {total} bytes");
}

/// Needs ../shared/data: skipped (with a note) when it is absent.
#[test]
fn shipped_stance_model_scores_real_rows_through_the_cli() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/stance/semeval2016-train.jsonl");
    if !data.exists() {
        eprintln!("skipped: {} is absent", data.display());
        return;
    }
    let out = tempfile::NamedTempFile::new().unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_stancer"))
        .args(["score", "--models", models_dir().to_str().unwrap(), "--model", "stance", "--input"])
        .arg(&data)
        .arg("--output")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let gold: Vec<serde_json::Value> =
        std::fs::read_to_string(&data).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let pred: Vec<serde_json::Value> =
        std::fs::read_to_string(out.path()).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(gold.len(), pred.len());
    let correct = gold.iter().zip(&pred).filter(|(g, p)| g["id"] == p["id"] && g["label"] == p["label"]).count();
    // These are the training rows: a model that fits them poorly is broken.
    assert!(correct as f64 / gold.len() as f64 > 0.9, "{correct} of {}", gold.len());
    assert!(pred.iter().all(|p| p["head"] != POOLED_HEAD));
}

/// A quotation scores the same whatever marks the publisher set around it.
#[test]
fn quotation_marks_do_not_change_the_scores() {
    let stance = model::load(&models_dir().join("stance.safetensors")).unwrap();
    let sentiment = model::load(&models_dir().join("sentiment.safetensors")).unwrap();
    let said = "We will never accept this war, and the troops must come home";
    let scores = |text: &str| {
        let (st, se) = stancer::analyze::score_text(text, "North Korea", &stance, &sentiment, 0);
        (st.probabilities, se.probabilities)
    };
    let plain = scores(said);
    for (open, close) in [("“", "”"), ("\"", "\""), ("‘", "’"), ("«", "»"), ("„", "“"), ("「", "」")] {
        assert_eq!(scores(&format!("{open}{said}{close}")), plain, "{open}{close}");
    }
}
