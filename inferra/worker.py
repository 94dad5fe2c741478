"""`inferra worker`: a standalone run worker process (same database, same graph)."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from agent.checkpointer import postgres_checkpointer
from agent.context import build_context
from agent.graph import build_graph
from agent.worker import RunWorker
from core import migrate
from core.db import create_engine, create_sessionmaker, database_location
from core.providers.chat import configure_tracing
from core.providers.embeddings import embedding_dimension
from core.settings import Settings


async def run_worker(settings: Settings, *, once: bool, concurrency: int | None) -> int:
    configure_tracing(settings)
    async with AsyncExitStack() as stack:
        urls = stack.enter_context(database_location(settings))
        await asyncio.to_thread(migrate.upgrade, urls, embedding_dim=embedding_dimension(settings))
        engine = create_engine(urls)
        stack.push_async_callback(engine.dispose)
        checkpointer = await stack.enter_async_context(postgres_checkpointer(urls.libpq))
        context = build_context(settings, create_sessionmaker(engine))
        worker = RunWorker(
            graph=build_graph(checkpointer),
            context=context,
            listen_conninfo=urls.libpq,
            concurrency=concurrency,
        )
        if once:
            return await worker.drain()
        await worker.run_forever()
    return 0
