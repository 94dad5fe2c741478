"""Upload to LangSmith when LANGSMITH_API_KEY is set: the dataset's cases as examples, and the
eval as an experiment (one run per case, linked to its example, with the per-case scores as
feedback). Best effort: any failure is a warning, never a failed eval. Untested here (no network).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from core.settings import Settings
from evals.dataset import Dataset, EvalCase
from evals.metrics import K, recall_at_k, reciprocal_rank
from evals.records import CaseResult

log = structlog.get_logger(__name__)


def upload(
    settings: Settings, dataset: Dataset, results: Sequence[CaseResult], summary: dict[str, Any]
) -> str | None:
    """The experiment's name, or None (no key, or the upload failed: logged as a warning)."""
    if settings.langsmith_api_key is None:
        return None
    try:
        from langsmith import Client

        client = Client(api_key=settings.langsmith_api_key.get_secret_value())
        examples = _examples(client, dataset)
        experiment = f"inferra-eval-{summary['run']['started_at']}"
        client.create_project(
            experiment,
            reference_dataset_id=examples["__dataset_id__"],
            metadata={"run": summary["run"], "metrics": summary.get("metrics")},
        )
        for result in results:
            _upload_case(client, experiment, examples.get(result.id), result)
        if hasattr(client, "flush"):
            client.flush()
    except Exception as exc:  # network, auth, API changes: the local results stand
        log.warning("langsmith_upload_failed", error=f"{type(exc).__name__}: {exc}"[:300])
        return None
    log.info("langsmith_uploaded", experiment=experiment, cases=len(results))
    return experiment


def _examples(client: Any, dataset: Dataset) -> dict[str, Any]:
    """case id -> example id (created on the first upload of this dataset name)."""
    name = f"inferra-{dataset.name}"
    if client.has_dataset(dataset_name=name):
        remote = client.read_dataset(dataset_name=name)
    else:
        remote = client.create_dataset(name, description=f"Inferra eval dataset {dataset.name}")
    known = {
        (e.metadata or {}).get("case_id"): e.id for e in client.list_examples(dataset_id=remote.id)
    }
    missing = [c for c in dataset.cases if c.id not in known]
    if missing:
        client.create_examples(dataset_id=remote.id, examples=[_example(c) for c in missing])
        known = {
            (e.metadata or {}).get("case_id"): e.id
            for e in client.list_examples(dataset_id=remote.id)
        }
    return {**known, "__dataset_id__": remote.id}


def _example(case: EvalCase) -> dict[str, Any]:
    return {
        "inputs": {"title": case.title, "description": case.description},
        "outputs": case.model_dump(exclude={"id", "title", "description"}, mode="json"),
        "metadata": {"case_id": case.id},
    }


def _upload_case(client: Any, experiment: str, example_id: Any, result: CaseResult) -> None:
    run_id = uuid.uuid4()
    end = datetime.now(UTC)
    client.create_run(
        name="inferra-resolve",
        inputs={"title": result.title},
        run_type="chain",
        project_name=experiment,
        id=run_id,
        reference_example_id=example_id,
        outputs=result.model_dump(mode="json", exclude={"title"}),
        start_time=end - timedelta(milliseconds=result.total_ms or 0),
        end_time=end,
        error=result.error,
    )
    for key, score in case_scores(result).items():
        if score is not None:
            client.create_feedback(run_id, key, score=score)


def case_scores(result: CaseResult) -> dict[str, float | None]:
    """The per-case scores uploaded as feedback (same definitions as evals/README.md)."""
    history, docs = result.relevant_history, result.relevant_docs
    return {
        "category_correct": float(result.expected_category == result.predicted_category),
        f"history_recall@{K}": recall_at_k(result.retrieved_history, history) if history else None,
        "history_rr": reciprocal_rank(result.retrieved_history, history) if history else None,
        f"doc_recall@{K}": recall_at_k(result.retrieved_docs, docs) if docs else None,
        "doc_rr": reciprocal_rank(result.retrieved_docs, docs) if docs else None,
        "json_valid_first_attempt": float(result.json_valid_first),
        "json_valid_final": float(result.json_valid_final),
        "sources_valid": float(all(c.retrieved for c in result.citations))
        if result.citations
        else None,
        "reference_coverage": result.coverage,
        "handoff_correct": float(result.expect_handoff == result.handed_off),
        "latency_ms": result.total_ms,
    }
