#!/usr/bin/env bash
# Runs the same workloads on LangGraph (installed from the Python package index into a local
# virtual environment), on this framework and on bare tokio, in one go, and prints one table
# of medians and ratios.
# `run.sh cache` runs only the node cache workloads and their uncached baseline, send_1000.
# `run.sh rust` runs only the Rust side, the framework beside bare tokio, without Python.
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
mode=${1:-}

echo "Building the Rust side (release)..." >&2
(cd "$root" && cargo build --quiet --release -p graph-benches --bin compare --bin send_memory --bin send_rss)
if [ "$mode" = rust ]; then
  echo "Running graph-core and bare tokio..." >&2
  "$target/release/compare" rust
  "$target/release/send_memory" 2>/dev/null | grep -v '^dhat'
  "$target/release/send_rss"
  exit
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet -r requirements.txt
fi
"$root/scripts/ensure-redis" >&2  # the Redis cache workloads
echo "Running LangGraph..." >&2
.venv/bin/python langgraph_bench.py "$@" > .langgraph-graph.json
if [ "$mode" = cache ]; then
  echo '{}' > .langgraph-agent.json
else
  .venv/bin/python agent_bench.py "$@" > .langgraph-agent.json
fi
echo "Running graph-core..." >&2
if [ "$mode" = cache ]; then
  "$target/release/compare" cache > .ours.json
else
  "$target/release/compare" > .ours.json
fi

.venv/bin/python - <<'PY'
import json
theirs = json.load(open(".langgraph-graph.json")) | json.load(open(".langgraph-agent.json"))
ours = json.load(open(".ours.json"))

# A workload's bare-tokio floor is `bare_tokio_X`, X being its name or the start of it up
# to an underscore (sqlite_chain_100 for sqlite_chain_100_async); the same rule as `compare rust`.
def bare(name):
    floors = [k[len("bare_tokio_"):] for k in ours if k.startswith("bare_tokio_")]
    floors = [f for f in floors if name == f or name.startswith(f + "_")]
    return ours["bare_tokio_" + max(floors, key=len)] if floors else None

# What a workload counts, and how many: the first number in its name.
def units(name):
    parts = name.split("_")
    count = next((int(p) for p in parts if p.isdigit()), 1)
    unit = {"fan": "branch", "send": "task", "io": "task", "cache": "task", "agent": "turn",
            "subgraph": "call", "plain": "call"}.get(parts[0], "step")
    return count, unit

print(f"{'workload':<26} {'LangGraph':>12} {'graph-core':>12} {'bare tokio':>12} "
      f"{'to LangGraph':>13} {'to bare':>9} {'graph-core per unit':>20} {'bare per unit':>16}")
for name in sorted(k for k in ours if not k.startswith("bare_tokio_")):
    o, t, b = ours[name], theirs.get(name), bare(name)
    count, unit = units(name)
    print(f"{name:<26} "
          + (f"{t * 1e3:10.2f}ms " if t else f"{'-':>12} ")
          + f"{o * 1e3:10.3f}ms "
          + (f"{b * 1e3:10.3f}ms " if b else f"{'-':>12} ")
          + (f"{t / o:12.0f}x " if t else f"{'-':>13} ")
          + (f"{o / b:8.1f}x " if b else f"{'-':>9} ")
          + f"{o * 1e6 / count:>12.3f} us/{unit:<6} "
          + (f"{b * 1e6 / count:>9.3f} us/{unit}" if b else f"{'-':>16}"))

# A cache hit per task: the step from the uncached map-reduce (send_1000) to the same
# map-reduce answered wholly from the cache, per task; beside it the all-hit run per task.
# A negative step means a hit costs less than running the (trivial) worker.
def hit(results, backend):
    hits = results.get(f"cache_hits_1000_{backend}")
    return None if hits is None else ((hits - results["send_1000"]) / 1000, hits / 1000)

def ratio(lg, us):
    return f"{lg / us:.0f}x" if lg > 0 and us > 0 else "n/a"

for backend in ["memory", "sqlite", "redis"]:
    lg, us = hit(theirs, backend), hit(ours, backend)
    if us is None:
        continue
    their = (f"LangGraph {lg[0] * 1e6:+.1f} us ({lg[1] * 1e6:.0f} us per task in the all-hit run)"
             if lg else "LangGraph -")
    print(f"cache hit, {backend}: {their}, graph-core {us[0] * 1e6:+.2f} us "
          f"({us[1] * 1e6:.2f} us): {ratio(lg[0], us[0]) if lg else '-'} per hit, "
          f"{ratio(lg[1], us[1]) if lg else '-'} per all-hit task")
if "cache_misses_1000_memory" in ours:
    def miss(results):
        return (results["cache_misses_1000_memory"] - results["send_1000"]) / 1000
    lg, us = miss(theirs), miss(ours)
    # LangGraph's step is smaller than its run-to-run noise, so no ratio is drawn from it.
    print(f"cache miss and store, memory, over an uncached task: LangGraph {lg * 1e6:+.1f} us, "
          f"graph-core {us * 1e6:+.2f} us")

if "agent_turns_1" not in ours:
    raise SystemExit
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
if [ "$mode" != cache ]; then
  "$target/release/send_memory" 2>/dev/null | grep -v '^dhat'
  "$target/release/send_rss"
fi
