"""`Runtime`: the parts a running Inferra holds, as `services.runtime.open_runtime` builds them.
Its own module so that the verbs can name it without importing the wiring."""

from __future__ import annotations

from dataclasses import dataclass

import procrastinate
from langgraph.graph.state import CompiledStateGraph
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agent.context import AgentContext
from core.db import DatabaseUrls
from core.embedded_pg import EmbeddedSupervisor
from core.providers.embeddings import Embedder
from core.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    urls: DatabaseUrls
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    # Reads only: a statement is its own transaction and Postgres refuses writes (core/db.py).
    read_sessionmaker: async_sessionmaker[AsyncSession]
    graph: CompiledStateGraph
    agent: AgentContext  # providers and the database, as the graph's nodes see them
    jobs: procrastinate.App
    supervisor: EmbeddedSupervisor | None = None  # watches the embedded Postgres, if ours

    @property
    def embedder(self) -> Embedder:
        return self.agent.embedder
