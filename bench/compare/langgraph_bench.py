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

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send


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


async def main():
    quick = "--quick" in sys.argv
    results = {}
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
    except ImportError:
        pass
    print(json.dumps(results, indent=2, sort_keys=True))


asyncio.run(main())
