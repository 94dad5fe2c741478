"""HTTP load on the real server: authenticated POST/GET /api/v1/tickets vs the bare /healthz.

    .venv/bin/python -m benchmarks.api_load [--duration 60] [--bare-duration 20] [--users 16]
        [--accounts 4] [--no-worker]

Needs locust, in the `bench` extra (`.venv/bin/pip install -e '.[bench]'`; it adds packages).

Starts `inferra serve` (subprocess, 127.0.0.1, port in 18000-18999) on a fresh embedded database
in a temp dir, with its real in-process run worker: every POST queues an agent run that the
worker executes on the same 2 cores while the load goes on (offline providers; web search has
no network and is skipped); --no-worker turns it off to show what it costs. Registers and logs
in --accounts users, files one ticket per user and waits for its run, then until the server is
idle (the embedding model loads in the background at startup), then runs locust headless twice
against the same server, one phase after the other, each with --users closed-loop users and no
think time:
  1. bare:    GET /healthz for --bare-duration seconds (no auth, no database);
  2. tickets: POST /api/v1/tickets and GET /api/v1/tickets (own tickets, first page of 20),
              equal weights, for --duration seconds.
The phases run one after the other, not together, so that each one's req/s is what the server
sustains on that work (run together they would share the cores and the ratio would measure
latency instead). The bare phase goes first: after the tickets phase the worker still has a
backlog of runs that would steal CPU from it. Prints req/s, p50/p95/p99 (locust's, rounded to
2 significant digits above 100 ms), errors per endpoint, the tickets/bare throughput ratio, the
CPU each part used (cores busy, and server/Postgres CPU ms per request: less sensitive than req/s
to other work on the machine), the new Postgres connections per phase, and how many agent runs
the worker finished during the load. The server is stopped with SIGINT at the end, which stops
its embedded Postgres.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks.figures import machine
from benchmarks.serve import (
    REPO,
    Server,
    add_load_options,
    cpu_seconds,
    inferra_serve,
    inferra_worker,
)

LOCUST = Path(sys.executable).parent / "locust"
LOCUSTFILE = REPO / "benchmarks" / "api_load_locustfile.py"
PASSWORD = "bench-password-1"
TERMINAL_RUN_STATES = {"succeeded", "failed", "interrupted"}


@dataclass
class EndpointStats:
    name: str
    requests: int
    errors: int
    rps: float
    p50: float
    p95: float
    p99: float


@dataclass
class Phase:
    name: str
    stats: list[EndpointStats]
    cores: dict[str, float]  # CPU seconds / wall seconds, per part
    cpu_warning: bool  # locust said its own CPU was above 90%
    connections: int  # new Postgres connections opened during the phase
    wall: float  # seconds, locust start to exit

    @property
    def rps(self) -> float:
        return sum(s.rps for s in self.stats)


def login_accounts(base_url: str, n: int) -> list[str]:
    tokens = []
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for i in range(n):
            email = f"load{i}@bench.inferra.dev"
            client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
            response = client.post(
                "/api/v1/auth/login", data={"username": email, "password": PASSWORD}
            )
            response.raise_for_status()
            tokens.append(response.json()["access_token"])
    return tokens


def run_status(client: httpx.Client, ticket_id: str, headers: dict[str, str]) -> str:
    ticket = client.get(f"/api/v1/tickets/{ticket_id}", headers=headers).json()
    return ticket["latest_run"]["status"]


def warm_up(base_url: str, tokens: list[str], timeout: float, wait_runs: bool) -> float:
    """One ticket per account, and wait for their runs: the embedding model is then loaded."""
    started = time.perf_counter()
    with httpx.Client(base_url=base_url, timeout=30) as client:
        pending = []
        for token in tokens:
            headers = {"Authorization": f"Bearer {token}"}
            ticket = {"title": "Warm-up: VPN drops", "description": "GlobalProtect disconnects"}
            response = client.post("/api/v1/tickets", json=ticket, headers=headers)
            response.raise_for_status()
            pending.append((response.json()["ticket"]["id"], headers))
        while wait_runs and pending and time.perf_counter() - started < timeout:
            time.sleep(0.5)
            pending = [p for p in pending if run_status(client, *p) not in TERMINAL_RUN_STATES]
    if wait_runs and pending:
        raise TimeoutError(f"warm-up runs not finished after {timeout:.0f} s")
    return time.perf_counter() - started


def ticket_counts(base_url: str, tokens: list[str]) -> tuple[int, int]:
    """(tickets, tickets still open) over all accounts: open = its run has not finished yet."""
    total = still_open = 0
    with httpx.Client(base_url=base_url, timeout=60) as client:
        for token in tokens:
            headers = {"Authorization": f"Bearer {token}"}
            page = {"page_size": 1}
            total += client.get("/api/v1/tickets", params=page, headers=headers).json()["total"]
            still_open += client.get(
                "/api/v1/tickets", params={**page, "status": "open"}, headers=headers
            ).json()["total"]
    return total, still_open


def read_stats(csv_path: Path) -> list[EndpointStats]:
    with csv_path.open() as f:
        return [
            EndpointStats(
                name=row["Name"],
                requests=int(row["Request Count"]),
                errors=int(row["Failure Count"]),
                rps=float(row["Requests/s"]),
                p50=float(row["50%"]),
                p95=float(row["95%"]),
                p99=float(row["99%"]),
            )
            for row in csv.DictReader(f)
            if row["Name"] != "Aggregated"
        ]


def locust_command(server: Server, user_class: str, seconds: int, users: int, prefix: Path):
    return [
        *(str(LOCUST), "-f", str(LOCUSTFILE), "--headless", "--host", server.base_url),
        *("--users", str(users), "--spawn-rate", str(users), "--run-time", f"{seconds}s"),
        *("--csv", str(prefix), "--only-summary", "--loglevel", "WARNING"),
        *("--tokens-file", str(prefix.parent / "tokens.json"), user_class),
    ]


def cpu_snapshot(server: Server) -> dict[str, dict[int, float]]:
    """CPU seconds per process of the server and of Postgres; locust's as our waited child."""
    snapshot = {part: {p: cpu_seconds([p]) for p in pids} for part, pids in server.pids().items()}
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    snapshot["locust"] = {0: children.ru_utime + children.ru_stime}
    return snapshot


def cores_busy(before: dict, after: dict, wall: float) -> dict[str, float]:
    """Per part: CPU seconds used between the snapshots (processes alive at the end) / wall."""
    return {
        part: sum(t - before[part].get(pid, 0.0) for pid, t in after[part].items()) / wall
        for part in after
    }


def run_phase(
    server: Server, name: str, user_class: str, seconds: int, users: int, work_dir: Path
) -> Phase:
    prefix = work_dir / name
    sessions, before = server.pg_sessions(), cpu_snapshot(server)
    started = time.perf_counter()
    with (work_dir / f"{name}.log").open("w") as log:
        # locust exits 1 when any request failed: the failures are in the figures, not an error.
        subprocess.run(
            locust_command(server, user_class, seconds, users, prefix),
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=seconds + 120,
        )
    wall = time.perf_counter() - started
    cores = cores_busy(before, cpu_snapshot(server), wall)
    connections = server.pg_sessions() - sessions - 1  # less our own
    cpu_warning = "CPU usage above" in (work_dir / f"{name}.log").read_text()
    stats = read_stats(Path(f"{prefix}_stats.csv"))
    return Phase(name, stats, cores, cpu_warning, connections, wall)


def report(phases: list[Phase], runs: tuple[int, int, int], args: argparse.Namespace) -> None:
    print(
        f"\n{'phase':<8} {'endpoint':<22} {'requests':>8} {'errors':>6} {'req/s':>7} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}"
    )
    for phase in phases:
        for s in phase.stats:
            print(
                f"{phase.name:<8} {s.name:<22} {s.requests:>8} {s.errors:>6} {s.rps:>7.1f} "
                f"{s.p50:>7.0f} {s.p95:>7.0f} {s.p99:>7.0f}"
            )
    bare, tickets = phases
    print(
        f"\ntickets endpoints together: {tickets.rps:.1f} req/s; bare endpoint "
        f"{bare.rps:.1f} req/s; ratio tickets/bare = {tickets.rps / bare.rps:.2f}"
    )
    # Each endpoint had a third of the users: its rate as if it had them all, over the bare rate.
    share = len(tickets.stats)
    for s in tickets.stats:
        print(f"  {s.name:<26} x{share} / bare = {s.rps * share / bare.rps:.3f}")
    for phase in phases:
        cores = ", ".join(f"{part} {used:.2f}" for part, used in phase.cores.items())
        warning = " (locust warned: its CPU above 90%)" if phase.cpu_warning else ""
        requests = sum(s.requests for s in phase.stats)
        per_request = ", ".join(
            f"{part} {phase.cores[part] * phase.wall * 1000 / requests:.2f}"
            for part in ("server", "postgres")
        )
        print(
            f"{phase.name}: cores busy: {cores}{warning}; CPU ms per request: {per_request}; "
            f"new Postgres connections {phase.connections} ({phase.connections / phase.wall:.1f}/s)"
        )
    filed, still_open, warm = runs
    done = filed - still_open - (warm if args.worker or args.separate_worker else 0)
    print(
        f"agent runs: {filed - warm} tickets filed under load; the worker finished {done} "
        f"of their runs by the end of the load, {still_open} still queued"
    )


def main(args: argparse.Namespace) -> None:
    if not LOCUST.exists():
        sys.exit(f"{LOCUST} not found: install the bench extra (.venv/bin/pip install -e .[bench])")
    work_dir = Path(tempfile.mkdtemp(prefix="inferra-bench-api-"))
    print(f"machine: {machine()}")
    separate = args.separate_worker
    env = {} if args.worker and not separate else {"WORKER_ENABLED": "false"}
    shown = "own process (inferra worker)" if separate else "in-process" if args.worker else "off"
    print(f"run worker: {shown}")
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(inferra_serve(work_dir / "data", **env))
        ready = server.wait_ready()
        if separate:
            worker = stack.enter_context(inferra_worker(work_dir / "data"))
            server.extra_parts["worker"] = worker.pid
        tokens = login_accounts(server.base_url, args.accounts)
        (work_dir / "tokens.json").write_text(json.dumps(tokens))
        warm = warm_up(
            server.base_url, tokens, args.warmup_timeout, wait_runs=args.worker or separate
        )
        idle = server.wait_idle()  # the embedding model loads in the background at startup
        print(
            f"server ready in {ready:.1f} s; {len(tokens)} accounts; warm-up {warm:.1f} s, "
            f"then idle after {idle:.1f} s"
        )
        phases = [
            run_phase(server, "bare", "HealthUser", args.bare_duration, args.users, work_dir),
            run_phase(server, "tickets", "TicketsUser", args.duration, args.users, work_dir),
        ]
        filed, still_open = ticket_counts(server.base_url, tokens)
    stopped = server.stop()  # stopped already, worker first: did its Postgres stop too?
    shutil.rmtree(work_dir / "data" / "pg", ignore_errors=True)  # keep the logs only
    report(phases, (filed, still_open, len(tokens)), args)
    print(
        f"server stopped with SIGINT in {server.exit_seconds:.1f} s; "
        f"embedded Postgres stopped: {stopped}; logs in {work_dir}"
    )
    print(f"machine after: {machine()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=60, help="seconds of tickets load")
    parser.add_argument("--bare-duration", type=int, default=20, help="seconds of /healthz load")
    add_load_options(parser)
    main(parser.parse_args())
