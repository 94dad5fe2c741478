"""Ownership matrix: every route that takes an id, for (owner, other user, support, admin,
anonymous). A user never learns that someone else's object exists (404, not 403)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from core.models import Role
from tests import factories
from tests.conftest import assert_error_shape
from tests.fakes import classification, resolution, scripted

ACTORS = ("owner", "other", "support", "admin", "anonymous")


@dataclass
class World:
    actors: dict
    ticket: str
    run: str
    interrupted_run: str
    checkpoint: str
    resolution: str
    document: str


@pytest.fixture
async def world(client, make_actor, agent_context, drain, app) -> World:
    actors = {
        "owner": await make_actor(Role.user),
        "other": await make_actor(Role.user),
        "support": await make_actor(Role.support),
        "admin": await make_actor(Role.admin),
        "anonymous": None,
    }
    agent_context.chat_model = scripted(
        classification(),
        resolution([]),
        *[classification(), resolution([], confidence=0.1)] * 4,
    )
    owner = actors["owner"]
    ids = []
    for title in ("Printer jams", "Strange noise"):
        created = await client.post(
            "/api/v1/tickets", headers=owner.headers, json={"title": title, "description": "help"}
        )
        ids.append(created.json())
    await drain()
    detail = (
        await client.get(f"/api/v1/tickets/{ids[0]['ticket']['id']}", headers=owner.headers)
    ).json()
    run = (
        await client.get(f"/api/v1/runs/{ids[0]['run_id']}", headers=actors["support"].headers)
    ).json()
    [chunk] = await factories.kb_document(
        app.state.runtime.sessionmaker,
        agent_context.embedder,
        filename="printers.md",
        sections=[("Printers", "Restart the spooler")],
    )
    docs = (await client.get("/api/v1/kb/documents", headers=actors["support"].headers)).json()
    del chunk
    return World(
        actors,
        ids[0]["ticket"]["id"],
        ids[0]["run_id"],
        ids[1]["run_id"],
        run["steps"][0]["checkpoint_id"],
        detail["latest_resolution"]["id"],
        docs["items"][0]["id"],
    )


# (method, path template, body, expected status per actor in ACTORS order)
MATRIX = [
    ("GET", "/tickets/{ticket}", None, (200, 404, 200, 200, 401)),
    ("PATCH", "/tickets/{ticket}", {"priority": "high"}, (403, 403, 200, 200, 401)),
    ("GET", "/tickets/{ticket}/comments", None, (200, 404, 200, 200, 401)),
    ("POST", "/tickets/{ticket}/comments", {"body": "hi"}, (201, 404, 201, 201, 401)),
    ("POST", "/llm/resolve_ticket/{ticket}", None, (202, 404, 202, 202, 401)),
    ("GET", "/tickets/{ticket}/runs", None, (200, 404, 200, 200, 401)),
    ("GET", "/runs/{run}", None, (403, 403, 200, 200, 401)),
    ("GET", "/runs/{run}/events", None, (403, 403, 200, 200, 401)),
    ("POST", "/runs/{run}/replay", {"checkpoint_id": "{checkpoint}"}, (403, 403, 202, 202, 401)),
    (
        "POST",
        "/runs/{run}/fork",
        {"checkpoint_id": "{checkpoint}", "state_patch": {}},
        (403, 403, 202, 202, 401),
    ),
    ("POST", "/runs/{interrupted_run}/resume", {"action": "reject"}, (403, 403, 202, 202, 401)),
    (
        "POST",
        "/resolutions/{resolution}/feedback",
        {"verdict": "helpful"},
        (201, 404, 201, 201, 401),
    ),
    ("PATCH", "/users/{owner_id}/role", {"role": "support"}, (403, 403, 403, 200, 401)),
    ("DELETE", "/users/{owner_id}", None, (403, 403, 403, 204, 401)),
    ("GET", "/kb/documents/{document}", None, (403, 403, 200, 200, 401)),
    ("DELETE", "/kb/documents/{document}", None, (403, 403, 204, 204, 401)),
]


def _fill(template, world: World):
    values = {**vars(world), "owner_id": str(world.actors["owner"].id)}
    if isinstance(template, str):
        return template.format(**{k: v for k, v in values.items() if isinstance(v, str)})
    if isinstance(template, dict):
        return {k: _fill(v, world) for k, v in template.items()}
    return template


async def fresh_object(path: str, world: World, client, drain, app, agent_context) -> None:
    """Routes whose success changes what the next actor would see get a fresh object."""
    if path.startswith("/llm/resolve_ticket"):
        await drain()  # the previous manual run finishes: a new one may be requested
    elif path.endswith("/resume"):
        created = await client.post(
            "/api/v1/tickets",
            headers=world.actors["owner"].headers,
            json={"title": "Strange noise", "description": "help"},
        )
        await drain()
        world.interrupted_run = created.json()["run_id"]
    elif path.startswith("/kb/documents/"):
        await factories.kb_document(
            app.state.runtime.sessionmaker,
            agent_context.embedder,
            filename="printers.md",
            sections=[("Printers", f"Restart spooler {uuid.uuid4()}")],
        )
        docs = (
            await client.get("/api/v1/kb/documents", headers=world.actors["support"].headers)
        ).json()
        world.document = docs["items"][0]["id"]


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"), MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX]
)
async def test_ownership_matrix(
    client, world, drain, app, agent_context, method, path, body, expected
) -> None:
    for actor, status in zip(ACTORS, expected, strict=True):
        if method in ("POST", "DELETE") and status < 300:
            await fresh_object(path, world, client, drain, app, agent_context)
        who = world.actors[actor]
        response = await client.request(
            method,
            "/api/v1" + _fill(path, world),
            json=_fill(body, world),
            headers=who.headers if who else {},
        )
        if status >= 400:
            assert_error_shape(response, status)
        else:
            assert response.status_code == status, (actor, response.text)
