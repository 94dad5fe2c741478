"""The run lifecycle on procrastinate: status rules in one place, fair scheduling between
requesters, cancellation of a queued run, resumes through the queue."""

from __future__ import annotations

import itertools
import uuid

import pytest
from sqlalchemy import select

from core import ticket_rules
from core.errors import InferraError
from core.models import AgentRun, TicketStatus
from tests.conftest import assert_error_shape
from tests.fakes import classification, resolution, scripted

T = "/api/v1/tickets"
S = TicketStatus


@pytest.mark.parametrize(("current", "target"), list(itertools.product(S, S)))
def test_each_staff_transition_is_allowed_or_refused_with_409(current, target) -> None:
    allowed = target == current or target in ticket_rules.TRANSITIONS[current]
    if allowed:
        ticket_rules.check_transition(current, target)
    else:
        with pytest.raises(InferraError) as refused:
            ticket_rules.check_transition(current, target)
        assert refused.value.status_code == 409


@pytest.mark.parametrize("current", list(S))
def test_a_late_run_never_moves_a_resolved_or_closed_ticket(current) -> None:
    after_handoff = ticket_rules.after_handoff(current)
    after_resolution = ticket_rules.after_resolution(current)
    if current in (S.resolved, S.closed):
        assert after_handoff is current and after_resolution is current
    else:
        assert after_handoff is S.escalated and after_resolution is S.resolved


async def test_a_handoff_does_not_escalate_a_ticket_staff_resolved_meanwhile(
    client, user, support, drain, agent_context
) -> None:
    agent_context.chat_model = scripted(classification(), resolution([], confidence=0.1))
    created = (
        await client.post(T, headers=user.headers, json={"title": "Odd", "description": "?"})
    ).json()
    ticket_url = f"{T}/{created['ticket']['id']}"
    patched = await client.patch(ticket_url, headers=support.headers, json={"status": "resolved"})
    assert patched.status_code == 200
    await drain()
    ticket = (await client.get(ticket_url, headers=user.headers)).json()
    assert ticket["status"] == "resolved" and ticket["latest_run"]["status"] == "interrupted"


async def test_one_requesters_flood_does_not_starve_another(
    client, make_actor, drain, agent_context, sessionmaker
) -> None:
    flooder, other = await make_actor(), await make_actor()
    agent_context.chat_model = scripted(*[classification("printing"), resolution([])] * 8)
    body = {"title": "Printer jams", "description": "Paper jam"}
    for _ in range(6):
        assert (await client.post(T, headers=flooder.headers, json=body)).status_code == 201
    late = (await client.post(T, headers=other.headers, json=body)).json()
    assert await drain() == 7
    async with sessionmaker() as session:
        order = list(await session.scalars(select(AgentRun.id).order_by(AgentRun.started_at)))
    # The flooder's first run came first; the other requester's came next, not last.
    assert order.index(uuid.UUID(late["run_id"])) == 1


async def test_a_queued_run_can_be_cancelled_once(client, user, support, drain) -> None:
    created = (
        await client.post(T, headers=user.headers, json={"title": "VPN", "description": "x"})
    ).json()
    url = f"/api/v1/runs/{created['run_id']}/cancel"
    assert_error_shape(await client.post(url, headers=user.headers), 403)
    cancelled = await client.post(url, headers=support.headers)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "failed" and "cancelled" in cancelled.json()["error"]
    assert await drain() == 0
    assert_error_shape(await client.post(url, headers=support.headers), 409, "not_queued")
    again = await client.post(
        f"/api/v1/llm/resolve_ticket/{created['ticket']['id']}", headers=user.headers
    )
    assert again.status_code == 202  # the ticket can be run again
