"""Scaling out on one database, as the README describes it: two `inferra serve` processes with
no embedded worker, two `inferra worker` processes. 200 tickets from 10 users and a few large
uploads over real HTTP: every run is executed exactly once, every upload is stored once (the
newest of one filename wins)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from core.models import AgentRun, Document, DocumentChunk, Resolution, Role, RunStatus
from services.users import create_user
from tests.conftest import PASSWORD
from tests.live import free_port, wait_until_ready

TICKETS, USERS = 200, 10
DOMAIN = "scale.example.org"


def process_env(settings, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "DATA_DIR": str(tmp_path),
        "JWT_SECRET_KEY": settings.jwt_secret(),
        "WORKER_ENABLED": "false",
        "WEB_SEARCH_ENABLED": "false",
        "INGEST_BACKGROUND_BYTES": "100",
        "LOGIN_RATE_LIMIT_PER_IP": "1000",
        "LOG_LEVEL": "WARNING",
        "GEMINI_API_KEY": "",
        "NOMIC_API_KEY": "",
    }


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "inferra", *args],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def stop(processes: list[subprocess.Popen]) -> list[int]:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    return [process.wait(timeout=60) for process in processes]


@pytest.fixture
def cluster(settings, tmp_path: Path) -> Iterator[list[str]]:
    env = process_env(settings, tmp_path)
    ports = [free_port(), free_port()]
    servers = [
        start(["serve", "--port", str(port)], env, tmp_path / f"serve-{port}.log") for port in ports
    ]
    workers = [
        start(["worker", "--concurrency", "2"], env, tmp_path / f"worker-{i}.log") for i in range(2)
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        deadline = time.monotonic() + 120  # for both servers together
        for url, server, port in zip(urls, servers, ports, strict=True):
            log = tmp_path / f"serve-{port}.log"
            wait_until_ready(
                url, server, lambda log=log: log.read_text()[-3000:], deadline - time.monotonic()
            )
        yield urls
    finally:
        codes = stop(servers + workers)
        assert all(code == 0 for code in codes[2:]), codes  # workers stop gracefully


async def test_two_servers_two_workers_execute_each_run_once(cluster, sessionmaker) -> None:
    async with sessionmaker.begin() as session:
        for i in range(USERS):
            await create_user(
                session=session, email=f"u{i}@{DOMAIN}", password=PASSWORD, role=Role.user
            )
        await create_user(
            session=session, email=f"staff@{DOMAIN}", password=PASSWORD, role=Role.support
        )
    # Idle connections are dropped after 1 s, before uvicorn's 5 s keep-alive closes them: a
    # request sent on a connection the server is closing that instant fails with a ReadError.
    limits = httpx.Limits(keepalive_expiry=1)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        headers = [await _login(http, cluster[i % 2], f"u{i}@{DOMAIN}") for i in range(USERS)]
        staff = await _login(http, cluster[0], f"staff@{DOMAIN}")
        uploads = [("a.md", "first"), ("b.md", "other"), ("a.md", "second")]
        for i, (name, words) in enumerate(uploads):
            body = f"# Runbook {words}\n\n" + f"Restart the {words} service. " * 20
            response = await http.post(
                f"{cluster[i % 2]}/api/v1/llm/ingest_doc",
                headers=staff,
                files={"files": (name, body.encode(), "text/markdown")},
            )
            assert response.status_code == 202, response.text
        semaphore = asyncio.Semaphore(20)

        async def file(i: int) -> None:
            async with semaphore:
                response = await http.post(
                    f"{cluster[i % 2]}/api/v1/tickets",
                    headers=headers[i % USERS],
                    json={"title": f"Printer {i} jams", "description": "Paper jam on floor 2"},
                )
                assert response.status_code == 201, response.text

        await asyncio.gather(*(file(i) for i in range(TICKETS)))

    async def all_done() -> bool:
        async with sessionmaker() as session:
            open_runs = await session.scalar(
                select(func.count()).where(
                    AgentRun.status.in_([RunStatus.queued, RunStatus.running])
                )
            )
            queued_docs = await session.scalar(
                select(func.count()).where(Document.status == "queued")
            )
        return open_runs == 0 and queued_docs == 0

    deadline = time.monotonic() + 600
    while not await all_done():
        assert time.monotonic() < deadline, "the workers did not finish the queue"
        await asyncio.sleep(1)

    async with sessionmaker() as session:
        runs = (await session.scalars(select(AgentRun))).all()
        resolutions = await session.scalar(select(func.count()).select_from(Resolution))
        documents = (await session.scalars(select(Document).order_by(Document.filename))).all()
        chunks = dict(
            (
                await session.execute(
                    select(DocumentChunk.document_id, func.count()).group_by(
                        DocumentChunk.document_id
                    )
                )
            ).all()
        )
    assert len(runs) == TICKETS
    assert {r.status for r in runs} <= {RunStatus.succeeded, RunStatus.interrupted}
    assert all(r.attempts == 1 for r in runs), "a run was executed twice"
    assert resolutions == sum(r.status is RunStatus.succeeded for r in runs)
    assert [(d.filename, d.status) for d in documents] == [("a.md", "ready"), ("b.md", "ready")]
    assert "second" in (documents[0].title or ""), documents[0].title  # the newest a.md won
    assert all(chunks.get(d.id) for d in documents)


async def _login(http: httpx.AsyncClient, url: str, email: str) -> dict[str, str]:
    response = await http.post(
        f"{url}/api/v1/auth/login", data={"username": email, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
