"""The local embedding model's precision: bf16 only where the CPU does it natively, and the
same embeddings as fp32 when it does."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.providers.embeddings import (
    LocalEmbedder,
    bf16_supported,
    create_embedder,
    resolve_precision,
)
from core.settings import EmbeddingPrecision, Settings

TEXTS = [
    "VPN disconnects every 10 minutes on GlobalProtect after the last update",
    "Outlook keeps asking for my password since the MFA change",
    "Printing to the Ricoh on floor 3 fails with a badge release error",
    "BitLocker recovery key prompt after a BIOS firmware update on the docking station",
    "Reset the Okta MFA push: open the admin console, find the user, reset factors, ask them "
    "to enrol again from the Okta Verify app. " * 6,
]


def _cpuinfo(tmp_path: Path, flags: str) -> Path:
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: fpu sse2 {flags}\n")
    return path


def test_bf16_needs_amx_or_avx512_bf16(tmp_path: Path) -> None:
    assert bf16_supported(_cpuinfo(tmp_path, "avx512f amx_bf16 amx_tile"))
    assert bf16_supported(_cpuinfo(tmp_path, "avx512f avx512_bf16"))
    assert not bf16_supported(_cpuinfo(tmp_path, "avx512f avx512bw"))
    assert not bf16_supported(tmp_path / "missing")


def test_an_explicit_precision_wins_over_detection() -> None:
    assert resolve_precision(EmbeddingPrecision.fp32) is EmbeddingPrecision.fp32
    assert resolve_precision(EmbeddingPrecision.bf16) is EmbeddingPrecision.bf16
    auto = resolve_precision(EmbeddingPrecision.auto)
    assert auto is (EmbeddingPrecision.bf16 if bf16_supported() else EmbeddingPrecision.fp32)


def test_the_setting_chooses_the_model() -> None:
    settings = Settings(embedding_precision="fp32", _env_file=None)
    embedder = create_embedder(settings)
    assert isinstance(embedder, LocalEmbedder)
    assert embedder.precision is EmbeddingPrecision.fp32
    assert create_embedder(settings) is embedder  # one model per process and precision


@pytest.mark.skipif(not bf16_supported(), reason="the CPU has neither AMX nor AVX512-BF16")
async def test_bf16_embeddings_match_fp32() -> None:
    fp32 = await LocalEmbedder(EmbeddingPrecision.fp32).embed_documents(TEXTS)
    bf16 = await LocalEmbedder(EmbeddingPrecision.bf16).embed_documents(TEXTS)
    for a, b in zip(fp32, bf16, strict=True):
        assert len(b) == len(a)
        cosine = sum(x * y for x, y in zip(a, b, strict=True))  # both are unit vectors
        assert cosine >= 0.9999
