"""EMBEDDED_PG_SHARED_BUFFERS: the embedded server runs with the size it is given (a restart at
start), keeps it, and is never restarted under another attached process (the size then applies
at its next start); a size it refuses or cannot allocate leaves the size it had."""

from __future__ import annotations

import json
import os
from pathlib import Path

import psycopg
import pytest
from pydantic import ValidationError

from core.embedded_pg import start_embedded_postgres, stop_embedded_postgres
from core.settings import Settings


def shared_buffers(server) -> str:
    with psycopg.connect(server.get_uri()) as conn:
        return conn.execute("SHOW shared_buffers").fetchone()[0]


def started(pgdata: Path, size: str | None) -> str:
    server = start_embedded_postgres(pgdata, size)
    try:
        return shared_buffers(server)
    finally:
        stop_embedded_postgres(server)


def test_the_embedded_server_takes_keeps_and_defers_its_shared_buffers(tmp_path: Path) -> None:
    pgdata = tmp_path / "pg"
    assert started(pgdata, None) == "128MB"  # Postgres's own default
    assert started(pgdata, "160MB") == "160MB"
    assert started(pgdata, None) == "160MB"  # unset: the server keeps what it has

    handles = pgdata / ".handle_pids.json"
    handles.write_text(json.dumps([os.getppid()]))  # another live process is attached
    server = start_embedded_postgres(pgdata, "192MB")
    try:
        assert shared_buffers(server) == "160MB"  # not restarted under it
    finally:
        handles.write_text(json.dumps([os.getpid()]))
        stop_embedded_postgres(server)
    assert started(pgdata, None) == "192MB"  # applied at the next start


def test_a_size_postgres_refuses_or_cannot_allocate_leaves_the_size_it_had(
    tmp_path: Path,
) -> None:
    pgdata = tmp_path / "pg"
    assert started(pgdata, "160MB") == "160MB"
    assert started(pgdata, "9999999GB") == "160MB"  # past Postgres's maximum
    assert started(pgdata, "4000GB") == "160MB"  # more than the machine has: no start
    assert started(pgdata, None) == "160MB"


@pytest.mark.parametrize("size", ["lots", "4 GB", "0MB", "4TB", "4GB; DROP TABLE users"])
def test_a_shared_buffers_setting_that_is_not_a_size_is_refused(size: str) -> None:
    with pytest.raises(ValidationError):
        Settings(_env_file=None, embedded_pg_shared_buffers=size)
