"""The local embedding model's precision: bf16 only where the CPU does it natively, and the
same embeddings as fp32 when it does."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.providers.embeddings import (
    MODEL_THREADS,
    LocalEmbedder,
    batches_of_few_shapes,
    bf16_is_faster,
    create_embedder,
    resolve_precision,
)
from core.settings import EmbeddingPrecision, Settings

REPO = Path(__file__).resolve().parents[1]
# What sentence-transformers 6.2 (the model's own runner) produced for these texts in fp32.
REFERENCE = json.loads((REPO / "tests" / "data" / "minilm_reference.json").read_text())

TEXTS = [
    "VPN disconnects every 10 minutes on GlobalProtect after the last update",
    "Outlook keeps asking for my password since the MFA change",
    "Printing to the Ricoh on floor 3 fails with a badge release error",
    "BitLocker recovery key prompt after a BIOS firmware update on the docking station",
    "Reset the Okta MFA push: open the admin console, find the user, reset factors, ask them "
    "to enrol again from the Okta Verify app. " * 6,
]


def _cpuinfo(tmp_path: Path, flags: str, vendor: str = "GenuineIntel") -> Path:
    path = tmp_path / "cpuinfo"
    path.write_text(
        f"processor\t: 0\nvendor_id\t: {vendor}\nmodel name\t: Test CPU\n"
        f"flags\t\t: fpu sse2 {flags}\n"
    )
    return path


def test_bf16_is_chosen_where_it_measured_faster(tmp_path: Path) -> None:
    assert bf16_is_faster(_cpuinfo(tmp_path, "avx512f amx_bf16 amx_tile"))
    assert bf16_is_faster(_cpuinfo(tmp_path, "avx512f avx512_bf16", vendor="AuthenticAMD"))
    assert not bf16_is_faster(_cpuinfo(tmp_path, "avx512f avx512_bf16"))  # Xeon: slower
    assert not bf16_is_faster(_cpuinfo(tmp_path, "avx512f avx512bw", vendor="AuthenticAMD"))
    assert not bf16_is_faster(tmp_path / "missing")


def test_an_explicit_precision_wins_over_detection() -> None:
    assert resolve_precision(EmbeddingPrecision.fp32) is EmbeddingPrecision.fp32
    assert resolve_precision(EmbeddingPrecision.bf16) is EmbeddingPrecision.bf16
    auto = resolve_precision(EmbeddingPrecision.auto)
    assert auto is (EmbeddingPrecision.bf16 if bf16_is_faster() else EmbeddingPrecision.fp32)


def test_the_setting_chooses_the_model() -> None:
    settings = Settings(embedding_precision="fp32", _env_file=None)
    embedder = create_embedder(settings)
    assert isinstance(embedder, LocalEmbedder)
    assert embedder.precision is EmbeddingPrecision.fp32
    assert create_embedder(settings) is embedder  # one model per process and precision


async def test_bf16_embeddings_match_fp32() -> None:
    fp32 = await LocalEmbedder(EmbeddingPrecision.fp32).embed_documents(TEXTS)
    bf16 = await LocalEmbedder(EmbeddingPrecision.bf16).embed_documents(TEXTS)
    for a, b in zip(fp32, bf16, strict=True):
        assert len(b) == len(a)
        cosine = sum(x * y for x, y in zip(a, b, strict=True))  # both are unit vectors
        assert cosine >= 0.9999


@pytest.mark.parametrize("precision", [EmbeddingPrecision.fp32, EmbeddingPrecision.bf16])
async def test_the_local_model_embeds_as_sentence_transformers_does(
    precision: EmbeddingPrecision,
) -> None:
    """The model runs through transformers; sentence-transformers' vectors are the reference,
    a long text (past the model's 256 word-pieces) and a one-word one included. In bf16 the
    batches (power-of-two sizes, padded to 32 word-pieces) round differently: same direction."""
    ours = await LocalEmbedder(precision).embed_documents(REFERENCE["texts"])
    for expected, vector in zip(REFERENCE["vectors"], ours, strict=True):
        if precision is EmbeddingPrecision.bf16:
            assert sum(x * y for x, y in zip(expected, vector, strict=True)) >= 0.9999
        else:
            assert vector == pytest.approx(expected, abs=1e-5)


async def test_concurrent_calls_get_the_vectors_of_their_own_texts() -> None:
    """Batches run side by side on the model's threads (one tokenizer, guarded): calls made at
    once, of several batches each, get exactly what they get one at a time, in their order."""
    embedder = LocalEmbedder(EmbeddingPrecision.fp32)
    calls = [TEXTS * 8, TEXTS[::-1], TEXTS[2:] * 15, [TEXTS[0]]]
    alone = [await embedder.embed_documents(texts) for texts in calls]
    together = await asyncio.gather(*(embedder.embed_documents(texts) for texts in calls))
    for one, other in zip(alone, together, strict=True):
        assert len(other) == len(one)
        for a, b in zip(one, other, strict=True):
            assert b == pytest.approx(a, abs=1e-6)
    assert embedder._threads._max_workers == min(os.cpu_count() or 1, MODEL_THREADS)


async def test_a_small_call_gives_every_model_thread_a_share(monkeypatch) -> None:
    """32 texts were one batch on one thread while the other core idled."""
    embedder = LocalEmbedder(EmbeddingPrecision.fp32)
    sizes: list[int] = []
    embed_batch = embedder._embed_batch
    monkeypatch.setattr(
        embedder, "_embed_batch", lambda texts: sizes.append(len(texts)) or embed_batch(texts)
    )
    threads = embedder._thread_count
    await embedder.embed_documents((TEXTS * 32)[:32])
    assert len(sizes) >= threads and max(sizes) <= -(-32 // threads)  # 16 + 16 on two cores
    sizes.clear()
    await embedder.embed_documents(TEXTS[:1])
    assert sizes == [1]


def test_batches_take_few_shapes() -> None:
    sizes = [len(batch) for batch in batches_of_few_shapes(list(range(11)), largest=32)]
    assert sizes == [8, 2, 1]
    sizes = [len(batch) for batch in batches_of_few_shapes(list(range(75)), largest=48)]
    assert sizes == [32, 32, 8, 2, 1]
    assert [len(b) for b in batches_of_few_shapes([], largest=32)] == []


def test_serving_the_local_model_imports_no_data_science_stack() -> None:
    """sentence-transformers, scikit-learn, pandas and pyarrow cost every process ~150 MB."""
    script = (
        "import asyncio, sys\n"
        "from core.providers.embeddings import LocalEmbedder\n"
        "asyncio.run(LocalEmbedder().embed_query('VPN drops'))\n"
        "heavy = {'sentence_transformers', 'sklearn', 'pandas', 'pyarrow'}\n"
        "print(sorted(heavy & sys.modules.keys()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert done.stdout.strip().splitlines()[-1] == "[]"
