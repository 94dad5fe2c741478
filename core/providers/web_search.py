"""Web search through ddgs with a short timeout; offline it raises ProviderUnavailable.
The one seam for outbound search: every query is scrubbed of personal and machine data here."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

from core.privacy import scrub
from core.providers import ProviderUnavailable


@dataclass(frozen=True)
class WebResult:
    title: str
    url: str
    snippet: str


class WebSearch(Protocol):
    async def search(self, query: str) -> list[WebResult]: ...


class DdgsWebSearch:
    def __init__(self, *, timeout: float, max_results: int) -> None:
        self.timeout = timeout
        self.max_results = max_results

    def _search(self, query: str) -> list[WebResult]:
        from ddgs import DDGS

        rows = DDGS(timeout=int(max(1, self.timeout))).text(query, max_results=self.max_results)
        return [
            WebResult(title=r.get("title", ""), url=r.get("href", ""), snippet=r.get("body", ""))
            for r in rows or []
            if r.get("href")
        ]

    async def search(self, query: str) -> list[WebResult]:
        query = scrub(query)
        if not query:
            raise ProviderUnavailable("web search skipped: no query without personal data")
        try:
            results = await asyncio.wait_for(asyncio.to_thread(self._search, query), self.timeout)
        except Exception as exc:  # DNS failure offline, timeouts, rate limits
            raise ProviderUnavailable(f"web search unavailable: {type(exc).__name__}") from exc
        return results[: self.max_results]


class DisabledWebSearch:
    async def search(self, query: str) -> list[WebResult]:
        raise ProviderUnavailable("web search disabled by settings")
