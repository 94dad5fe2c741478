"""Run a Markdown file's ```bash blocks the way a reader pastes them, and check what they print.

Conventions (written for the people who edit the README, see its "Tests" section):
- Every ```bash block runs, in order. A section's blocks (a `##`/`###` heading starts a section)
  share one bash process: a variable set in one block is there in the next block of the same
  section, never in another section's, so every section stands alone.
- `<!-- not-executed: why -->` on the line right before a block skips it (a long-running
  server, the test suite itself); keep those few.
- `<!-- expect: text -->` lines right after a block: each text must appear in what the block
  printed (stdout and stderr). A block that exits non-zero fails (the script runs with
  `set -euo pipefail`).
- The blocks say `127.0.0.1:8000` / `localhost:8000`; the runner points them at its own port.

Why not an existing tool: byexample and cram check transcripts (`$ cmd` followed by its output),
which a reader cannot paste; mdsh and similar run blocks but check nothing."""

from __future__ import annotations

import re
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

FENCE = re.compile(r"^```(\S*)\s*$")
HEADING = re.compile(r"^(#{2,3})\s+(.*)$")
SKIP = re.compile(r"^<!--\s*not-executed:\s*(.+?)\s*-->\s*$")
EXPECT = re.compile(r"^<!--\s*expect:\s*(.+?)\s*-->\s*$")
DEFAULT_ADDRESSES = ("127.0.0.1:8000", "localhost:8000")


@dataclass
class Block:
    line: int  # 1-based line of the opening fence
    code: str
    expects: list[str] = field(default_factory=list)


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)


@dataclass
class BlockResult:
    block: Block
    output: str
    missing: list[str]


@dataclass
class SectionResult:
    section: Section
    returncode: int
    results: list[BlockResult]
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not any(r.missing for r in self.results)

    def explain(self) -> str:
        lines = [f"section {self.section.title!r}: exit code {self.returncode}"]
        for result in self.results:
            for text in result.missing:
                lines.append(f"  block at line {result.block.line}: expected {text!r}")
        return "\n".join([*lines, "--- output ---", self.output[-4000:]])


def parse(markdown: str) -> list[Section]:
    """The file's sections with bash blocks, run or skipped (sections without any are left out)."""
    lines = markdown.splitlines()
    sections: list[Section] = [Section("(top)")]
    i = 0
    while i < len(lines):
        heading = HEADING.match(lines[i])
        fence = FENCE.match(lines[i])
        if heading:
            sections.append(Section(heading.group(2).strip()))
        elif fence:
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            if fence.group(1) == "bash":
                skip = SKIP.match(lines[i - 1]) if i else None
                if skip:
                    sections[-1].skipped.append((i + 1, skip.group(1)))
                else:
                    block = Block(i + 1, "\n".join(lines[i + 1 : end]))
                    j = end + 1
                    while j < len(lines) and (expect := EXPECT.match(lines[j])):
                        block.expects.append(expect.group(1))
                        j += 1
                    sections[-1].blocks.append(block)
            i = end
        i += 1
    return [s for s in sections if s.blocks or s.skipped]


def run_section(
    section: Section, *, cwd: Path, env: dict[str, str], port: int, timeout: float = 900
) -> SectionResult:
    """The section's blocks in one `bash`, each block's output told apart by a marker line."""
    marker = f"--- block {uuid.uuid4().hex} ---"
    parts = ["set -euo pipefail"]
    for block in section.blocks:
        parts += [f"echo '{marker}'", _at_port(block.code, port)]
    completed = subprocess.run(
        ["bash", "-c", "\n".join(parts)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    chunks = completed.stdout.split(marker + "\n")[1:]
    results = []
    for index, block in enumerate(section.blocks):
        output = chunks[index] if index < len(chunks) else ""
        ran = index < len(chunks)
        expected = [_at_port(text, port) for text in block.expects]
        missing = [text for text in expected if not ran or text not in output]
        results.append(BlockResult(block, output, missing))
    return SectionResult(section, completed.returncode, results, completed.stdout)


def _at_port(text: str, port: int) -> str:
    for address in DEFAULT_ADDRESSES:
        text = text.replace(address, f"127.0.0.1:{port}")
    return text
