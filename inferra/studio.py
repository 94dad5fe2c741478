"""LangGraph Studio / `langgraph dev` entry point (see langgraph.json): the resolver graph on the
one runtime, with Inferra's Postgres checkpointer, so that a Studio thread is an Inferra run.

- `checkpointer`: the dev server's persistence. It opens the runtime (`open_runtime`) for the
  server's lifetime and hands over the runtime's checkpointer: Studio threads live in Inferra's
  database, where `GET /runs/{id}` reads steps and the runs API resumes handed-off runs.
- `graph`: the graph factory. Each run on a thread is one attempt of the thread's agent run
  (`services.studio.attempt`); a new thread's first step, `open_run`, records the run of the
  ticket it was given (trigger `studio`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import cache
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph_sdk.runtime import ServerRuntime
from pydantic import BaseModel, ConfigDict, PrivateAttr
from typing_extensions import TypedDict

from agent.context import AgentContext
from agent.graph import build_graph
from core.errors import InferraError
from core.settings import get_settings
from services import studio
from services.resources import Runtime
from services.runtime import open_runtime

_opened: list[Runtime] = []  # the runtime `checkpointer` opened for this server process


def current_runtime() -> Runtime:
    if not _opened:
        raise RuntimeError(
            "Inferra's runtime is not open: langgraph.json must name "
            "inferra.studio.checkpointer as the checkpointer"
        )
    return _opened[-1]


class StudioInput(TypedDict):
    """What a Studio run starts from: the id of an existing ticket."""

    ticket_id: str


class StudioContext(BaseModel):
    """The run's context as Studio's form shows it: nothing to fill in (the dev server builds it
    from `{}`). The providers and the database come from the runtime this process opened."""

    model_config = ConfigDict(extra="forbid")
    _agent: AgentContext = PrivateAttr(default_factory=lambda: current_runtime().agent)

    @property
    def agent(self) -> AgentContext:
        return self._agent


@contextmanager
def shown_in_studio() -> Iterator[None]:
    """Our errors as the dev server shows a message to the Studio user: it hides the text of
    any exception but a few builtin types."""
    try:
        yield
    except InferraError as exc:
        raise ValueError(f"{exc.code}: {exc.message}") from exc


async def open_run(state: StudioInput, config: RunnableConfig) -> dict[str, Any]:
    configurable = config["configurable"]
    with shown_in_studio():
        return await studio.open_run(
            runtime=current_runtime(),
            run_id=uuid.UUID(configurable["thread_id"]),
            ticket_id=state["ticket_id"],
            token=configurable["run_id"],
        )


@cache
def studio_graph() -> CompiledStateGraph:
    # The dev server adds its checkpointer (ours, from `checkpointer` below) to a copy.
    return build_graph(context_schema=StudioContext, entry=("open_run", open_run, StudioInput))


@asynccontextmanager
async def checkpointer() -> AsyncIterator[BaseCheckpointSaver]:
    # Settings read .env from disk: a blocking call the dev server refuses in its event loop.
    settings = await asyncio.to_thread(get_settings)
    async with open_runtime(settings) as runtime:
        _opened.append(runtime)
        try:
            yield runtime.graph.checkpointer
        finally:
            _opened.remove(runtime)


@asynccontextmanager
async def graph(
    config: RunnableConfig, runtime: ServerRuntime
) -> AsyncIterator[CompiledStateGraph]:
    """The dev server calls this for every access to the graph; only runs are attempts."""
    if runtime.access_context != "threads.create_run":
        yield studio_graph()
        return
    configurable = config["configurable"]
    attempt = studio.attempt(
        runtime=current_runtime(),
        run_id=uuid.UUID(configurable["thread_id"]),
        token=configurable["run_id"],
    )
    with shown_in_studio():
        async with attempt:
            yield studio_graph()
