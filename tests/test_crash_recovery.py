"""Workers die (SIGKILL) or freeze (a stuck event loop) in the middle of a job: another worker
takes the job over by itself (heartbeats stop, the sweep retries the job) and the run goes on
from its last checkpoint. Each run ends exactly once, with one resolution version; each queued
document is stored once; a superseded worker's late finish changes nothing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from agent import steps
from core.models import AgentRun, Document, DocumentChunk, Resolution, RunStatus
from services.resources import Runtime
from services.worker import run_worker
from tests import factories
from tests.test_kb_api import upload

T = "/api/v1/tickets"
VPN = {"title": "VPN drops", "description": "GlobalProtect VPN disconnects when working from home"}


def worker_env(settings) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "WORKER_HEARTBEAT_SECONDS": str(settings.worker_heartbeat_seconds),
        "WORKER_STALLED_SECONDS": str(settings.worker_stalled_seconds),
        "WORKER_SWEEP_SECONDS": str(settings.worker_sweep_seconds),
        "WEB_SEARCH_ENABLED": "false",
        "LOG_JSON": "false",
        "JWT_SECRET_KEY": "x" * 40,
        "GEMINI_API_KEY": "",
        "NOMIC_API_KEY": "",
    }


def crash_worker(settings, step: str, marker: Path, stall: float | None = None):
    args = [sys.executable, "-m", "tests.crash_worker", step, str(marker)]
    return subprocess.Popen(
        [*args, str(stall)] if stall else args,
        env=worker_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def until(check: Callable[[], Awaitable[bool]], what: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def reached(marker: Path, process: subprocess.Popen) -> None:
    async def check() -> bool:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        return await asyncio.to_thread(marker.exists)

    await until(check, f"the worker to reach {marker.name}")


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


@contextlib.asynccontextmanager
async def rescuer(runtime: Runtime) -> AsyncIterator[None]:
    """A second, healthy worker (in this process) for as long as the block lasts."""
    task = asyncio.create_task(run_worker(runtime, concurrency=2, name="rescuer"))
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def run_of(runtime: Runtime, run_id: str) -> AgentRun:
    async with runtime.sessionmaker() as session:
        run = await session.get(AgentRun, uuid.UUID(run_id))
    assert run is not None
    return run


async def finished(runtime: Runtime, run_id: str, *states: RunStatus) -> None:
    async def check() -> bool:
        return (await run_of(runtime, run_id)).status in states

    await until(check, f"run {run_id} to be {', '.join(s.value for s in states)}")


async def resolutions_of(runtime: Runtime, ticket_id: uuid.UUID) -> int:
    async with runtime.sessionmaker() as session:
        count = await session.scalar(select(func.count()).where(Resolution.ticket_id == ticket_id))
    return count or 0


@pytest.fixture
async def evidence(runtime, admin) -> None:
    """A resolved ticket and a runbook close to VPN: the offline resolver is confident enough
    to persist without a handoff."""
    await factories.vpn_evidence(runtime.sessionmaker, runtime.embedder, owner_id=admin.id)


@pytest.mark.parametrize("step", ["classify", "retrieve_docs", "draft", "validate", "persist"])
async def test_a_run_killed_at_any_step_finishes_once_on_another_worker(
    step, runtime, client, user, settings, evidence, tmp_path: Path
) -> None:
    created = (await client.post(T, headers=user.headers, json=VPN)).json()
    run_id = created["run_id"]
    marker = tmp_path / step
    doomed = crash_worker(settings, step, marker)
    await reached(marker, doomed)
    kill(doomed)
    assert (await run_of(runtime, run_id)).status is RunStatus.running

    async with rescuer(runtime):
        await finished(runtime, run_id, RunStatus.succeeded, RunStatus.failed)

    run = await run_of(runtime, run_id)
    assert run.status is RunStatus.succeeded, run.error
    assert run.attempts == 2
    assert await resolutions_of(runtime, run.ticket_id) == 1
    nodes = [s["node"] for s in steps.steps_from(await steps.history(runtime.graph, run_id))]
    assert nodes.count("classify") == 1  # not started over: it went on from the checkpoint
    assert nodes[-1] == "persist"


STAFF_ANSWER = {
    "action": "edit",
    "resolution": {
        "summary": "The VPN client needs the new gateway profile.",
        "diagnoses": ["Outdated gateway profile."],
        "solutions": [{"title": "Update the profile", "steps": ["Import the new profile."]}],
        "sources": [],
        "confidence": 0.9,
    },
}


async def test_a_worker_killed_while_a_run_waits_for_staff_and_during_its_resume(
    runtime, client, user, support, settings, tmp_path: Path
) -> None:
    """No evidence: the offline resolver hands off. The worker that ran it to the handoff dies
    while the run waits; staff answer (202); the worker applying the decision dies in persist;
    another worker finishes it."""
    created = (await client.post(T, headers=user.headers, json=VPN)).json()
    run_id = created["run_id"]
    marker = tmp_path / "persist"
    first = crash_worker(settings, "persist", marker)
    await finished(runtime, run_id, RunStatus.interrupted)
    kill(first)  # killed during the handoff wait

    # The offline non-answer cannot be approved as is (409 no_solution): staff write the answer.
    approve = await client.post(
        f"/api/v1/runs/{run_id}/resume", headers=support.headers, json=STAFF_ANSWER
    )
    assert approve.status_code == 202, approve.text
    assert approve.json()["status"] == "queued"
    second = crash_worker(settings, "persist", marker)
    await reached(marker, second)
    kill(second)  # killed during the resume

    async with rescuer(runtime):
        await finished(runtime, run_id, RunStatus.succeeded, RunStatus.failed)
    run = await run_of(runtime, run_id)
    assert run.status is RunStatus.succeeded, run.error
    assert run.pending_decision is None
    assert await resolutions_of(runtime, run.ticket_id) == 1


async def test_a_frozen_worker_is_superseded_and_its_late_finish_changes_nothing(
    runtime, client, user, settings, evidence, tmp_path: Path
) -> None:
    created = (await client.post(T, headers=user.headers, json=VPN)).json()
    run_id = created["run_id"]
    marker = tmp_path / "draft"
    frozen = crash_worker(settings, "draft", marker, stall=12)
    await reached(marker, frozen)
    async with rescuer(runtime):
        await finished(runtime, run_id, RunStatus.succeeded, RunStatus.failed)
    done = await run_of(runtime, run_id)
    assert done.status is RunStatus.succeeded, done.error

    output, _ = await asyncio.to_thread(_finish_after_stall, frozen)
    assert "late_finish_refused" in output, output
    after = await run_of(runtime, run_id)
    assert (after.status, after.attempt_token, after.finished_at) == (
        done.status,
        done.attempt_token,
        done.finished_at,
    )
    assert await resolutions_of(runtime, done.ticket_id) == 1


def _finish_after_stall(process: subprocess.Popen) -> tuple[str, str]:
    """Let the frozen worker wake up and try to finish, then stop it and read its log."""
    time.sleep(15)
    process.send_signal(signal.SIGTERM)
    try:
        return process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate()


@pytest.fixture
def background_uploads(app):
    previous = app.state.settings.ingest_background_bytes
    app.state.settings.ingest_background_bytes = 100
    yield
    app.state.settings.ingest_background_bytes = previous


async def test_a_worker_killed_during_a_queued_ingest_stores_the_document_once(
    runtime, client, support, settings, background_uploads, tmp_path: Path
) -> None:
    runbook = b"# Wi-Fi\n\n## Guest\n\nThe guest network needs a daily voucher. " * 5
    response = await upload(client, support, ("wifi.md", runbook))
    assert response.status_code == 202, response.text
    document_id = uuid.UUID(response.json()["results"][0]["document_id"])
    marker = tmp_path / "ingest"
    doomed = crash_worker(settings, "ingest", marker)
    await reached(marker, doomed)
    kill(doomed)

    async def ready() -> bool:
        async with runtime.sessionmaker() as session:
            document = await session.get(Document, document_id)
        return document is not None and document.status == "ready"

    async with rescuer(runtime):
        await until(ready, "the document to be ingested")
    async with runtime.sessionmaker() as session:
        documents = await session.scalar(select(func.count()).select_from(Document))
        chunks = await session.scalar(
            select(func.count()).where(DocumentChunk.document_id == document_id)
        )
        distinct = await session.scalar(
            select(func.count(func.distinct(DocumentChunk.ordinal))).where(
                DocumentChunk.document_id == document_id
            )
        )
    assert documents == 1 and chunks and chunks == distinct
