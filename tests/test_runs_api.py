"""Runs for support staff over HTTP: steps, SSE progress, replay, fork, resume, access."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from core.models import Role
from tests import factories
from tests.conftest import assert_error_shape
from tests.fakes import classification, resolution, scripted

VPN = {"title": "VPN keeps dropping", "description": "My VPN disconnects every few minutes."}


@pytest.fixture
async def vpn_history(app, agent_context, admin) -> uuid.UUID:
    return await factories.resolved_ticket(
        app.state.runtime.sessionmaker,
        agent_context.embedder,
        owner_id=admin.id,
        title="GlobalProtect VPN drops every few minutes",
        description="VPN disconnects constantly when working from home.",
        resolution="Updated GlobalProtect to 6.2 which fixed the keep-alive bug.",
        steps=["Install GlobalProtect 6.2 from Company Portal", "Reconnect"],
    )


async def file_and_run(client, actor, drain, body=VPN) -> dict:
    created = (await client.post("/api/v1/tickets", json=body, headers=actor.headers)).json()
    await drain()
    return created


async def run_detail(client, staff, run_id) -> dict:
    response = await client.get(f"/api/v1/runs/{run_id}", headers=staff.headers)
    assert response.status_code == 200, response.text
    return response.json()


def checkpoint_before(detail: dict, node: str) -> str:
    return next(s["checkpoint_id"] for s in detail["steps"] if s["node"] == node)


async def test_steps_follow_the_graph_in_order(client, user, support, drain, vpn_history):
    created = await file_and_run(client, user, drain)
    detail = await run_detail(client, support, created["run_id"])
    assert detail["status"] == "succeeded" and detail["trigger"] == "auto"
    nodes = [(s["step"], s["node"]) for s in detail["steps"]]
    assert nodes == [
        (1, "classify"),
        (2, "retrieve_docs"),
        (2, "retrieve_tickets"),
        (2, "web_search"),
        (3, "draft"),
        (4, "validate"),
        (5, "persist"),
    ]
    classify = detail["steps"][0]
    assert {c["key"] for c in classify["changes"]} >= {"category", "priority", "search_query"}
    assert classify["duration_ms"] >= 0 and classify["result_checkpoint_id"]
    tickets_step = detail["steps"][2]
    assert tickets_step["changes"][0]["after"]["count"] == 1  # one similar ticket found


async def test_sse_stream_yields_node_events_then_end(client, user, support, drain, vpn_history):
    created = (await client.post("/api/v1/tickets", json=VPN, headers=user.headers)).json()
    url = f"/api/v1/runs/{created['run_id']}/events"

    async def read_events() -> list[tuple[str, dict]]:
        events, name = [], None
        async with client.stream("GET", url, headers=support.headers) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    name = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    events.append((name, json.loads(line.removeprefix("data: "))))
        return events

    live, _ = await asyncio.gather(read_events(), drain())
    finished = [data["node"] for name, data in live if name == "node_finished"]
    assert finished == [
        "classify",
        "retrieve_docs",
        "retrieve_tickets",
        "web_search",
        "draft",
        "validate",
        "persist",
    ]
    assert live[-1][0] == "end" and live[-1][1]["status"] == "succeeded"
    assert live[-1][1]["resolution"]["version"] == 1
    # Connecting after the end: the recorded steps, then the end event.
    replayed = await read_events()
    assert [n for n, _ in replayed] == ["node_finished"] * 7 + ["end"]


async def test_replay_after_adding_a_doc_changes_the_sources(
    app, client, user, support, drain, agent_context, vpn_history
):
    created = await file_and_run(client, user, drain)  # offline resolver
    first = await run_detail(client, support, created["run_id"])
    await factories.kb_document(
        app.state.runtime.sessionmaker,
        agent_context.embedder,
        filename="vpn-runbook.md",
        sections=[
            (
                "VPN > Disconnects every few minutes",
                "1. Update GlobalProtect to 6.2\n2. Switch to a wired connection",
            )
        ],
    )
    replay = await client.post(
        f"/api/v1/runs/{created['run_id']}/replay",
        json={"checkpoint_id": checkpoint_before(first, "retrieve_docs")},
        headers=support.headers,
    )
    assert replay.status_code == 202, replay.text
    assert replay.json()["trigger"] == "replay"
    await drain()
    second = await run_detail(client, support, replay.json()["run_id"])
    assert second["status"] == "succeeded"
    assert second["parent_run_id"] == created["run_id"]
    assert second["steps"][0]["node"] == "retrieve_docs"  # classify is not re-run
    ticket = (
        await client.get(f"/api/v1/tickets/{created['ticket']['id']}", headers=support.headers)
    ).json()
    latest = ticket["latest_resolution"]  # staff's view names the run
    assert latest["version"] == 2 and latest["run_id"] == replay.json()["run_id"]
    assert "doc" in {s["type"] for s in latest["sources"]}
    runs = (
        await client.get(f"/api/v1/tickets/{created['ticket']['id']}/runs", headers=support.headers)
    ).json()
    assert [r["trigger"] for r in runs] == ["auto", "replay"]  # the parent is kept


async def test_fork_with_a_patched_category_changes_the_drafts_input(
    client, user, support, drain, agent_context, vpn_history
):
    agent_context.chat_model = scripted(classification(), resolution(["T1"]))
    created = await file_and_run(client, user, drain)
    first = await run_detail(client, support, created["run_id"])
    agent_context.chat_model = fork_model = scripted(resolution(["T1"]))
    fork = await client.post(
        f"/api/v1/runs/{created['run_id']}/fork",
        json={
            "checkpoint_id": checkpoint_before(first, "draft"),
            "state_patch": {"category": "printing", "staff_hint": "User is on the guest Wi-Fi"},
        },
        headers=support.headers,
    )
    assert fork.status_code == 202, fork.text
    await drain()
    forked = await run_detail(client, support, fork.json()["run_id"])
    assert forked["trigger"] == "fork" and forked["state_patch"]["category"] == "printing"
    assert [s["node"] for s in forked["steps"]] == ["draft", "validate", "persist"]
    [prompt] = fork_model.prompts
    assert "Ticket (printing, high)" in prompt and "guest Wi-Fi" in prompt


@pytest.mark.parametrize(
    "patch",
    [
        {"colour": "blue"},
        {"category": "coffee"},
        {"ticket": {"owner": "me"}},
        {"draft": {"summary": "too short"}},
    ],
)
async def test_fork_patch_is_validated(client, user, support, drain, patch):
    created = await file_and_run(client, user, drain)
    detail = await run_detail(client, support, created["run_id"])
    response = await client.post(
        f"/api/v1/runs/{created['run_id']}/fork",
        json={"checkpoint_id": detail["steps"][0]["checkpoint_id"], "state_patch": patch},
        headers=support.headers,
    )
    assert_error_shape(response, 422, "validation_error")


async def test_replay_unknown_or_final_checkpoint(client, user, support, drain, vpn_history):
    created = await file_and_run(client, user, drain)
    url = f"/api/v1/runs/{created['run_id']}/replay"
    missing = await client.post(url, json={"checkpoint_id": "nope"}, headers=support.headers)
    assert_error_shape(missing, 404)
    final = (await run_detail(client, support, created["run_id"]))["steps"][-1]
    last = await client.post(
        url, json={"checkpoint_id": final["result_checkpoint_id"]}, headers=support.headers
    )
    assert_error_shape(last, 409, "nothing_to_replay")


async def interrupted_run(client, user, drain, agent_context, confidence=0.1) -> dict:
    agent_context.chat_model = scripted(classification(), resolution([], confidence=confidence))
    created = await file_and_run(client, user, drain)
    return created


async def test_a_draft_without_a_solution_cannot_be_approved(client, user, support, drain):
    created = await file_and_run(client, user, drain)  # no evidence: the offline non-answer
    run = await run_detail(client, support, created["run_id"])
    assert run["status"] == "interrupted"
    assert run["steps"][-1]["node"] == "handoff"
    url = f"/api/v1/runs/{created['run_id']}/resume"
    refused = await client.post(url, json={"action": "approve"}, headers=support.headers)
    assert "edit it into an answer" in assert_error_shape(refused, 409, "no_solution")["message"]
    no_fix = {
        "summary": "Nothing to do here, apparently.",
        "diagnoses": ["Unknown"],
        "solutions": [],
        "sources": [],
        "confidence": 0.9,
    }
    empty_edit = await client.post(
        url, json={"action": "edit", "resolution": no_fix}, headers=support.headers
    )
    assert "No solution proposed." in assert_error_shape(empty_edit, 422)["details"]
    ticket = await client.get(f"/api/v1/tickets/{created['ticket']['id']}", headers=user.headers)
    assert ticket.json()["status"] == "escalated"  # still with staff, no resolution
    assert ticket.json()["latest_resolution"] is None
    rejected = await client.post(url, json={"action": "reject"}, headers=support.headers)
    assert rejected.status_code == 202, rejected.text


async def test_closing_a_handed_off_ticket_with_a_note_ends_its_waiting_run(
    client, user, support, drain
):
    created = await file_and_run(client, user, drain)  # no evidence: handed off
    ticket_url = f"/api/v1/tickets/{created['ticket']['id']}"
    note = {"body": "Facilities replaced the badge reader; nothing to do on your side."}
    assert (
        await client.post(f"{ticket_url}/comments", json=note, headers=support.headers)
    ).is_success
    closed = await client.patch(ticket_url, json={"status": "closed"}, headers=support.headers)
    assert closed.status_code == 200, closed.text
    run = await run_detail(client, support, created["run_id"])
    assert run["status"] == "failed" and "closed by" in run["error"]
    late = await client.post(
        f"/api/v1/runs/{created['run_id']}/resume",
        json={"action": "reject"},
        headers=support.headers,
    )
    assert_error_shape(late, 409, "not_interrupted")
    ticket = (await client.get(ticket_url, headers=user.headers)).json()
    assert ticket["status"] == "closed" and ticket["latest_resolution"] is None


async def test_resume_approve_persists_the_draft(client, user, support, drain, agent_context):
    created = await interrupted_run(client, user, drain, agent_context)
    response = await client.post(
        f"/api/v1/runs/{created['run_id']}/resume",
        json={"action": "approve"},
        headers=support.headers,
    )
    assert response.status_code == 202, response.text  # recorded and queued
    assert response.json()["status"] == "queued"
    assert response.json()["pending_decision"]["decision"]["action"] == "approve"
    assert await drain() == 1  # a worker applies the decision
    run = (await client.get(f"/api/v1/runs/{created['run_id']}", headers=support.headers)).json()
    assert run["status"] == "succeeded" and run["pending_decision"] is None
    ticket = (
        await client.get(f"/api/v1/tickets/{created['ticket']['id']}", headers=user.headers)
    ).json()
    assert ticket["status"] == "resolved" and ticket["latest_resolution"]["confidence"] == 0.1


async def test_resume_edit_persists_the_staff_version(client, user, support, drain, agent_context):
    created = await interrupted_run(client, user, drain, agent_context)
    edited = {
        "summary": "Reboot the router on the 2nd floor.",
        "diagnoses": ["Router hung"],
        "solutions": [{"title": "Reboot", "steps": ["Power-cycle the router"]}],
        "sources": [],
        "confidence": 1.0,
    }
    url = f"/api/v1/runs/{created['run_id']}/resume"
    bad = {**edited, "sources": ["T7"]}
    invalid = await client.post(
        url, json={"action": "edit", "resolution": bad}, headers=support.headers
    )
    assert_error_shape(invalid, 422, "invalid_resolution")
    response = await client.post(
        url, json={"action": "edit", "resolution": edited}, headers=support.headers
    )
    assert response.status_code == 202
    await drain()
    ticket = (
        await client.get(f"/api/v1/tickets/{created['ticket']['id']}", headers=user.headers)
    ).json()
    assert ticket["latest_resolution"]["summary"] == edited["summary"]
    assert ticket["latest_resolution"]["model"] == f"human:{support.id}"


async def test_resume_reject_keeps_it_escalated(client, user, support, drain, agent_context):
    created = await interrupted_run(client, user, drain, agent_context)
    response = await client.post(
        f"/api/v1/runs/{created['run_id']}/resume",
        json={"action": "reject", "note": "Needs a site visit"},
        headers=support.headers,
    )
    assert response.status_code == 202
    await drain()
    ticket = (
        await client.get(f"/api/v1/tickets/{created['ticket']['id']}", headers=user.headers)
    ).json()
    assert ticket["status"] == "escalated" and ticket["latest_resolution"] is None


async def test_concurrent_resumes_one_wins(client, user, support, admin, drain, agent_context):
    created = await interrupted_run(client, user, drain, agent_context)
    url = f"/api/v1/runs/{created['run_id']}/resume"
    responses = await asyncio.gather(
        client.post(url, json={"action": "approve"}, headers=support.headers),
        client.post(url, json={"action": "approve"}, headers=admin.headers),
    )
    assert sorted(r.status_code for r in responses) == [202, 409]
    assert await drain() == 1
    ticket = (
        await client.get(f"/api/v1/tickets/{created['ticket']['id']}", headers=user.headers)
    ).json()
    assert ticket["latest_resolution"]["version"] == 1


async def test_resume_of_a_finished_run_is_409(client, user, support, drain, vpn_history):
    created = await file_and_run(client, user, drain)
    response = await client.post(
        f"/api/v1/runs/{created['run_id']}/resume",
        json={"action": "approve"},
        headers=support.headers,
    )
    assert_error_shape(response, 409, "not_interrupted")


async def test_access_to_runs(client, user, make_actor, support, drain, vpn_history):
    created = await file_and_run(client, user, drain)
    run_url = f"/api/v1/runs/{created['run_id']}"
    runs_url = f"/api/v1/tickets/{created['ticket']['id']}/runs"
    owner_view = (await client.get(runs_url, headers=user.headers)).json()
    assert owner_view[0]["status"] == "succeeded" and "error" not in owner_view[0]
    assert "skipped_steps" in (await client.get(runs_url, headers=support.headers)).json()[0]
    stranger = await make_actor(Role.user)
    assert_error_shape(await client.get(runs_url, headers=stranger.headers), 404)
    for method, path, body in [
        ("GET", run_url, None),
        ("GET", f"{run_url}/events", None),
        ("POST", f"{run_url}/replay", {"checkpoint_id": "x"}),
        ("POST", f"{run_url}/fork", {"checkpoint_id": "x", "state_patch": {}}),
        ("POST", f"{run_url}/resume", {"action": "approve"}),
    ]:
        for actor, expected in ((user, 403), (None, 401)):
            headers = actor.headers if actor else {}
            response = await client.request(method, path, json=body, headers=headers)
            assert_error_shape(response, expected)
    missing = await client.get(f"/api/v1/runs/{uuid.uuid4()}", headers=support.headers)
    assert_error_shape(missing, 404)
