"""Drives the running graph server with the official Python client, langgraph-sdk 0.4.14.

Run by scripts/sdk-test, which starts the server (API keys alice-key and bob-key) and passes
its URL in GRAPH_SERVER_URL. Plain asserts; one line printed per check passed.
"""

import asyncio
import os
import uuid

import httpx
from langgraph_sdk import get_client

URL = os.environ["GRAPH_SERVER_URL"]
NAMESPACE = uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")

CALENDAR = "calendar: standup at 9:30, design review at 14:00"
WEATHER = "weather: sunny and 21°C in Paris"
NEWS = "news: Paris opens its new riverside park"
# The reducer applies a step's writes in node-name order, whatever order the nodes finished in.
SECTIONS = [CALENDAR, NEWS, WEATHER]
SUMMARY = "Briefing for Paris:\n- " + "\n- ".join(SECTIONS)
AFTER_PARALLEL = {"city": "Paris", "sections": SECTIONS, "sequential_ms": 400, "summary": ""}
FINAL_BRIEFING = {**AFTER_PARALLEL, "summary": SUMMARY}
# The three fetches run in parallel, so their updates arrive in the order they finish (calendar
# 80 ms, weather 120 ms, news 200 ms unless the machine stalls); `first_step_sorted` compares
# them in any order. The summary always comes last.
BRIEFING_UPDATES = [
    {"calendar": {"sections": [CALENDAR], "sequential_ms": 80}},
    {"weather": {"sections": [WEATHER], "sequential_ms": 120}},
    {"news": {"sections": [NEWS], "sequential_ms": 200}},
    {"summarize": {"summary": SUMMARY}},
]
# Our server sends no values event for the input: one per step.
BRIEFING_VALUES = [AFTER_PARALLEL, FINAL_BRIEFING]

DRAFT = "Dear Ann, the invoice is attached. Pay now!!"
QUESTION = "Send this email?\n" + DRAFT
INTERRUPT = [{"id": "1:review#0", "value": QUESTION}]
DRAFTED = {"to": "Ann", "draft": DRAFT, "decision": "", "sent": []}


def first_step_sorted(parts):
    """The parts with the first step's three parallel updates put in node-name order."""
    return sorted(parts[:3], key=lambda part: sorted(part[1])) + parts[3:]


def ok(message):
    print("ok:", message, flush=True)


async def stream(client, thread_id, assistant_id, **kwargs):
    """The (event, data) pairs of one streamed run, after checking the leading metadata event."""
    parts = [(p.event, p.data) async for p in client.runs.stream(thread_id, assistant_id, **kwargs)]
    assert parts, "empty stream"
    event, data = parts[0]
    assert event == "metadata", parts[0]
    assert set(data) == {"run_id", "attempt"} and data["attempt"] == 1, data
    uuid.UUID(data["run_id"])
    return parts[1:]


async def expect_status(status, call):
    try:
        await call
    except httpx.HTTPStatusError as e:
        assert e.response.status_code == status, (e.response.status_code, e.response.text)
        return e
    raise AssertionError(f"expected HTTP {status}, the call succeeded")


async def main():
    client = get_client(url=URL, api_key="alice-key")

    # assistants.search
    assistants = await client.assistants.search()
    assert sorted(a["graph_id"] for a in assistants) == ["approval", "briefing"], assistants
    for a in assistants:
        assert a["assistant_id"] == str(uuid.uuid5(NAMESPACE, a["graph_id"])), a
        assert a["name"] == a["graph_id"], a
    ok("assistants.search: approval and briefing, with uuid5 assistant ids")

    # threads.create
    thread = await client.threads.create()
    tid = thread["thread_id"]
    uuid.UUID(tid)
    assert thread["status"] == "idle", thread
    ok("threads.create: a new idle thread")

    # runs.stream, each mode, on briefing
    parts = await stream(client, tid, "briefing", input={"city": "Paris"}, stream_mode="updates")
    expected = [("updates", u) for u in BRIEFING_UPDATES]
    assert first_step_sorted(parts) == first_step_sorted(expected), parts
    ok("runs.stream updates: exact updates, the summary after the three parallel fetches")

    t = (await client.threads.create())["thread_id"]
    parts = await stream(client, t, "briefing", input={"city": "Paris"}, stream_mode="values")
    assert parts == [("values", v) for v in BRIEFING_VALUES], parts
    ok("runs.stream values: the state after each step")

    t = (await client.threads.create())["thread_id"]
    parts = await stream(
        client, t, "briefing", input={"city": "Paris"}, stream_mode=["updates", "values"]
    )
    u = [("updates", x) for x in BRIEFING_UPDATES]
    v = [("values", x) for x in BRIEFING_VALUES]
    assert first_step_sorted(parts) == first_step_sorted(u[:3] + v[:1] + u[3:] + v[1:]), parts
    ok("runs.stream updates+values: interleaved exactly")

    t = (await client.threads.create())["thread_id"]
    parts = await stream(client, t, "briefing", input={"city": "Paris"}, stream_mode="debug")
    assert {e for e, _ in parts} == {"debug"}, parts
    types = [d["type"] for _, d in parts]
    assert set(types) == {"checkpoint", "task", "task_result"}, types
    assert types.count("task") == 4 and types.count("task_result") == 4, types
    ok("runs.stream debug: debug events with checkpoint, task and task_result")

    # threads.get_state and get_history on the first briefing thread
    state = await client.threads.get_state(tid)
    assert state["values"] == FINAL_BRIEFING, state
    assert state["next"] == [], state
    history = await client.threads.get_history(tid, limit=10)
    assert len(history) == 3, [h["metadata"] for h in history]  # input, step 0, step 1
    assert history[0]["checkpoint"]["checkpoint_id"] == state["checkpoint"]["checkpoint_id"]
    assert history[0]["values"] == FINAL_BRIEFING, history[0]
    assert [h["next"] for h in history] == [[], ["summarize"], ["calendar", "news", "weather"]]
    assert len(await client.threads.get_history(tid, limit=2)) == 2
    ok("threads.get_state / get_history: 3 checkpoints, the latest is the state's")

    # interrupt and resume on approval
    at = (await client.threads.create())["thread_id"]
    parts = []
    async for p in client.runs.stream(
        at, "approval", input={"to": "Ann"}, stream_mode=["updates", "values"]
    ):
        parts.append((p.event, p.data))
        if p.event == "updates" and "__interrupt__" in p.data:
            break
    assert parts[1:] == [
        ("updates", {"draft": {"draft": DRAFT}}),
        ("values", DRAFTED),
        ("updates", {"__interrupt__": INTERRUPT}),
    ], parts
    ok("runs.stream approval: stops at the __interrupt__ update")
    thread = await client.threads.get(at)
    for _ in range(50):  # the run may still be finishing after we stopped reading
        if thread["status"] != "busy":
            break
        await asyncio.sleep(0.05)
        thread = await client.threads.get(at)
    assert thread["status"] == "interrupted", thread
    assert thread["values"] == DRAFTED, thread
    ok("threads.get: status interrupted")
    final = await client.runs.wait(at, "approval", command={"resume": "approve"})
    assert final == {**DRAFTED, "decision": "approve", "sent": [f"to Ann: {DRAFT}"]}, final
    assert (await client.threads.get(at))["status"] == "idle"
    ok("runs.wait with command resume: the email is sent")

    # runs.create in the background + runs.join
    bt = (await client.threads.create())["thread_id"]
    run = await client.runs.create(bt, "briefing", input={"city": "Paris"})
    assert run["status"] in ("pending", "running"), run
    joined = await client.runs.join(bt, run["run_id"])
    assert joined == FINAL_BRIEFING, joined
    assert (await client.runs.get(bt, run["run_id"]))["status"] == "success"
    ok("runs.create + runs.join: final state, run success")

    # runs.cancel with action="rollback": the run is undone, the thread as it was before
    before = await client.threads.get_state(bt)
    history = await client.threads.get_history(bt, limit=100)
    for attempt in range(3):
        run = await client.runs.create(bt, "briefing", input={"city": "Oslo"})
        for _ in range(500):  # until its input is saved
            if len(await client.threads.get_history(bt, limit=100)) > len(history):
                break
            await asyncio.sleep(0.005)
        try:
            await client.runs.cancel(bt, run["run_id"], wait=True, action="rollback")
            break
        except httpx.HTTPStatusError as e:
            # The run ended before the cancel came (a stalled machine): it stays, so the
            # thread moved on; start over from there.
            assert e.response.status_code == 404 and attempt < 2, e.response.text
            before = await client.threads.get_state(bt)
            history = await client.threads.get_history(bt, limit=100)
    await expect_status(404, client.runs.get(bt, run["run_id"]))
    assert await client.threads.get_state(bt) == before
    assert await client.threads.get_history(bt, limit=100) == history
    assert all(r["run_id"] != run["run_id"] for r in await client.runs.list(bt))
    ok("runs.cancel action=rollback: the run and its checkpoints are gone")

    # runs.cancel right after creation
    ct = (await client.threads.create())["thread_id"]
    run = await client.runs.create(ct, "briefing", input={"city": "Paris"})
    await client.runs.cancel(ct, run["run_id"], wait=True)
    run = await client.runs.get(ct, run["run_id"])
    assert run["status"] == "interrupted", run
    ok("runs.cancel wait=True: run status interrupted")

    # store
    ns = ["users", "alice"]
    await client.store.put_item(ns, "prefs", {"theme": "dark"})
    found = await client.store.search_items(["users"])
    items = found["items"]
    assert len(items) == 1, found
    assert (items[0]["namespace"], items[0]["key"], items[0]["value"]) == (
        ns,
        "prefs",
        {"theme": "dark"},
    ), items
    item = await client.store.get_item(ns, "prefs")
    assert (item["namespace"], item["key"], item["value"]) == (ns, "prefs", {"theme": "dark"})
    await client.store.delete_item(ns, "prefs")
    assert await client.store.get_item(ns, "prefs") is None
    assert (await client.store.search_items(["users"]))["items"] == []
    ok("store: put_item / search_items / get_item / delete_item")

    # authorization
    bob = get_client(url=URL, api_key="bob-key")
    await expect_status(404, bob.threads.get(tid))
    ok("authorization: bob gets 404 on alice's thread")
    stranger = get_client(url=URL, api_key="wrong-key")
    await expect_status(401, stranger.assistants.search())
    await expect_status(401, stranger.threads.get(tid))
    ok("authorization: a wrong key gets 401")

    # threads.update, threads.count, assistants.count, get_graph, get_schemas
    updated = await client.threads.update(tid, metadata={"topic": "briefing"})
    assert updated["metadata"]["topic"] == "briefing", updated
    assert updated["metadata"]["graph_id"] == "briefing", updated
    assert await client.threads.count(metadata={"topic": "briefing"}) == 1
    assert await client.assistants.count(graph_id="approval") == 1
    drawing = await client.assistants.get_graph("briefing")
    assert [n["id"] for n in drawing["nodes"]] == [
        "__start__", "weather", "news", "calendar", "summarize", "__end__"
    ], drawing
    assert {"source": "__start__", "target": "news", "conditional": False} in drawing["edges"]
    schemas = await client.assistants.get_schemas("briefing")
    assert schemas["graph_id"] == "briefing", schemas
    state = schemas["state_schema"]
    assert (state["title"], list(state["properties"])) == (
        "Briefing", ["city", "sections", "sequential_ms", "summary"]
    ), state
    assert state["properties"]["city"] == {
        "type": "string", "description": "The city the briefing is for."
    }, state
    assert schemas["output_schema"] == state and "required" not in schemas["input_schema"]
    ok("threads.update / threads.count / assistants.count / get_graph / get_schemas (the state's JSON Schema)")

    # threads.update_state, then the state and its history
    t = (await client.threads.create())["thread_id"]
    await client.runs.wait(t, "approval", input={"to": "Ann"})
    edited = await client.threads.update_state(t, {"draft": "Dear Ann, hello."}, as_node="draft")
    assert edited["checkpoint"]["thread_id"] == t, edited
    state = await client.threads.get_state(t)
    assert state["values"]["draft"] == "Dear Ann, hello.", state
    assert state["checkpoint"]["checkpoint_id"] == edited["checkpoint"]["checkpoint_id"], state
    # Written as `draft`, the edit sends the run back to `review`, which asks again.
    paused = await client.runs.wait(t, "approval")
    question = "Send this email?\nDear Ann, hello."
    assert paused["__interrupt__"] == [{"id": "2:review#0", "value": question}], paused
    done = await client.runs.wait(t, "approval", command={"resume": "approve"})
    assert done["sent"] == ["to Ann: Dear Ann, hello."], done
    ok("threads.update_state: the edit is the new checkpoint, review asks again, then sends it")

    # threads.copy: the history of a paused thread, resumed on the copy alone
    ot = (await client.threads.create(metadata={"topic": "copy"}))["thread_id"]
    paused = await client.runs.wait(ot, "approval", input={"to": "Ann"})
    assert paused == {**DRAFTED, "__interrupt__": INTERRUPT}, paused
    copied = await client.threads.copy(ot)
    cid = copied["thread_id"]
    uuid.UUID(cid)
    assert cid != ot, copied
    approval = str(uuid.uuid5(NAMESPACE, "approval"))
    metadata = {"topic": "copy", "graph_id": "approval", "assistant_id": approval}
    assert copied["metadata"] == metadata, copied
    assert (copied["status"], copied["values"], copied["interrupts"]) == ("idle", None, {}), copied
    assert await client.threads.get(cid) == copied
    original = await client.threads.get_state(ot)
    state = await client.threads.get_state(cid)
    assert (state["values"], state["next"]) == (DRAFTED, ["review"]), state
    assert state["interrupts"] == original["interrupts"] == INTERRUPT, state
    assert state["checkpoint"] == {**original["checkpoint"], "thread_id": cid}, state
    before = await client.threads.get_history(ot, limit=100)
    history = await client.threads.get_history(cid, limit=100)
    assert len(history) == len(before) == 2, history
    for mine, theirs in zip(history, before):
        assert mine["checkpoint"] == {**theirs["checkpoint"], "thread_id": cid}, mine
        assert (mine["values"], mine["next"]) == (theirs["values"], theirs["next"]), mine
    done = await client.runs.wait(cid, "approval", command={"resume": "approve"})
    assert done == {**DRAFTED, "decision": "approve", "sent": [f"to Ann: {DRAFT}"]}, done
    assert await client.threads.get_state(ot) == original
    assert await client.threads.get_history(ot, limit=100) == before
    assert (await client.threads.get(ot))["status"] == "interrupted"
    await expect_status(404, bob.threads.copy(ot))
    ok("threads.copy: same state and history, resumed alone; bob gets 404")

    # runs without a thread
    waited = await client.runs.wait(None, "briefing", input={"city": "Paris"})
    assert waited == FINAL_BRIEFING, waited
    parts = await stream(client, None, "briefing", input={"city": "Paris"}, stream_mode="values")
    assert parts == [("values", v) for v in BRIEFING_VALUES], parts
    ok("runs.wait / runs.stream without a thread")

    print("all sdk checks passed", flush=True)


asyncio.run(main())
