"""Web search through ddgs with a short timeout; offline it raises ProviderUnavailable.
The one seam for outbound search: every query is scrubbed of personal and machine data here."""

from __future__ import annotations

import asyncio
import time
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
    """After a failure, searches are skipped for `cooldown` seconds: a server without internet
    (or rate-limited) would otherwise pay a failed connection on every run (~350 ms here, up to
    the timeout elsewhere)."""

    def __init__(self, *, timeout: float, max_results: int, cooldown: float = 60.0) -> None:
        self.timeout = timeout
        self.max_results = max_results
        self.cooldown = cooldown
        self._failed_at: float | None = None

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
        if (
            self._failed_at is not None
            and (ago := time.monotonic() - self._failed_at) < self.cooldown
        ):
            raise ProviderUnavailable(
                f"web search skipped: it failed {ago:.0f} s ago, "
                f"next try {self.cooldown:.0f} s after the failure"
            )
        try:
            results = await asyncio.wait_for(asyncio.to_thread(self._search, query), self.timeout)
        except Exception as exc:  # DNS failure offline, timeouts, rate limits
            self._failed_at = time.monotonic()
            raise ProviderUnavailable(f"web search unavailable: {type(exc).__name__}") from exc
        self._failed_at = None
        return results[: self.max_results]


class DisabledWebSearch:
    async def search(self, query: str) -> list[WebResult]:
        raise ProviderUnavailable("web search disabled by settings")
