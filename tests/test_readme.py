"""The README is executed: every ```bash block runs, in order, one shell per section, against a
fresh server that the README's own first block starts (`./scripts/dev --detach`), and prints
what the text says it prints. This is a new user's first minutes: start, seed, file a ticket,
read the answer, fork a run, hand off, ingest a folder, run an eval."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live import free_port
from tests.readme_blocks import parse, run_section

ROOT = Path(__file__).resolve().parents[1]
# A reader's shell has none of these; the tests' environment must not leak into the README's.
UNSET = ("DATABASE_URL", "GEMINI_API_KEY", "NOMIC_API_KEY", "LANGSMITH_API_KEY", "PORT", "HOST")


@pytest.fixture
def reader_shell(tmp_path: Path) -> Iterator[tuple[dict[str, str], int]]:
    """A reader's environment on a fresh data dir and a free port; the server the README
    starts is stopped afterwards."""
    port, data = free_port(), tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    # No network in tests: the web search step is off (the run records the skip).
    env.update(PORT=str(port), DATA_DIR=str(data), WEB_SEARCH_ENABLED="false")
    yield env, port
    _stop(data / "server.pid")


def _stop(pid_file: Path) -> None:
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)


def test_every_readme_block_runs_and_shows_what_the_text_says(reader_shell) -> None:
    env, port = reader_shell
    sections = parse((ROOT / "README.md").read_text())
    assert sum(len(s.blocks) for s in sections) >= 6
    for section in sections:
        result = run_section(section, cwd=ROOT, env=env, port=port)
        assert result.ok, result.explain()


def test_only_a_few_blocks_are_skipped_and_each_says_why() -> None:
    sections = parse((ROOT / "README.md").read_text())
    skipped = [reason for s in sections for _, reason in s.skipped]
    ran = sum(len(s.blocks) for s in sections)
    assert all(len(reason) > 10 for reason in skipped)
    assert len(skipped) < ran


BROKEN = """# Doc

## Works
```bash
X=42
echo "x is $X"
```
<!-- expect: x is 42 -->

## Another section does not see X
```bash
echo "x is ${X:-unset}"
```
<!-- expect: x is unset -->

## Says something it does not print
```bash
echo "hello"
```
<!-- expect: goodbye -->

## Fails
```bash
false
echo "never printed"
```

## Skipped
<!-- not-executed: it would fail -->
```bash
exit 1
```
"""


def test_the_runner_fails_when_a_block_fails_or_its_output_changes_meaning(tmp_path) -> None:
    sections = parse(BROKEN)
    assert [s.title for s in sections] == [
        "Works",
        "Another section does not see X",
        "Says something it does not print",
        "Fails",
        "Skipped",
    ]
    assert sections[-1].blocks == [] and sections[-1].skipped[0][1] == "it would fail"
    results = [run_section(s, cwd=tmp_path, env=dict(os.environ), port=1) for s in sections]
    assert [r.ok for r in results] == [True, True, False, False, True]
    assert "expected 'goodbye'" in results[2].explain()
    assert results[3].returncode != 0 and "never printed" not in results[3].output
