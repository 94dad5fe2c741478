"""Keeping full-text search's term statistics (BM25's IDF) in step with the corpora: after bulk
loads (history import, knowledge-base ingestion, eval datasets) and from the worker's periodic
task, which refreshes a corpus once enough of it has changed."""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.repositories.search import CORPORA, SearchStatsRepository

log = structlog.get_logger(__name__)


async def refresh_search_stats(
    sessionmaker: async_sessionmaker[AsyncSession], *, force: bool = False
) -> list[str]:
    """Refresh every corpus (`force`) or only the stale ones; returns the refreshed ones."""
    async with sessionmaker.begin() as session:
        repo = SearchStatsRepository(session)
        if force:
            refreshed = list(CORPORA)
            for corpus in refreshed:
                await repo.refresh(corpus)
        else:
            refreshed = await repo.refresh_stale()
    if refreshed:
        log.info("search_stats_refreshed", corpora=refreshed)
    return refreshed
