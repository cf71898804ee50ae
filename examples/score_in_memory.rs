//! Scoring throughput on texts already in memory, as the peers in `benches/peers` are
//! timed (they predict from Python lists): no JSON read or written, only tokenize,
//! featurize and score. `stancer score` adds reading and writing JSONL on top.
//!
//! `cargo run --release --example score_in_memory -- MODEL.safetensors CORPUS.jsonl`
//! prints `{"rows": N, "one_core": texts/s, "all_cores": texts/s}`, each from one pass
//! over the corpus.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use rayon::prelude::*;
use stancer::features::Input;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, corpus] = &args[..] else {
        bail!("usage: score_in_memory MODEL.safetensors CORPUS.jsonl");
    };
    let model = stancer::model::load(std::path::Path::new(model)).with_context(|| format!("loading {model}"))?;
    let text = std::fs::read_to_string(corpus).with_context(|| format!("reading {corpus}"))?;
    let mut rows: Vec<(String, Option<String>)> = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let r: serde_json::Value = serde_json::from_str(line).with_context(|| format!("{corpus}:{}", i + 1))?;
        let t = r["text"].as_str().with_context(|| format!("{corpus}:{}: no text", i + 1))?;
        rows.push((t.to_string(), r["target"].as_str().map(str::to_string)));
    }
    let k = model.labels().len();
    let score = |(text, target): &(String, Option<String>)| {
        let mut z = [0f32; stancer::train::MAX_CLASSES];
        model.predict_probabilities(&Input { text, target: target.as_deref(), target_spans: &[] }, &mut z[..k])
    };
    // One timed pass, as the peers are timed; they have just predicted the test split, so
    // one untimed pass first warms the model up here too.
    let rate = |parallel: bool| {
        let t = Instant::now();
        let heads: usize = if parallel { rows.par_iter().map(score).sum() } else { rows.iter().map(score).sum() };
        std::hint::black_box(heads);
        rows.len() as f64 / t.elapsed().as_secs_f64()
    };
    rate(false);
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build()?.install(|| rate(false));
    let all = rate(true);
    println!("{{\"rows\": {}, \"one_core\": {one:.0}, \"all_cores\": {all:.0}}}", rows.len());
    Ok(())
}
