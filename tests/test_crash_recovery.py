"""A worker killed with SIGKILL in the middle of a run: another worker takes the run over when
its lease expires and finishes it from the last checkpoint: no lost ticket, no duplicate."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select

from agent import steps
from core.models import AgentRun, Resolution, RunStatus

LEASE_SECONDS = 5


def worker(settings, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.crash_worker", *args],
        env=worker_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_killed_worker_run_completes_from_its_last_checkpoint(
    app, client, user, settings, tmp_path: Path
) -> None:
    created = (
        await client.post(
            "/api/v1/tickets",
            headers=user.headers,
            json={"title": "VPN drops", "description": "GlobalProtect disconnects"},
        )
    ).json()
    marker = tmp_path / "draft-reached"
    doomed = worker(settings, "block", str(marker))
    deadline = time.monotonic() + 90
    while not marker.exists():
        assert doomed.poll() is None, doomed.stderr.read()
        assert time.monotonic() < deadline, "the worker never reached draft"
        await asyncio.sleep(0.2)
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=10)

    async with app.state.sessionmaker() as session:
        run = await session.get(AgentRun, created["run_id"])
    assert run.status is RunStatus.running and run.worker_id == "crash-block"
    await asyncio.sleep(LEASE_SECONDS + 0.5)  # the dead worker's lease runs out

    rescuer = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "tests.crash_worker", "finish"],
        env=worker_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "processed 1" in rescuer.stdout, rescuer.stderr

    async with app.state.sessionmaker() as session:
        run = await session.get(AgentRun, created["run_id"])
        resolutions = (
            await session.scalars(select(Resolution).where(Resolution.ticket_id == run.ticket_id))
        ).all()
    assert run.status is RunStatus.succeeded and run.attempts == 2
    assert run.worker_id == "crash-finish"
    assert len(resolutions) == 1
    history = steps.steps_from(await steps.history(app.state.graph, created["run_id"]))
    nodes = [s["node"] for s in history]
    assert nodes.count("classify") == 1  # not started over: it went on from the checkpoint
    assert nodes[-1] == "persist"


def worker_env(settings) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "WORKER_LEASE_SECONDS": str(LEASE_SECONDS),
        "LOG_JSON": "false",
        "JWT_SECRET_KEY": "x" * 40,
        "GEMINI_API_KEY": "",
        "NOMIC_API_KEY": "",
    }
