"""Eval metrics as pure functions (definitions in evals/README.md). No I/O, no model: the
embedding similarities the coverage matcher needs are computed by evals.coverage and passed in."""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from evals.records import CaseResult

K = 5

# --- Rates, category -------------------------------------------------------------------------


def rate(flags: Iterable[bool]) -> float | None:
    """Fraction of True; None when there is nothing to measure (never a misleading 0 or 1)."""
    values = list(flags)
    return sum(values) / len(values) if values else None


def category_accuracy(pairs: Sequence[tuple[str, str | None]]) -> float | None:
    """pairs: (expected, predicted); a missing prediction (failed run) counts as wrong."""
    return rate(expected == predicted for expected, predicted in pairs)


def confusion_matrix(pairs: Sequence[tuple[str, str | None]]) -> dict[str, dict[str, int]]:
    """expected -> predicted -> count (a failed run is predicted as "none")."""
    matrix: dict[str, Counter[str]] = defaultdict(Counter)
    for expected, predicted in pairs:
        matrix[expected][predicted or "none"] += 1
    return {expected: dict(row) for expected, row in sorted(matrix.items())}


def per_category_accuracy(pairs: Sequence[tuple[str, str | None]]) -> dict[str, dict[str, Any]]:
    by_category: dict[str, list[bool]] = defaultdict(list)
    for expected, predicted in pairs:
        by_category[expected].append(expected == predicted)
    return {
        category: {"n": len(hits), "correct": sum(hits), "accuracy": rate(hits)}
        for category, hits in sorted(by_category.items())
    }


# --- Retrieval -------------------------------------------------------------------------------


def dedupe_ranked(items: Iterable[str]) -> list[str]:
    """First occurrence wins: several chunks of one file rank the file at its best chunk."""
    return list(dict.fromkeys(items))


def recall_at_k(ranked: Sequence[str], relevant: Collection[str], k: int = K) -> float:
    if not relevant:
        raise ValueError("recall is undefined without relevant items")
    return len(set(ranked[:k]) & set(relevant)) / len(set(relevant))


def reciprocal_rank(ranked: Sequence[str], relevant: Collection[str]) -> float:
    for rank, item in enumerate(ranked, 1):
        if item in relevant:
            return 1 / rank
    return 0.0


def retrieval_scores(
    rows: Sequence[tuple[Sequence[str], Collection[str]]], k: int = K
) -> dict[str, float | int | None]:
    """rows: (ranked, relevant) per case; cases without relevant items are left out."""
    scored = [(ranked, relevant) for ranked, relevant in rows if relevant]
    if not scored:
        return {f"recall@{k}": None, "recall@1": None, "mrr": None, "n": 0}
    return {
        f"recall@{k}": statistics.fmean(recall_at_k(r, rel, k) for r, rel in scored),
        "recall@1": statistics.fmean(recall_at_k(r, rel, 1) for r, rel in scored),
        "mrr": statistics.fmean(reciprocal_rank(r, rel) for r, rel in scored),
        "n": len(scored),
    }


# --- Validity and groundedness ---------------------------------------------------------------


def source_validity(citations: Sequence[Sequence[bool]]) -> float | None:
    """citations: per case, whether each cited source was retrieved in the run. A case counts as
    valid when every citation was retrieved; cases that cite nothing are left out."""
    return rate(all(case) for case in citations if case)


# --- Reference-point coverage (deterministic matcher) ----------------------------------------


@dataclass(frozen=True)
class MatchThresholds:
    """A point is covered when some sentence of the resolution reaches either threshold.
    Calibrated on it_support_v1 (evals/README.md): at these values a point is matched by the
    text it was written from and rarely by another case's text."""

    cosine: float = 0.65  # all-MiniLM-L6-v2 cosine between the point and one sentence
    overlap: float = 0.6  # fraction of the point's content words present in one sentence


STOPWORDS = frozenset(
    """a about above after again all also an and any are as at be because been before being
    below between both but by can could did do does doing down during each either else few for
    from further had has have having he her here hers him his how i if in into is it its itself
    just may me might more most must my no nor not now of off on once only or other our out over
    own same she should so some such than that the their them then there these they this those
    through to too under until up very via was we were what when where which while who whom why
    will with would you your yours e.g i.e etc""".split()
)
_TOKEN = re.compile(r"[a-z0-9]+(?:[.'+-][a-z0-9]+)*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])|\n+")


def _stem(word: str) -> str:
    # Plural/possessive only: enough to match "accounts" with "account" without a stemmer's
    # surprises ("settings" -> "sett").
    word = word.removesuffix("'s")
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def content_words(text: str) -> set[str]:
    words = (_stem(w) for w in _TOKEN.findall(text.lower()))
    return {w for w in words if w not in STOPWORDS and (len(w) > 1 or w.isdigit())}


def word_overlap(point: str, sentence: str) -> float:
    """Fraction of the point's content words that the sentence contains."""
    wanted = content_words(point)
    return len(wanted & content_words(sentence)) / len(wanted) if wanted else 0.0


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def point_covered(best_cosine: float, best_overlap: float, thresholds: MatchThresholds) -> bool:
    """best_*: the point against its best-matching sentence of the resolution, by each measure."""
    return best_cosine >= thresholds.cosine or best_overlap >= thresholds.overlap


def mean_coverage(per_case: Iterable[float | None]) -> float | None:
    """Mean of the cases' covered fractions; cases without reference points are left out."""
    values = [v for v in per_case if v is not None]
    return statistics.fmean(values) if values else None


# --- Handoff ---------------------------------------------------------------------------------


def handoff_scores(pairs: Sequence[tuple[bool, bool]]) -> dict[str, float | int | None]:
    """pairs: (expected handoff, handed off). Positive class = handed off."""
    tp = sum(1 for expected, actual in pairs if expected and actual)
    fp = sum(1 for expected, actual in pairs if not expected and actual)
    fn = sum(1 for expected, actual in pairs if expected and not actual)
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    # 2TP / (2TP + FP + FN): defined (0) even when nothing was handed off.
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn}


# --- Latency ---------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default), q in [0, 1]."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def latency_summary(values: Sequence[float]) -> dict[str, float | int | None]:
    return {
        "n": len(values),
        "p50": percentile(values, 0.5),
        "p95": percentile(values, 0.95),
        "mean": statistics.fmean(values) if values else None,
    }


def node_latency(per_case: Iterable[dict[str, list[float]]]) -> dict[str, dict]:
    """Over every execution of each node (a retried draft counts each attempt)."""
    merged: dict[str, list[float]] = defaultdict(list)
    for nodes in per_case:
        for node, values in nodes.items():
            merged[node].extend(values)
    return {node: latency_summary(values) for node, values in merged.items()}


# --- All of it -------------------------------------------------------------------------------


def summarize(results: Sequence[CaseResult], k: int = K) -> dict[str, Any]:
    """summary.json's metrics: one flat dict of headline figures plus the detailed tables."""
    categories = [(r.expected_category, r.predicted_category) for r in results]
    history = retrieval_scores([(r.retrieved_history, r.relevant_history) for r in results], k)
    docs = retrieval_scores([(r.retrieved_docs, r.relevant_docs) for r in results], k)
    handoff = handoff_scores([(r.expect_handoff, r.handed_off) for r in results])
    completed = [r.total_ms for r in results if r.total_ms is not None and r.error is None]
    headline = {
        "category_accuracy": category_accuracy(categories),
        f"history_recall@{k}": history[f"recall@{k}"],
        "history_mrr": history["mrr"],
        f"doc_recall@{k}": docs[f"recall@{k}"],
        "doc_mrr": docs["mrr"],
        "json_valid_first_attempt": rate(r.json_valid_first for r in results),
        "json_valid_final": rate(r.json_valid_final for r in results),
        "draft_valid_first_attempt": rate(r.draft_valid_first for r in results),
        "draft_valid_final": rate(r.draft_valid_final for r in results),
        "source_validity": source_validity([[c.retrieved for c in r.citations] for r in results]),
        "reference_coverage": mean_coverage(r.coverage for r in results),
        "handoff_precision": handoff["precision"],
        "handoff_recall": handoff["recall"],
        "handoff_f1": handoff["f1"],
        "run_p50_ms": percentile(completed, 0.5),
        "run_p95_ms": percentile(completed, 0.95),
    }
    return {
        "cases": len(results),
        "errors": sum(1 for r in results if r.error),
        "metrics": headline,
        "counts": _counts(results, history, docs, handoff, len(completed), k),
        "retrieval": {"history": history, "docs": docs},
        "handoff": handoff,
        "confusion_matrix": confusion_matrix(categories),
        "per_category": per_category_accuracy(categories),
        "latency_ms": {
            "run": latency_summary(completed),
            "nodes": node_latency(r.node_latency_ms for r in results),
        },
    }


def _counts(
    results: Sequence[CaseResult],
    history: dict[str, Any],
    docs: dict[str, Any],
    handoff: dict[str, Any],
    completed: int,
    k: int,
) -> dict[str, int]:
    """How many cases each headline figure is computed over."""
    n = len(results)
    return {
        "category_accuracy": n,
        f"history_recall@{k}": history["n"],
        "history_mrr": history["n"],
        f"doc_recall@{k}": docs["n"],
        "doc_mrr": docs["n"],
        "json_valid_first_attempt": n,
        "json_valid_final": n,
        "draft_valid_first_attempt": n,
        "draft_valid_final": n,
        "source_validity": sum(1 for r in results if r.citations),
        "reference_coverage": sum(1 for r in results if r.reference_points),
        "handoff_precision": handoff["tp"] + handoff["fp"],
        "handoff_recall": handoff["tp"] + handoff["fn"],
        "handoff_f1": n,
        "run_p50_ms": completed,
        "run_p95_ms": completed,
    }


def case_score(result: CaseResult, k: int = K) -> float:
    """One number per case, for ranking the worst cases in the report: the mean of what the case
    has labels for (category, retrieval recall, coverage, handoff decision); an error is 0."""
    if result.error:
        return 0.0
    parts = [
        float(result.expected_category == result.predicted_category),
        float(result.expect_handoff == result.handed_off),
    ]
    if result.relevant_history:
        parts.append(recall_at_k(result.retrieved_history, result.relevant_history, k))
    if result.relevant_docs:
        parts.append(recall_at_k(result.retrieved_docs, result.relevant_docs, k))
    if result.coverage is not None:
        parts.append(result.coverage)
    return statistics.fmean(parts)
