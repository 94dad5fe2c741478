"""`inferra eval`: the options, and the sequence fresh database -> run -> results folder ->
summary table (or `--compare A B`, which runs nothing)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from core.logging import configure_logging
from core.settings import RetrievalMode, Settings, get_settings
from evals import langsmith_upload, report
from evals.ablation import RetrievalConfig, ablation_configs
from evals.compare import CompareError, print_comparison
from evals.database import fresh_database
from evals.dataset import Dataset, DatasetError, load_dataset
from evals.metrics import summarize
from evals.runner import EvalRun, run_eval, run_retrieval_only

DEFAULT_DATASET = Path(__file__).parent / "datasets" / "it_support_v1"
DEFAULT_MODES = "vector,fulltext,hybrid"


class OptionError(Exception):
    pass


@dataclass(frozen=True)
class EvalOptions:
    dataset: Path = DEFAULT_DATASET
    limit: int | None = None
    no_web: bool = False
    judge: bool = False
    retrieval_only: bool = False
    modes: str | None = None
    fulltext_weights: str | None = None
    compare: tuple[Path, Path] | None = None
    out: Path | None = None


def main(options: EvalOptions, console: Console) -> int:
    """The exit code: 0, or 2 for a bad dataset / option / results folder."""
    try:
        if options.compare:
            print_comparison(console, *options.compare)
            return 0
        evaluate(options, console)
    except (DatasetError, CompareError, OptionError) as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False)
        return 2
    return 0


def evaluate(options: EvalOptions, console: Console) -> Path:
    settings = _settings(options)
    # INFO logs of every node would scroll the progress bar away; warnings still show.
    if settings.log_level.upper() != "DEBUG":
        configure_logging("WARNING", json=settings.log_json)
    dataset = load_dataset(options.dataset).limited(options.limit)
    configs = _configs(options, settings)
    judge = _judge(options, settings, console)
    out = options.out or report.default_out_dir()
    started_at, started = datetime.now(UTC), time.perf_counter()
    with fresh_database(settings) as urls:
        if options.retrieval_only:
            run = asyncio.run(run_retrieval_only(settings, urls, dataset, configs, console))
        else:
            run = asyncio.run(
                run_eval(settings, urls, dataset, judge=judge, ablation=configs, console=console)
            )
    run.info["wall_seconds"] = time.perf_counter() - started
    summary = build_summary(options, settings, dataset, run, started_at)
    _write(out, summary, dataset, run)
    if not options.retrieval_only:
        experiment = langsmith_upload.upload(settings, dataset, run.results, summary)
        if experiment:
            console.print(f"LangSmith experiment: {experiment}")
    report.print_summary(console, summary, out)
    return out


def _settings(options: EvalOptions) -> Settings:
    settings = get_settings()
    if options.no_web:
        settings = settings.model_copy(update={"web_search_enabled": False})
    return settings


def _judge(options: EvalOptions, settings: Settings, console: Console) -> bool:
    if options.judge and not settings.gemini_api_key:
        console.print(
            "[yellow]warning: --judge needs GEMINI_API_KEY; using the deterministic matcher[/]"
        )
        return False
    return options.judge and not options.retrieval_only


def _configs(options: EvalOptions, settings: Settings) -> list[RetrievalConfig]:
    """The ablation's configurations: always with --retrieval-only, else only when asked."""
    modes = options.modes or (DEFAULT_MODES if options.retrieval_only else None)
    if modes is None and options.fulltext_weights is None:
        return []
    return ablation_configs(
        parse_modes(modes or ""), parse_weights(options.fulltext_weights or ""), settings
    )


def parse_modes(text: str) -> list[RetrievalMode]:
    modes = []
    for name in filter(None, (part.strip() for part in text.split(","))):
        try:
            modes.append(RetrievalMode(name))
        except ValueError:
            choices = ", ".join(m.value for m in RetrievalMode)
            raise OptionError(f"--modes: unknown mode {name!r} (choose from {choices})") from None
    return modes


def parse_weights(text: str) -> list[float]:
    weights = []
    for part in filter(None, (part.strip() for part in text.split(","))):
        try:
            weight = float(part)
        except ValueError:
            raise OptionError(f"--fulltext-weights: {part!r} is not a number") from None
        if weight < 0:
            raise OptionError(f"--fulltext-weights: {part} is negative")
        weights.append(weight)
    return weights


def build_summary(
    options: EvalOptions,
    settings: Settings,
    dataset: Dataset,
    run: EvalRun,
    started_at: datetime,
) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "kind": "retrieval-only" if options.retrieval_only else "full",
        "dataset": {
            "name": dataset.name,
            "path": str(dataset.path),
            "cases": len(dataset.cases),
            "history": len(dataset.history),
            "docs": len(dataset.kb),
        },
        "run": {
            "started_at": started_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            **run.info,
            "limit": options.limit,
            "settings": _retrieval_settings(settings),
        },
    }
    if options.retrieval_only:
        summary["cases"] = len(dataset.cases)
    else:
        summary.update(summarize(run.results))
    summary["ablation"] = run.ablation.rows if run.ablation else None
    return summary


def _retrieval_settings(settings: Settings) -> dict[str, Any]:
    keys = (
        "retrieval_mode",
        "fusion_weight_vector",
        "fusion_weight_fulltext",
        "rrf_k",
        "retrieval_top_k",
        "retrieval_candidates",
        "hnsw_ef_search",
        "agent_handoff_confidence",
        "agent_max_draft_attempts",
    )
    return settings.model_dump(mode="json", include=set(keys))


def _write(out: Path, summary: dict[str, Any], dataset: Dataset, run: EvalRun) -> None:
    per_case = run.ablation.per_case if run.ablation else {}
    if summary["kind"] == "retrieval-only":
        lines = [
            {
                "id": case.id,
                "relevant_history": case.relevant_history,
                "relevant_docs": case.relevant_docs,
                "retrieved": per_case.get(case.id, {}),
            }
            for case in dataset.cases
        ]
        markdown = report.retrieval_report(summary)
    else:
        lines = [
            {
                **r.model_dump(mode="json"),
                "coverage": r.coverage,
                **({"ablation": per_case[r.id]} if r.id in per_case else {}),
            }
            for r in run.results
        ]
        markdown = report.full_report(summary, run.results)
    report.write_folder(out, summary, lines, markdown)
