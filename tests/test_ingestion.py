"""Ingestion on real Postgres with the real local embedding model: loaders by content, token-sized
structure-aware chunks, duplicates, atomic replacement, folders for the CLI, and the agent citing
what was ingested."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from core.models import Document, DocumentChunk
from core.providers import ProviderUnavailable
from core.retrieval import Retriever
from ingestion.chunker import chunk_sections, count_tokens
from ingestion.errors import (
    CorruptDocument,
    EmbeddingsUnavailable,
    EmptyDocument,
    UnsupportedDocument,
)
from ingestion.limits import default_limits
from ingestion.loaders import Section, load
from ingestion.pipeline import (
    IngestStatus,
    SourceFile,
    ingest_bytes,
    ingest_paths,
    ingest_sequence,
)
from tests import documents as docs
from tests.fakes import classification, resolution, scripted
from tests.test_cli import cli

GUIDE_PATHS = [
    "VPN",
    "VPN > Disconnects",
    "Printing",
    "Printing > Paper jams",
    "Email",
    "Email > Outlook stuck loading profile",
]
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


@pytest.mark.parametrize(
    ("filename", "make", "pages", "title"),
    [
        (
            "guide.pdf",
            lambda: docs.pdf_bytes(docs.IT_GUIDE, title="IT guide"),
            [1, 1, 2, 2, 3, 3],
            "IT guide",
        ),
        (
            "guide.docx",
            lambda: docs.docx_bytes(docs.IT_GUIDE, title="IT guide"),
            [None] * 6,
            "IT guide",
        ),
        ("guide.md", lambda: docs.markdown_bytes(docs.IT_GUIDE), [None] * 6, "VPN"),
        ("guide.html", lambda: docs.html_bytes(docs.IT_GUIDE), [None] * 6, "IT guide"),
    ],
)
def test_each_format_loads_its_headings_and_pages(filename, make, pages, title) -> None:
    parsed = load(filename, make())
    assert [s.heading_path for s in parsed.sections] == GUIDE_PATHS
    assert [s.page for s in parsed.sections] == pages
    assert parsed.title == title
    jam = parsed.sections[3].text
    assert "green reset button" in jam and "Paper jams" not in jam  # the heading is not body
    assert all("Home" not in s.text and "track(" not in s.text for s in parsed.sections)


def test_plain_text_is_one_section_titled_by_its_first_line() -> None:
    parsed = load("notes.txt", docs.text_bytes(docs.IT_GUIDE))
    assert parsed.mime == "text/plain" and parsed.title == "VPN"
    [section] = parsed.sections
    assert section.heading_path is None and "green reset button" in section.text


@pytest.mark.parametrize(
    ("filename", "data"),
    [
        ("scan.pdf", PNG),  # a PNG renamed .pdf
        ("notes.txt", docs.pdf_bytes(docs.IT_GUIDE)),  # a PDF renamed .txt
        ("guide.docx", b"# just markdown"),
        ("sheet.docx", docs.zip_bytes({"xl/workbook.xml": "<workbook/>"})),  # a zip, not a DOCX
        ("utf16.txt", "hello".encode("utf-16")),
        ("setup.exe", b"MZ\x90\x00"),
        ("README", b"no extension"),
    ],
)
def test_content_that_contradicts_the_extension_is_unsupported(filename, data) -> None:
    with pytest.raises(UnsupportedDocument) as caught:
        load(filename, data)
    assert caught.value.status_code == 415 and caught.value.message.startswith(filename)


@pytest.mark.parametrize(
    ("filename", "data", "reason"),
    [
        ("broken.pdf", b"%PDF-1.4\n" + bytes(range(256)) * 4, "not a readable PDF"),
        ("locked.pdf", docs.encrypted_pdf_bytes(docs.IT_GUIDE), "encrypted"),
        ("broken.docx", docs.docx_bytes(docs.IT_GUIDE)[:2000], "not a readable DOCX"),
    ],
)
def test_damaged_or_encrypted_files_are_corrupt_and_named(filename, data, reason) -> None:
    with pytest.raises(CorruptDocument) as caught:
        load(filename, data)
    assert caught.value.status_code == 422 and caught.value.code == "corrupt_document"
    assert filename in caught.value.message and reason in caught.value.message


def test_a_docx_that_unpacks_to_too_much_is_refused() -> None:
    limits = replace(default_limits(), max_decompressed_bytes=10_000)  # tests/test_parser_bombs
    with pytest.raises(CorruptDocument, match=r"guide\.docx unpacks to") as caught:
        load("guide.docx", docs.docx_bytes(docs.IT_GUIDE), limits)
    assert caught.value.status_code == 422 and caught.value.code == "document_too_complex"


def test_markdown_headings_in_code_fences_and_setext_headings() -> None:
    text = (
        "Guide\n=====\n\nintro\n\n```bash\n# a comment, not a heading\n```\n\n"
        "Setup\n-----\nrun it\n"
    )
    parsed = load("guide.md", text.encode())
    assert [(s.heading_path, s.text) for s in parsed.sections] == [
        ("Guide", "intro\n\n```bash\n# a comment, not a heading\n```"),
        ("Guide > Setup", "run it"),
    ]


def test_chunks_are_sized_in_model_tokens_with_overlap_and_never_cross_sections() -> None:
    sentences = [f"Step {i}: restart the print spooler service number {i}." for i in range(120)]
    sections = [
        Section(" ".join(sentences), "Printing > Spooler", page=4),
        Section("A short one.", "Printing > Toner", page=5),
    ]
    chunks = chunk_sections(sections, chunk_tokens=120, overlap_tokens=30)
    spooler = [c for c in chunks if c.heading_path == "Printing > Spooler"]
    assert len(spooler) > 5 and {c.page for c in spooler} == {4}
    assert all(count_tokens(c.embedding_text) <= 120 for c in chunks)  # heading included
    assert chunks[-1].text == "A short one." and chunks[-1].page == 5
    for previous, following in itertools.pairwise(spooler):
        first_sentence = following.text.split(". ")[0]
        assert first_sentence in previous.text  # the overlap repeats the tail
    # The tokenizer file pads/truncates to 128: the counts must not be capped by it.
    assert count_tokens(" ".join(sentences)) > 1000


async def test_ingest_then_the_same_bytes_again_is_a_duplicate(
    sessionmaker, agent_context, settings
) -> None:
    data = docs.markdown_bytes(docs.IT_GUIDE)
    async with sessionmaker.begin() as session:
        first = await ingest(session, agent_context, settings, "guide.md", data)
    async with sessionmaker.begin() as session:
        again = await ingest(session, agent_context, settings, "copy-of-guide.md", data)
    assert first.status is IngestStatus.ingested and first.chunks == 6 and first.pages is None
    assert again.status is IngestStatus.duplicate and again.document_id == first.document_id
    assert again.chunks == 6
    assert await count(sessionmaker, Document) == 1


async def test_new_content_under_the_same_name_replaces_the_old_version(
    sessionmaker, agent_context, settings
) -> None:
    async with sessionmaker.begin() as session:
        old = await ingest(session, agent_context, settings, "guide.md", VPN_V1)
    async with sessionmaker.begin() as session:
        new = await ingest(session, agent_context, settings, "guide.md", VPN_V2)
    assert new.status is IngestStatus.replaced and new.replaced_ids == (old.document_id,)
    async with sessionmaker() as session:
        hits = await Retriever(settings, agent_context.embedder).doc_chunks(
            session, "which GlobalProtect version fixes VPN drops?"
        )
    assert {h.document_id for h in hits} == {new.document_id}
    assert "7.1" in hits[0].text
    assert await count(sessionmaker, Document) == 1


async def test_a_failed_replacement_keeps_the_old_version(
    sessionmaker, agent_context, settings
) -> None:
    async with sessionmaker.begin() as session:
        old = await ingest(session, agent_context, settings, "guide.md", VPN_V1)
    async with sessionmaker.begin() as session:
        with pytest.raises(DBAPIError):  # 3-d vectors into a 384-d column: the insert fails
            await ingest_bytes(
                session=session,
                embedder=WrongDimensionEmbedder(),
                settings=settings,
                filename="guide.md",
                data=VPN_V2,
            )
        # The savepoint rolled back the delete too; the session goes on and commits.
        assert await session.get(Document, old.document_id) is not None
    async with sessionmaker() as session:
        chunks = await session.scalars(
            select(DocumentChunk.text).where(DocumentChunk.document_id == old.document_id)
        )
        assert any("6.2" in text for text in chunks)


async def test_embeddings_go_to_the_provider_in_batches(
    sessionmaker, agent_context, settings, monkeypatch
) -> None:
    monkeypatch.setattr(settings, "ingest_embed_batch_size", 4)
    embedder = CountingEmbedder(agent_context.embedder)
    async with sessionmaker.begin() as session:
        result = await ingest_bytes(
            session=session,
            embedder=embedder,
            settings=settings,
            filename="guide.md",
            data=docs.markdown_bytes(docs.IT_GUIDE),
        )
    assert result.chunks == 6 and embedder.batches == [4, 2]


async def test_an_embedding_provider_that_fails_stores_nothing_and_stops_calling(
    sessionmaker, agent_context, settings, monkeypatch
) -> None:
    monkeypatch.setattr(settings, "ingest_embed_batch_size", 1)
    embedder = FailingEmbedder(agent_context.embedder, fail_on_call=2)
    async with sessionmaker.begin() as session:
        with pytest.raises(EmbeddingsUnavailable) as caught:
            await ingest_bytes(
                session=session,
                embedder=embedder,
                settings=settings,
                filename="guide.md",
                data=docs.markdown_bytes(docs.IT_GUIDE),
            )
    assert "guide.md" in caught.value.message and "nothing was stored" in caught.value.message
    assert embedder.calls < 6  # two in flight at a time: the failure cancels those still waiting
    assert await count(sessionmaker, Document) == 0


async def test_a_file_without_text_is_refused(sessionmaker, agent_context, settings) -> None:
    async with sessionmaker.begin() as session:
        with pytest.raises(EmptyDocument) as caught:
            await ingest(session, agent_context, settings, "empty.md", b"# Title only\n\n")
    assert caught.value.status_code == 422 and "empty.md" in caught.value.message


async def test_ingest_paths_walks_folders_and_reports_a_summary(
    tmp_path: Path, sessionmaker, agent_context, settings
) -> None:
    kb = tmp_path / "kb"
    (kb / "vpn").mkdir(parents=True)
    (kb / "vpn" / "README.md").write_bytes(VPN_V1)
    (kb / "print").mkdir()
    (kb / "print" / "README.md").write_bytes(docs.markdown_bytes(docs.IT_GUIDE[2:4]))
    (kb / "guide.pdf").write_bytes(docs.pdf_bytes(docs.IT_GUIDE))
    (kb / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    (kb / "logo.png").write_bytes(PNG)  # not an accepted extension: not picked up
    (kb / ".git").mkdir()
    (kb / ".git" / "HEAD.md").write_text("# hidden\n\nnot knowledge")
    single = tmp_path / "faq.txt"
    single.write_text("FAQ\nRestart the laptop before calling the service desk.")

    async with sessionmaker.begin() as session:
        summary = await run_ingest_paths(session, [kb, single], agent_context, settings)
    assert summary.files == 5 and summary.ingested == 4 and summary.duplicates == 0
    assert summary.pages == 3 and summary.chunks == 1 + 2 + 6 + 1
    assert [(Path(p).name, "broken.pdf" in m) for p, m in summary.failures] == [
        ("broken.pdf", True)
    ]
    async with sessionmaker() as session:
        names = set(await session.scalars(select(Document.filename)))
    assert names == {"vpn/README.md", "print/README.md", "guide.pdf", "faq.txt"}

    async with sessionmaker.begin() as session:
        again = await run_ingest_paths(session, [kb], agent_context, settings)
    assert again.duplicates == 3 and again.ingested == 0 and len(again.failures) == 1


async def test_a_sequence_stores_each_file_in_its_own_transaction_in_order(
    sessionmaker, agent_context, settings
) -> None:
    """The pipeline stores one file while it embeds the next: results still come in file order,
    each file committed on its own, the same bytes twice in a row a duplicate (caught by the
    store, since the second's check ran before the first's store), a broken file in between
    reported, and a caller that stops early leaves the file in flight rolled back."""
    contents = [
        ("a.md", VPN_V1),
        ("a-copy.md", VPN_V1),
        ("broken.pdf", b"%PDF-1.4 garbage"),
        ("print.md", docs.markdown_bytes(docs.IT_GUIDE[2:4])),
    ]
    outcomes = [
        (file.name, getattr(outcome, "status", type(outcome).__name__))
        async for file, outcome in sequence(contents, sessionmaker, agent_context, settings)
    ]
    assert outcomes == [
        ("a.md", IngestStatus.ingested),
        ("a-copy.md", IngestStatus.duplicate),
        ("broken.pdf", "CorruptDocument"),
        ("print.md", IngestStatus.ingested),
    ]
    async with sessionmaker() as session:
        assert set(await session.scalars(select(Document.filename))) == {"a.md", "print.md"}

    later = [("email.md", docs.markdown_bytes(docs.IT_GUIDE[4:])), ("vpn2.md", VPN_V2)]
    async with contextlib.aclosing(sequence(later, sessionmaker, agent_context, settings)) as run:
        async for file, _ in run:
            assert file.name == "email.md"
            break  # vpn2.md was embedded, not stored: its transaction is rolled back
    async with sessionmaker() as session:
        names = set(await session.scalars(select(Document.filename)))
    assert names == {"a.md", "print.md", "email.md"}


async def test_the_cli_ingests_a_folder_and_prints_the_summary(
    tmp_path: Path, settings, sessionmaker
) -> None:
    (tmp_path / "guide.pdf").write_bytes(docs.pdf_bytes(docs.IT_GUIDE))
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    result = await cli(settings, "ingest", str(tmp_path))
    assert result.returncode == 1, result.stderr  # one file failed
    assert "Knowledge-base ingestion" in result.stdout and "broken.pdf" in result.stdout
    assert await count(sessionmaker, DocumentChunk) == 6


async def test_the_agent_cites_an_ingested_chunk(
    app, client, user, support, sessionmaker, agent_context, settings, drain
) -> None:
    async with sessionmaker.begin() as session:
        ingested = await ingest(
            session, agent_context, settings, "it-guide.pdf", docs.pdf_bytes(docs.IT_GUIDE)
        )
    agent_context.chat_model = scripted(classification(), resolution(["D1"]))
    response = await client.post(
        "/api/v1/tickets",
        json={"title": "VPN keeps dropping", "description": "GlobalProtect disconnects often."},
        headers=user.headers,
    )
    assert response.status_code == 201, response.text
    await drain()
    ticket = (  # as staff: a requester sees a source's title, not its id
        await client.get(
            f"/api/v1/tickets/{response.json()['ticket']['id']}", headers=support.headers
        )
    ).json()
    [source] = ticket["latest_resolution"]["sources"]
    async with sessionmaker() as session:
        chunk = await session.get(DocumentChunk, uuid.UUID(source["id"]))
    assert source["type"] == "doc" and chunk.document_id == ingested.document_id
    assert source["title"] == "it-guide.pdf > VPN > Disconnects" and chunk.page == 1


# --- helpers ---------------------------------------------------------------------------------

VPN_V1 = b"# VPN\n\n## Disconnects\n\nInstall GlobalProtect 6.2 to fix the keep-alive drops.\n"
VPN_V2 = b"# VPN\n\n## Disconnects\n\nInstall GlobalProtect 7.1; 6.2 is withdrawn.\n"


class WrongDimensionEmbedder:
    name = "broken"
    dim = 3

    async def embed_documents(self, texts):
        return [[0.1, 0.2, 0.3] for _ in texts]

    async def embed_query(self, text):
        return [0.1, 0.2, 0.3]


class CountingEmbedder:
    """The real embedder, recording the size of each call."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.batches: list[int] = []

    async def embed_documents(self, texts):
        self.batches.append(len(texts))
        return await self.inner.embed_documents(texts)

    async def embed_query(self, text):
        return await self.inner.embed_query(text)


class FailingEmbedder(CountingEmbedder):
    """The real embedder, unavailable from its `fail_on_call`-th call on."""

    def __init__(self, inner, fail_on_call: int) -> None:
        super().__init__(inner)
        self.fail_on_call, self.calls = fail_on_call, 0

    async def embed_documents(self, texts):
        self.calls += 1
        if self.calls >= self.fail_on_call:
            await asyncio.sleep(0.01)  # a provider fails after a while, not at once
            raise ProviderUnavailable("embeddings unavailable: the test says so")
        return await super().embed_documents(texts)


async def ingest(session, agent_context, settings, filename: str, data: bytes):
    return await ingest_bytes(
        session=session,
        embedder=agent_context.embedder,
        settings=settings,
        filename=filename,
        data=data,
    )


async def run_ingest_paths(session, paths, agent_context, settings):
    return await ingest_paths(session, paths, embedder=agent_context.embedder, settings=settings)


def sequence(contents: list[tuple[str, bytes]], sessionmaker, agent_context, settings):
    files = [SourceFile(name, _returns(data)) for name, data in contents]
    return ingest_sequence(
        files, transaction=sessionmaker.begin, embedder=agent_context.embedder, settings=settings
    )


def _returns(data: bytes):
    async def read() -> bytes:
        return data

    return read


async def count(sessionmaker, model) -> int:
    async with sessionmaker() as session:
        return await session.scalar(select(func.count()).select_from(model))
