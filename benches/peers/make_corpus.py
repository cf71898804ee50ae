#!/usr/bin/env python3
"""Scales a labelled JSONL file up to N rows for throughput and memory benchmarks.

Each output row is a random row of the input with a seeded word dropout and shuffle of
hashtags, so rows differ (no featurizer cache can help) while keeping realistic length,
vocabulary and labels. Usage:

    make_corpus.py INPUT.jsonl N OUTPUT.jsonl [--seed 7]
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
    a = ap.parse_args()
    rng = random.Random(a.seed)
    rows = [json.loads(l) for l in open(a.input, encoding="utf-8") if l.strip()]
    with open(a.output, "w", encoding="utf-8") as out:
        for i in range(a.n):
            r = dict(rng.choice(rows))
            words = r["text"].split()
            kept = [w for w in words if rng.random() > 0.15] or words
            r["text"] = " ".join(kept)
            r.pop("target_spans", None)  # word dropout moves mentions; spans would lie
            r["id"] = f"{r['id']}-{i}"
            out.write(json.dumps(r, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
