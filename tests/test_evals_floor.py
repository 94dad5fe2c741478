"""The eval floor CI enforces (evals/floor.py, evals/floors.toml): its file, its comparison, and
that it trips when retrieval is broken by a setting."""

from __future__ import annotations

import io
from datetime import date

from evals.floor import DATASETS_DIR, Floors, QuickSet, breaches, check, load_floors
from evals.metrics import summarize

HEADLINE = set(summarize([])["metrics"])


def test_the_floors_file_names_real_datasets_and_metrics_and_its_date() -> None:
    floors = load_floors()
    assert isinstance(floors.set_on, date)
    assert {q.dataset for q in floors.sets} >= {"it_support_v1", "it_support_v2"}
    for quick in floors.sets:
        assert (DATASETS_DIR / quick.dataset / "cases.jsonl").is_file()
        assert quick.floors and set(quick.floors) <= HEADLINE
        assert all(0 < v <= 1 for v in quick.floors.values())


def test_a_metric_below_or_missing_its_floor_is_a_breach() -> None:
    floors = {"history_mrr": 0.9, "doc_mrr": 0.8, "handoff_recall": 0.8}
    metrics = {"history_mrr": 0.95, "doc_mrr": 0.79, "handoff_recall": None}
    assert breaches(metrics, floors) == [
        "doc_mrr 0.790 < floor 0.800",
        "handoff_recall n/a < floor 0.800",
    ]
    assert breaches({"history_mrr": 0.9, "doc_mrr": 0.8, "handoff_recall": 1.0}, floors) == []


def test_the_floor_trips_when_retrieval_ranks_by_nothing(settings) -> None:
    """Fusion weights of zero: every candidate scores 0, the order is arbitrary. A few cases of
    it_support_v1 against its real floors: the retrieval floors trip."""
    v1 = next(q for q in load_floors().sets if q.dataset == "it_support_v1")
    few = QuickSet(v1.dataset, stride=40, floors=v1.floors)  # 3 cases, the whole KB and history
    broken = settings.model_copy(
        update={"fusion_weight_vector": 0.0, "fusion_weight_fulltext": 0.0}
    )
    out = io.StringIO()
    found = check(broken, Floors(date.today(), [few]), out)
    tripped = {b.split(": ", 1)[1].split(" ")[0] for b in found}
    assert {"history_mrr", "doc_mrr"} <= tripped, out.getvalue()
