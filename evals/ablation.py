"""Retrieval ablation: similar-ticket and doc recall@k / MRR of each retrieval configuration
(vector, full-text, hybrid at several full-text fusion weights) on the same loaded dataset, with
no graph run, so that the retrieval defaults are chosen by numbers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agent.nodes.retrieve_tickets import query_text
from core.progress import progress_bar
from core.providers.embeddings import Embedder
from core.retrieval import Retriever
from core.settings import RetrievalMode, Settings
from evals.dataset import EvalCase
from evals.metrics import K, dedupe_ranked, retrieval_scores


@dataclass(frozen=True)
class RetrievalConfig:
    mode: RetrievalMode
    fulltext_weight: float
    vector_weight: float

    @property
    def label(self) -> str:
        if self.mode is not RetrievalMode.hybrid:
            return self.mode.value  # the weights do not change a single list's order
        return f"hybrid (ft={self.fulltext_weight:g})"

    def apply(self, settings: Settings) -> Settings:
        return settings.model_copy(
            update={"retrieval_mode": self.mode, "fusion_weight_fulltext": self.fulltext_weight}
        )


@dataclass
class Ablation:
    rows: list[dict[str, Any]] = field(default_factory=list)  # one per configuration
    per_case: dict[str, dict[str, dict[str, list[str]]]] = field(default_factory=dict)


def ablation_configs(
    modes: Sequence[RetrievalMode], fulltext_weights: Sequence[float], settings: Settings
) -> list[RetrievalConfig]:
    """Each mode at the configured weights, then hybrid at each extra full-text weight."""
    configs = [
        RetrievalConfig(m, settings.fusion_weight_fulltext, settings.fusion_weight_vector)
        for m in modes
    ]
    configs += [
        RetrievalConfig(RetrievalMode.hybrid, w, settings.fusion_weight_vector)
        for w in fulltext_weights
    ]
    return list(dict.fromkeys(configs))  # the configured weight may be listed twice


class QueryCachingEmbedder:
    """Every configuration embeds the same queries: embed each once."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.name, self.dim = embedder.name, embedder.dim
        self._queries: dict[str, list[float]] = {}

    async def embed_documents(self, texts):
        return await self.embedder.embed_documents(texts)

    async def embed_query(self, text: str) -> list[float]:
        if text not in self._queries:
            self._queries[text] = await self.embedder.embed_query(text)
        return self._queries[text]


def case_query(case: EvalCase) -> str:
    """The query the agent's retrieve nodes send (without a chat model's extra search query)."""
    ticket = {"ticket_id": "", "title": case.title, "description": case.description}
    return query_text({"ticket": ticket})  # type: ignore[typeddict-item]


async def run_ablation(
    sessionmaker: async_sessionmaker[AsyncSession],
    embedder: Embedder,
    settings: Settings,
    cases: Sequence[EvalCase],
    history_ids: dict[str, str],
    configs: Sequence[RetrievalConfig],
    console: Console | None = None,
) -> Ablation:
    ablation = Ablation(per_case={case.id: {} for case in cases})
    cached = QueryCachingEmbedder(embedder)
    with progress_bar(console) as progress:
        task = progress.add_task("retrieval ablation", total=len(configs) * len(cases))
        for config in configs:
            retriever = Retriever(config.apply(settings), cached)
            for case in cases:
                ranked = await _retrieve(sessionmaker, retriever, case, history_ids)
                ablation.per_case[case.id][config.label] = ranked
                progress.advance(task)
            ablation.rows.append(_row(config, cases, ablation.per_case))
    return ablation


async def _retrieve(
    sessionmaker: async_sessionmaker[AsyncSession],
    retriever: Retriever,
    case: EvalCase,
    history_ids: dict[str, str],
) -> dict[str, list[str]]:
    query = case_query(case)
    async with sessionmaker() as session:
        tickets = await retriever.similar_tickets(session, query)
        chunks = await retriever.doc_chunks(session, query)
    return {
        "history": dedupe_ranked(history_ids.get(str(t.id), str(t.id)) for t in tickets),
        "docs": dedupe_ranked(c.filename for c in chunks),
    }


def _row(
    config: RetrievalConfig, cases: Sequence[EvalCase], per_case: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    ranked = [per_case[c.id][config.label] for c in cases]
    return {
        "config": config.label,
        "mode": config.mode.value,
        "fusion_weight_vector": config.vector_weight,
        "fusion_weight_fulltext": config.fulltext_weight,
        "history": retrieval_scores(
            [(r["history"], c.relevant_history) for r, c in zip(ranked, cases, strict=True)], K
        ),
        "docs": retrieval_scores(
            [(r["docs"], c.relevant_docs) for r, c in zip(ranked, cases, strict=True)], K
        ),
    }
