"""The agent-loop workload on LangGraph's `create_agent`; prints medians in seconds as JSON.

A zero-latency scripted model asks for three tool calls at once on each turn, then answers;
the tools return at once, so what is timed is the framework's own work per turn. Mirrors
`benches/src/bin/compare.rs` (`agent_turns_*`).
"""

import asyncio
import json
import statistics
import sys
import time

from langchain.agents import create_agent
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool


@tool
def weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@tool
def flights(route: str) -> str:
    """Direct flights on a route."""
    return f"3 flights {route}"


@tool
def hotels(city: str) -> str:
    """Hotels in a city."""
    return f"12 hotels in {city}"


class ScriptedModel(BaseChatModel):
    """Calls the three tools on each of `turns` turns, then answers."""

    turns: int

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools, **kwargs):
        return self

    def _answer(self, messages):
        turn = sum(1 for m in messages if isinstance(m, AIMessage))
        if turn >= self.turns:
            return AIMessage(content="done")
        calls = [
            {"name": "weather", "args": {"city": "Paris"}, "id": f"t{turn}-0"},
            {"name": "flights", "args": {"route": "LON-PAR"}, "id": f"t{turn}-1"},
            {"name": "hotels", "args": {"city": "Paris"}, "id": f"t{turn}-2"},
        ]
        return AIMessage(content="", tool_calls=calls)

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        return ChatResult(generations=[ChatGeneration(message=self._answer(messages))])

    async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs):
        return self._generate(messages)


async def bare_agent(turns):
    """The same loop on bare asyncio: the model's answer logic, then the three tool
    functions as concurrent tasks, results appended in call order."""
    model = ScriptedModel(turns=turns)
    tools = {t.name: t.func for t in (weather, flights, hotels)}
    messages = [HumanMessage(content="Plan a trip to Paris")]

    async def run(call):
        return ToolMessage(content=tools[call["name"]](**call["args"]), tool_call_id=call["id"])

    while True:
        answer = model._answer(messages)
        messages.append(answer)
        if not answer.tool_calls:
            return messages
        messages.extend(await asyncio.gather(*(run(call) for call in answer.tool_calls)))


async def median(runs, run):
    await run()  # warm-up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def main():
    runs = 3 if "--quick" in sys.argv else 7
    results = {}
    for turns in (1, 10):
        agent = create_agent(ScriptedModel(turns=turns), [weather, flights, hotels])
        request = {"messages": [{"role": "user", "content": "Plan a trip to Paris"}]}

        async def run(agent=agent, turns=turns):
            out = await agent.ainvoke(request, {"recursion_limit": 4 * turns + 10})
            assert len(out["messages"]) == 2 + 4 * turns, len(out["messages"])

        results[f"agent_turns_{turns}"] = await median(runs, run)

        async def bare(turns=turns):
            assert len(await bare_agent(turns)) == 2 + 4 * turns

        results[f"bare_asyncio_agent_turns_{turns}"] = await median(runs, bare)
    print(json.dumps(results, indent=2, sort_keys=True))


asyncio.run(main())
