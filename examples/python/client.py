#!/usr/bin/env python3
"""Batch client for stancer serve.

Reads a JSONL file of {"id", "speaker", "text"} rows, sends them over the
AnalyzeStream RPC as ScoreQuotations requests of --chunk rows each, and writes one
JSONL result row per input row, in input order.

The Python stubs are generated from proto/stancer/v1/stancer.proto with grpcio-tools at
run time, into a temporary directory: no generated code is committed, and the client
always matches the proto it ships with.

    python client.py --addr 127.0.0.1:50051 --target "Climate Change" \
        --input quotes.jsonl --output results.jsonl

A chunk that the server rejects (an empty text, an unknown model, ...) yields result rows
with an "error" field; the other chunks are unaffected. The exit status is 1 if any
chunk failed.
"""

import argparse
import importlib
import json
import os
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PROTO_ROOT = os.path.normpath(os.path.join(HERE, "..", "..", "proto"))


def generate_stubs(proto_root, out_dir):
    """Compiles the proto into out_dir and imports the generated modules."""
    from grpc_tools import protoc

    rc = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{proto_root}",
            f"--python_out={out_dir}",
            f"--grpc_python_out={out_dir}",
            "stancer/v1/stancer.proto",
        ]
    )
    if rc != 0:
        raise SystemExit(f"protoc failed ({rc}) on {proto_root}/stancer/v1/stancer.proto")
    sys.path.insert(0, out_dir)
    pb = importlib.import_module("stancer.v1.stancer_pb2")
    pb_grpc = importlib.import_module("stancer.v1.stancer_pb2_grpc")
    return pb, pb_grpc


def read_rows(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError as e:
                raise SystemExit(f"{path}:{n}: invalid JSON: {e}")
            if not isinstance(r, dict):
                raise SystemExit(f"{path}:{n}: expected an object")
            rows.append(
                {
                    "id": str(r.get("id", n)),
                    "speaker": str(r.get("speaker") or ""),
                    "text": str(r.get("text") or ""),
                }
            )
    return rows


def prediction(p):
    out = {
        "label": p.label,
        "probabilities": {lp.label: round(lp.probability, 6) for lp in p.probabilities},
        "head": p.head,
        "pooled": p.pooled,
    }
    if p.top_features:
        out["top_features"] = [
            {"feature": c.feature, "weight": round(c.weight, 6)} for c in p.top_features
        ]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--addr", default="127.0.0.1:50051", help="server host:port")
    ap.add_argument("--target", required=True, help="stance target")
    ap.add_argument("--input", required=True, help="JSONL of {id, speaker, text}")
    ap.add_argument("--output", default="-", help="JSONL results ('-': stdout)")
    ap.add_argument("--chunk", type=int, default=100, help="rows per request")
    ap.add_argument(
        "--in-flight", type=int, default=8,
        help="most chunks sent but not yet answered (bounds client memory)",
    )
    ap.add_argument("--stance-model", default="")
    ap.add_argument("--sentiment-model", default="")
    ap.add_argument("--explain", type=int, default=0, help="top features per prediction")
    ap.add_argument("--proto-root", default=DEFAULT_PROTO_ROOT)
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds for the whole stream")
    args = ap.parse_args()
    if args.chunk < 1 or args.in_flight < 1:
        raise SystemExit("--chunk and --in-flight must be at least 1")

    import grpc

    rows = read_rows(args.input)
    chunks = [rows[i : i + args.chunk] for i in range(0, len(rows), args.chunk)]

    with tempfile.TemporaryDirectory(prefix="stancer-stubs-") as tmp:
        pb, pb_grpc = generate_stubs(args.proto_root, tmp)
        slots = threading.Semaphore(args.in_flight)
        done = threading.Event()

        def requests():
            for k, chunk in enumerate(chunks):
                # Wait for a reply before sending more than --in-flight chunks ahead.
                while not slots.acquire(timeout=0.5):
                    if done.is_set():
                        return
                yield pb.AnalyzeStreamRequest(
                    request_id=str(k),
                    score_quotations=pb.ScoreQuotationsRequest(
                        target=args.target,
                        quotations=[
                            pb.Quotation(id=r["id"], speaker=r["speaker"], text=r["text"])
                            for r in chunk
                        ],
                        stance_model=args.stance_model,
                        sentiment_model=args.sentiment_model,
                        explain=args.explain,
                    ),
                )

        out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")
        failed = 0
        answered = 0
        try:
            with grpc.insecure_channel(
                args.addr,
                options=[
                    ("grpc.max_send_message_length", 16 * 1024 * 1024),
                    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
                ],
            ) as channel:
                stub = pb_grpc.StancerStub(channel)
                try:
                    for reply in stub.AnalyzeStream(requests(), timeout=args.timeout):
                        slots.release()
                        chunk = chunks[int(reply.request_id)]
                        kind = reply.WhichOneof("result")
                        if kind == "score_quotations":
                            res = reply.score_quotations
                            for row, q in zip(chunk, res.quotations):
                                out.write(json.dumps({
                                    "id": q.id,
                                    "speaker": q.speaker,
                                    "target": res.target,
                                    "stance": prediction(q.stance),
                                    "sentiment": prediction(q.sentiment),
                                    "stance_model": res.stance_model.name,
                                    "sentiment_model": res.sentiment_model.name,
                                }, ensure_ascii=False) + "\n")
                        else:
                            failed += 1
                            err = reply.error if kind == "error" else None
                            for row in chunk:
                                out.write(json.dumps({
                                    "id": row["id"],
                                    "speaker": row["speaker"],
                                    "error": {
                                        "code": err.code if err else 2,
                                        "message": err.message if err else f"unexpected reply {kind}",
                                    },
                                }, ensure_ascii=False) + "\n")
                        answered += 1
                except grpc.RpcError as e:
                    raise SystemExit(f"stream failed: {e.code().name}: {e.details()}")
                finally:
                    done.set()
        finally:
            if out is not sys.stdout:
                out.close()
    if answered != len(chunks):
        raise SystemExit(f"only {answered} of {len(chunks)} chunks answered")
    print(f"{len(rows)} rows in {len(chunks)} chunks, {failed} failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
