"""Where the offline confidence's numbers come from (agent/offline.py: KEYWORDS_AGREE_BONUS,
MARGIN_WEIGHT, and the handoff at AGENT_HANDOFF_CONFIDENCE), reproducibly:

    .venv/bin/python -m evals.calibrate_handoff [--dataset DIR]

Loads the dataset into a fresh database, runs each case through the offline path of the graph
(classify, retrieve, the draft's evidence similarities; no checkpoints, no web), and replays the
handoff decision `nearest ticket + bonus x keywords agree + weight x vote margin < threshold` on
a grid. Prints the grid's best handoff F1, how wide that optimum is, the settings of the widest
one, and the shipped point. Tune on it_support_v1 only; run it on another set to check.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from agent import offline
from agent.evidence import collect
from agent.nodes.classify import classify
from agent.nodes.draft import similarities
from agent.nodes.retrieve_docs import retrieve_docs
from agent.nodes.retrieve_tickets import query_text, retrieve_tickets
from core.logging import configure_logging
from core.settings import get_settings
from evals.command import DEFAULT_DATASET
from evals.database import fresh_database
from evals.dataset import load_dataset
from evals.runner import loaded_runtime

BONUSES = [round(0.01 * i, 2) for i in range(11)]
WEIGHTS = BONUSES
THRESHOLDS = [round(0.38 + 0.005 * i, 3) for i in range(37)]


@dataclass(frozen=True)
class Case:
    expect_handoff: bool
    nearest: float  # what offline.nearest_similarity reads: the nearest ticket (else KB section)
    sureness: offline.Sureness
    answerable: bool  # the draft proposes a fix (else it is handed off whatever the score)


async def cases(dataset_dir: Path) -> list[Case]:
    settings = get_settings().model_copy(update={"web_search_enabled": False})
    dataset = load_dataset(dataset_dir)
    found = []
    with fresh_database(settings) as urls:
        async with loaded_runtime(settings, urls, dataset, None) as (runtime, _):
            ctx = runtime.agent
            node_runtime = SimpleNamespace(context=ctx)
            for case in dataset.cases:
                ticket = {"ticket_id": str(uuid.uuid4()), "category_hint": None}
                state = {"ticket": {**ticket, "title": case.title, "description": case.description}}
                for node in (classify, retrieve_tickets, retrieve_docs):
                    state.update(await node(state, node_runtime))  # type: ignore[arg-type]
                evidence = collect(state)  # type: ignore[arg-type]
                async with ctx.sessionmaker() as session:
                    closeness = await similarities(ctx, session, state, evidence)  # type: ignore[arg-type]
                    neighbours = await ctx.retriever.labelled_neighbours(
                        session,
                        query_text(state),  # type: ignore[arg-type]
                    )
                pairs = [(closeness[e["id"]], e) for e in evidence if e["id"] in closeness]
                sure = offline.sureness(case.title, case.description, state["category"], neighbours)
                found.append(
                    Case(
                        case.expect_handoff,
                        offline.nearest_similarity(pairs),
                        sure,
                        any(s >= offline.MIN_SIMILARITY for s, _ in pairs),
                    )
                )
    return found


def f1(found: Sequence[Case], bonus: float, weight: float, threshold: float) -> tuple[float, ...]:
    """Handoff F1, precision and recall of the rule at these settings."""

    def handed_off(c: Case) -> bool:
        score = c.nearest + bonus * c.sureness.keywords_agree + weight * c.sureness.margin
        return not c.answerable or score < threshold

    return _rates(found, handed_off)


def _rates(found: Sequence[Case], handed_off) -> tuple[float, float, float]:
    tp = sum(c.expect_handoff and handed_off(c) for c in found)
    fp = sum(not c.expect_handoff and handed_off(c) for c in found)
    fn = sum(c.expect_handoff and not handed_off(c) for c in found)
    precision = tp / (tp + fp) if tp + fp else 0.0
    return 2 * tp / (2 * tp + fp + fn), precision, tp / (tp + fn) if tp + fn else 0.0


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    args = parser.parse_args(argv)
    configure_logging("WARNING", json=True)
    found = asyncio.run(cases(args.dataset))
    grid = {p: f1(found, *p) for p in itertools.product(BONUSES, WEIGHTS, THRESHOLDS)}
    levels = sorted({round(v[0], 4) for v in grid.values()}, reverse=True)[:3]
    for level in levels:
        points = [p for p, v in grid.items() if round(v[0], 4) == level]
        centre = tuple(round(statistics.median(p[i] for p in points), 3) for i in range(3))
        _, precision, recall = f1(found, *centre)
        print(
            f"handoff F1 {level:.3f} at {len(points)} grid points; their centre: bonus "
            f"{centre[0]}, weight {centre[1]}, threshold {centre[2]} (P / R {precision:.3f} / "
            f"{recall:.3f})"
        )
    setting = get_settings().agent_handoff_confidence
    _, precision, recall = _rates(
        found,
        lambda c: not c.answerable or offline.confidence(c.nearest + c.sureness.bonus) < setting,
    )
    print(
        f"shipped: bonus {offline.KEYWORDS_AGREE_BONUS}, weight {offline.MARGIN_WEIGHT}, "
        f"confidence below {setting}: handoff P / R {precision:.3f} / {recall:.3f}"
    )


if __name__ == "__main__":
    main()
