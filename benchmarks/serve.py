"""`inferra serve` as a subprocess on a fresh or existing data dir, for the benchmarks that measure
the real server (api_load, cold_start): start it, wait for /readyz, stop it with SIGINT so that
its lifespan shuts down and the embedded Postgres stops with it.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import psycopg

from benchmarks.offline import NO_QUOTAS

REPO = Path(__file__).resolve().parents[1]
# `python -m inferra` from the repository root: the same CLI as the `inferra` script, but the
# working tree's packages come first on sys.path whatever the editable install maps.
INFERRA = [sys.executable, "-m", "inferra"]
PORTS = range(18000, 19000)  # the range the benchmarks may use, on 127.0.0.1 only


def add_load_options(parser: argparse.ArgumentParser) -> None:
    """The options of the benchmarks that load a real `inferra serve` with locust users."""
    parser.add_argument("--users", type=int, default=16, help="concurrent locust users")
    parser.add_argument("--accounts", type=int, default=4, help="registered users (tokens)")
    parser.add_argument("--warmup-timeout", type=float, default=180.0)
    parser.add_argument(
        "--separate-worker",
        action="store_true",
        help="serve without its in-process worker, and run `inferra worker` in its own process",
    )
    parser.add_argument(
        "--worker",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="keep serve's in-process run worker (default); --no-worker shows what it costs",
    )


def free_port() -> int:
    for port in random.sample(PORTS, len(PORTS)):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 18000-18999")


def server_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The caller's environment with a data dir of our own and the embedded database forced."""
    # An empty DATABASE_URL also overrides one in a .env file: the embedded server is used.
    ours = {"DATABASE_URL": "", "DATA_DIR": str(data_dir), "LOG_LEVEL": "WARNING"}
    # A load test files thousands of tickets from a few accounts: no per-user ticket quota.
    ours |= {name.upper(): str(value) for name, value in NO_QUOTAS.items()}
    return {**os.environ, "INFERRA_ENV": "dev", **ours, **extra}


@dataclass
class Server:
    data_dir: Path
    port: int
    process: subprocess.Popen
    spawned_at: float  # perf_counter() just before Popen
    log_path: Path
    exit_seconds: float | None = field(default=None)  # SIGINT until Postgres has stopped
    extra_parts: dict[str, int] = field(default_factory=dict)  # e.g. a worker process: pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def postmaster_pid_file(self) -> Path:
        return self.data_dir / "pg" / "postmaster.pid"

    def wait_ready(self, timeout: float = 180.0) -> float:
        """Poll /readyz every 20 ms; seconds from spawn to the first 200."""
        deadline = time.perf_counter() + timeout
        with httpx.Client(base_url=self.base_url, timeout=2.0) as client:
            while time.perf_counter() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"inferra serve exited early; see {self.log_path}")
                try:
                    if client.get("/readyz").status_code == 200:
                        return time.perf_counter() - self.spawned_at
                except httpx.TransportError:
                    pass  # not listening yet
                time.sleep(0.02)
        raise TimeoutError(f"/readyz not 200 after {timeout:.0f} s; see {self.log_path}")

    def pids(self) -> dict[str, list[int]]:
        """The server's process tree, and the embedded Postgres (a daemon, not its child)."""
        groups = {"server": _tree(self.process.pid), "postgres": []}
        groups |= {part: _tree(pid) for part, pid in self.extra_parts.items()}
        try:
            postmaster = int(self.postmaster_pid_file.read_text().split()[0])
            groups["postgres"] = _tree(postmaster)
        except (OSError, ValueError, IndexError):
            pass
        return groups

    def pg_sessions(self) -> int:
        """Connections ever opened to the embedded Postgres (pg_stat_database.sessions)."""
        pgdata = self.data_dir / "pg"
        with psycopg.connect(host=str(pgdata), dbname="postgres", user="postgres") as conn:
            return int(conn.execute("SELECT sum(sessions) FROM pg_stat_database").fetchone()[0])

    def wait_idle(self, timeout: float = 90.0, below: float = 0.1) -> float:
        """Wait until the server uses < `below` cores for 2 s running (e.g. model loaded)."""
        started = time.perf_counter()
        quiet, last = 0, cpu_seconds(self.pids()["server"])
        while quiet < 2 and time.perf_counter() - started < timeout:
            time.sleep(1)
            now = cpu_seconds(self.pids()["server"])
            quiet, last = (quiet + 1 if now - last < below else 0), now
        return time.perf_counter() - started

    def stop(self, timeout: float = 60.0) -> bool:
        """SIGINT (uvicorn's graceful shutdown), then wait; True if Postgres stopped too."""
        if self.exit_seconds is not None:  # stopped already
            return not self.postmaster_pid_file.exists()
        started = time.perf_counter()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.terminate()
                try:
                    self.process.wait(10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
        deadline = time.perf_counter() + 15
        while self.postmaster_pid_file.exists() and time.perf_counter() < deadline:
            time.sleep(0.05)
        self.exit_seconds = time.perf_counter() - started
        return not self.postmaster_pid_file.exists()


def _tree(pid: int) -> list[int]:
    try:
        root = psutil.Process(pid)
        return [pid, *(child.pid for child in root.children(recursive=True))]
    except psutil.NoSuchProcess:
        return []


def cpu_seconds(pids: list[int]) -> float:
    """CPU time of these processes (those still alive) and of their children that exited:
    Postgres backends that come and go are counted through the postmaster."""
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


@contextmanager
def inferra_serve(data_dir: Path, **env: str) -> Iterator[Server]:
    """Run `inferra serve` on data_dir; always stopped (SIGINT) on exit of the block."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = data_dir / f"serve-{port}.log"
    with log_path.open("ab") as log:
        spawned_at = time.perf_counter()
        process = subprocess.Popen(
            [*INFERRA, "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO,
            env=server_env(data_dir, **env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # our SIGINT only: a terminal ^C must not signal it twice
        )
    server = Server(data_dir, port, process, spawned_at, log_path)
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def inferra_worker(data_dir: Path, **env: str) -> Iterator[subprocess.Popen]:
    """Run `inferra worker` on the database of a server started on data_dir; SIGINT on exit."""
    with (data_dir / "worker.log").open("ab") as log:
        process = subprocess.Popen(
            [*INFERRA, "worker"],
            cwd=REPO,
            env=server_env(data_dir, **env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
