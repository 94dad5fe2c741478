"""A real `inferra serve` (with its in-process worker) for the browser tests and the screenshot
script, on the test session's database."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.live import free_port, wait_until_ready


@contextmanager
def console_server(database_url: str, jwt_secret: str, data_dir: Path) -> Iterator[str]:
    port = free_port()
    log = data_dir / f"serve-{port}.log"
    env = {
        **os.environ,
        "INFERRA_ENV": "test",
        "DATABASE_URL": database_url,
        "DATA_DIR": str(data_dir),
        "JWT_SECRET_KEY": jwt_secret,
        "MIGRATE_ON_START": "false",
        "WORKER_ENABLED": "true",
        "WORKER_POLL_SECONDS": "0.2",
        "WEB_SEARCH_ENABLED": "false",
        "LOGIN_RATE_LIMIT_PER_IP": "1000",
        "REGISTER_RATE_LIMIT_PER_IP": "1000",
        "LOG_LEVEL": "WARNING",
        "GEMINI_API_KEY": "",
        "NOMIC_API_KEY": "",
        "LANGSMITH_API_KEY": "",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "inferra", "serve", "--port", str(port)],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, process, lambda: log.read_text()[-3000:])
        yield url
    finally:
        process.terminate()
        process.wait(timeout=60)
