#!/usr/bin/env bash
# Installs scikit-learn and fastText into a venv beside this script, builds stancer, and
# prints the comparison table (benches/peers/bench.py says what is measured and how).
#   benches/peers/run.sh            # needs ../shared/data beside the checkout
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="$HERE/.venv"
if [[ ! -x "$VENV/bin/python" ]]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "numpy>=2" scikit-learn fasttext-modern
fi
(cd "$ROOT" && cargo build --release --quiet --bins --example score_in_memory)
exec "$VENV/bin/python" "$HERE/bench.py" "$@"
