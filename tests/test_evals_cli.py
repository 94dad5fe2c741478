"""`inferra eval` end to end, in process: a 3-case mini dataset, the real graph on a fresh database
of the test server, the scripted chat model; then --retrieval-only and --compare."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import structlog
from typer.testing import CliRunner, Result

import evals.runner
from core.settings import get_settings
from inferra.cli import app
from tests.fakes import classification, resolution, scripted

VPN_DOC = """# GlobalProtect VPN

## VPN disconnects every few minutes

1. Check the GlobalProtect version in About; versions before 6.2 drop the tunnel.
2. Install GlobalProtect 6.2 from Company Portal.
3. Reconnect to vpn.northwind-analytics.com.

## Escalation

Send the GlobalProtect logs to IT if the tunnel still drops after the update.
"""
PRINT_DOC = """Secure printing with PaperCut

Print jobs wait in the NW-SecurePrint queue for 24 hours. Tap your badge on a Ricoh to release.
If jobs never appear, remove and re-add the NW-SecurePrint queue with PaperCut Print Deploy.
"""
HISTORY = [
    {
        "id": "H1",
        "title": "VPN drops every 5 minutes",
        "description": "GlobalProtect disconnects all the time when I work from home.",
        "category": "network_vpn",
        "resolution": "Updated GlobalProtect to 6.2 from Company Portal: keep-alive bug fixed.",
    },
    {
        "id": "H2",
        "title": "Print jobs stuck",
        "description": "My print jobs never come out of the printer.",
        "category": "printing",
        "resolution": "Removed and re-added the NW-SecurePrint queue with PaperCut Print Deploy.",
    },
    {
        "id": "H3",
        "title": "Outlook stuck on loading profile",
        "description": "Outlook hangs at the splash screen.",
        "category": "email",
        "resolution": "Rebuilt the Outlook profile and deleted the oversized OST file.",
    },
]
CASES = [
    {
        "id": "C1",
        "title": "vpn keeps kicking me out",
        "description": "The VPN disconnects every few minutes at home.",
        "expected_category": "network_vpn",
        "relevant_history": ["H1"],
        "relevant_docs": ["vpn-globalprotect.md"],
        "reference_points": [
            "Install GlobalProtect 6.2 from Company Portal",
            "Send the GlobalProtect logs to IT if it still drops",
        ],
        "expect_handoff": False,
    },
    {
        "id": "C2",
        "title": "my prints never come out",
        "description": "I print and nothing happens at the printer.",
        "expected_category": "printing",
        "relevant_history": ["H2"],
        "relevant_docs": ["printing.txt"],
        "reference_points": ["Remove and re-add the NW-SecurePrint queue with PaperCut"],
        "expect_handoff": False,
    },
    {
        "id": "C3",
        "title": "coffee machine broken",
        "description": "The coffee machine on floor 3 leaks.",
        "expected_category": "other",
        "relevant_history": [],
        "relevant_docs": [],
        "reference_points": [],
        "expect_handoff": True,
    },
]
PRINTER_ANSWER = {
    "summary": "The print queue lost its PaperCut registration.",
    "diagnoses": ["The NW-SecurePrint queue is broken"],
    "solutions": [
        {
            "title": "Re-add the queue",
            "steps": ["Remove and re-add the NW-SecurePrint queue with PaperCut Print Deploy."],
        }
    ],
}
NO_ANSWER = {
    "summary": "Nothing in the knowledge base covers coffee machines.",
    "diagnoses": ["Out of IT scope"],
    "solutions": [{"title": "Facilities", "steps": ["Hand over to facilities staff."]}],
}
METRIC_KEYS = {
    "category_accuracy",
    "history_recall@5",
    "history_mrr",
    "doc_recall@5",
    "doc_mrr",
    "json_valid_first_attempt",
    "json_valid_final",
    "source_validity",
    "reference_coverage",
    "handoff_precision",
    "handoff_recall",
    "handoff_f1",
}


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


@pytest.fixture
def mini_dataset(tmp_path: Path) -> Path:
    root = tmp_path / "mini"
    (root / "kb").mkdir(parents=True)
    (root / "kb" / "vpn-globalprotect.md").write_text(VPN_DOC)
    (root / "kb" / "printing.txt").write_text(PRINT_DOC)
    write_jsonl(root / "history.jsonl", HISTORY)
    write_jsonl(root / "cases.jsonl", CASES)
    return root


@pytest.fixture
def eval_env(settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI's settings point at the test server (each eval creates and drops its own
    database there); no key, no .env (cwd is a temp dir); the global logging is restored."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("LOG_JSON", "false")
    for key in ("GEMINI_API_KEY", "NOMIC_API_KEY", "LANGSMITH_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    root = logging.getLogger()
    handlers, level, structlog_config = root.handlers[:], root.level, structlog.get_config()
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.configure(**structlog_config)


def scripted_model(monkeypatch: pytest.MonkeyPatch):
    model = scripted(
        classification("network_vpn", "high"),
        resolution(["T1", "D1"], confidence=0.8),
        classification("printing", "medium"),
        resolution(["T7"], confidence=0.8, **PRINTER_ANSWER),  # T7 was not retrieved: retry
        resolution(["T1"], confidence=0.8, **PRINTER_ANSWER),
        classification("other", "low"),
        resolution([], confidence=0.1, **NO_ANSWER),  # below the handoff threshold
    )
    monkeypatch.setattr(evals.runner, "create_chat_model", lambda settings: model)
    return model


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(app, ["eval", *args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def read_results(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]


def eval_databases(settings) -> list[str]:
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'inferra_eval_%'")
        return [name for (name,) in rows]


def test_eval_runs_the_graph_and_writes_the_results_folder(
    settings, eval_env, mini_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted_model(monkeypatch)
    out = tmp_path / "run-a"
    result = invoke("--dataset", str(mini_dataset), "--no-web", "--out", str(out))
    assert "Category accuracy" in result.output

    assert {p.name for p in out.iterdir()} >= {
        "results.jsonl",
        "summary.json",
        "report.md",
        "metrics.png",
    }
    assert (out / "metrics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "metrics.png").stat().st_size > 10_000

    results = {r["id"]: r for r in read_results(out)}
    assert list(results) == ["C1", "C2", "C3"]
    assert results["C1"]["retrieved_history"][0] == "H1"  # uuids mapped back to history ids
    assert results["C1"]["citations"][1] == {
        "label": "D1",
        "retrieved": True,
        "type": "doc",
        "ref": "vpn-globalprotect.md",
    }
    assert results["C2"]["attempts"] == 2 and not results["C2"]["draft_valid_first"]
    assert results["C3"]["handed_off"] and "below" in results["C3"]["handoff_reason"]
    assert "persist" in results["C1"]["node_latency_ms"]
    assert results["C1"]["points_covered"][0] is True  # the answer says "Install ... 6.2"

    summary = json.loads((out / "summary.json").read_text())
    metrics = summary["metrics"]
    assert METRIC_KEYS <= set(metrics)
    assert summary["cases"] == 3 and summary["errors"] == 0
    assert metrics["category_accuracy"] == 1.0
    assert metrics["history_recall@5"] == 1.0 and metrics["doc_recall@5"] == 1.0
    assert metrics["json_valid_first_attempt"] == 1.0
    assert metrics["draft_valid_first_attempt"] == pytest.approx(2 / 3)
    assert metrics["draft_valid_final"] == 1.0 and metrics["source_validity"] == 1.0
    assert metrics["handoff_precision"] == metrics["handoff_recall"] == 1.0
    assert 0 < metrics["reference_coverage"] <= 1
    assert summary["run"]["chat_model"] == "scripted-fake"
    assert summary["run"]["web_search"] == "DisabledWebSearch"
    assert {"classify", "draft", "validate", "persist"} <= set(summary["latency_ms"]["nodes"])

    markdown = (out / "report.md").read_text()
    for heading in ("## Metrics", "confusion matrix", "## Latency per node", "## Worst"):
        assert heading in markdown
    assert eval_databases(settings) == []  # the eval's own database was dropped

    # --compare: an older folder where category accuracy was worse
    older = tmp_path / "run-0"
    shutil.copytree(out, older)
    summary["metrics"]["category_accuracy"] = 0.5
    (older / "summary.json").write_text(json.dumps(summary))
    compared = invoke("--compare", str(older), str(out))
    assert "Eval comparison" in compared.output
    line = next(ln for ln in compared.output.splitlines() if "Category accuracy" in ln)
    assert "0.500" in line and "1.000" in line and "+0.500" in line


def test_retrieval_only_ablation(settings, eval_env, mini_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "ablation"
    args = ["--retrieval-only", "--modes", "vector,fulltext,hybrid", "--fulltext-weights", "1"]
    result = invoke("--dataset", str(mini_dataset), *args, "--out", str(out))
    assert "Retrieval ablation" in result.output

    summary = json.loads((out / "summary.json").read_text())
    rows = {row["config"]: row for row in summary["ablation"]}
    default = f"hybrid (ft={settings.fusion_weight_fulltext:g})"  # the configured weight
    assert list(rows) == ["vector", "fulltext", default, "hybrid (ft=1)"]
    assert rows["vector"]["history"]["recall@5"] == 1.0  # 3 tickets: all in the top 5
    assert rows["vector"]["history"]["n"] == 2 and rows["vector"]["docs"]["n"] == 2
    assert len(read_results(out)) == 3
    assert "| hybrid (ft=1) |" in (out / "report.md").read_text()
    assert (out / "metrics.png").stat().st_size > 0

    same = invoke("--compare", str(out), str(out))
    assert "vector: docs MRR" in same.output
    missing = CliRunner().invoke(app, ["eval", "--compare", str(out), str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "no summary.json" in " ".join(missing.output.split())


def test_a_broken_dataset_is_refused_with_file_and_line(
    eval_env, mini_dataset: Path, tmp_path: Path
) -> None:
    cases = [*CASES[:2], {**CASES[2], "relevant_history": ["H404"]}]
    write_jsonl(mini_dataset / "cases.jsonl", cases)
    result = CliRunner().invoke(app, ["eval", "--dataset", str(mini_dataset), "--no-web"])
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "cases.jsonl:3: relevant_history: unknown history id 'H404'" in message
