"""Bad input is answered 4xx in the error shape and leaves the server healthy; concurrent
ticket creation and resolution neither duplicates runs nor deadlocks."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy import func, select

from core.models import AgentRun, Role, RunStatus, RunTrigger
from tests.conftest import assert_error_shape
from tests.fakes import classification, resolution, scripted

T = "/api/v1/tickets"


async def assert_healthy(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/readyz")).status_code == 200


async def test_oversize_json_body_is_413(client, user) -> None:
    body = b'{"title": "big", "description": "' + b"x" * 2_000_000 + b'"}'
    response = await client.post(
        T, content=body, headers={**user.headers, "content-type": "application/json"}
    )
    assert_error_shape(response, 413, "payload_too_large")
    await assert_healthy(client)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", T, {"title": "NUL \x00 byte", "description": "d"}),
        ("POST", T, {"title": "ok title", "description": "nul \x00 here"}),
        ("GET", f"{T}?q=%00", None),
        ("GET", f"{T}?page_size=1000000", None),
        ("GET", f"{T}?page=-1", None),
        ("GET", f"{T}/{'9' * 40}", None),
        ("GET", f"{T}/not-a-uuid/comments", None),
        ("POST", T, ["not", "an", "object"]),
        ("POST", T, {"title": 12, "description": None}),
        ("GET", "/api/v1/users?email=%00", None),
    ],
)
async def test_bad_input_is_422(client, user, admin, method, path, body) -> None:
    actor = admin if path.startswith("/api/v1/users") else user
    response = await client.request(method, path, json=body, headers=actor.headers)
    assert_error_shape(response, 422)
    await assert_healthy(client)


@pytest.mark.parametrize(
    "text",
    [
        "Ünïcödé — 日本語のチケット 🚀",
        "' OR 1=1; DROP TABLE tickets; --",
        "<script>alert(1)</script>",
        "\\x00 not a real nul",
        "a" * 200,
    ],
)
async def test_odd_but_valid_text_round_trips(client, user, text) -> None:
    created = await client.post(
        T, json={"title": text[:200], "description": text}, headers=user.headers
    )
    assert created.status_code == 201, created.text
    fetched = await client.get(f"{T}/{created.json()['ticket']['id']}", headers=user.headers)
    assert fetched.json()["description"] == text
    search = await client.get(T, params={"q": text[:200]}, headers=user.headers)
    assert search.status_code == 200
    await assert_healthy(client)


async def test_malformed_auth_headers_are_401(client) -> None:
    for value in ("Bearer", "Basic abc", "Bearer " + "x" * 5000, "Bearer a.b.c"):
        response = await client.get("/api/v1/users/me", headers={"Authorization": value})
        assert_error_shape(response, 401)


async def test_concurrent_creation_and_resolution(
    app, client, make_actor, agent_context, drain
) -> None:
    users = [await make_actor(Role.user) for _ in range(5)]
    agent_context.chat_model = scripted(*[classification("printing"), resolution([])] * 60)

    async def create(actor, i):
        response = await client.post(
            T, headers=actor.headers, json={"title": f"Printer {i}", "description": "jam"}
        )
        assert response.status_code == 201
        return actor, response.json()["ticket"]["id"]

    created = await asyncio.gather(*[create(u, i) for i, u in enumerate(users * 4)])
    assert len(created) == 20

    async def resolve(actor, ticket_id):
        response = await client.post(
            f"/api/v1/llm/resolve_ticket/{ticket_id}", headers=actor.headers
        )
        assert response.status_code in (202, 409), response.text
        return response.status_code

    results = await asyncio.gather(
        *[resolve(a, t) for a, t in created],
        drain(),
        drain(),  # a second worker at the same time
        *[resolve(a, t) for a, t in created],
    )
    await drain()
    async with app.state.runtime.sessionmaker() as session:
        runs = (await session.scalars(select(AgentRun))).all()
        per_ticket_auto = await session.execute(
            select(AgentRun.ticket_id, func.count())
            .where(AgentRun.trigger == RunTrigger.auto)
            .group_by(AgentRun.ticket_id)
        )
    assert sorted(count for _, count in per_ticket_auto) == [1] * 20
    assert all(r.status is RunStatus.succeeded for r in runs)
    assert all(r.attempts == 1 for r in runs)  # no run was executed twice
    manual = [r for r in runs if r.trigger is RunTrigger.manual]
    assert len(manual) == sum(1 for code in results if code == 202)
    assert {t for t in (str(r.ticket_id) for r in runs)} == {t for _, t in created}
    await assert_healthy(client)


async def test_unknown_ids_everywhere_are_404(client, support, admin) -> None:
    missing = uuid.uuid4()
    for method, path in [
        ("GET", f"{T}/{missing}"),
        ("GET", f"/api/v1/runs/{missing}"),
        ("POST", f"/api/v1/llm/resolve_ticket/{missing}"),
    ]:
        assert_error_shape(await client.request(method, path, headers=support.headers), 404)
