"""How far parsing one upload may go: bounds on the input, checked before or while parsing
(ingestion/loaders.py), and the budget of the process that parses it (ingestion/sandbox.py).
Built from Settings; default_limits() are Settings' own defaults (the environment is not read).
Settings are imported lazily: a parser worker unpickles these limits without loading pydantic."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.settings import Settings

MB = 1024 * 1024


@dataclass(frozen=True)
class ParseLimits:
    timeout_seconds: float  # wall clock, and CPU seconds, for one parse
    memory_mb: int  # address space a parse may add to its process
    max_decompressed_bytes: int  # DOCX: all members of the zip, as its directory declares them
    max_compression_ratio: float  # DOCX: any member over 1 MB packed tighter than this is a bomb
    max_html_depth: int
    max_html_nodes: int  # elements
    max_pdf_pages: int
    max_text_chars: int  # text extracted, all sections: what the chunker and embedder get

    @classmethod
    def from_settings(cls, settings: Settings) -> ParseLimits:
        return cls(
            timeout_seconds=settings.ingest_parse_timeout_seconds,
            memory_mb=settings.ingest_parse_memory_mb,
            max_decompressed_bytes=settings.ingest_max_decompressed_bytes,
            max_compression_ratio=settings.ingest_max_compression_ratio,
            max_html_depth=settings.ingest_max_html_depth,
            max_html_nodes=settings.ingest_max_html_nodes,
            max_pdf_pages=settings.ingest_max_pdf_pages,
            max_text_chars=settings.ingest_max_text_chars,
        )


@cache
def default_limits() -> ParseLimits:
    from core.settings import Settings

    return ParseLimits.from_settings(Settings.model_construct())
