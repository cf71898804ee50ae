//! Train on a small file the test writes, save, reload: identical predictions, and the
//! same data and seed give the same bytes.

mod common;

use stancer::features::Input;
use stancer::model::{self, Task};
use stancer::train::{self, DataInfo, ReadReport, TrainConfig};

fn read(path: &std::path::Path, task: Task) -> Vec<train::Example> {
    let mut v = Vec::new();
    train::data::read_labelled(
        std::fs::File::open(path).unwrap(),
        path.to_str().unwrap(),
        task,
        &Default::default(),
        false,
        &mut v,
        &mut ReadReport::default(),
    )
    .unwrap();
    v
}

#[test]
fn save_reload_predicts_identically_and_bytes_are_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let data = common::write(dir.path(), "stance.jsonl", &common::stance_jsonl());
    let examples = read(&data, Task::Stance);
    let cfg = TrainConfig { folds: 3, ..TrainConfig::for_task(Task::Stance, "stance") };
    let info = DataInfo { files: vec!["stance.jsonl".into()], digest: "d".into() };
    let t = train::train(&cfg, &examples, None, &info, "2026-01-01T00:00:00Z", &|_, _, _| {}).unwrap();
    assert!(t.cv.as_ref().unwrap().accuracy > 0.8, "{}", t.cv.unwrap().summary());

    let path = dir.path().join("models/stance.safetensors");
    model::save(&t.model, &path).unwrap();
    let loaded = model::load(&path).unwrap();
    assert_eq!(loaded.meta(), t.model.meta());
    // The record of the training texts travels with the file.
    let seen = loaded.seen_texts().expect("trained models record their texts");
    assert_eq!(Some(seen), t.model.seen_texts());
    assert!(examples.iter().all(|e| seen.contains(&e.text)));
    assert_eq!(loaded.meta().training.seen_texts.as_ref().map(|s| s.texts), Some(examples.len()));
    for e in &examples {
        let input = Input { text: &e.text, target: e.target.as_deref(), target_spans: &e.target_spans };
        assert_eq!(loaded.predict(&input, 5), t.model.predict(&input, 5), "{}", e.text);
    }
    // The scoring path sums weights as features are made; it must agree with scoring the
    // feature vector (what cross-validation does).
    let mut v = stancer::features::SparseVec::default();
    for e in &examples {
        let input = Input { text: &e.text, target: e.target.as_deref(), target_spans: &e.target_spans };
        let mut z = vec![0f32; 3];
        let h = loaded.predict_probabilities(&input, &mut z);
        loaded.featurizer().featurize(&input, &mut v);
        let mut want = vec![0f32; 3];
        loaded.heads()[h].scores(&v.indices, &v.values, &mut want);
        train::softmax_in_place(&mut want);
        for (a, b) in z.iter().zip(&want) {
            assert!((a - b).abs() < 1e-5, "{z:?} vs {want:?} for {}", e.text);
        }
    }
    let unseen = Input { text: "I love it", target: Some("Something New"), target_spans: &[] };
    let p = loaded.predict(&unseen, 0);
    assert!(p.pooled);
    assert_eq!(p.head, model::POOLED_HEAD);

    // Same data, same seed, same created-at: same bytes.
    let t2 = train::train(&cfg, &examples, None, &info, "2026-01-01T00:00:00Z", &|_, _, _| {}).unwrap();
    let path2 = dir.path().join("again.safetensors");
    model::save(&t2.model, &path2).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(&path2).unwrap());
}

#[test]
fn sentiment_uses_target_window_and_works_without_target() {
    let dir = tempfile::tempdir().unwrap();
    let data = common::write(dir.path(), "sent.jsonl", &common::sentiment_jsonl());
    let examples = read(&data, Task::Sentiment);
    let cfg = TrainConfig { folds: 0, ..TrainConfig::for_task(Task::Sentiment, "sentiment") };
    let t = train::train(&cfg, &examples, None, &DataInfo::default(), "x", &|_, _, _| {}).unwrap();
    assert_eq!(t.model.heads().len(), 1);
    let text = "Critics praised Smith on day 99.";
    let spans = [[16usize, 21usize]];
    let p = t.model.predict(&Input { text, target: Some("Smith"), target_spans: &spans }, 3);
    assert_eq!(p.label, "positive");
    assert!(!p.pooled);
    assert!(p.top_features.iter().any(|f| f.feature.contains("praised")), "{:?}", p.top_features);
    // Without spans the model finds "Smith" itself, and scores as it does with them.
    let found = t.model.predict(&Input { text, target: Some("Smith"), target_spans: &[] }, 3);
    assert_eq!((found.probabilities, found.top_features), (p.probabilities, p.top_features));
    let p = t.model.predict(&Input { text: "Critics attacked Smith on day 99.", target: None, target_spans: &[] }, 0);
    assert_eq!(p.label, "negative");
}

#[test]
fn corrupt_truncated_and_foreign_files_are_refused_with_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let data = common::write(dir.path(), "stance.jsonl", &common::stance_jsonl());
    let examples = read(&data, Task::Stance);
    let cfg = TrainConfig { folds: 0, ..TrainConfig::for_task(Task::Stance, "s") };
    let t = train::train(&cfg, &examples, None, &DataInfo::default(), "x", &|_, _, _| {}).unwrap();
    let good = dir.path().join("good.safetensors");
    model::save(&t.model, &good).unwrap();
    let bytes = std::fs::read(&good).unwrap();

    let truncated = common::write(dir.path(), "trunc.safetensors", "");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let err = model::load(&truncated).unwrap_err().to_string();
    assert!(err.contains("trunc.safetensors") && err.contains("truncated"), "{err}");

    let mut corrupt = bytes.clone();
    corrupt[10] ^= 0xff;
    let cpath = dir.path().join("corrupt.safetensors");
    std::fs::write(&cpath, &corrupt).unwrap();
    assert!(model::load(&cpath).unwrap_err().to_string().contains("corrupt.safetensors"));

    // A valid safetensors file that is not a stancer model.
    let foreign = safetensors::serialize(Vec::<(String, safetensors::tensor::TensorView<'_>)>::new(), &None).unwrap();
    let fpath = dir.path().join("foreign.safetensors");
    std::fs::write(&fpath, foreign).unwrap();
    let err = model::load(&fpath).unwrap_err().to_string();
    assert!(err.contains("not a stancer model"), "{err}");

    // A future format version.
    // The metadata is a JSON string inside the JSON header, so its quotes are escaped.
    let needle = b"format_version\\\":1";
    let at = bytes.windows(needle.len()).position(|w| w == needle).unwrap();
    let mut future = bytes.clone();
    future[at + needle.len() - 1] = b'9';
    let vpath = dir.path().join("future.safetensors");
    std::fs::write(&vpath, &future).unwrap();
    let err = model::load(&vpath).unwrap_err().to_string();
    assert!(err.contains("format version 9"), "{err}");

    let err = model::load(&dir.path().join("missing.safetensors")).unwrap_err().to_string();
    assert!(err.contains("missing.safetensors"), "{err}");
}
