#!/usr/bin/env python3
"""stancer against scikit-learn and fastText on the same machine, data and split.

For SemEval-2016 stance and NewsMTSC sentiment (training files only, split 80/20 by a
fixed seed), each system trains on the 80% and is scored on the 20%: accuracy and
macro-F1 (and F_avg for stance), training time, and prediction throughput in texts/s on a
scaled-up corpus, one core and all cores, measured two ways:
- in memory: texts already in a list (Python) or Vec (stancer's score_in_memory example),
  predicting only;
- JSONL to JSONL: the batch job, reading the corpus file, scoring every row and writing
  its label and probabilities in input order (`stancer score`; for the peers json.loads,
  predict_proba / predict(k=-1), json.dumps, over a multiprocessing pool on all cores).
Run through benches/peers/run.sh, which makes the venv.

Peers, as a user would set them up:
- scikit-learn: HashingVectorizer (word 1-3-grams, 2^20 features, l2-normalised) +
  LogisticRegression (lbfgs, C=10, class_weight=balanced); the target is prepended as a token.
- fastText (fasttext-modern): supervised, wordNgrams=2, 25 epochs, lr 0.5, dim 50; target
  prepended as a token.
- stancer: `stancer train --folds 0` (its defaults for the task, lexicons included) and
  `stancer score`.
"""
import json
import multiprocessing as mp
import os
import random
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.environ.get("STANCER_DATA", os.path.join(ROOT, "..", "shared", "data"))
BIN = os.environ.get("STANCER_BIN", os.path.join(ROOT, "target", "release", "stancer"))
IN_MEMORY = os.path.join(ROOT, "target", "release", "examples", "score_in_memory")
CORPUS_ROWS = int(os.environ.get("CORPUS_ROWS", "200000"))
SEED = 20161


def load(path):
    return [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]


def split(rows, seed=SEED, test=0.2):
    # Rows sharing a text stay on one side (NewsMTSC has a row per person in a sentence).
    texts = sorted({r["text"] for r in rows})
    rng = random.Random(seed)
    rng.shuffle(texts)
    held = set(texts[: int(len(texts) * test)])
    return [r for r in rows if r["text"] not in held], [r for r in rows if r["text"] in held]


def joined(r):
    t = r.get("target") or ""
    # One line per text: fastText predicts line by line.
    return " ".join((("__target_" + "_".join(t.split()) + " ") if t else "") .split() + r["text"].split())


def scores(gold, pred, labels):
    from sklearn.metrics import f1_score, accuracy_score
    out = {"accuracy": accuracy_score(gold, pred), "macro_f1": f1_score(gold, pred, labels=labels, average="macro")}
    if "favor" in labels:
        f = f1_score(gold, pred, labels=["favor", "against"], average=None)
        out["f_avg"] = float(np.mean(f))
    return out


def write_jsonl(rows, path):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def timed(fn):
    t = time.perf_counter()
    r = fn()
    return r, time.perf_counter() - t


# ---- scikit-learn --------------------------------------------------------------------
def sk_vectorizer():
    from sklearn.feature_extraction.text import HashingVectorizer
    return HashingVectorizer(ngram_range=(1, 3), n_features=2**20, alternate_sign=False, norm="l2")


def sk_train(train):
    from sklearn.linear_model import LogisticRegression
    v = sk_vectorizer()
    X = v.transform([joined(r) for r in train])
    clf = LogisticRegression(C=10, class_weight="balanced", max_iter=1000)
    clf.fit(X, [r["label"] for r in train])
    return clf


def sk_predict(clf, texts):
    return clf.predict(sk_vectorizer().transform(texts))


def _sk_chunk(args):
    clf, texts = args
    return len(sk_predict(clf, texts))


def _sk_lines(lines):
    """JSONL lines in, JSONL score rows out (what `stancer score` writes, minus the head)."""
    rows = [json.loads(l) for l in lines]
    probs = _MODEL.predict_proba(sk_vectorizer().transform([joined(r) for r in rows]))
    return score_rows(rows, _MODEL.classes_, probs)


# ---- fastText ------------------------------------------------------------------------
def ft_train(train, tmp):
    import fasttext
    path = os.path.join(tmp, "ft-train.txt")
    with open(path, "w", encoding="utf-8") as f:
        for r in train:
            f.write(f"__label__{r['label']} {joined(r)}\n")
    return fasttext.train_supervised(path, wordNgrams=2, epoch=25, lr=0.5, dim=50, thread=os.cpu_count(), verbose=0, seed=SEED)


def ft_predict(model, texts):
    labels, _ = model.predict(texts)
    return [l[0].replace("__label__", "") for l in labels]


_FT = None


def _ft_init(path):
    global _FT
    import fasttext
    _FT = fasttext.load_model(path)


def _ft_chunk(texts):
    return len(ft_predict(_FT, texts))


def _ft_lines(lines):
    rows = [json.loads(l) for l in lines]
    labels, probs = (_FT if _FT is not None else _MODEL).predict([joined(r) for r in rows], k=-1)
    out = []
    for r, ls, ps in zip(rows, labels, probs):
        p = dict(zip((l.replace("__label__", "") for l in ls), ps))
        out.append(score_row(r, p))
    return out


# ---- JSONL file to JSONL file, the job `stancer score` does ------------------------------
_MODEL = None


def score_row(r, probs):
    best = max(probs, key=probs.get)
    p = {l: round(float(v), 6) for l, v in probs.items()}
    return json.dumps({"id": r.get("id"), "label": best, "probabilities": p}, ensure_ascii=False) + "\n"


def score_rows(rows, classes, probs):
    return [score_row(r, dict(zip(classes, p))) for r, p in zip(rows, probs)]


def file_to_file(fn, model, corpus_path, out_path, workers, init=None, initargs=()):
    """Rows/s reading `corpus_path`, scoring every row with `fn` and writing the rows in
    order, in one process or a pool of `workers` (made before the clock starts)."""
    global _MODEL
    _MODEL = model
    pool = mp.get_context("fork").Pool(workers, initializer=init, initargs=initargs) if workers > 1 else None
    try:
        t = time.perf_counter()
        with open(corpus_path, encoding="utf-8") as f:
            lines = [l for l in f if l.strip()]
        chunks = [lines[i : i + 10000] for i in range(0, len(lines), 10000)]
        with open(out_path, "w", encoding="utf-8") as out:
            for part in (pool.imap(fn, chunks) if pool else map(fn, chunks)):
                out.writelines(part)
        return len(lines) / (time.perf_counter() - t)
    finally:
        if pool:
            pool.close()
            pool.join()


def throughput_parallel(fn, chunks, workers, init=None, initargs=()):
    with mp.get_context("fork").Pool(workers, initializer=init, initargs=initargs) as pool:
        t = time.perf_counter()
        n = sum(pool.map(fn, chunks))
        return n / (time.perf_counter() - t)


# ---- stancer -------------------------------------------------------------------------
def stancer(*args, env=None):
    e = dict(os.environ, **(env or {}))
    return subprocess.run([BIN, *args], check=True, capture_output=True, text=True, env=e)


def run_task(task, path, tmp, ncores):
    labels = ["favor", "against", "none"] if task == "stance" else ["positive", "neutral", "negative"]
    rows = load(path)
    train, test = split(rows)
    gold = [r["label"] for r in test]
    test_texts = [joined(r) for r in test]
    corpus_path = os.path.join(tmp, f"{task}-corpus.jsonl")
    subprocess.run([sys.executable, os.path.join(ROOT, "benches", "peers", "make_corpus.py"), path, str(CORPUS_ROWS), corpus_path], check=True)
    corpus = load(corpus_path)
    corpus_texts = [joined(r) for r in corpus]
    results = []

    clf, t_train = timed(lambda: sk_train(train))
    pred = sk_predict(clf, test_texts)
    _, t1 = timed(lambda: sk_predict(clf, corpus_texts))
    chunks = [(clf, corpus_texts[i : i + 10000]) for i in range(0, len(corpus_texts), 10000)]
    tall = throughput_parallel(_sk_chunk, chunks, ncores)
    out = os.path.join(tmp, "scored.jsonl")
    f1 = file_to_file(_sk_lines, clf, corpus_path, out, 1)
    fall = file_to_file(_sk_lines, clf, corpus_path, out, ncores)
    results.append(("scikit-learn HashingVectorizer + LogisticRegression", scores(gold, pred, labels), t_train, len(corpus_texts) / t1, tall, f1, fall))

    ft, t_train = timed(lambda: ft_train(train, tmp))
    pred = ft_predict(ft, test_texts)
    _, t1 = timed(lambda: ft_predict(ft, corpus_texts))
    ft_path = os.path.join(tmp, "ft.bin")
    ft.save_model(ft_path)
    chunks = [corpus_texts[i : i + 10000] for i in range(0, len(corpus_texts), 10000)]
    tall = throughput_parallel(_ft_chunk, chunks, ncores, _ft_init, (ft_path,))
    f1 = file_to_file(_ft_lines, ft, corpus_path, out, 1)
    fall = file_to_file(_ft_lines, None, corpus_path, out, ncores, _ft_init, (ft_path,))
    results.append(("fastText supervised, bigrams", scores(gold, pred, labels), t_train, len(corpus_texts) / t1, tall, f1, fall))

    train_path, test_path = os.path.join(tmp, f"{task}-train.jsonl"), os.path.join(tmp, f"{task}-test.jsonl")
    write_jsonl(train, train_path)
    write_jsonl(test, test_path)
    model = os.path.join(tmp, f"{task}.safetensors")
    lex = os.path.join(DATA, "lexicons")
    _, t_train = timed(lambda: stancer("train", "--task", task, "--data", train_path, "--lexicons", lex, "--folds", "0", "--out", model))
    stancer("score", "--model", model, "--input", test_path, "--output", out)
    pred = [json.loads(l)["label"] for l in open(out)]
    mem = json.loads(subprocess.run([IN_MEMORY, model, corpus_path], check=True, capture_output=True, text=True).stdout)
    _, f1 = timed(lambda: stancer("score", "--model", model, "--input", corpus_path, "--output", out, env={"RAYON_NUM_THREADS": "1"}))
    _, fall = timed(lambda: stancer("score", "--model", model, "--input", corpus_path, "--output", out))
    results.append(("stancer", scores(gold, pred, labels), t_train, mem["one_core"], mem["all_cores"], len(corpus) / f1, len(corpus) / fall))
    return len(train), len(test), results


def main():
    ncores = os.cpu_count()
    print(f"# peers on {ncores} cores, corpus {CORPUS_ROWS} rows, split seed {SEED}\n")
    with tempfile.TemporaryDirectory() as tmp:
        for task, path in [("stance", "stance/semeval2016-train.jsonl"), ("sentiment", "sentiment/newsmtsc-train.jsonl")]:
            ntrain, ntest, results = run_task(task, os.path.join(DATA, path), tmp, ncores)
            print(f"## {task}: {path}, {ntrain} train / {ntest} test rows\n")
            extra = " F_avg |" if task == "stance" else ""
            print(f"| system | accuracy | macro-F1 |{extra} train s | in memory, 1 core | in memory, {ncores} cores | JSONL to JSONL, 1 core | JSONL to JSONL, {ncores} cores |")
            print("|---|---|---|" + ("---|" if task == "stance" else "") + "---|---|---|---|---|")
            for name, m, tt, *rates in results:
                fa = f" {100 * m['f_avg']:.2f} |" if task == "stance" else ""
                cells = " | ".join(f"{r:,.0f}" for r in rates)
                print(f"| {name} | {100 * m['accuracy']:.2f} | {100 * m['macro_f1']:.2f} |{fa} {tt:.2f} | {cells} |")
            print()
            sys.stdout.flush()


if __name__ == "__main__":
    main()
