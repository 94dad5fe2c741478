"""LangGraph Studio as the README describes it: `langgraph dev` on the repository's langgraph.json,
against the test database, driven with langgraph-sdk the way Studio drives it. A Studio run is an
Inferra run: its own agent_runs row (trigger studio), a new resolution version, steps in the runs
API, and a handoff that Studio or the runs API resumes, with one outcome."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from agent.graph import NODE_ORDER
from tests import factories
from tests.conftest import assert_error_shape
from tests.live import free_port, wait_until_ready

ROOT = Path(__file__).resolve().parents[1]
GRAPH = "inferra_resolver"
VPN = {"title": "VPN keeps dropping", "description": "My VPN disconnects every few minutes."}
ODD = {"title": "Plotter smells of burnt toast", "description": "The A0 plotter smells odd."}
EDIT = {
    "summary": "Air the room and have facilities check the plotter's heater.",
    "diagnoses": ["Dust on the heating element"],
    "solutions": [{"title": "Clean", "steps": ["Switch the plotter off", "Call facilities"]}],
    "sources": [],
    "confidence": 0.9,
}
NODES = {"open_run", *NODE_ORDER} - {"handoff"}  # what a run that is not handed off runs


def studio_env(settings) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "JWT_SECRET_KEY": settings.jwt_secret(),
        "MIGRATE_ON_START": "false",
        "WEB_SEARCH_ENABLED": "false",
        "GEMINI_API_KEY": "",  # the offline resolver: no chat model leaves the machine
        "NOMIC_API_KEY": "",
        # No network: no LangSmith tracing (LangChain reads both spellings), no key to send
        # anything with, no CLI usage analytics. The dev server's metadata beacon needs a
        # license key, which is unset.
        "LANGSMITH_API_KEY": "",
        "LANGSMITH_TRACING": "false",
        "LANGCHAIN_TRACING_V2": "false",
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "HF_HUB_OFFLINE": "1",
    }


@pytest.fixture(scope="module")
def studio(settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`langgraph dev --no-browser` on a free port, with the repository's langgraph.json minus its
    .env (a developer's .env must not redirect the test's server)."""
    workdir = tmp_path_factory.mktemp("studio")  # the dev server's .langgraph_api/ lands here
    config = json.loads((ROOT / "langgraph.json").read_text())
    config.pop("env", None)
    config["dependencies"] = [str(ROOT)]
    (workdir / "langgraph.json").write_text(json.dumps(config))
    port, log = free_port(), workdir / "langgraph-dev.log"
    command = [str(Path(sys.executable).parent / "langgraph"), "dev", "--no-browser"]
    command += ["--no-reload", "--port", str(port), "--config", str(workdir / "langgraph.json")]
    process = subprocess.Popen(
        command,
        cwd=workdir,
        env=studio_env(settings),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, process, lambda: log.read_text()[-5000:], seconds=180, path="/ok")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=60)


@pytest.fixture
async def sdk(studio: str) -> AsyncIterator[LangGraphClient]:
    client = get_client(url=studio, api_key=None)
    yield client
    await client.http.client.aclose()


@pytest.fixture
async def assistant_id(sdk: LangGraphClient) -> str:
    [assistant] = await sdk.assistants.search(graph_id=GRAPH)
    return assistant["assistant_id"]


async def filed_ticket(client, actor, drain, body: dict) -> str:
    """A ticket filed over HTTP whose automatic run has run (so the Studio run is the second)."""
    created = await client.post("/api/v1/tickets", json=body, headers=actor.headers)
    assert created.status_code == 201, created.text
    await drain()
    return created.json()["ticket"]["id"]


@pytest.fixture
async def vpn_history(app, admin) -> None:
    runtime = app.state.runtime
    await factories.vpn_evidence(runtime.sessionmaker, runtime.embedder, owner_id=admin.id)


async def test_schemas_render(sdk, assistant_id):
    schemas = await sdk.assistants.get_schemas(assistant_id)
    assert schemas["input_schema"]["required"] == ["ticket_id"]
    assert {"ticket", "draft", "attempts"} <= set(schemas["state_schema"]["properties"])
    assert schemas["context_schema"]["properties"] == {}  # nothing a person must type


async def test_studio_run_writes_a_new_resolution_version(
    client, user, support, drain, vpn_history, sdk, assistant_id
):
    ticket_id = await filed_ticket(client, user, drain, VPN)
    thread = await sdk.threads.create()
    state = await sdk.runs.wait(thread["thread_id"], assistant_id, input={"ticket_id": ticket_id})
    assert state["resolution_id"]

    ticket = (await client.get(f"/api/v1/tickets/{ticket_id}", headers=user.headers)).json()
    assert ticket["latest_resolution"]["version"] == 2  # the automatic run wrote version 1
    runs = (await client.get(f"/api/v1/tickets/{ticket_id}/runs", headers=support.headers)).json()
    studio_run = next(r for r in runs if r["id"] == thread["thread_id"])
    assert studio_run["trigger"] == "studio" and studio_run["status"] == "succeeded"

    detail = await client.get(f"/api/v1/runs/{thread['thread_id']}", headers=support.headers)
    steps = detail.json()["steps"]
    # The runs API lists the agent's steps; open_run is Studio's own bookkeeping.
    assert {step["node"] for step in steps} == NODES - {"open_run"}
    history = await sdk.threads.get_history(thread["thread_id"], limit=50)
    checkpoints = {h["checkpoint"]["checkpoint_id"] for h in history}
    assert {s["checkpoint_id"] for s in steps} | {s["result_checkpoint_id"] for s in steps} <= (
        checkpoints
    )
    assert [h["next"] for h in history][-2:] == [["open_run"], ["__start__"]]  # newest first

    # One thread is one run: another ticket on it is refused, the run stays as it was.
    with pytest.raises(Exception, match="a thread is one run"):
        await sdk.runs.wait(thread["thread_id"], assistant_id, input={"ticket_id": ticket_id})
    runs = (await client.get(f"/api/v1/tickets/{ticket_id}/runs", headers=support.headers)).json()
    assert next(r for r in runs if r["id"] == thread["thread_id"])["status"] == "succeeded"


async def test_stream_yields_an_update_per_node(
    client, user, drain, vpn_history, sdk, assistant_id
):
    ticket_id = await filed_ticket(client, user, drain, VPN)
    thread = await sdk.threads.create()
    updated: list[str] = []
    async for part in sdk.runs.stream(
        thread["thread_id"], assistant_id, input={"ticket_id": ticket_id}, stream_mode="updates"
    ):
        if part.event == "updates":
            updated.extend(part.data)
    assert set(updated) == NODES and len(updated) == len(NODES)


async def test_unknown_ticket_fails_the_run_clearly(sdk, assistant_id):
    thread = await sdk.threads.create()
    with pytest.raises(Exception, match=r"not_found: Ticket .* not found"):
        await sdk.runs.wait(
            thread["thread_id"], assistant_id, input={"ticket_id": str(uuid.uuid4())}
        )
    with pytest.raises(Exception, match="validation_error: ticket_id must be"):
        await sdk.runs.wait(thread["thread_id"], assistant_id, input={"ticket_id": "T-42"})


async def handed_off(client, user, drain, sdk, assistant_id) -> tuple[str, str]:
    """A ticket no evidence covers: the Studio run stops at handoff, waiting for staff."""
    ticket_id = await filed_ticket(client, user, drain, ODD)
    thread = await sdk.threads.create()
    await sdk.runs.wait(thread["thread_id"], assistant_id, input={"ticket_id": ticket_id})
    state = await sdk.threads.get_state(thread["thread_id"])
    assert state["next"] == ["handoff"] and state["tasks"][0]["interrupts"]
    return ticket_id, thread["thread_id"]


async def test_handoff_resumed_from_studio(client, user, support, drain, sdk, assistant_id):
    ticket_id, run_id = await handed_off(client, user, drain, sdk, assistant_id)
    run = (await client.get(f"/api/v1/runs/{run_id}", headers=support.headers)).json()
    assert run["status"] == "interrupted"

    # An answer that cannot be applied is asked again with its problems, like the runs API's 422.
    cites_nothing_retrieved = {**EDIT, "sources": ["T7"]}
    await sdk.runs.wait(
        run_id,
        assistant_id,
        command={"resume": {"action": "edit", "resolution": cites_nothing_retrieved}},
    )
    state = await sdk.threads.get_state(run_id)
    [asked_again] = state["tasks"][0]["interrupts"]
    assert "T7" in " ".join(asked_again["value"]["validation_errors"])
    run = (await client.get(f"/api/v1/runs/{run_id}", headers=support.headers)).json()
    assert run["status"] == "interrupted"

    # The offline non-answer proposes no solution: approving it as is is asked again too.
    await sdk.runs.wait(run_id, assistant_id, command={"resume": {"action": "approve"}})
    state = await sdk.threads.get_state(run_id)
    [asked_again] = state["tasks"][0]["interrupts"]
    assert "No solution proposed." in asked_again["value"]["validation_errors"]

    await sdk.runs.wait(
        run_id, assistant_id, command={"resume": {"action": "edit", "resolution": EDIT}}
    )
    ticket = (await client.get(f"/api/v1/tickets/{ticket_id}", headers=user.headers)).json()
    assert ticket["status"] == "resolved"
    assert ticket["latest_resolution"]["confidence"] == 0.9
    run = (await client.get(f"/api/v1/runs/{run_id}", headers=support.headers)).json()
    assert run["status"] == "succeeded" and run["steps"][-1]["node"] == "persist"
    # One outcome: the runs API finds nothing left to decide.
    late = await client.post(
        f"/api/v1/runs/{run_id}/resume", json={"action": "reject"}, headers=support.headers
    )
    assert_error_shape(late, 409, "not_interrupted")


async def test_handoff_resumed_from_the_runs_api(client, user, support, drain, sdk, assistant_id):
    ticket_id, run_id = await handed_off(client, user, drain, sdk, assistant_id)
    response = await client.post(
        f"/api/v1/runs/{run_id}/resume",
        json={"action": "edit", "resolution": EDIT},
        headers=support.headers,
    )
    assert response.status_code == 202, response.text
    # Studio's resume arrives second: refused, the staff decision is the outcome.
    with pytest.raises(Exception, match="not_interrupted"):
        await sdk.runs.wait(run_id, assistant_id, command={"resume": {"action": "reject"}})
    assert await drain() == 1
    run = (await client.get(f"/api/v1/runs/{run_id}", headers=support.headers)).json()
    assert run["status"] == "succeeded"
    ticket = (await client.get(f"/api/v1/tickets/{ticket_id}", headers=user.headers)).json()
    assert ticket["status"] == "resolved" and ticket["latest_resolution"]["confidence"] == 0.9
