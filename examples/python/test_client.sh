#!/usr/bin/env bash
# End-to-end test of client.py against a real `stancer serve` on a free loopback port.
#
#   python3 -m venv .venv && .venv/bin/pip install -r examples/python/requirements.txt
#   PYTHON=.venv/bin/python examples/python/test_client.sh
#
# Environment: STANCER_BIN (default target/release/stancer), MODELS (a models directory;
# default: synthetic models made with `cargo run --release --example synth_models`),
# PYTHON (default python3).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PYTHON="${PYTHON:-python3}"
BIN="${STANCER_BIN:-$ROOT/target/release/stancer}"
TMP="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then kill -TERM "$SERVER_PID"; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

if [[ -z "${MODELS:-}" ]]; then
  MODELS="$TMP/models"
  (cd "$ROOT" && cargo run --quiet --release --example synth_models -- "$MODELS" 300 >/dev/null)
fi

PORT="$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$BIN" serve --addr "127.0.0.1:$PORT" --models "$MODELS" --no-watch >"$TMP/server.log" 2>&1 &
SERVER_PID=$!

# Wait (at most 10 s) for the port to accept connections.
for _ in $(seq 1 100); do
  if "$PYTHON" -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(s.connect_ex(('127.0.0.1',$PORT)))"; then break; fi
  sleep 0.1
done

# 25 rows, one of them with an empty text: its chunk (rows 20-24) must come back as
# errors, every other chunk as results.
"$PYTHON" - "$TMP/in.jsonl" <<'PY'
import json, sys
texts = ["I strongly support Climate Change action", "I oppose Climate Change policy",
         "a report on Climate Change"]
with open(sys.argv[1], "w") as f:
    for i in range(25):
        text = "" if i == 22 else texts[i % 3]
        f.write(json.dumps({"id": f"r{i}", "speaker": ["Ann", "Bob", "ann"][i % 3], "text": text}) + "\n")
PY

set +e
timeout 120 "$PYTHON" "$HERE/client.py" --addr "127.0.0.1:$PORT" --target "Climate Change" \
  --input "$TMP/in.jsonl" --output "$TMP/out.jsonl" --chunk 5 --in-flight 2 --explain 2
RC=$?
set -e
[[ $RC -eq 1 ]] || { echo "client exit status $RC, expected 1 (one failed chunk)"; cat "$TMP/server.log"; exit 1; }

"$PYTHON" - "$TMP/out.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 25, len(rows)
assert [r["id"] for r in rows] == [f"r{i}" for i in range(25)], "order"
for i, r in enumerate(rows):
    if 20 <= i < 25:
        assert r["error"]["code"] == 3 and "quotations[2].text" in r["error"]["message"], r
    else:
        assert r["stance"]["label"] in ("favor", "against", "none"), r
        assert r["sentiment"]["label"] in ("positive", "neutral", "negative"), r
        assert abs(sum(r["stance"]["probabilities"].values()) - 1) < 1e-3, r
        assert len(r["stance"]["top_features"]) == 2, r
print("client output OK:", len(rows), "rows")
PY

kill -TERM "$SERVER_PID"
wait "$SERVER_PID"
echo "server exit status $?"
SERVER_PID=""
echo "PASS"
