"""Real `inferra` processes for the tests that need them: a free port, and waiting until a
server answers /readyz (or failing with what its output says)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def is_ready(url: str, path: str = "/readyz") -> bool:
    try:
        return httpx.get(f"{url}{path}", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until_ready(
    url: str,
    process: subprocess.Popen,
    output: Callable[[], str],
    seconds: float = 120,
    path: str = "/readyz",
) -> None:
    """Poll `path` until 200; fail with the server's output if it exits or takes too long."""
    deadline = time.monotonic() + seconds
    while not is_ready(url, path):
        assert process.poll() is None, output()
        assert time.monotonic() < deadline, f"the server at {url} never became ready\n{output()}"
        time.sleep(0.3)
