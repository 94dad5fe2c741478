"""The eval floor that CI enforces (`python -m evals.floor`, run by `.ci/run` after the tests).

A quick eval: a fixed subset of each dataset (every n-th case; the KB and history stay whole, so
retrieval is as hard as in the full eval), offline providers, the real graph on a fresh
database. Each headline metric must stay at or above its floor in `evals/floors.toml`, set just
under the figures of the day it names. Exit code 0, or 1 naming every metric below its floor.
"""

from __future__ import annotations

import asyncio
import sys
import time
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from core.logging import configure_logging
from core.settings import Settings, get_settings
from evals.database import fresh_database
from evals.dataset import Dataset, load_dataset
from evals.metrics import summarize
from evals.runner import run_eval

FLOORS_FILE = Path(__file__).parent / "floors.toml"
DATASETS_DIR = Path(__file__).parent / "datasets"


@dataclass(frozen=True)
class QuickSet:
    dataset: str  # a folder of evals/datasets
    stride: int  # every stride-th case, from the first
    floors: dict[str, float]  # metric (summary.json name) -> lowest accepted value


@dataclass(frozen=True)
class Floors:
    set_on: date
    sets: list[QuickSet]


def load_floors(path: Path = FLOORS_FILE) -> Floors:
    data = tomllib.loads(path.read_text())
    sets = [
        QuickSet(name, int(spec["stride"]), {k: float(v) for k, v in spec["floors"].items()})
        for name, spec in data["datasets"].items()
    ]
    return Floors(data["set_on"], sets)


def quick_subset(dataset: Dataset, stride: int) -> Dataset:
    return Dataset(dataset.name, dataset.path, dataset.kb, dataset.history, dataset.cases[::stride])


def breaches(metrics: Mapping[str, Any], floors: Mapping[str, float]) -> list[str]:
    """Each metric below its floor, in words; a metric with nothing to measure (None) is a
    breach too: a floor that cannot be checked protects nothing."""
    found = []
    for name, floor in floors.items():
        value = metrics.get(name)
        if value is None or value < floor:
            shown = "n/a" if value is None else f"{value:.3f}"
            found.append(f"{name} {shown} < floor {floor:.3f}")
    return found


def quick_metrics(settings: Settings, quick: QuickSet) -> dict[str, Any]:
    dataset = quick_subset(load_dataset(DATASETS_DIR / quick.dataset), quick.stride)
    with fresh_database(settings) as urls:
        run = asyncio.run(run_eval(settings, urls, dataset))
    return summarize(run.results)["metrics"]


def check(settings: Settings, floors: Floors, out=sys.stdout) -> list[str]:
    """Run every quick set; the breaches of all of them, prefixed with their dataset."""
    settings = settings.model_copy(update={"web_search_enabled": False})
    found = []
    for quick in floors.sets:
        started = time.perf_counter()
        metrics = quick_metrics(settings, quick)
        seconds = time.perf_counter() - started
        shown = ", ".join(f"{k} {metrics.get(k)}" for k in quick.floors)
        print(
            f"eval floor {quick.dataset} (1 case in {quick.stride}, {seconds:.0f} s): {shown}",
            file=out,
        )
        found += [f"{quick.dataset}: {b}" for b in breaches(metrics, quick.floors)]
    return found


def main(argv: Sequence[str] = ()) -> int:
    configure_logging("WARNING", json=True)
    floors = load_floors()
    found = check(get_settings(), floors)
    for breach in found:
        print(f"EVAL FLOOR BREACHED (floors set {floors.set_on}): {breach}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
