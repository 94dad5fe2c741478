"""The independent second eval dataset (it_support_v2) is valid and keeps the properties its
README promises: its size, a 10-20 % share of hand-off cases, every category of the taxonomy, and
labels that point at history tickets and KB files that exist."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from core.models import Category
from evals.dataset import load_dataset

V2 = Path(__file__).resolve().parents[1] / "evals" / "datasets" / "it_support_v2"


def test_v2_loads_with_its_promised_size_and_handoff_share() -> None:
    dataset = load_dataset(V2)
    assert len(dataset.cases) >= 60 and len(dataset.history) >= 120 and len(dataset.kb) >= 30
    handoff = sum(c.expect_handoff for c in dataset.cases) / len(dataset.cases)
    assert 0.10 <= handoff <= 0.20
    kinds = Counter(Path(f.name).suffix for f in dataset.kb)
    assert kinds[".md"] and kinds[".txt"] and kinds[".html"]


def test_v2_covers_every_category_in_cases_and_history() -> None:
    dataset = load_dataset(V2)
    assert {c.expected_category for c in dataset.cases} == set(Category)
    assert {h.category for h in dataset.history} == set(Category)


def test_v2_labels_reference_existing_items_and_handoffs_have_none() -> None:
    dataset = load_dataset(V2)
    history_ids = {h.id for h in dataset.history}
    kb_names = {f.name for f in dataset.kb}
    for case in dataset.cases:
        assert set(case.relevant_history) <= history_ids, case.id
        assert set(case.relevant_docs) <= kb_names, case.id
        if case.expect_handoff:
            assert not (case.relevant_history or case.relevant_docs or case.reference_points)
        else:
            assert case.reference_points and (case.relevant_history or case.relevant_docs), case.id
    # Some cases are answered only by the KB, some only by history (see the README).
    answered = [c for c in dataset.cases if not c.expect_handoff]
    assert any(c.relevant_docs and not c.relevant_history for c in answered)
    assert any(c.relevant_history and not c.relevant_docs for c in answered)
