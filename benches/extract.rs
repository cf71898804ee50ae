//! Quotation extraction speed on a ~5,000-word article built from varied paragraphs
//! (direct, split, multi-paragraph, indirect, according-to, naming cues, pronouns).
//! Target: under 1 ms per 1,000 words.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

const PARAGRAPHS: &[&str] = &[
    "The Pentagon has confirmed that {p} is sending around 10,000 troops to the region to support its campaign in the coming weeks.",
    "Some soldiers have already moved closer to the border, heading towards the northern region, where forces have launched counterattacks, Pentagon spokesperson {n} said on Monday.",
    "“We are watching this very closely,” {n} told reporters. “Any deployment would be a serious escalation, and we will respond with our allies.”",
    "According to {s}, the units stationed on the frontlines would be considered co-belligerents, facing no restrictions on the use of weapons against them.",
    "US President Joe Biden has labeled the deployment as “very dangerous,” echoing the concerns of other global leaders, while {n} called the move a “serious threat” to peace.",
    "The increased cooperation has raised alarms in the region, particularly among countries like Japan and Australia, according to analysts in {p}.",
    "“It is not only about troops,” she said, “it is about technology, money and time.”",
    "Western governments have reported that {p} has been supplying large amounts of ammunition, while others have contributed drones and training.",
    "{n}, who described the talks as “productive but unfinished,” said a new round would begin next month in Geneva.",
    "Opposition leader {n} disagreed. “These numbers are fiction,” he said. “Nobody in the capital believes them.”",
    "The ministry denied the report, saying the convoy was part of a routine exercise planned months ago.",
    "“We have a plan for the winter.\n\n“It starts with the power grid and ends with the hospitals.\n\n“Nobody will be left behind,” the governor said.",
];
const NAMES: &[&str] = &["Sabrina Singh", "Mark Rutte", "Lena Berg", "Paul Ward", "Ana Ruiz"];
const PLACES: &[&str] = &["North Korea", "the north", "the alliance", "Iran"];

fn article(target_words: usize) -> String {
    let mut out = String::new();
    let mut i = 0;
    while out.split_whitespace().count() < target_words {
        let name = NAMES[(i / PARAGRAPHS.len()) % NAMES.len()];
        let surname = name.rsplit(' ').next().unwrap_or(name);
        let p = PARAGRAPHS[i % PARAGRAPHS.len()]
            .replace("{n}", name)
            .replace("{s}", surname)
            .replace("{p}", PLACES[i % PLACES.len()]);
        out.push_str(&p);
        out.push_str("\n\n");
        i += 1;
    }
    out
}

fn bench(c: &mut Criterion) {
    let text = article(5_000);
    let words = text.split_whitespace().count();
    let mut g = c.benchmark_group("quotes");
    g.throughput(Throughput::Elements(words as u64));
    g.bench_function(format!("extract_{words}_words"), |b| b.iter(|| stancer::quotes::extract(black_box(&text))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
