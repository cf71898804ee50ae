//! Scoring throughput on tweet-length texts with the shipped stance model:
//! tokenize + featurize + score, one core.
//!
//! `cargo bench --bench throughput` (criterion reports time per batch of 1,000 texts and
//! elements per second).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use stancer::features::Input;

/// Tweet-like texts (80–140 characters), varied so the featurizer sees no repeats.
fn tweets(n: usize) -> Vec<String> {
    let openers = ["Honestly,", "Can't believe", "RT @news:", "Why does", "So proud that", "Nobody thinks", "Just saw"];
    let middles = [
        "the new climate report says emissions keep rising",
        "feminists are marching downtown again today",
        "Hillary's speech on healthcare was not convincing",
        "religion has no place in our schools",
        "abortion should be a choice for every woman",
        "we need to protect unborn children",
    ];
    let tails = ["#SemST", "http://t.co/abc123", "#GodIsGood", "!!!", "... smh", "#StopHillary2016 @user"];
    (0..n).map(|i| format!("{} {} {} {}", openers[i % 7], middles[(i / 7) % 6], tails[(i / 42) % 6], i)).collect()
}

fn bench(c: &mut Criterion) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/models/stance.safetensors");
    let model = stancer::model::load(std::path::Path::new(path)).expect("shipped stance model");
    let texts = tweets(1000);
    let targets = [
        "Atheism",
        "Climate Change is a Real Concern",
        "Feminist Movement",
        "Hillary Clinton",
        "Legalization of Abortion",
    ];
    let mut g = c.benchmark_group("score");
    g.throughput(Throughput::Elements(texts.len() as u64));
    g.bench_function("tweets_1000", |b| {
        b.iter(|| {
            let mut acc = 0usize;
            for (i, t) in texts.iter().enumerate() {
                acc += model.predict_index(&Input { text: t, target: Some(targets[i % 5]), target_spans: &[] });
            }
            acc
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
