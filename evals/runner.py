"""Load a dataset into a (fresh) database and run every case through the real graph, in process.

The eval opens the one runtime (services/runtime.py) on its fresh database. Each case is filed
like a user files a ticket (services.tickets.create: a ticket and its queued run job), then a
worker drains the queue (services.worker.drain: the same lifecycle as production), one case at a
time; what the run did is then read back from its checkpoints.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import structlog
from langchain_core.language_models import BaseChatModel
from langgraph.types import StateSnapshot
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agent.context import AgentContext
from agent.evidence import by_label
from agent.schemas import DraftResolution
from agent.steps import history as checkpoint_history
from agent.steps import steps_from
from core.db import DatabaseUrls
from core.errors import InferraError
from core.history import PastTicket, import_resolved_tickets
from core.models import Role, RunStatus, User
from core.progress import progress_bar
from core.providers.chat import create_chat_model
from core.providers.embeddings import Embedder, LocalEmbedder
from core.repositories.runs import RunRepository
from core.settings import Settings
from evals.ablation import Ablation, RetrievalConfig, run_ablation
from evals.coverage import Coverage, JudgeCoverage, MatcherCoverage
from evals.dataset import Dataset, EvalCase
from evals.metrics import dedupe_ranked
from evals.records import CaseResult, Citation
from ingestion.pipeline import ingest_bytes
from services import quotas, tickets
from services.resources import Runtime
from services.runtime import open_runtime
from services.search_stats import refresh_search_stats
from services.users import create_user
from services.worker import drain

log = structlog.get_logger(__name__)
EVAL_OWNER_EMAIL = "evals@eval.inferra.dev"


@dataclass
class LoadedData:
    owner: User
    history_ids: dict[str, str]  # ticket uuid -> history id of the dataset
    kb_failures: list[tuple[str, str]]  # (file, error): such a doc can never be retrieved
    seconds: float


@dataclass
class EvalRun:
    results: list[CaseResult] = field(default_factory=list)
    ablation: Ablation | None = None
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Env:
    runtime: Runtime
    loaded: LoadedData
    coverage: Coverage


# --- Loading ---------------------------------------------------------------------------------


@asynccontextmanager
async def loaded_runtime(
    settings: Settings,
    urls: DatabaseUrls,
    dataset: Dataset,
    console: Console | None,
    *,
    chat_model: BaseChatModel | None = None,
) -> AsyncIterator[tuple[Runtime, LoadedData]]:
    """The runtime on the eval's fresh (already migrated) database, with the dataset loaded."""
    eval_settings = settings.model_copy(update={"database_url": urls.libpq, **quotas.UNLIMITED})
    async with open_runtime(
        eval_settings, migrate_database=False, chat_model=chat_model, pool_size=5
    ) as runtime:
        loaded = await load_dataset(
            runtime.sessionmaker, runtime.embedder, runtime.settings, dataset, console
        )
        yield runtime, loaded


async def load_dataset(
    sessionmaker: async_sessionmaker[AsyncSession],
    embedder: Embedder,
    settings: Settings,
    dataset: Dataset,
    console: Console | None = None,
) -> LoadedData:
    """An eval user owns everything: the KB documents, the history tickets and the cases."""
    started = time.perf_counter()
    async with sessionmaker.begin() as session:
        owner = await create_user(
            session=session,
            email=EVAL_OWNER_EMAIL,
            password=secrets.token_urlsafe(24),
            role=Role.user,
        )
    failures = await _ingest_kb(sessionmaker, embedder, settings, dataset, owner, console)
    history_ids = await _import_history(sessionmaker, embedder, dataset, owner, console)
    await refresh_search_stats(sessionmaker, force=True)
    seconds = time.perf_counter() - started
    log.info("eval_dataset_loaded", docs=len(dataset.kb), history=len(history_ids), seconds=seconds)
    return LoadedData(owner, history_ids, failures, seconds)


async def _ingest_kb(
    sessionmaker: async_sessionmaker[AsyncSession],
    embedder: Embedder,
    settings: Settings,
    dataset: Dataset,
    owner: User,
    console: Console | None,
) -> list[tuple[str, str]]:
    failures: list[tuple[str, str]] = []
    with progress_bar(console) as progress:
        task = progress.add_task("ingesting kb/", total=len(dataset.kb))
        for file in dataset.kb:
            try:
                async with sessionmaker.begin() as session:
                    await ingest_bytes(
                        session=session,
                        embedder=embedder,
                        settings=settings,
                        filename=file.name,
                        data=file.path.read_bytes(),
                        uploaded_by=owner.id,
                    )
            except (InferraError, OSError) as exc:
                message = getattr(exc, "message", None) or str(exc)
                failures.append((file.name, message))
                log.warning("eval_kb_file_failed", filename=file.name, error=message)
            progress.advance(task)
    return failures


async def _import_history(
    sessionmaker: async_sessionmaker[AsyncSession],
    embedder: Embedder,
    dataset: Dataset,
    owner: User,
    console: Console | None,
) -> dict[str, str]:
    past = [
        PastTicket(item.title, item.description, item.resolution, category=item.category)
        for item in dataset.history
    ]
    with progress_bar(console) as progress:
        task = progress.add_task("importing history", total=len(past))
        async with sessionmaker.begin() as session:
            tickets = await import_resolved_tickets(session, embedder, past, owner_id=owner.id)
        progress.update(task, completed=len(past))
    return {str(t.id): item.id for t, item in zip(tickets, dataset.history, strict=True)}


# --- Full eval -------------------------------------------------------------------------------


async def run_eval(
    settings: Settings,
    urls: DatabaseUrls,
    dataset: Dataset,
    *,
    judge: bool = False,
    ablation: Sequence[RetrievalConfig] = (),
    console: Console | None = None,
) -> EvalRun:
    """Every case through the graph; then, if configurations are given, the retrieval ablation
    on the same database."""
    chat_model = create_chat_model(settings)
    run = EvalRun()
    async with loaded_runtime(settings, urls, dataset, console, chat_model=chat_model) as (
        runtime,
        loaded,
    ):
        coverage = _coverage(runtime.embedder, chat_model if judge else None)
        env = _Env(runtime, loaded, coverage)
        started = time.perf_counter()
        run.results = await _run_cases(env, dataset.cases, console)
        run.info = _info(runtime.agent, coverage, loaded, time.perf_counter() - started)
        if ablation:
            run.ablation = await run_ablation(
                runtime.sessionmaker,
                runtime.embedder,
                runtime.settings,
                dataset.cases,
                loaded.history_ids,
                ablation,
                console,
            )
    return run


async def run_retrieval_only(
    settings: Settings,
    urls: DatabaseUrls,
    dataset: Dataset,
    configs: Sequence[RetrievalConfig],
    console: Console | None = None,
) -> EvalRun:
    async with loaded_runtime(settings, urls, dataset, console) as (runtime, loaded):
        started = time.perf_counter()
        ablation = await run_ablation(
            runtime.sessionmaker,
            runtime.embedder,
            runtime.settings,
            dataset.cases,
            loaded.history_ids,
            configs,
            console,
        )
        info = {
            "embedder": runtime.embedder.name,
            "load_seconds": round(loaded.seconds, 2),
            "ablation_seconds": round(time.perf_counter() - started, 2),
            "kb_failures": loaded.kb_failures,
        }
    return EvalRun(ablation=ablation, info=info)


def _coverage(embedder: Embedder, judge_model: BaseChatModel | None) -> Coverage:
    # The matcher's thresholds were calibrated on all-MiniLM-L6-v2: always use the local model,
    # even when Nomic embeds the documents.
    local = embedder if isinstance(embedder, LocalEmbedder) else LocalEmbedder()
    matcher = MatcherCoverage(local)
    return JudgeCoverage(judge_model, matcher) if judge_model is not None else matcher


def _info(
    context: AgentContext, coverage: Coverage, loaded: LoadedData, seconds: float
) -> dict[str, Any]:
    return {
        "chat_model": context.model_name,
        "embedder": context.embedder.name,
        "web_search": type(context.web_search).__name__,
        "coverage": coverage.name,
        "load_seconds": round(loaded.seconds, 2),
        "cases_seconds": round(seconds, 2),
        "kb_failures": loaded.kb_failures,
    }


async def _run_cases(
    env: _Env, cases: Sequence[EvalCase], console: Console | None
) -> list[CaseResult]:
    results = []
    with progress_bar(console) as progress:
        task = progress.add_task("running cases", total=len(cases))
        for case in cases:
            progress.update(task, description=f"case {case.id}")
            results.append(await run_case(env, case))
            progress.advance(task)
        progress.update(task, description="cases done")
    return results


async def run_case(env: _Env, case: EvalCase) -> CaseResult:
    """A failing case is recorded with its error, never fatal to the eval."""
    result = CaseResult(
        id=case.id,
        title=case.title,
        expected_category=case.expected_category.value,
        expect_handoff=case.expect_handoff,
        relevant_history=case.relevant_history,
        relevant_docs=case.relevant_docs,
        reference_points=case.reference_points,
    )
    try:
        await _execute_case(env, case, result)
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"[:1000]
        log.warning("eval_case_failed", case_id=case.id, error=result.error)
    result.points_covered = await env.coverage.covered(case.reference_points, result.resolution)
    result.coverage_method = env.coverage.name if case.reference_points else None
    return result


async def _execute_case(env: _Env, case: EvalCase, result: CaseResult) -> None:
    runtime = env.runtime
    async with runtime.sessionmaker.begin() as session:
        _, run = await tickets.create(
            session=session,
            runtime=runtime,
            owner=env.loaded.owner,
            title=case.title,
            description=case.description,
        )
    started = time.perf_counter()
    try:
        await drain(runtime)  # the run's job, through the worker's lifecycle
    finally:
        result.total_ms = round((time.perf_counter() - started) * 1000, 1)
    async with runtime.sessionmaker() as session:
        finished = await RunRepository(session).get(run.id)
    assert finished is not None
    if finished.status is RunStatus.failed:
        raise RuntimeError(finished.error or "run failed")
    snapshots = await checkpoint_history(runtime.graph, str(run.id))
    fill_from_checkpoints(result, snapshots, env.loaded.history_ids)
    result.handed_off = finished.status is RunStatus.interrupted


# --- Reading a run back from its checkpoints -------------------------------------------------


def fill_from_checkpoints(
    result: CaseResult, snapshots: list[StateSnapshot], history_ids: dict[str, str]
) -> None:
    final: dict[str, Any] = snapshots[-1].values if snapshots else {}
    result.predicted_category = final.get("category")
    result.classified_by = final.get("classified_by")
    result.model = final.get("drafted_by")
    result.retrieved_history = dedupe_ranked(
        history_ids.get(t["id"], t["id"]) for t in final.get("similar_tickets") or []
    )
    result.retrieved_docs = dedupe_ranked(d["filename"] for d in final.get("doc_chunks") or [])
    rounds = validation_rounds(snapshots)
    if rounds:
        (json_first, errors_first), (json_last, errors_last) = rounds[0], rounds[-1]
        result.json_valid_first, result.json_valid_final = json_first, json_last
        result.draft_valid_first = json_first and not errors_first
        result.draft_valid_final = json_last and not errors_last
        result.validation_errors = errors_last
    result.attempts = final.get("attempts", 0)
    result.handoff_reason = final.get("handoff_reason")
    result.skipped = list(final.get("skipped") or [])
    draft = final.get("draft")
    if draft:
        result.confidence = draft.get("confidence")
        result.resolution = resolution_text(draft)
        result.citations = citations(final, draft, history_ids)
    result.node_latency_ms = node_durations(snapshots)


def validation_rounds(snapshots: list[StateSnapshot]) -> list[tuple[bool, list[str]]]:
    """Per validate step, in order: (the draft matched the schema, the validator's errors)."""
    rounds = []
    for before, after in pairwise(snapshots):
        if "validate" in before.next:
            rounds.append(
                (
                    _matches_schema(before.values.get("draft")),
                    list(after.values.get("validation_errors") or []),
                )
            )
    return rounds


def _matches_schema(draft: dict[str, Any] | None) -> bool:
    if draft is None:
        return False
    try:
        DraftResolution.model_validate(draft)
    except ValidationError:
        return False
    return True


def resolution_text(draft: dict[str, Any]) -> str:
    """What the requester reads: summary, diagnoses, then each solution's title and steps."""
    lines = [draft.get("summary") or "", *draft.get("diagnoses", [])]
    for solution in draft.get("solutions", []):
        lines += [solution.get("title") or "", *solution.get("steps", [])]
    return "\n".join(line for line in lines if line)


def citations(
    state: dict[str, Any], draft: dict[str, Any], history_ids: dict[str, str]
) -> list[Citation]:
    evidence = by_label(state)  # type: ignore[arg-type]
    files = {d["id"]: d["filename"] for d in state.get("doc_chunks") or []}
    cited = []
    for label in draft.get("sources", []):
        item = evidence.get(label)
        if item is None:
            cited.append(Citation(label=label, retrieved=False))
            continue
        ref = _reference(item, history_ids, files)
        cited.append(Citation(label=label, retrieved=True, type=item["type"], ref=ref))
    return cited


def _reference(item: dict[str, Any], history_ids: dict[str, str], files: dict[str, str]) -> str:
    """A citation in the dataset's terms: history id, KB file name, or the URL."""
    if item["type"] == "ticket":
        return history_ids.get(item["id"], item["id"])
    if item["type"] == "doc":
        return files.get(item["id"], item["id"])
    return item["id"]


def node_durations(snapshots: list[StateSnapshot]) -> dict[str, list[float]]:
    """ms per execution of each node (parallel retrieval nodes each show their step's time)."""
    durations: dict[str, list[float]] = {}
    for step in steps_from(snapshots):
        if step["duration_ms"] is not None:
            durations.setdefault(step["node"], []).append(step["duration_ms"])
    return durations
