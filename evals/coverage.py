"""Reference-point coverage: which of a case's reference points the resolution states.

Deterministic by default (local embeddings + content-word overlap, see evals.metrics), or an LLM
judge with structured output (`--judge` with GEMINI_API_KEY). The judge falls back to the
matcher for any point it does not answer, so one flaky call never zeroes a case.
"""

from __future__ import annotations

import math
from typing import Protocol

import structlog
from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, Field

from core.providers.embeddings import Embedder
from evals.metrics import MatchThresholds, point_covered, split_sentences, word_overlap

log = structlog.get_logger(__name__)

JUDGE_PROMPT = """You grade the answer of an IT support assistant against reference points that \
a correct answer contains. For each numbered reference point, say covered=true only if the \
answer states it or something equivalent (the same action or fact, possibly in other words); \
covered=false if it is missing, contradicted or only vaguely related.

Answer:
{resolution}

Reference points:
{points}
"""


class Coverage(Protocol):
    name: str

    async def covered(self, points: list[str], resolution: str) -> list[bool]: ...


class MatcherCoverage:
    """A point is covered if one sentence of the resolution is close to it in embedding space
    or contains most of its content words (thresholds in MatchThresholds)."""

    def __init__(self, embedder: Embedder, thresholds: MatchThresholds | None = None) -> None:
        self.embedder = embedder
        self.thresholds = thresholds or MatchThresholds()
        self.name = f"matcher(cosine>={self.thresholds.cosine}|overlap>={self.thresholds.overlap})"

    async def covered(self, points: list[str], resolution: str) -> list[bool]:
        return [
            point_covered(cosine, overlap, self.thresholds)
            for cosine, overlap in await self.best_scores(points, resolution)
        ]

    async def best_scores(self, points: list[str], resolution: str) -> list[tuple[float, float]]:
        """Per point: its best cosine and best word overlap over the resolution's sentences."""
        sentences = split_sentences(resolution)
        if not points or not sentences:
            return [(0.0, 0.0)] * len(points)
        vectors = await self.embedder.embed_documents([*points, *sentences])
        point_vectors, sentence_vectors = vectors[: len(points)], vectors[len(points) :]
        return [
            (
                max(_cosine(p, s) for s in sentence_vectors),
                max(word_overlap(point, sentence) for sentence in sentences),
            )
            for point, p in zip(points, point_vectors, strict=True)
        ]


class PointVerdict(BaseModel):
    point: int = Field(description="The number of the reference point")
    covered: bool = Field(description="True if the answer states this point")


class CoverageVerdicts(BaseModel):
    """Whether the answer covers each reference point."""

    verdicts: list[PointVerdict]


class JudgeCoverage:
    def __init__(self, model: BaseChatModel, fallback: MatcherCoverage) -> None:
        self.model = model
        self.fallback = fallback
        self.name = f"llm-judge:{getattr(model, 'model', None) or type(model).__name__}"

    async def covered(self, points: list[str], resolution: str) -> list[bool]:
        if not points:
            return []
        fallback = await self.fallback.covered(points, resolution)
        if not resolution.strip():
            return fallback
        numbered = "\n".join(f"{i}. {p}" for i, p in enumerate(points, 1))
        prompt = JUDGE_PROMPT.format(resolution=resolution, points=numbered)
        try:
            answer = await self.model.with_structured_output(CoverageVerdicts).ainvoke(prompt)
        except Exception as exc:  # provider down, quota, unparsable: the matcher decides
            log.warning("coverage_judge_failed", error=str(exc)[:200])
            return fallback
        verdicts = {v.point: v.covered for v in answer.verdicts} if answer else {}
        return [verdicts.get(i, fallback[i - 1]) for i in range(1, len(points) + 1)]


def _cosine(a: list[float], b: list[float]) -> float:
    norms = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return sum(x * y for x, y in zip(a, b, strict=True)) / norms if norms else 0.0
