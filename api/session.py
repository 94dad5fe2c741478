"""The request's database session: one transaction per request, committed before the response.
A GET or HEAD reads only: its session's connections run each statement as its own transaction
(no BEGIN / COMMIT round trips) and Postgres refuses a write on them, so a read endpoint that
tried to write fails loudly instead of committing half of it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

READ_METHODS = frozenset({"GET", "HEAD"})


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    runtime = request.app.state.runtime
    reads_only = request.method in READ_METHODS
    sessionmaker = runtime.read_sessionmaker if reads_only else runtime.sessionmaker
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


# scope="function": the commit happens when the endpoint returns, before the response is sent,
# so a client never sees a success for a transaction that then failed.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
