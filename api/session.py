"""The request's database session: one transaction per request, committed before the response."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.runtime.sessionmaker() as session:
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
