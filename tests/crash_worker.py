"""A worker process that stops at a chosen step, for the crash tests.

    python -m tests.crash_worker STEP MARKER [STALL_SECONDS]

STEP is a graph node (classify, retrieve_docs, draft, validate, persist) or `ingest` (a queued
document's parse). On reaching it the worker writes MARKER, then hangs there (to be SIGKILLed)
or, given STALL_SECONDS, blocks its event loop that long (no heartbeat: another worker takes the
job over) and then goes on, to show that its late finish changes nothing.
The database and worker timings come from the environment (DATABASE_URL, WORKER_*).
"""

from __future__ import annotations

import asyncio
import functools
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import agent.graph
import services.knowledge_base
from core.settings import get_settings
from services.runtime import open_runtime
from services.worker import run_worker


def stopping_at(
    step: Callable[..., Awaitable[Any]], marker: Path, stall: float | None
) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(step)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        marker.write_text("reached")  # noqa: ASYNC240 (a test marker, tiny)
        if stall is None:
            await asyncio.sleep(3600)  # killed here
        else:
            time.sleep(stall)  # noqa: ASYNC251 (on purpose: a stuck event loop, no heartbeat)
        return await step(*args, **kwargs)

    return wrapper


async def main(step: str, marker: Path, stall: float | None) -> None:
    if step == "ingest":
        module: Any = services.knowledge_base
        name = "parse_chunk_embed"
    else:
        module, name = agent.graph, step
    setattr(module, name, stopping_at(getattr(module, name), marker, stall))
    async with open_runtime(get_settings(), migrate_database=False, pool_size=3) as runtime:
        await run_worker(runtime, concurrency=1, name=f"crash-{step}")


if __name__ == "__main__":
    stall = float(sys.argv[3]) if len(sys.argv) > 3 else None
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), stall))
