"""Loading an eval dataset: the shipped one is valid; every kind of mistake is reported with
its file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.command import DEFAULT_DATASET
from evals.dataset import DatasetError, load_dataset

TICKET = {
    "id": "H1",
    "title": "VPN drops",
    "description": "GlobalProtect disconnects.",
    "category": "network_vpn",
    "resolution": "Updated GlobalProtect.",
}
CASE = {
    "id": "C1",
    "title": "vpn kicks me out",
    "description": "It disconnects.",
    "expected_category": "network_vpn",
    "relevant_history": ["H1"],
    "relevant_docs": ["network/vpn.md"],
    "reference_points": ["Update GlobalProtect"],
}


def write(root: Path, history: list, cases: list) -> Path:
    (root / "kb" / "network").mkdir(parents=True, exist_ok=True)
    (root / "kb" / "network" / "vpn.md").write_text("# VPN\n\nUpdate GlobalProtect.\n")
    (root / "kb" / ".DS_Store").write_text("hidden files are not documents")
    lines = [r if isinstance(r, str) else json.dumps(r) for r in history]
    (root / "history.jsonl").write_text("\n".join(lines) + "\n")
    lines = [r if isinstance(r, str) else json.dumps(r) for r in cases]
    (root / "cases.jsonl").write_text("\n".join(lines) + "\n")
    return root


def problems(root: Path) -> list[str]:
    with pytest.raises(DatasetError) as caught:
        load_dataset(root)
    return caught.value.problems


def test_the_shipped_dataset_is_valid() -> None:
    dataset = load_dataset(DEFAULT_DATASET)
    assert len(dataset.cases) >= 80 and len(dataset.history) >= 150 and len(dataset.kb) >= 40
    assert sum(c.expect_handoff for c in dataset.cases) > 0
    assert len(dataset.limited(5).cases) == 5 and len(dataset.limited(5).history) == len(
        dataset.history
    )


def test_a_valid_dataset_names_kb_files_by_their_path_inside_kb(tmp_path: Path) -> None:
    dataset = load_dataset(write(tmp_path, [TICKET], [CASE]))
    assert [f.name for f in dataset.kb] == ["network/vpn.md"]
    assert dataset.cases[0].expect_handoff is False  # optional, defaults to no handoff


def test_every_mistake_is_reported_with_file_and_line(tmp_path: Path) -> None:
    history = [TICKET, {**TICKET, "category": "coffee"}, TICKET]
    cases = [
        "{not json",
        {**CASE, "relevant_history": ["H9"]},
        {**CASE, "id": "C3", "relevant_docs": ["vpn.md"]},
        {**CASE, "id": "C4", "relevant_doc": ["network/vpn.md"]},
        {**CASE, "id": "C5", "title": "x" * 201},
    ]
    found = "\n".join(problems(write(tmp_path, history, cases)))
    assert "history.jsonl:2: category:" in found
    assert "history.jsonl:3: duplicate id 'H1' (first on line 1)" in found
    assert "cases.jsonl:1: not valid JSON" in found
    assert "cases.jsonl:2: relevant_history: unknown history id 'H9'" in found
    assert "cases.jsonl:3: relevant_docs: no file 'vpn.md' in kb/" in found
    assert "cases.jsonl:4: relevant_doc: Extra inputs are not permitted" in found
    assert "cases.jsonl:5: title:" in found


def test_missing_parts_are_errors(tmp_path: Path) -> None:
    nowhere = (tmp_path / "nowhere").resolve()
    assert problems(nowhere) == [f"{nowhere}: not a directory"]
    (tmp_path / "empty").mkdir()
    assert set(problems(tmp_path / "empty")) == {
        "kb/: missing directory",
        "history.jsonl: missing file",
        "cases.jsonl: missing file",
    }
