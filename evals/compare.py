"""`inferra eval --compare A B`: two results folders side by side with the deltas (B - A)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from evals.metrics import K
from evals.report import HEADLINE, fmt

# (label, value in A, value in B, unit)
Row = tuple[str, float | None, float | None, str]


class CompareError(Exception):
    pass


def load_summary(folder: Path) -> dict[str, Any]:
    path = folder / "summary.json"
    if not path.is_file():
        raise CompareError(f"{folder}: no summary.json (not an eval results folder)")
    return json.loads(path.read_text(encoding="utf-8"))


def comparison_rows(a: dict[str, Any], b: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    if a.get("metrics") or b.get("metrics"):
        rows += [
            (label, _get(a, "metrics", key), _get(b, "metrics", key), unit)
            for key, label, unit in HEADLINE
        ]
        nodes = dict.fromkeys([*_nodes(a), *_nodes(b)])
        for node in nodes:
            for q in ("p50", "p95"):
                rows.append(
                    (f"{node} {q}", _node(a, node, q), _node(b, node, q), "ms"),
                )
    rows += _ablation_rows(a, b)
    return rows


def _get(summary: dict[str, Any], section: str, key: str) -> float | None:
    return (summary.get(section) or {}).get(key)


def _nodes(summary: dict[str, Any]) -> list[str]:
    return list(((summary.get("latency_ms") or {}).get("nodes") or {}).keys())


def _node(summary: dict[str, Any], node: str, q: str) -> float | None:
    return ((summary.get("latency_ms") or {}).get("nodes") or {}).get(node, {}).get(q)


def _ablation_rows(a: dict[str, Any], b: dict[str, Any]) -> list[Row]:
    by_config_a = {row["config"]: row for row in a.get("ablation") or []}
    by_config_b = {row["config"]: row for row in b.get("ablation") or []}
    rows: list[Row] = []
    for config in dict.fromkeys([*by_config_a, *by_config_b]):
        for group, key, label in (
            ("history", f"recall@{K}", f"tickets R@{K}"),
            ("history", "mrr", "tickets MRR"),
            ("docs", f"recall@{K}", f"docs R@{K}"),
            ("docs", "mrr", "docs MRR"),
        ):
            rows.append(
                (
                    f"{config}: {label}",
                    (by_config_a.get(config) or {}).get(group, {}).get(key),
                    (by_config_b.get(config) or {}).get(group, {}).get(key),
                    "rate",
                )
            )
    return rows


def delta_text(a: float | None, b: float | None, unit: str) -> str:
    """Green when B is better (higher rate, lower latency), red when worse."""
    if a is None or b is None:
        return "n/a"
    delta = b - a
    if abs(delta) < 1e-9:
        return "0"
    better = delta < 0 if unit == "ms" else delta > 0
    text = f"{delta:+,.0f} ms" if unit == "ms" else f"{delta:+.3f}"
    return f"[{'green' if better else 'red'}]{text}[/]"


def print_comparison(console: Console, folder_a: Path, folder_b: Path) -> None:
    a, b = load_summary(folder_a), load_summary(folder_b)
    if a["dataset"]["name"] != b["dataset"]["name"] or a.get("cases") != b.get("cases"):
        console.print(
            f"[yellow]warning: different datasets or case counts "
            f"({a['dataset']['name']}/{a.get('cases')} vs {b['dataset']['name']}/{b.get('cases')})"
            "; the deltas compare unlike things[/]"
        )
    table = Table(title="Eval comparison (delta = B - A)")
    table.add_column("metric")
    table.add_column(f"A: {folder_a.name}", justify="right")
    table.add_column(f"B: {folder_b.name}", justify="right")
    table.add_column("delta", justify="right")
    for label, value_a, value_b, unit in comparison_rows(a, b):
        table.add_row(
            label, fmt(value_a, unit), fmt(value_b, unit), delta_text(value_a, value_b, unit)
        )
    console.print(table)
