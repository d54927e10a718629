"""The comparison workloads on LangGraph; prints their medians in seconds as JSON.

Mirrors benches/src/lib.rs and benches/src/bin/compare.rs workload by workload.
"""

import asyncio
import json
import operator
import os
import statistics
import sys
import tempfile
import time
from typing import Annotated, TypedDict

from langgraph.cache.memory import InMemoryCache
from langgraph.cache.sqlite import SqliteCache
from langgraph.graph import END, START, StateGraph
from langgraph.types import CachePolicy, Send


class Counter(TypedDict):
    n: Annotated[int, operator.add]


class Items(TypedDict):
    items: Annotated[list, operator.add]


class Steps(TypedDict):
    # A last value, not a sum: a subgraph's whole final state is written to its parent, so
    # an added field would count what the child inherited a second time.
    n: int


async def increment(_state):
    return {"n": 1}


def chain(nodes):
    g = StateGraph(Counter)
    names = [f"n{i:05}" for i in range(nodes)]
    for name in names:
        g.add_node(name, increment)
    g.add_edge(START, names[0])
    for a, b in zip(names, names[1:]):
        g.add_edge(a, b)
    return g.compile()


def looping(steps):
    g = StateGraph(Counter)
    g.add_node("step", increment)
    g.add_edge(START, "step")
    g.add_conditional_edges("step", lambda s: "step" if s["n"] < steps else END, ["step", END])
    return g.compile()


def fan_out(branches):
    g = StateGraph(Counter)
    names = [f"b{i:05}" for i in range(branches)]
    g.add_node("join", increment)
    for name in names:
        g.add_node(name, increment)
        g.add_edge(START, name)
    g.add_edge(names, "join")  # a list of sources waits for all of them
    return g.compile()


def map_reduce(tasks):
    g = StateGraph(Items)

    async def plan(_state):
        return {}

    async def work(i):
        return {"items": [i]}

    g.add_node("plan", plan)
    g.add_node("map", work)
    g.add_edge(START, "plan")
    g.add_conditional_edges("plan", lambda _s: [Send("map", i) for i in range(tasks)], ["map"])
    return g.compile()


def cached_map_reduce(tasks, runs):
    """map_reduce with its worker cached by payload; `runs[0]` counts the worker's runs."""
    g = StateGraph(Items)

    async def plan(_state):
        return {}

    async def work(i):
        runs[0] += 1
        return {"items": [i]}

    g.add_node("plan", plan)
    g.add_node("map", work, cache_policy=CachePolicy())
    g.add_edge(START, "plan")
    g.add_conditional_edges("plan", lambda _s: [Send("map", i) for i in range(tasks)], ["map"])
    return g


def io_fan_out(tasks, wait):
    g = StateGraph(Items)

    async def plan(_state):
        return {}

    async def io(i):
        await asyncio.sleep(wait)
        return {"items": [i]}

    g.add_node("plan", plan)
    g.add_node("io", io)
    g.add_edge(START, "plan")
    g.add_conditional_edges("plan", lambda _s: [Send("io", i) for i in range(tasks)], ["io"])
    return g.compile()


async def next_step(state):
    return {"n": state["n"] + 1}


def call_loop(node, calls):
    g = StateGraph(Steps)
    g.add_node("call", node)
    g.add_edge(START, "call")
    g.add_conditional_edges("call", lambda s: "call" if s["n"] < calls else END, ["call", END])
    return g.compile()


def subgraph_calls(calls):
    child = StateGraph(Steps)
    child.add_node("step", next_step)
    child.add_edge(START, "step")
    return call_loop(child.compile(), calls)


def plain_calls(calls):
    return call_loop(next_step, calls)


async def median(runs, run):
    await run(-1)  # warm-up
    times = []
    for i in range(runs):
        started = time.perf_counter()
        await run(i)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


CACHED_TASKS = 1000
CACHE_RUNS = 5


async def check(g):
    out = await g.ainvoke({"items": []})
    assert out["items"] == list(range(CACHED_TASKS)), "1,000 items in order"


async def all_hits(cache):
    """The median of the all-hit runs on `cache`, filled by the warm-up."""
    runs = [0]
    g = cached_map_reduce(CACHED_TASKS, runs).compile(cache=cache)
    await g.aclear_cache(["map"])
    took = await median(CACHE_RUNS, lambda _i: check(g))
    assert runs[0] == CACHED_TASKS, f"the worker ran in the warm-up only, not {runs[0]} times"
    await g.aclear_cache(["map"])
    return took


async def cache_workloads(results):
    """A map-reduce of 1,000 Sends to a cached worker on each backend: the warm-up run fills
    the cache, so every timed run is all hits. `cache_misses_1000_memory` gives each run a
    fresh cache. SQLite is a file in a temporary directory; Redis (if the `redis` package is
    installed) is REDIS_URL, else the local server, under a prefix of this process's own."""
    results["cache_hits_1000_memory"] = await all_hits(InMemoryCache())
    with tempfile.TemporaryDirectory() as tmp:
        results["cache_hits_1000_sqlite"] = await all_hits(
            SqliteCache(path=os.path.join(tmp, "cache.sqlite"))
        )
    try:
        import redis
        from langgraph.cache.redis import RedisCache
    except ImportError:
        pass
    else:
        client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"))
        client.ping()  # LangGraph's Redis cache swallows errors: fail here instead
        prefix = f"langgraph-compare-{os.getpid()}:"
        results["cache_hits_1000_redis"] = await all_hits(RedisCache(client, prefix=prefix))
    runs = [0]
    builder = cached_map_reduce(CACHED_TASKS, runs)
    # Compiled before timing, one graph per run (the warm-up is run -1).
    fresh = {i: builder.compile(cache=InMemoryCache()) for i in range(-1, CACHE_RUNS)}
    results["cache_misses_1000_memory"] = await median(CACHE_RUNS, lambda i: check(fresh[i]))
    assert runs[0] == CACHED_TASKS * (CACHE_RUNS + 1), "with a fresh cache, every run misses"


async def main():
    quick = "--quick" in sys.argv
    results = {}
    if "cache" in sys.argv[1:]:
        # Only the node cache and its uncached baseline, send_1000.
        g = map_reduce(1000)
        results["send_1000"] = await median(5, lambda _i: g.ainvoke({"items": []}))
        await cache_workloads(results)
        print(json.dumps(results, indent=2, sort_keys=True))
        return
    g = chain(1000)
    results["chain_1000"] = await median(5, lambda _i: g.ainvoke({"n": 0}, {"recursion_limit": 2000}))
    g = looping(10_000)
    results["loop_10000"] = await median(3, lambda _i: g.ainvoke({"n": 0}, {"recursion_limit": 10_001}))
    for name, branches in [("fan_out_100", 100), ("fan_out_1000", 1000)]:
        g = fan_out(branches)
        results[name] = await median(5, lambda _i, g=g: g.ainvoke({"n": 0}))
    for name, tasks, runs in [("send_1000", 1000, 5), ("send_10000", 10_000, 1 if quick else 3)]:
        g = map_reduce(tasks)
        results[name] = await median(runs, lambda _i, g=g: g.ainvoke({"items": []}))
    g = io_fan_out(200, 0.05)
    results["io_200_unlimited"] = await median(3, lambda _i: g.ainvoke({"items": []}))
    results["io_200_max20"] = await median(3, lambda _i: g.ainvoke({"items": []}, {"max_concurrency": 20}))
    for name, build, calls in [
        ("subgraph_calls_1", subgraph_calls, 1),
        ("subgraph_calls_100", subgraph_calls, 100),
        ("plain_calls_1", plain_calls, 1),
        ("plain_calls_100", plain_calls, 100),
    ]:
        g = build(calls)

        async def run(_i, g=g, calls=calls):
            out = await g.ainvoke({"n": 0}, {"recursion_limit": calls + 1})
            assert out == {"n": calls}, out

        results[name] = await median(5 if quick else 21, run)
    await cache_workloads(results)
    try:
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        path = os.path.join(tempfile.mkdtemp(), "compare.sqlite")
        async with AsyncSqliteSaver.from_conn_string(path) as saver:
            g = StateGraph(Counter)
            names = [f"n{i:05}" for i in range(100)]
            for name in names:
                g.add_node(name, increment)
            g.add_edge(START, names[0])
            for a, b in zip(names, names[1:]):
                g.add_edge(a, b)
            g = g.compile(checkpointer=saver)
            results["sqlite_chain_100"] = await median(
                5, lambda i: g.ainvoke({"n": 0}, {"configurable": {"thread_id": f"t{i}"}})
            )
            # LangGraph's default durability is already async: one figure for both.
            results["sqlite_chain_100_async"] = results["sqlite_chain_100"]
    except ImportError:
        pass
    print(json.dumps(results, indent=2, sort_keys=True))


asyncio.run(main())
