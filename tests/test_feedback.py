"""Feedback on resolutions: validation, access, acceptance into retrieval, demotion, summary."""

from __future__ import annotations

import uuid

import pytest

from core.models import Role
from core.retrieval import Retriever
from tests import factories
from tests.conftest import assert_error_shape
from tests.fakes import classification, resolution, scripted


async def resolved(client, actor, drain, agent_context, category="printing", model_answer=None):
    agent_context.chat_model = scripted(classification(category), model_answer or resolution([]))
    created = (
        await client.post(
            "/api/v1/tickets",
            headers=actor.headers,
            json={"title": "Printer on floor 2 jams", "description": "Paper jam every page"},
        )
    ).json()
    await drain()
    ticket = (
        await client.get(f"/api/v1/tickets/{created['ticket']['id']}", headers=actor.headers)
    ).json()
    return ticket


def feedback_url(ticket: dict) -> str:
    return f"/api/v1/resolutions/{ticket['latest_resolution']['id']}/feedback"


async def test_owner_gives_feedback_and_can_change_it(client, user, drain, agent_context):
    ticket = await resolved(client, user, drain, agent_context)
    first = await client.post(
        feedback_url(ticket),
        headers=user.headers,
        json={"verdict": "not_helpful", "reason": "incomplete", "comment": "Still jams"},
    )
    assert first.status_code == 201, first.text
    second = await client.post(
        feedback_url(ticket), headers=user.headers, json={"verdict": "helpful"}
    )
    assert second.status_code == 201 and second.json()["id"] == first.json()["id"]
    assert second.json()["verdict"] == "helpful" and second.json()["reason"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"verdict": "meh"},
        {"verdict": "not_helpful", "reason": "boring"},
        {"verdict": "helpful", "reason": "incorrect"},
        {"verdict": "helpful", "comment": "x" * 2001},
        {"verdict": "helpful", "extra": 1},
    ],
)
async def test_feedback_validation(client, user, drain, agent_context, body):
    ticket = await resolved(client, user, drain, agent_context)
    assert_error_shape(
        await client.post(feedback_url(ticket), headers=user.headers, json=body), 422
    )


async def test_feedback_access(client, user, make_actor, support, drain, agent_context):
    ticket = await resolved(client, user, drain, agent_context)
    stranger = await make_actor(Role.user)
    body = {"verdict": "helpful"}
    assert_error_shape(
        await client.post(feedback_url(ticket), json=body, headers=stranger.headers), 404
    )
    assert_error_shape(await client.post(feedback_url(ticket), json=body), 401)
    assert (
        await client.post(feedback_url(ticket), json=body, headers=support.headers)
    ).status_code == 201
    missing = f"/api/v1/resolutions/{uuid.uuid4()}/feedback"
    assert_error_shape(await client.post(missing, json=body, headers=user.headers), 404)
    assert_error_shape(await client.get("/api/v1/feedback/summary", headers=user.headers), 403)


async def test_only_staff_helpful_feedback_makes_it_a_similar_ticket(
    app, client, user, support, drain, agent_context
):
    ticket = await resolved(client, user, drain, agent_context)
    retriever = Retriever(app.state.settings, agent_context.embedder)

    async def similar() -> list[str]:
        async with app.state.runtime.sessionmaker() as session:
            return [str(t.id) for t in await retriever.similar_tickets(session, "printer jams")]

    assert await similar() == []  # proposed, not accepted yet
    await client.post(feedback_url(ticket), headers=user.headers, json={"verdict": "helpful"})
    assert await similar() == []  # a requester's verdict never enrols it as evidence
    await client.post(feedback_url(ticket), headers=support.headers, json={"verdict": "helpful"})
    assert await similar() == [ticket["id"]]


async def test_not_helpful_demotes_in_retrieval(app, client, admin, support, agent_context):
    ids = []
    for title in ("Printer jams on every page", "Printer jams after toner change"):
        ids.append(
            await factories.resolved_ticket(
                app.state.runtime.sessionmaker,
                agent_context.embedder,
                owner_id=admin.id,
                title=title,
                description="Paper jam",
                resolution="Cleaned the rollers.",
                steps=["Clean rollers"],
            )
        )
    retriever = Retriever(app.state.settings, agent_context.embedder)

    async def ranking() -> list[uuid.UUID]:
        async with app.state.runtime.sessionmaker() as session:
            return [t.id for t in await retriever.similar_tickets(session, "printer jams")]

    top = (await ranking())[0]
    detail = (await client.get(f"/api/v1/tickets/{top}", headers=support.headers)).json()
    response = await client.post(
        feedback_url(detail),
        headers=support.headers,
        json={"verdict": "not_helpful", "reason": "outdated"},
    )
    assert response.status_code == 201
    assert (await ranking())[0] != top


async def test_summary_figures(client, make_actor, support, drain, agent_context):
    verdicts = [("printing", "helpful"), ("printing", "not_helpful"), ("email", "helpful")]
    for category, verdict in verdicts:
        owner = await make_actor(Role.user)
        ticket = await resolved(client, owner, drain, agent_context, category=category)
        body = {"verdict": verdict} | ({"reason": "incorrect"} if verdict == "not_helpful" else {})
        await client.post(feedback_url(ticket), headers=owner.headers, json=body)
    summary = (await client.get("/api/v1/feedback/summary", headers=support.headers)).json()
    assert summary["overall"] == {
        "key": "all",
        "total": 3,
        "helpful": 2,
        "helpful_rate": pytest.approx(0.6667, abs=1e-3),
    }
    by_category = {r["key"]: r["helpful_rate"] for r in summary["by_category"]}
    assert by_category == {"email": 1.0, "printing": 0.5}
    assert summary["by_model"] == [
        {
            "key": "scripted-fake",
            "total": 3,
            "helpful": 2,
            "helpful_rate": pytest.approx(0.6667, abs=1e-3),
        }
    ]
    assert summary["not_helpful_reasons"] == {"incorrect": 1}
    empty = await client.get(
        "/api/v1/feedback/summary?since=2020-01-01T00:00:00Z&until=2020-02-01T00:00:00Z",
        headers=support.headers,
    )
    assert empty.json()["overall"] is None
    bad = await client.get(
        "/api/v1/feedback/summary?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z",
        headers=support.headers,
    )
    assert_error_shape(bad, 422)
