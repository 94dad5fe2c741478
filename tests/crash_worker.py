"""A run worker in its own process, for the crash-recovery test.

    python -m tests.crash_worker block MARKER   # classify, then block inside draft (to be killed)
    python -m tests.crash_worker finish         # drain the queue with a model that drafts at once

The database comes from DATABASE_URL, the lease from WORKER_LEASE_SECONDS.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from agent.checkpointer import postgres_checkpointer
from agent.context import build_context
from agent.graph import build_graph
from agent.worker import RunWorker
from core.db import DatabaseUrls, create_engine, create_sessionmaker
from core.settings import get_settings
from tests.fakes import OfflineWebSearch, ScriptedChatModel, classification, resolution


class BlockingDraftModel(ScriptedChatModel):
    """Classifies, then hangs in the draft call after leaving a marker file."""

    marker: str = ""

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        if self.prompts:  # second call: the draft
            Path(self.marker).write_text("draft reached")
            time.sleep(3600)
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)


async def main(mode: str, marker: str | None) -> None:
    settings = get_settings()
    urls = DatabaseUrls.from_any(settings.database_url)
    if mode == "block":
        model = BlockingDraftModel(messages=iter([classification()]), prompts=[], marker=marker)
    else:
        model = ScriptedChatModel(messages=iter([resolution([])]), prompts=[])
    engine = create_engine(urls, pool_size=2)
    async with postgres_checkpointer(urls.libpq, max_size=2) as saver:
        context = build_context(
            settings, create_sessionmaker(engine), chat_model=model, web_search=OfflineWebSearch()
        )
        worker = RunWorker(graph=build_graph(saver), context=context, name=f"crash-{mode}")
        print(f"processed {await worker.drain()}", flush=True)
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
