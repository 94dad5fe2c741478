"""Awaiting several database calls at once, each on its own session."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def side_by_side(*calls: Awaitable[T]) -> list[T]:
    """Every result, in order; if one fails the others are cancelled and awaited before the
    error goes up, so that nothing still uses the caller's session once it returns (plain
    gather would leave them running)."""
    tasks = [asyncio.ensure_future(call) for call in calls]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
