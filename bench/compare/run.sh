#!/usr/bin/env bash
# Runs the same workloads on LangGraph (installed from PyPI into a local virtual
# environment) and on this framework, in one go, and prints one table of medians and ratios.
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
target=${CARGO_TARGET_DIR:-$root/target}

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet -r requirements.txt
fi

echo "Building the Rust side (release)..." >&2
(cd "$root" && cargo build --quiet --release -p graph-benches --bin compare --bin send_memory)
echo "Running LangGraph..." >&2
.venv/bin/python langgraph_bench.py "$@" > .langgraph-graph.json
.venv/bin/python agent_bench.py "$@" > .langgraph-agent.json
echo "Running graph-core..." >&2
"$target/release/compare" > .ours.json

.venv/bin/python - <<'PY'
import json
theirs = json.load(open(".langgraph-graph.json")) | json.load(open(".langgraph-agent.json"))
ours = json.load(open(".ours.json"))
print(f"{'workload':<26} {'LangGraph':>12} {'graph-core':>12} {'ratio':>9}")
for name in sorted(ours):
    o = ours[name]
    t = theirs.get(name)
    ratio = f"{t / o:8.0f}x" if t else "        -"
    their = f"{t * 1e3:10.2f}ms" if t else "           -"
    print(f"{name:<26} {their} {o * 1e3:10.3f}ms {ratio}")

# The agent loop per turn: the step from 1 to 10 turns, so the question and the final
# answer cancel out; ours also beside the same loop on bare tokio.
def per_turn(results, prefix=""):
    return (results[prefix + "agent_turns_10"] - results[prefix + "agent_turns_1"]) / 9
lg, us = per_turn(theirs), per_turn(ours)
lg_bare, us_bare = per_turn(theirs, "bare_asyncio_"), per_turn(ours, "bare_tokio_")
print(f"agent turn (3 parallel tools): LangGraph {lg * 1e6:.0f} us (bare asyncio {lg_bare * 1e6:.0f} us), "
      f"graph-agent {us * 1e6:.1f} us (bare tokio {us_bare * 1e6:.1f} us): {lg / us:.0f}x per turn")
print(f"framework time per turn: LangGraph {(lg - lg_bare) * 1e6:.0f} us, graph-agent "
      f"{(us - us_bare) * 1e6:.1f} us ({(lg - lg_bare) / max(us - us_bare, 1e-9):.0f}x); "
      f"per tool call {(us - us_bare) * 1e6 / 3:.1f} us")

# A parent step running a one-node subgraph, per call: the step from 1 to 100 calls, so the
# run's start and end cancel out; beside it the same step with the child's node as a plain node.
def per_call(results, kind):
    return (results[f"{kind}_calls_100"] - results[f"{kind}_calls_1"]) / 99
lg, us = per_call(theirs, "subgraph"), per_call(ours, "subgraph")
lg_plain, us_plain = per_call(theirs, "plain"), per_call(ours, "plain")
print(f"subgraph call (one-node child): LangGraph {lg * 1e6:.0f} us, graph-core {us * 1e6:.2f} us: "
      f"{lg / us:.0f}x per call")
print(f"plain node call: LangGraph {lg_plain * 1e6:.0f} us, graph-core {us_plain * 1e6:.2f} us "
      f"({lg_plain / us_plain:.0f}x); a subgraph call costs {lg / lg_plain:.1f}x a plain node in "
      f"LangGraph, {us / us_plain:.1f}x in graph-core (+{(us - us_plain) * 1e6:.2f} us)")
PY
"$target/release/send_memory" 2>/dev/null | grep -v '^dhat'
