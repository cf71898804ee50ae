#!/usr/bin/env python3
"""Scales a labelled JSONL file up to N rows for throughput and memory benchmarks.

Each output row is a random row of the input with a seeded word dropout and shuffle of
hashtags, so rows differ (no featurizer cache can help) while keeping realistic length,
vocabulary and labels. Usage:

    make_corpus.py INPUT.jsonl N OUTPUT.jsonl [--seed 7]

For articles (`stancer analyze --input`, `stancer extract --input`), keep every word, so
that quotations and their cues stay whole, and give the rows a target:

    make_corpus.py ../shared/data/quotes/polnear-train.jsonl 220000 articles.jsonl \
        --dropout 0 --drop attributions --target "Donald Trump"
"""
import argparse
import json
import random


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("n", type=int)
    ap.add_argument("output")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--dropout", type=float, default=0.15, help="share of words dropped from each row")
    ap.add_argument("--target", help="target of the rows that have none")
    ap.add_argument("--drop", default="", help="fields to leave out, comma-separated (e.g. attributions)")
    a = ap.parse_args()
    drop = [f for f in a.drop.split(",") if f]
    rng = random.Random(a.seed)
    rows = [json.loads(l) for l in open(a.input, encoding="utf-8") if l.strip()]
    with open(a.output, "w", encoding="utf-8") as out:
        for i in range(a.n):
            r = dict(rng.choice(rows))
            words = r["text"].split()
            if a.dropout > 0:
                kept = [w for w in words if rng.random() > a.dropout] or words
                r["text"] = " ".join(kept)
                r.pop("target_spans", None)  # word dropout moves mentions; spans would lie
            if a.target and not r.get("target"):
                r["target"] = a.target
            for f in drop:
                r.pop(f, None)
            r["id"] = f"{r['id']}-{i}"
            out.write(json.dumps(r, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
