"""metrics.png: the main rates, latency per node and (if run) the retrieval ablation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI; before pyplot is imported

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from evals.metrics import K

RATES = [
    ("category_accuracy", "category acc."),
    (f"history_recall@{K}", f"tickets R@{K}"),
    ("history_mrr", "tickets MRR"),
    (f"doc_recall@{K}", f"docs R@{K}"),
    ("doc_mrr", "docs MRR"),
    ("json_valid_first_attempt", "JSON valid 1st"),
    ("json_valid_final", "JSON valid final"),
    ("source_validity", "source validity"),
    ("reference_coverage", "ref. coverage"),
    ("handoff_f1", "handoff F1"),
]


def write_chart(path: Path, summary: dict[str, Any]) -> None:
    panels = []
    if summary.get("metrics"):
        panels += [_rates, _latency]
    if summary.get("ablation"):
        panels.append(_ablation)
    figure, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 5.5), squeeze=False)
    for panel, ax in zip(panels, axes[0], strict=True):
        panel(ax, summary)
    figure.suptitle(f"Inferra eval: {summary['dataset']['name']} ({summary['run']['started_at']})")
    figure.tight_layout()
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)


def _rates(ax: Axes, summary: dict[str, Any]) -> None:
    metrics = summary["metrics"]
    labels = [label for _, label in RATES]
    values = [metrics.get(key) or 0.0 for key, _ in RATES]
    bars = ax.barh(labels, values, color="#4C72B0")
    ax.bar_label(bars, labels=[_rate(metrics.get(key)) for key, _ in RATES], padding=3)
    ax.set_xlim(0, 1.15)
    ax.invert_yaxis()
    ax.set_title("Main rates (higher is better)")


def _latency(ax: Axes, summary: dict[str, Any]) -> None:
    nodes = summary["latency_ms"]["nodes"]
    names = list(nodes)
    positions = range(len(names))
    p50 = [nodes[n]["p50"] or 0 for n in names]
    p95 = [nodes[n]["p95"] or 0 for n in names]
    ax.barh([p - 0.2 for p in positions], p50, height=0.4, label="p50", color="#55A868")
    ax.barh([p + 0.2 for p in positions], p95, height=0.4, label="p95", color="#C44E52")
    ax.set_yticks(list(positions), names)
    ax.invert_yaxis()
    ax.set_xlabel("ms")
    ax.legend()
    run = summary["latency_ms"]["run"]
    ax.set_title(f"Latency per node (run p50 {_ms(run['p50'])}, p95 {_ms(run['p95'])})")


def _ablation(ax: Axes, summary: dict[str, Any]) -> None:
    rows = summary["ablation"]
    series = [
        ("history", f"recall@{K}", f"tickets R@{K}"),
        ("history", "mrr", "tickets MRR"),
        ("docs", f"recall@{K}", f"docs R@{K}"),
        ("docs", "mrr", "docs MRR"),
    ]
    width = 0.8 / len(rows)
    for i, row in enumerate(rows):
        values = [row[group][key] or 0.0 for group, key, _ in series]
        offsets = [x + (i - (len(rows) - 1) / 2) * width for x in range(len(series))]
        ax.bar(offsets, values, width=width, label=row["config"])
    ax.set_xticks(range(len(series)), [label for *_, label in series])
    ax.set_ylim(0, 1.05)
    # Below the plot: inside, it would hide the bars (they all reach 0.7-1.0).
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3)
    ax.set_title("Retrieval ablation")


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"
