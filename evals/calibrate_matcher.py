"""Where the coverage matcher's thresholds come from (MatchThresholds), reproducibly:

    .venv/bin/python -m evals.calibrate_matcher [--dataset DIR]

Positives: each reference point against the sentences of the sources it was written from (its
case's relevant history resolutions and KB documents). Negatives: the same point against the
sources of another case, of another category ("cross") and of the same category with no shared
source ("near", the harder kind). Prints, for a grid of thresholds, the share of positives the
matcher covers and the share of negatives it wrongly covers.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from core.providers.embeddings import LocalEmbedder
from evals.command import DEFAULT_DATASET
from evals.coverage import MatcherCoverage
from evals.dataset import Dataset, EvalCase, load_dataset
from evals.metrics import MatchThresholds, point_covered

COSINES = (0.55, 0.6, 0.65, 0.7, 0.75)
OVERLAPS = (0.5, 0.6, 0.7)
_MARKUP = re.compile(r"<[^>]+>|^\s*(#+|\d+[.)]|[-*])\s*", re.MULTILINE)


def sources(dataset: Dataset) -> Callable[[EvalCase], str]:
    history = {h.id: h.resolution for h in dataset.history}
    kb = {f.name: _MARKUP.sub(" ", f.path.read_text(encoding="utf-8")) for f in dataset.kb}

    def text(case: EvalCase) -> str:
        return "\n".join(
            [*(history[h] for h in case.relevant_history), *(kb[d] for d in case.relevant_docs)]
        )

    return text


def pairs(dataset: Dataset, seed: int = 0) -> dict[str, list[tuple[EvalCase, EvalCase]]]:
    """(case whose points are matched, case whose sources they are matched against)."""
    rng = random.Random(seed)
    cases = [c for c in dataset.cases if c.reference_points]
    near_of = {
        c.id: [
            o
            for o in cases
            if o.expected_category == c.expected_category
            and o.id != c.id
            and not set(o.relevant_docs) & set(c.relevant_docs)
            and not set(o.relevant_history) & set(c.relevant_history)
        ]
        for c in cases
    }
    return {
        "positive": [(c, c) for c in cases],
        "cross": [
            (c, rng.choice([o for o in cases if o.expected_category != c.expected_category]))
            for c in cases
        ],
        "near": [(c, rng.choice(near_of[c.id])) for c in cases if near_of[c.id]],
    }


class CachingEmbedder:
    """The same KB sentences are embedded for many points: embed each text once."""

    def __init__(self, embedder: LocalEmbedder) -> None:
        self.embedder, self.name, self.dim = embedder, embedder.name, embedder.dim
        self._vectors: dict[str, list[float]] = {}

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        new = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        for text, vector in zip(new, await self.embedder.embed_documents(new), strict=True):
            self._vectors[text] = vector
        return [self._vectors[t] for t in texts]

    async def embed_query(self, text: str) -> list[float]:
        return (await self.embed_documents([text]))[0]


async def best_scores(
    matcher: MatcherCoverage, text: Callable[[EvalCase], str], group: list
) -> list[tuple[float, float]]:
    scores = []
    for case, other in group:
        scores += await matcher.best_scores(case.reference_points, text(other))
    return scores


async def main(dataset_dir: Path) -> None:
    dataset = load_dataset(dataset_dir)
    text, matcher = sources(dataset), MatcherCoverage(CachingEmbedder(LocalEmbedder()))
    groups = {name: await best_scores(matcher, text, g) for name, g in pairs(dataset).items()}
    print("share of points covered; positive should be high, cross and near low")
    print(f"{'cosine':>6} {'overlap':>7}  " + "  ".join(f"{g:>8}" for g in groups))
    for cosine in COSINES:
        for overlap in OVERLAPS:
            thresholds = MatchThresholds(cosine, overlap)
            shares = [
                sum(point_covered(c, o, thresholds) for c, o in scores) / len(scores)
                for scores in groups.values()
            ]
            print(f"{cosine:>6} {overlap:>7}  " + "  ".join(f"{s:>8.3f}" for s in shares))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    asyncio.run(main(parser.parse_args().dataset))
