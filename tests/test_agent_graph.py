"""The resolution graph on real Postgres, real checkpoints and the real local embedding model;
only the chat model is scripted."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select

from agent import runner
from agent.evidence import collect, validate_chunks, validate_tickets, validate_web_results
from agent.schemas import DraftResolution, HumanDecision, Solution
from agent.steps import history, steps_from
from core.models import AgentRun, Resolution, RunStatus, Ticket, TicketStatus
from core.providers.web_search import WebResult
from tests import factories
from tests.fakes import CannedWebSearch, classification, resolution, scripted


@pytest.fixture
async def vpn_evidence(app, agent_context, admin) -> dict[str, uuid.UUID]:
    return await factories.vpn_evidence(
        app.state.runtime.sessionmaker, agent_context.embedder, owner_id=admin.id
    )


async def file_ticket(client: httpx.AsyncClient, actor, title: str, description: str) -> dict:
    response = await client.post(
        "/api/v1/tickets",
        json={"title": title, "description": description},
        headers=actor.headers,
    )
    assert response.status_code == 201, response.text
    return response.json()


async def run_row(app, run_id) -> AgentRun:
    async with app.state.runtime.sessionmaker() as session:
        return await session.get(AgentRun, uuid.UUID(str(run_id)))


async def resolutions_of(app, ticket_id) -> list[Resolution]:
    async with app.state.runtime.sessionmaker() as session:
        rows = await session.scalars(
            select(Resolution).where(Resolution.ticket_id == uuid.UUID(str(ticket_id)))
        )
        return list(rows)


async def ticket_row(app, ticket_id) -> Ticket:
    async with app.state.runtime.sessionmaker() as session:
        return await session.get(Ticket, uuid.UUID(str(ticket_id)))


VPN = ("VPN keeps dropping", "My VPN disconnects every few minutes at home.")


async def test_happy_path_persists_a_cited_resolution(
    app, client, user, agent_context, drain, vpn_evidence
) -> None:
    agent_context.chat_model = scripted(classification(), resolution(["T1", "D1"]))
    created = await file_ticket(client, user, *VPN)
    assert await drain() == 1

    run = await run_row(app, created["run_id"])
    assert run.status is RunStatus.succeeded and run.model == "scripted-fake"
    [stored] = await resolutions_of(app, created["ticket"]["id"])
    assert stored.version == 1 and stored.confidence == 0.8
    assert {(s["type"], s["id"]) for s in stored.sources} == {
        ("ticket", str(vpn_evidence["ticket"])),
        ("doc", str(vpn_evidence["chunk"])),
    }
    ticket = await ticket_row(app, created["ticket"]["id"])
    assert ticket.status is TicketStatus.resolved and ticket.category.value == "network_vpn"
    assert ticket.embedding is not None  # embedded for future retrieval


async def test_checkpoint_history_has_one_step_per_node_in_order(
    app, client, user, agent_context, drain, vpn_evidence
) -> None:
    agent_context.chat_model = scripted(classification(), resolution(["T1"]))
    created = await file_ticket(client, user, *VPN)
    await drain()
    history = [
        s
        async for s in app.state.runtime.graph.aget_state_history(
            runner.thread_config(created["run_id"])
        )
    ]
    steps = [tuple(sorted(s.next)) for s in reversed(history)]
    assert steps == [
        ("__start__",),
        ("classify",),
        ("retrieve_docs", "retrieve_tickets", "web_search"),
        ("draft",),
        ("validate",),
        ("persist",),
        (),
    ]


async def test_invalid_json_then_valid_on_retry(
    app, client, user, agent_context, drain, vpn_evidence
) -> None:
    broken = resolution(["T1"], confidence="very sure")  # not a number: schema error
    agent_context.chat_model = scripted(classification(), broken, resolution(["T1"]))
    created = await file_ticket(client, user, *VPN)
    await drain()
    state = await app.state.runtime.graph.aget_state(runner.thread_config(created["run_id"]))
    assert state.values["attempts"] == 2
    assert len(await resolutions_of(app, created["ticket"]["id"])) == 1


async def test_citing_a_source_not_retrieved_is_rejected_then_fixed(
    app, client, user, agent_context, drain, vpn_evidence
) -> None:
    agent_context.chat_model = scripted(
        classification(), resolution(["T1", "T9"]), resolution(["T1"])
    )
    created = await file_ticket(client, user, *VPN)
    await drain()
    [stored] = await resolutions_of(app, created["ticket"]["id"])
    assert [s["label"] for s in stored.sources] == ["T1"]


async def test_echoed_secret_is_rejected(app, client, user, agent_context, drain) -> None:
    leaky = resolution([], summary="Log in with password: hunter22 and retry the VPN.")
    agent_context.chat_model = scripted(classification(), leaky, resolution([]))
    created = await file_ticket(client, user, "VPN login", "my password: hunter22 fails")
    await drain()
    [stored] = await resolutions_of(app, created["ticket"]["id"])
    assert "hunter22" not in stored.summary


async def test_repeated_failure_hands_off_then_staff_resume(
    app, client, user, support, agent_context, drain, vpn_evidence
) -> None:
    bad = [resolution(["T1"], diagnoses=[]) for _ in range(3)]  # empty diagnoses, 3 times
    agent_context.chat_model = scripted(classification(), *bad)
    created = await file_ticket(client, user, *VPN)
    await drain()
    run_id = uuid.UUID(created["run_id"])
    assert (await run_row(app, run_id)).status is RunStatus.interrupted
    assert (await ticket_row(app, created["ticket"]["id"])).status is TicketStatus.escalated
    state = await app.state.runtime.graph.aget_state(runner.thread_config(run_id))
    assert state.interrupts and "3 attempts" in state.interrupts[0].value["reason"]

    staff_version = DraftResolution(
        summary="Reinstall the VPN client from Company Portal.",
        diagnoses=["Corrupt client"],
        solutions=[Solution(title="Reinstall", steps=["Uninstall", "Install again"])],
        sources=["T1"],
        confidence=1.0,
    )
    outcome = await runner.resume(
        app.state.runtime.graph,
        agent_context,
        run_id,
        HumanDecision(action="edit", resolution=staff_version, by=str(support.id)),
    )
    assert outcome.status is RunStatus.succeeded
    [stored] = await resolutions_of(app, created["ticket"]["id"])
    assert stored.summary == staff_version.summary and stored.model == f"human:{support.id}"
    assert (await ticket_row(app, created["ticket"]["id"])).status is TicketStatus.resolved


async def test_low_confidence_hands_off_and_reject_keeps_it_escalated(
    app, client, user, support, agent_context, drain
) -> None:
    agent_context.chat_model = scripted(classification(), resolution([], confidence=0.1))
    created = await file_ticket(client, user, "Strange noise", "The lab centrifuge hums.")
    await drain()
    run_id = uuid.UUID(created["run_id"])
    outcome = await runner.resume(
        app.state.runtime.graph,
        agent_context,
        run_id,
        HumanDecision(action="reject", note="Not an IT problem", by=str(support.id)),
    )
    assert outcome.status is RunStatus.succeeded
    assert await resolutions_of(app, created["ticket"]["id"]) == []
    assert (await ticket_row(app, created["ticket"]["id"])).status is TicketStatus.escalated
    comments = await client.get(
        f"/api/v1/tickets/{created['ticket']['id']}/comments", headers=support.headers
    )
    assert "Not an IT problem" in comments.json()["items"][0]["body"]


async def test_approve_persists_the_draft(
    app, client, user, support, agent_context, drain, vpn_evidence
) -> None:
    agent_context.chat_model = scripted(classification(), resolution(["T1"], confidence=0.2))
    created = await file_ticket(client, user, *VPN)
    await drain()
    outcome = await runner.resume(
        app.state.runtime.graph,
        agent_context,
        uuid.UUID(created["run_id"]),
        HumanDecision(action="approve", by=str(support.id)),
    )
    assert outcome.status is RunStatus.succeeded
    [stored] = await resolutions_of(app, created["ticket"]["id"])
    assert stored.confidence == 0.2


async def test_web_search_offline_is_recorded_as_skipped(
    app, client, user, agent_context, drain, vpn_evidence
) -> None:
    agent_context.chat_model = scripted(classification(), resolution(["T1"]))
    created = await file_ticket(client, user, *VPN)
    await drain()
    run = await run_row(app, created["run_id"])
    assert run.status is RunStatus.succeeded
    assert [s["step"] for s in run.skipped_steps] == ["web_search"]


async def test_web_results_can_be_cited(app, client, user, agent_context, drain) -> None:
    agent_context.web_search = CannedWebSearch(
        [WebResult(title="GP 6.2 notes", url="https://example.com/gp", snippet="Fixes drops")]
    )
    agent_context.chat_model = scripted(classification(), resolution(["W1"]))
    created = await file_ticket(client, user, *VPN)
    await drain()
    [stored] = await resolutions_of(app, created["ticket"]["id"])
    assert stored.sources[0] == {
        "label": "W1",
        "type": "web",
        "id": "https://example.com/gp",
        "title": "GP 6.2 notes",
    }


async def test_offline_resolver_cites_only_retrieved_evidence(
    app, client, user, agent_context, drain, vpn_evidence
) -> None:
    assert agent_context.chat_model is None  # no key: the offline path
    created = await file_ticket(client, user, *VPN)
    await drain()
    run = await run_row(app, created["run_id"])
    assert run.status is RunStatus.succeeded and run.model == "offline-extractive"
    [stored] = await resolutions_of(app, created["ticket"]["id"])
    assert stored.model == "offline-extractive"
    assert {s["id"] for s in stored.sources} <= {
        str(vpn_evidence["ticket"]),
        str(vpn_evidence["chunk"]),
    }
    assert stored.sources and stored.confidence >= 0.35
    steps = [step for s in stored.solutions for step in s["steps"]]
    assert "Install GlobalProtect 6.2" in steps
    ticket = await ticket_row(app, created["ticket"]["id"])
    assert ticket.category.value == "network_vpn"


async def test_offline_resolver_without_evidence_hands_off(
    app, client, user, agent_context, drain
) -> None:
    created = await file_ticket(client, user, "Desk chair broken", "The chair wobbles.")
    await drain()
    assert (await run_row(app, created["run_id"])).status is RunStatus.interrupted
    assert (await ticket_row(app, created["ticket"]["id"])).status is TicketStatus.escalated


async def test_typed_evidence_survives_the_checkpoint_round_trip(
    app, client, user, agent_context, drain, vpn_evidence
) -> None:
    agent_context.web_search = CannedWebSearch(
        [WebResult(title="GP 6.2 notes", url="https://example.com/gp", snippet="Fixes drops")]
    )
    agent_context.chat_model = model = scripted(classification(), resolution(["T1", "D1", "W1"]))
    created = await file_ticket(client, user, *VPN)
    await drain()

    snapshots = await history(app.state.runtime.graph, created["run_id"])
    values = snapshots[-1].values  # read back from Postgres
    [ticket] = values["similar_tickets"]
    assert [ticket] == validate_tickets([ticket])
    assert ticket["id"] == str(vpn_evidence["ticket"])
    assert ticket["solution_steps"] == [
        "Open Company Portal",
        "Install GlobalProtect 6.2",
        "Reconnect",
    ]
    [chunk] = values["doc_chunks"]
    assert [chunk] == validate_chunks([chunk])
    assert (chunk["id"], chunk["filename"], chunk["heading_path"]) == (
        str(vpn_evidence["chunk"]),
        "vpn.md",
        "VPN > Disconnects",
    )
    assert values["web_results"] == validate_web_results(values["web_results"])
    assert [(e["label"], e["id"]) for e in collect(values)] == [
        ("T1", str(vpn_evidence["ticket"])),
        ("D1", str(vpn_evidence["chunk"])),
        ("W1", "https://example.com/gp"),
    ]
    # The runs API's step diffs still name what each retrieval step found.
    changes = {c["key"]: c["after"] for s in steps_from(snapshots) for c in s["changes"]}
    assert changes["similar_tickets"]["items"] == ["GlobalProtect VPN drops every few minutes"]
    assert changes["web_results"]["items"] == ["GP 6.2 notes"]
    # The model saw the same typed fields.
    steps = '"solution_steps": ["Open Company Portal", "Install GlobalProtect 6.2", "Reconnect"]'
    assert steps in model.prompts[1]
