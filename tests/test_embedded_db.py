"""The embedded database is supervised, tried as an out-of-memory kill would do it: the
postmaster dies under a running `inferra serve`; it is started again, requests meanwhile get
503 + Retry-After (never 500), and the runs in flight finish once. When it cannot be started
again, /healthz fails and the process exits non-zero with one clear line."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.live import free_port, wait_until_ready

PASSWORD = "correct-horse-battery"


@dataclass
class Served:
    url: str
    data_dir: Path
    process: subprocess.Popen
    log: Path

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pg"

    def postmaster_pid(self) -> int:
        return int((self.pgdata / "postmaster.pid").read_text().split()[0])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": "",  # the embedded server, in a data dir of this test
        "DATA_DIR": str(tmp_path / "data"),
        "INFERRA_ENV": "dev",
        "JWT_SECRET_KEY": "s" * 40,
        "WEB_SEARCH_ENABLED": "false",
        "EMBEDDED_PG_CHECK_SECONDS": "0.5",
        "EMBEDDED_PG_EXIT_DELAY_SECONDS": "2",
        "WORKER_HEARTBEAT_SECONDS": "0.5",
        "WORKER_STALLED_SECONDS": "2",
        "WORKER_SWEEP_SECONDS": "1",
        "LOG_JSON": "false",
        "GEMINI_API_KEY": "",
        "NOMIC_API_KEY": "",
    }
    log = tmp_path / "serve.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "inferra", "serve", "--port", str(port)],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    server = Served(f"http://127.0.0.1:{port}", tmp_path / "data", process, log)
    try:
        wait_until_ready(server.url, process, lambda: log.read_text()[-3000:])
        yield server
    finally:
        if server.pgdata.exists():
            server.pgdata.chmod(0o700)
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()


async def _user(http: httpx.AsyncClient, url: str) -> dict[str, str]:
    body = {"email": "oom@example.com", "password": PASSWORD}
    assert (await http.post(f"{url}/api/v1/auth/register", json=body)).status_code == 201
    login = await http.post(
        f"{url}/api/v1/auth/login", data={"username": body["email"], "password": PASSWORD}
    )
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


async def test_a_killed_postmaster_is_restarted_and_runs_finish_once(served: Served) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        headers = await _user(http, served.url)
        ids = []
        for i in range(6):
            created = await http.post(
                f"{served.url}/api/v1/tickets",
                headers=headers,
                json={"title": f"Printer {i} jams", "description": "Paper jam on floor 2"},
            )
            ids.append(created.json()["ticket"]["id"])
        os.kill(served.postmaster_pid(), signal.SIGKILL)  # as the OOM killer would
        killed = time.monotonic()

        statuses, back_after = [], None
        while time.monotonic() - killed < 20:
            listing = await http.get(f"{served.url}/api/v1/tickets", headers=headers)
            statuses.append(listing.status_code)
            if listing.status_code == 503:
                assert listing.headers["retry-after"], listing.headers
                assert listing.json()["error"]["code"] == "database_unavailable"
            ready = await http.get(f"{served.url}/readyz")
            if ready.status_code == 200 and back_after is None:
                back_after = time.monotonic() - killed
                break
            await asyncio.sleep(0.2)
        print(f"\nready again after {back_after} s; statuses during the outage: {statuses}")
        assert back_after is not None and back_after < 10
        assert 500 not in statuses
        assert (await http.get(f"{served.url}/healthz")).status_code == 200

        async def all_runs_over() -> bool:
            for ticket_id in ids:
                runs = (
                    await http.get(f"{served.url}/api/v1/tickets/{ticket_id}/runs", headers=headers)
                ).json()
                if len(runs) != 1 or runs[0]["status"] in ("queued", "running"):
                    return False
            return True

        deadline = time.monotonic() + 90
        while not await all_runs_over():
            assert time.monotonic() < deadline, "runs did not finish after the restart"
            await asyncio.sleep(0.5)
        for ticket_id in ids:
            detail = (
                await http.get(f"{served.url}/api/v1/tickets/{ticket_id}", headers=headers)
            ).json()
            resolution = detail["latest_resolution"]
            assert resolution is None or resolution["version"] == 1  # one version per run


def test_a_postmaster_that_cannot_restart_fails_liveness_then_exits(
    served: Served,
) -> None:
    served.pgdata.chmod(0o000)  # Postgres (its own OS user) can no longer use its data dir
    os.kill(served.postmaster_pid(), signal.SIGKILL)  # root still reads the pid file
    healthz_failed = False
    deadline = time.monotonic() + 30
    while served.process.poll() is None:
        assert time.monotonic() < deadline, "the process did not exit"
        try:
            healthz = httpx.get(f"{served.url}/healthz", timeout=2)
            if healthz.status_code == 503:
                healthz_failed = True
                assert healthz.json()["error"]["code"] == "database_lost"
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    assert served.process.returncode != 0
    assert healthz_failed
    output = served.log.read_text()
    [line] = [x for x in output.splitlines() if "embedded_pg_failed" in x]  # one clear line
    assert "data dir is not accessible" in line and "fix its ownership or mode" in line
