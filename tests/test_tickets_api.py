"""Tickets over HTTP: create returns at once with a queued run, the worker resolves it, and
visibility follows ownership (404, never 403, for someone else's ticket)."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from core.errors import InferraError
from core.models import Role
from services import tickets as services_tickets
from services import users as services_users
from tests.conftest import assert_error_shape
from tests.fakes import classification, resolution, scripted

T = "/api/v1/tickets"


async def create(
    client: httpx.AsyncClient, actor, title="Printer jams", description="Jams.", **extra
) -> dict:
    response = await client.post(
        T, json={"title": title, "description": description, **extra}, headers=actor.headers
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_create_returns_at_once_with_a_queued_run(client, user) -> None:
    started = time.perf_counter()
    body = await create(client, user, category_hint="printing")
    assert time.perf_counter() - started < 2.0  # no agent work in the request
    assert body["ticket"]["status"] == "open" and body["ticket"]["category_hint"] == "printing"
    detail = (await client.get(f"{T}/{body['ticket']['id']}", headers=user.headers)).json()
    assert detail["latest_run"]["id"] == body["run_id"]
    assert detail["latest_run"]["status"] == "queued" and detail["latest_resolution"] is None
    # The ticket and its run go in as one statement: the answer is the row as stored.
    assert {key: detail[key] for key in body["ticket"]} == body["ticket"]
    assert body["ticket"]["priority"] == "medium" and body["ticket"]["category"] is None


async def test_worker_completes_the_run_and_get_shows_the_resolution(
    client, user, agent_context, drain
) -> None:
    agent_context.chat_model = scripted(classification("printing"), resolution([]))
    body = await create(client, user)
    await drain()
    detail = (await client.get(f"{T}/{body['ticket']['id']}", headers=user.headers)).json()
    assert detail["status"] == "resolved" and detail["category"] == "printing"
    assert detail["latest_run"]["status"] == "succeeded"
    assert detail["latest_resolution"]["version"] == 1
    assert detail["latest_resolution"]["solutions"][0]["steps"]


async def test_bad_ticket_bodies_are_422(client, user) -> None:
    for body in (
        {"title": "x", "description": "short title"},
        {"title": "ok title", "description": ""},
        {"title": "ok title", "description": "d" * 10_001},
        {"title": "ok title", "description": "fine", "category_hint": "coffee"},
        {"title": "ok title", "description": "fine", "status": "closed"},
    ):
        assert_error_shape(await client.post(T, json=body, headers=user.headers), 422)
    assert_error_shape(await client.post(T, json={"title": "t", "description": "d"}), 401)


async def test_text_is_trimmed_and_blank_is_422_in_the_api_and_the_services(
    client, user, runtime, sessionmaker
) -> None:
    for body in (
        {"title": "   ", "description": "blank title"},
        {"title": " \t\n ", "description": "blank title"},
        {"title": "ok title", "description": "   "},
    ):
        assert_error_shape(await client.post(T, json=body, headers=user.headers), 422)
    assert (await client.get(T, headers=user.headers)).json()["total"] == 0  # nothing queued

    created = await create(client, user, title="  VPN drops  ", description="\n every hour \n")
    ticket = (await client.get(f"{T}/{created['ticket']['id']}", headers=user.headers)).json()
    assert (ticket["title"], ticket["description"]) == ("VPN drops", "every hour")
    blank_comment = await client.post(
        f"{T}/{created['ticket']['id']}/comments", json={"body": "  "}, headers=user.headers
    )
    assert_error_shape(blank_comment, 422)

    # The console and the CLI call the services: the same rule holds there.
    async with sessionmaker() as session:
        owner = await services_users.get_user(session=session, user_id=user.id)
        with pytest.raises(InferraError) as refused:
            await services_tickets.create(
                session=session, runtime=runtime, owner=owner, title="  ", description="x"
            )
    assert refused.value.status_code == 422 and refused.value.message.startswith("title")


async def test_users_see_only_their_own_tickets_staff_see_all(
    client, make_actor, support, admin
) -> None:
    alice, bob = await make_actor(Role.user), await make_actor(Role.user)
    mine = await create(client, alice, "Alice VPN", "vpn")
    await create(client, bob, "Bob printer", "printer")
    listed = (await client.get(T, headers=alice.headers)).json()
    assert [t["id"] for t in listed["items"]] == [mine["ticket"]["id"]]
    for staff in (support, admin):
        assert (await client.get(T, headers=staff.headers)).json()["total"] == 2
    ticket_url = f"{T}/{mine['ticket']['id']}"
    assert_error_shape(await client.get(ticket_url, headers=bob.headers), 404)
    assert (await client.get(ticket_url, headers=support.headers)).status_code == 200
    assert_error_shape(await client.get(f"{T}/{uuid.uuid4()}", headers=alice.headers), 404)
    for path in (f"{ticket_url}/comments", f"/api/v1/llm/resolve_ticket/{mine['ticket']['id']}"):
        assert_error_shape(await client.post(path, json={"body": "hi"}, headers=bob.headers), 404)


async def test_list_filters_search_and_pagination(client, user, support) -> None:
    await create(
        client,
        user,
        "Outlook crashes on start",
        "Outlook closes itself",
    )
    await create(
        client,
        user,
        "Printer offline",
        "The 3rd floor printer is offline",
        category_hint="printing",
    )
    for i in range(3):
        await create(client, user, f"Laptop fan noise {i}", "loud fan")
    page = (await client.get(f"{T}?page_size=2&page=1", headers=user.headers)).json()
    assert page["total"] == 5 and len(page["items"]) == 2
    assert page["items"][0]["title"] == "Laptop fan noise 2"  # newest first
    found = (await client.get(f"{T}?q=outlook", headers=user.headers)).json()
    assert [t["title"] for t in found["items"]] == ["Outlook crashes on start"]
    sqlish = await client.get(f"{T}?q=' OR 1=1; --", headers=user.headers)
    assert sqlish.status_code == 200 and sqlish.json()["total"] == 0
    opened = (await client.get(f"{T}?status=open", headers=support.headers)).json()
    assert opened["total"] == 5
    assert_error_shape(await client.get(f"{T}?status=nope", headers=user.headers), 422)
    assert_error_shape(await client.get(f"{T}?page_size=1000", headers=user.headers), 422)


async def test_staff_update_status_priority_assignee(client, user, support) -> None:
    ticket = (await create(client, user))["ticket"]
    url = f"{T}/{ticket['id']}"
    assert_error_shape(
        await client.patch(url, json={"status": "closed"}, headers=user.headers), 403
    )
    response = await client.patch(
        url,
        json={"status": "in_progress", "priority": "high", "assignee_id": str(support.id)},
        headers=support.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "in_progress" and response.json()["priority"] == "high"
    assert response.json()["assignee_id"] == str(support.id)
    mine = (await client.get(f"{T}?assignee_id={support.id}", headers=support.headers)).json()
    assert mine["total"] == 1
    bad_assignee = await client.patch(
        url, json={"assignee_id": str(user.id)}, headers=support.headers
    )
    assert_error_shape(bad_assignee, 422, "invalid_assignee")
    assert_error_shape(await client.patch(url, json={}, headers=support.headers), 422)


async def test_status_transitions_are_validated(client, user, support) -> None:
    url = f"{T}/{(await create(client, user))['ticket']['id']}"
    assert (await client.patch(url, json={"status": "closed"}, headers=support.headers)).is_success
    error = assert_error_shape(
        await client.patch(url, json={"status": "resolved"}, headers=support.headers),
        409,
        "invalid_transition",
    )
    assert error["details"]["allowed"] == ["open"]
    assert (await client.patch(url, json={"status": "open"}, headers=support.headers)).is_success


async def test_closing_a_resolved_ticket_accepts_its_resolution(
    client, user, support, agent_context, drain, app
) -> None:
    agent_context.chat_model = scripted(classification("printing"), resolution([]))
    ticket_id = (await create(client, user))["ticket"]["id"]
    await drain()
    closed = await client.patch(
        f"{T}/{ticket_id}", json={"status": "closed"}, headers=support.headers
    )
    assert closed.status_code == 200
    detail = (await client.get(f"{T}/{ticket_id}", headers=user.headers)).json()
    assert detail["latest_resolution"]["accepted_at"] is not None


async def test_comments_internal_ones_are_staff_only(client, user, support) -> None:
    url = f"{T}/{(await create(client, user))['ticket']['id']}/comments"
    assert (await client.post(url, json={"body": "Still broken"}, headers=user.headers)).is_success
    assert_error_shape(
        await client.post(url, json={"body": "x", "internal": True}, headers=user.headers), 403
    )
    internal = await client.post(
        url, json={"body": "Known driver bug", "internal": True}, headers=support.headers
    )
    assert internal.status_code == 201
    for actor, expected in (
        (user, ["Still broken"]),
        (support, ["Still broken", "Known driver bug"]),
    ):
        listed = (await client.get(url, headers=actor.headers)).json()
        assert [c["body"] for c in listed["items"]] == expected
    assert_error_shape(await client.post(url, json={"body": ""}, headers=user.headers), 422)
    assert_error_shape(await client.post(url, json={"body": "x" * 5001}, headers=user.headers), 422)


async def test_resolve_ticket_queues_a_manual_run_once(
    client, user, make_actor, support, drain, agent_context
) -> None:
    agent_context.chat_model = scripted(*[classification("printing"), resolution([])] * 3)
    ticket_id = (await create(client, user))["ticket"]["id"]
    url = f"/api/v1/llm/resolve_ticket/{ticket_id}"
    busy = await client.post(url, headers=user.headers)  # the auto run is still queued
    assert_error_shape(busy, 409, "run_in_progress")
    await drain()
    for actor in (user, support):
        response = await client.post(url, headers=actor.headers)
        assert response.status_code == 202 and response.json()["status"] == "queued"
        await drain()
    stranger = await make_actor(Role.user)
    assert_error_shape(await client.post(url, headers=stranger.headers), 404)
    detail = (await client.get(f"{T}/{ticket_id}", headers=user.headers)).json()
    assert detail["latest_resolution"]["version"] == 3  # every run's result is stored


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "1", "%00"])
async def test_invalid_ids_are_422(client, user, bad_id) -> None:
    assert_error_shape(await client.get(f"{T}/{bad_id}", headers=user.headers), 422)
