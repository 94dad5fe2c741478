"""The CLI, run as a user runs it (`python -m inferra ...`), against the test database."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import httpx

from tests.conftest import assert_error_shape, login


def run_cli(settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": settings.database_url, "LOG_JSON": "false"}
    return subprocess.run(
        [sys.executable, "-m", "inferra", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


async def cli(settings, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run_cli, settings, *args)


async def test_create_admin_then_admin_routes_work(client: httpx.AsyncClient, settings) -> None:
    args = ("create-admin", "--email", "root@example.com", "--password", "long-enough-pw")
    result = await cli(settings, *args)
    assert result.returncode == 0, result.stderr
    token = await login(client, "root@example.com", "long-enough-pw")
    response = await client.get("/api/v1/users", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json()["items"][0]["role"] == "admin"

    again = await cli(settings, *args)
    assert again.returncode == 1 and "already exists" in again.stderr
    assert "inferra set-password --email root@example.com" in again.stderr
    assert again.stderr.count("\n") == 1  # one line, no traceback, no log

    reset = await cli(
        settings, "set-password", "--email", "root@example.com", "--password", "a-new-password"
    )
    assert reset.returncode == 0 and "password set" in reset.stdout, reset.stderr
    assert await login(client, "root@example.com", "a-new-password")


async def test_set_password_of_an_unknown_account_says_how_to_create_one(settings) -> None:
    result = await cli(
        settings, "set-password", "--email", "nobody@example.com", "--password", "long-enough-pw"
    )
    assert result.returncode == 1 and "inferra create-admin" in result.stderr


async def test_create_admin_rejects_a_short_password_in_one_line(settings) -> None:
    result = await cli(settings, "create-admin", "--email", "x@example.com", "--password", "short")
    assert result.returncode == 1
    assert result.stderr == "error: The password must have 8 to 128 characters\n"


async def test_seed_demo_then_worker_resolves_the_open_tickets_offline(
    client: httpx.AsyncClient, settings
) -> None:
    first = await cli(settings, "seed-demo")
    assert first.returncode == 0, first.stderr
    assert first.stderr == ""  # one-shot commands log only warnings unless -v
    assert "kb vpn-globalprotect.md" in first.stdout
    second = await cli(settings, "seed-demo")
    assert second.returncode == 0 and "exists" in second.stdout and "kb " not in second.stdout
    token = await login(client, "admin@demo.inferra.dev", "demo-password")
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/users", headers=headers)).json()["total"] == 4
    assert_error_shape(await client.get("/api/v1/users"), 401)

    worker = await cli(settings, "worker", "--once")
    assert worker.returncode == 0 and "processed 2 job(s)" in worker.stdout, worker.stderr
    alice = {
        "Authorization": f"Bearer {await login(client, 'alice@demo.inferra.dev', 'demo-password')}"
    }
    mine = (await client.get("/api/v1/tickets?q=VPN", headers=alice)).json()["items"]
    detail = (await client.get(f"/api/v1/tickets/{mine[0]['id']}", headers=alice)).json()
    resolution = detail["latest_resolution"]
    assert detail["status"] == "resolved" and resolution["model"] == "offline-extractive"
    assert any("6.2" in step for s in resolution["solutions"] for step in s["steps"])
    assert {s["type"] for s in resolution["sources"]} <= {"ticket", "doc"}


def test_help_lists_the_commands(settings) -> None:
    result = run_cli(settings, "--help")
    assert result.returncode == 0
    for command in ("serve", "db", "create-admin", "seed-demo", "worker"):
        assert command in result.stdout


async def test_seed_demo_is_refused_in_production(settings) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "LOG_JSON": "false",
        "INFERRA_ENV": "production",
        "JWT_SECRET_KEY": "p" * 40,
    }
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "inferra", "seed-demo"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 1 and "production" in result.stderr


async def test_verbose_shows_the_log_of_a_one_shot_command(settings) -> None:
    result = await cli(settings, "-v", "db", "upgrade")
    assert result.returncode == 0 and "database at head" in result.stdout
    assert "Context impl" in result.stderr
