#!/usr/bin/env bash
# Runs the same workloads on LangGraph (installed from PyPI into a local virtual
# environment) and on this framework, in one go, and prints one table of medians and ratios.
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet -r requirements.txt
fi

echo "Building the Rust side (release)..." >&2
(cd "$root" && cargo build --quiet --release -p graph-benches --bin compare --bin send_memory)
echo "Running LangGraph..." >&2
.venv/bin/python langgraph_bench.py "$@" > .langgraph.json
echo "Running graph-core..." >&2
"$root/target/release/compare" > .ours.json

.venv/bin/python - <<'PY'
import json
theirs = json.load(open(".langgraph.json"))
ours = json.load(open(".ours.json"))
print(f"{'workload':<20} {'LangGraph':>12} {'graph-core':>12} {'ratio':>9}")
for name in sorted(ours):
    o = ours[name]
    t = theirs.get(name)
    ratio = f"{t / o:8.0f}x" if t else "        -"
    their = f"{t * 1e3:10.2f}ms" if t else "           -"
    print(f"{name:<20} {their} {o * 1e3:10.3f}ms {ratio}")
PY
"$root/target/release/send_memory" 2>/dev/null | grep -v '^dhat'
