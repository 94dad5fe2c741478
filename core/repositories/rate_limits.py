"""Fixed-window counters in Postgres, so every API process shares one limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import RateLimitHit


class RateLimitRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def hit(
        self, key: str, window_seconds: int, now: datetime | None = None
    ) -> tuple[int, int]:
        """Count one hit for key; returns (hits in the current window, seconds until it ends)."""
        now = now or datetime.now(UTC)
        epoch = int(now.timestamp())
        window_start = datetime.fromtimestamp(epoch - epoch % window_seconds, UTC)
        stmt = (
            insert(RateLimitHit)
            .values(key=key, window_start=window_start, hits=1)
            .on_conflict_do_update(
                index_elements=[RateLimitHit.key, RateLimitHit.window_start],
                set_={"hits": RateLimitHit.hits + 1},
            )
            .returning(RateLimitHit.hits)
        )
        hits = (await self.session.execute(stmt)).scalar_one()
        # Expired windows of this key are dead weight; dropping them keeps the table small.
        await self.session.execute(
            delete(RateLimitHit).where(
                RateLimitHit.key == key, RateLimitHit.window_start < window_start
            )
        )
        window_end = window_start + timedelta(seconds=window_seconds)
        return hits, max(1, int((window_end - now).total_seconds() + 0.999))
