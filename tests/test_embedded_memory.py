"""EMBEDDED_PG_SHARED_BUFFERS: the embedded server runs with the size it is given (a restart at
start), keeps it, and is never restarted under another attached process (the size then applies
at its next start); a size it refuses or cannot allocate leaves the size it had; "auto" sizes it
to the data, within a quarter of the memory."""

from __future__ import annotations

import json
import os
from pathlib import Path

import psycopg
import pytest
from pydantic import ValidationError

from core import embedded_pg
from core.embedded_pg import auto_shared_buffers, start_embedded_postgres, stop_embedded_postgres
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


MB, GB = 1024**2, 1024**3


@pytest.mark.parametrize(
    ("data", "memory", "expected"),
    [
        (0, 24 * GB, "128MB"),  # a new install: Postgres's default
        (100 * MB, 24 * GB, "128MB"),  # 125 MB with the quarter to spare
        (110 * MB, 24 * GB, "256MB"),
        (6 * GB, 24 * GB, "4096MB"),  # 1M tickets: a quarter of 24 GB is 6 GB, rounded down
        (6 * GB, 64 * GB, "8192MB"),
        (6 * GB, 1 * GB, "256MB"),
        (6 * GB, 256 * MB, "128MB"),  # never below the default
    ],
)
def test_auto_sizes_shared_buffers_to_the_data_within_a_quarter_of_the_memory(
    data: int, memory: int, expected: str
) -> None:
    assert auto_shared_buffers(data, memory) == expected


def test_auto_follows_the_data_and_the_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pgdata = tmp_path / "pg"
    assert started(pgdata, "auto") == "128MB"  # a new data dir: nothing to restart for
    server = start_embedded_postgres(pgdata)
    try:
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:  # 125 MB in all
            conn.execute("CREATE TABLE filler AS SELECT g AS n FROM generate_series(1, 3e6) g")
    finally:
        stop_embedded_postgres(server)
    assert started(pgdata, "auto") == "256MB"
    monkeypatch.setattr(embedded_pg, "machine_memory", lambda: 512 * MB)  # a quarter: 128 MB
    assert started(pgdata, "auto") == "128MB"


def test_the_setting_defaults_to_auto() -> None:
    assert Settings(_env_file=None).embedded_pg_shared_buffers == "auto"


@pytest.mark.parametrize("size", ["lots", "4 GB", "0MB", "4TB", "4GB; DROP TABLE users", ""])
def test_a_shared_buffers_setting_that_is_not_a_size_is_refused(size: str) -> None:
    with pytest.raises(ValidationError):
        Settings(_env_file=None, embedded_pg_shared_buffers=size)
