"""Per-user quotas: open tickets, new tickets per hour, manual runs per hour, forks/replays per
hour, comments per minute. Each refusal is `429 rate_limited` with Retry-After.

`enforce` is called first thing in the verb, in the verb's own transaction: the count it adds
is rolled back with a request that fails (a refused, invalid or 404 request costs nothing), and
the counter's row lock makes one user's concurrent requests of one action count one after the
other, so a burst cannot overshoot a limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

import structlog

from core.errors import RateLimited
from core.models import TicketStatus, User
from core.repositories.rate_limits import RateLimitRepository, RequesterCounts

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.settings import Settings

log = structlog.get_logger(__name__)

OPEN_STATUSES = (TicketStatus.open, TicketStatus.in_progress, TicketStatus.escalated)
# The open-tickets quota frees up when staff or the agent resolve a ticket, not at a set time:
# Retry-After is only a hint for when to look again.
OPEN_TICKETS_RETRY_AFTER_SECONDS = 60


class Action(StrEnum):
    new_ticket = "new_ticket"
    manual_run = "manual_run"  # POST /llm/resolve_ticket
    branch_run = "branch_run"  # a replay or a fork
    comment = "comment"


@dataclass(frozen=True)
class _Rule:
    setting: str  # the Settings field holding the limit
    window_seconds: int
    per: str  # for the message
    staff_exempt: bool = True


RULES = {
    Action.new_ticket: _Rule("quota_tickets_per_hour", 3600, "hour"),
    Action.manual_run: _Rule("quota_manual_runs_per_hour", 3600, "hour"),
    Action.branch_run: _Rule("quota_forks_per_hour", 3600, "hour", staff_exempt=False),
    Action.comment: _Rule("quota_comments_per_minute", 60, "minute"),
}
# For trusted in-process drivers that file hundreds of tickets as one requester (evals,
# benchmarks): `settings.model_copy(update=UNLIMITED)`.
UNLIMITED: dict[str, int] = {
    "quota_open_tickets": 10**9,
    **{rule.setting: 10**9 for rule in RULES.values()},
}
_NOUNS = {
    Action.new_ticket: "new tickets",
    Action.manual_run: "resolution requests",
    Action.branch_run: "replays and forks",
    Action.comment: "comments",
}


async def enforce(
    *, session: AsyncSession, settings: Settings, user: User, action: Action
) -> RequesterCounts | None:
    """Count one `action` by `user`, or raise RateLimited (429) if a quota refuses it. For a new
    ticket, returns the requester's counts it read (open tickets, queued runs), so that the
    caller schedules the run without counting again; None when nothing was counted."""
    rule = RULES[action]
    if rule.staff_exempt and user.is_staff:
        return None
    repo = RateLimitRepository(session)
    key = f"quota:{action.value}:{user.id}"
    limit: int = getattr(settings, rule.setting)
    # Cheap refusals first: plain reads, no waiting behind the user's other requests.
    # Counted, with the row locked until this transaction ends: one user's concurrent requests
    # are counted one after the other (a flood queues behind itself, nobody else's requests).
    counted = await repo.hit(key, rule.window_seconds)
    _check_rate(action, rule, limit, counted.hits, counted.retry_after, user)
    if action is not Action.new_ticket:
        return None
    # After the hit: its row lock orders this user's concurrent requests, so the count sees
    # the tickets of the ones before (read committed).
    counts = await repo.requester_counts(user.id, OPEN_STATUSES)
    _check_open_tickets(counts.open_tickets, settings, user)
    return counts


def _check_rate(
    action: Action, rule: _Rule, limit: int, counted: int, retry_after: int, user: User
) -> None:
    """Refuse when this action would be number `counted` in a window allowing `limit`."""
    if counted <= limit:
        return
    raise _refusal(
        action,
        f"Too many {_NOUNS[action]}: at most {limit} per {rule.per}; try again later",
        retry_after=retry_after,
        limit=limit,
        user=user,
    )


def _check_open_tickets(count: int, settings: Settings, user: User) -> None:
    limit = settings.quota_open_tickets
    if count < limit:
        return
    raise _refusal(
        Action.new_ticket,
        f"You have {count} unresolved tickets (open, in progress or escalated), the most "
        f"allowed is {limit}; file a new one when one of them is resolved",
        retry_after=OPEN_TICKETS_RETRY_AFTER_SECONDS,
        limit=limit,
        user=user,
        quota="open_tickets",
    )


def _refusal(
    action: Action,
    message: str,
    *,
    retry_after: int,
    limit: int,
    user: User,
    quota: str | None = None,
) -> RateLimited:
    quota = quota or RULES[action].setting.removeprefix("quota_")
    log.info("quota_refused", user_id=str(user.id), quota=quota, limit=limit)
    error = RateLimited(message, retry_after=retry_after)
    error.details = {**error.details, "quota": quota, "limit": limit}
    return error
