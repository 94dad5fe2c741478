"""An eval dataset directory: kb/ documents, history.jsonl (past resolved tickets) and cases.jsonl
(new tickets with their labels). Loading validates everything up front so that a typo in a label
is a clear error naming the file and line, never a silently wrong score."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.models import Category

HISTORY_FILE = "history.jsonl"
CASES_FILE = "cases.jsonl"
KB_DIR = "kb"
MAX_REPORTED_ERRORS = 30
# tickets.title is VARCHAR(200): a longer title would fail deep inside a run instead of here.
MAX_TITLE_CHARS = 200
M = TypeVar("M", bound=BaseModel)


class DatasetError(Exception):
    """The dataset is unusable; `problems` lists every problem found as `file:line: message`."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = problems[:MAX_REPORTED_ERRORS]
        more = len(problems) - len(shown)
        tail = f"\n  ... and {more} more" if more else ""
        super().__init__("invalid eval dataset:\n  " + "\n  ".join(shown) + tail)


class _Strict(BaseModel):
    # Unknown keys are errors: a misspelt "relevant_doc" must not silently score as "no label".
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class HistoryTicket(_Strict):
    id: str = Field(min_length=1)
    title: str = Field(min_length=1, max_length=MAX_TITLE_CHARS)
    description: str = Field(min_length=1)
    category: Category
    resolution: str = Field(min_length=1)


class EvalCase(_Strict):
    id: str = Field(min_length=1)
    title: str = Field(min_length=1, max_length=MAX_TITLE_CHARS)
    description: str = Field(min_length=1)
    expected_category: Category
    relevant_history: list[str]
    relevant_docs: list[str]
    reference_points: list[str]
    expect_handoff: bool = False


@dataclass(frozen=True)
class KbFile:
    name: str  # path inside kb/, "/"-separated: the id that relevant_docs refers to
    path: Path


@dataclass(frozen=True)
class Dataset:
    name: str
    path: Path
    kb: list[KbFile]
    history: list[HistoryTicket]
    cases: list[EvalCase]

    def limited(self, limit: int | None) -> Dataset:
        """The first `limit` cases (the KB and history stay whole: retrieval needs them)."""
        if limit is None:
            return self
        return Dataset(self.name, self.path, self.kb, self.history, self.cases[:limit])


def load_dataset(path: Path) -> Dataset:
    path = path.resolve()
    if not path.is_dir():
        raise DatasetError([f"{path}: not a directory"])
    problems: list[str] = []
    kb = _kb_files(path / KB_DIR, problems)
    history = _read_jsonl(path / HISTORY_FILE, HistoryTicket, problems)
    cases = _read_jsonl(path / CASES_FILE, EvalCase, problems)
    _check_unique(HISTORY_FILE, history, problems)
    _check_unique(CASES_FILE, cases, problems)
    _check_references(cases, {h.id for _, h in history}, {f.name for f in kb}, problems)
    if not problems and not cases:
        problems.append(f"{CASES_FILE}: no cases")
    if problems:
        raise DatasetError(problems)
    return Dataset(path.name, path, kb, [h for _, h in history], [c for _, c in cases])


def _kb_files(kb_dir: Path, problems: list[str]) -> list[KbFile]:
    if not kb_dir.is_dir():
        problems.append(f"{KB_DIR}/: missing directory")
        return []
    files = []
    for file in sorted(kb_dir.rglob("*")):
        inside = file.relative_to(kb_dir)
        if file.is_file() and not any(part.startswith(".") for part in inside.parts):
            files.append(KbFile(inside.as_posix(), file))
    return files


def _read_jsonl(file: Path, model: type[M], problems: list[str]) -> list[tuple[int, M]]:
    """(line number, record) for each non-blank line; bad lines go to `problems`."""
    if not file.is_file():
        problems.append(f"{file.name}: missing file")
        return []
    records = []
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{file.name}:{number}"
        try:
            records.append((number, model.model_validate(json.loads(line))))
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})")
        except ValidationError as exc:
            problems.extend(f"{where}: {_field(e)}: {e['msg']}" for e in exc.errors())
    return records


def _field(error: Any) -> str:
    return ".".join(str(part) for part in error["loc"]) or "record"


def _check_unique(name: str, records: list[tuple[int, Any]], problems: list[str]) -> None:
    first_line: dict[str, int] = {}
    for number, record in records:
        if record.id in first_line:
            problems.append(
                f"{name}:{number}: duplicate id {record.id!r} (first on line "
                f"{first_line[record.id]})"
            )
        first_line.setdefault(record.id, number)


def _check_references(
    cases: list[tuple[int, EvalCase]], history_ids: set[str], doc_names: set[str], problems
) -> None:
    for number, case in cases:
        where = f"{CASES_FILE}:{number}"
        for history_id in case.relevant_history:
            if history_id not in history_ids:
                problems.append(f"{where}: relevant_history: unknown history id {history_id!r}")
        for doc in case.relevant_docs:
            if doc not in doc_names:
                problems.append(f"{where}: relevant_docs: no file {doc!r} in {KB_DIR}/")
