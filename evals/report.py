"""An eval's results folder (results.jsonl, summary.json, report.md, metrics.png) and the summary
table printed at the end of a run."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from evals.chart import write_chart
from evals.metrics import K, case_score
from evals.records import CaseResult

RESULTS_DIR = Path(__file__).parent / "results"
WORST_CASES = 10

# (summary key, label, unit): the headline figures, in the order every table shows them.
HEADLINE = [
    ("category_accuracy", "Category accuracy", "rate"),
    (f"history_recall@{K}", f"Similar tickets recall@{K}", "rate"),
    ("history_mrr", "Similar tickets MRR", "rate"),
    (f"doc_recall@{K}", f"KB docs recall@{K}", "rate"),
    ("doc_mrr", "KB docs MRR", "rate"),
    ("json_valid_first_attempt", "JSON valid, first attempt", "rate"),
    ("json_valid_final", "JSON valid, after retries", "rate"),
    ("draft_valid_first_attempt", "Draft passes validate, first attempt", "rate"),
    ("draft_valid_final", "Draft passes validate, after retries", "rate"),
    ("source_validity", "Source validity", "rate"),
    ("reference_coverage", "Reference-point coverage", "rate"),
    ("handoff_precision", "Handoff precision", "rate"),
    ("handoff_recall", "Handoff recall", "rate"),
    ("handoff_f1", "Handoff F1", "rate"),
    ("run_p50_ms", "Run latency p50", "ms"),
    ("run_p95_ms", "Run latency p95", "ms"),
]


def default_out_dir(now: datetime | None = None) -> Path:
    return RESULTS_DIR / (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


def fmt(value: Any, unit: str = "rate") -> str:
    if value is None:
        return "n/a"
    if unit == "ms":
        return f"{value:,.0f} ms"
    return f"{value:.3f}"


# --- Writing the folder ----------------------------------------------------------------------


def write_folder(
    out: Path, summary: dict[str, Any], lines: Sequence[dict[str, Any]], markdown: str
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with (out / "results.jsonl").open("w", encoding="utf-8") as f:
        for line in lines:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    (out / "report.md").write_text(markdown, encoding="utf-8")
    write_chart(out / "metrics.png", summary)


def full_report(summary: dict[str, Any], results: Sequence[CaseResult]) -> str:
    parts = [
        _header(summary),
        _metrics_section(summary),
        _confusion_section(summary["confusion_matrix"]),
        _per_category_section(summary["per_category"]),
        _latency_section(summary["latency_ms"]),
    ]
    if summary.get("ablation"):
        parts.append(ablation_section(summary["ablation"]))
    parts.append(_worst_section(results))
    errors = [r for r in results if r.error]
    if errors:
        parts.append(_table("Errors", ["case", "error"], [[r.id, r.error or ""] for r in errors]))
    return "\n\n".join(parts) + "\n"


def retrieval_report(summary: dict[str, Any]) -> str:
    return "\n\n".join([_header(summary), ablation_section(summary["ablation"])]) + "\n"


def _header(summary: dict[str, Any]) -> str:
    dataset, run = summary["dataset"], summary["run"]
    facts = [
        f"- dataset: `{dataset['name']}` ({dataset['cases']} cases, {dataset['history']} history "
        f"tickets, {dataset['docs']} KB documents)",
        f"- started: {run['started_at']}, wall time {run['wall_seconds']:.1f} s",
        *(f"- {key}: {value}" for key, value in run.items() if key in _RUN_FACTS),
        f"- retrieval settings: {json.dumps(run['settings'])}",
    ]
    if run.get("kb_failures"):
        facts.append(f"- KB files that failed to ingest: {run['kb_failures']}")
    title = "Retrieval ablation" if summary["kind"] == "retrieval-only" else "Eval"
    return f"# Inferra {title}: {dataset['name']}\n\n" + "\n".join(facts)


_RUN_FACTS = ("chat_model", "embedder", "web_search", "coverage", "limit")


def _metrics_section(summary: dict[str, Any]) -> str:
    counts = summary["counts"]
    rows = [
        [label, fmt(summary["metrics"].get(key), unit), str(counts.get(key, ""))]
        for key, label, unit in HEADLINE
    ]
    rows.append(["Failed cases", str(summary["errors"]), str(summary["cases"])])
    return _table("Metrics", ["metric", "value", "n"], rows)


def _confusion_section(matrix: dict[str, dict[str, int]]) -> str:
    predicted = sorted({p for row in matrix.values() for p in row})
    rows = [
        [f"**{expected}**", *(str(row.get(p, "")) for p in predicted)]
        for expected, row in matrix.items()
    ]
    title = "Category confusion matrix (rows: expected, columns: predicted)"
    return _table(title, ["expected \\ predicted", *predicted], rows)


def _per_category_section(per_category: dict[str, dict[str, Any]]) -> str:
    rows = [
        [category, str(v["n"]), str(v["correct"]), fmt(v["accuracy"])]
        for category, v in per_category.items()
    ]
    return _table("Per-category accuracy", ["category", "cases", "correct", "accuracy"], rows)


def _latency_section(latency: dict[str, Any]) -> str:
    rows = [
        [node, str(v["n"]), fmt(v["p50"], "ms"), fmt(v["p95"], "ms"), fmt(v["mean"], "ms")]
        for node, v in [*latency["nodes"].items(), ("whole run", latency["run"])]
    ]
    note = (
        "\n\nPer execution of each node, from the checkpoint timestamps; the three retrieval "
        "nodes run in parallel in one step and each shows that step's time."
    )
    return _table("Latency per node", ["node", "n", "p50", "p95", "mean"], rows) + note


def ablation_section(rows: Sequence[dict[str, Any]]) -> str:
    table_rows = [
        [
            row["config"],
            fmt(row["history"][f"recall@{K}"]),
            fmt(row["history"]["recall@1"]),
            fmt(row["history"]["mrr"]),
            fmt(row["docs"][f"recall@{K}"]),
            fmt(row["docs"]["recall@1"]),
            fmt(row["docs"]["mrr"]),
        ]
        for row in rows
    ]
    headers = [
        "configuration",
        f"tickets R@{K}",
        "tickets R@1",
        "tickets MRR",
        f"docs R@{K}",
        "docs R@1",
        "docs MRR",
    ]
    n = f"{rows[0]['history']['n']} cases with relevant tickets, {rows[0]['docs']['n']} with docs"
    return (
        _table("Retrieval ablation", headers, table_rows) + f"\n\n{n}; query = title + description."
    )


def _worst_section(results: Sequence[CaseResult]) -> str:
    worst = sorted(results, key=lambda r: (case_score(r), r.id))[:WORST_CASES]
    rows = [
        [
            r.id,
            r.title[:50],
            f"{r.expected_category} → {r.predicted_category or 'none'}",
            _hits(r.retrieved_history, r.relevant_history),
            _hits(r.retrieved_docs, r.relevant_docs),
            fmt(r.coverage),
            f"{'yes' if r.expect_handoff else 'no'} / {'yes' if r.handed_off else 'no'}",
            f"{case_score(r):.2f}",
        ]
        for r in worst
    ]
    headers = [
        "case",
        "title",
        "category",
        f"tickets in top {K}",
        f"docs in top {K}",
        "coverage",
        "handoff exp/got",
        "score",
    ]
    return _table(f"Worst {len(rows)} cases", headers, rows)


def _hits(ranked: Sequence[str], relevant: Sequence[str]) -> str:
    if not relevant:
        return "n/a"
    return f"{len(set(ranked[:K]) & set(relevant))}/{len(relevant)}"


def _table(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    body = [line(headers), line(["---"] * len(headers)), *(line(r) for r in rows)]
    return f"## {title}\n\n" + "\n".join(body)


# --- Console ---------------------------------------------------------------------------------


def print_summary(console: Console, summary: dict[str, Any], out: Path) -> None:
    if summary.get("metrics"):
        table = Table(title=f"Eval: {summary['dataset']['name']} ({summary['cases']} cases)")
        table.add_column("metric")
        table.add_column("value", justify="right")
        for key, label, unit in HEADLINE:
            table.add_row(label, fmt(summary["metrics"].get(key), unit))
        table.add_row("Failed cases", str(summary["errors"]))
        console.print(table)
    if summary.get("ablation"):
        console.print(ablation_table(summary["ablation"]))
    console.print(f"results: {out}")


def ablation_table(rows: Sequence[dict[str, Any]]) -> Table:
    table = Table(title="Retrieval ablation")
    for header in ("configuration", f"tickets R@{K}", "tickets MRR", f"docs R@{K}", "docs MRR"):
        table.add_column(header, justify="left" if header == "configuration" else "right")
    for row in rows:
        table.add_row(
            row["config"],
            fmt(row["history"][f"recall@{K}"]),
            fmt(row["history"]["mrr"]),
            fmt(row["docs"][f"recall@{K}"]),
            fmt(row["docs"]["mrr"]),
        )
    return table
