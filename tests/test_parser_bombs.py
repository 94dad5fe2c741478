"""Uploads built to hurt the parser, over real HTTP through the app: each is a 422 naming the file
within seconds, the server's memory barely moves, and the next upload works. Then the sandbox
itself (ingestion/sandbox.py): a parser past its time or memory, crashed or cancelled, is killed
and replaced; and the loaders' bounds and linear walks one by one. Figures are printed."""

from __future__ import annotations

import asyncio
import io
import os
import random
import signal
import statistics
import time
import zipfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace

import psutil
import pytest

from ingestion.errors import CorruptDocument, DocumentTooComplex
from ingestion.limits import ParseLimits, default_limits
from ingestion.loaders import load
from ingestion.sandbox import ParserSandbox, parse
from tests import documents as docs
from tests.conftest import assert_error_shape
from tests.test_kb_api import DOCUMENTS, upload

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
RUNBOOK = b"# Printer\n\n## Paper jams\n\nOpen tray 2 and press the green reset button.\n"
MAX_SECONDS = 5.0
MAX_RSS_GROWTH = 200 * 1024 * 1024


# --- Bombs -----------------------------------------------------------------------------------


def docx_package(
    document_xml: str, extra: dict[str, str] | None = None, overrides: str = ""
) -> bytes:
    """A minimal valid DOCX around `document_xml` (the body's content), deflated at level 9."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org'
            '/package/2006/content-types"><Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
            '"application/xml"/><Override PartName="/word/document.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
            f"{overrides}</Types>",
        )
        archive.writestr(
            "_rels/.rels",
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
            'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://'
            "schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
            '" Target="word/document.xml"/></Relationships>',
        )
        archive.writestr(
            "word/document.xml",
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="{W}">'
            f"<w:body>{document_xml}</w:body></w:document>",
        )
        for name, content in (extra or {}).items():
            archive.writestr(name, content)
    return out.getvalue()


def empty_paragraphs_docx(megabytes: int) -> bytes:
    """The measured bomb: `megabytes` of empty paragraphs (16 MB pack into ~25 KB; lxml makes
    ~325 MB of them, and python-docx took 14 minutes and 653 MB to find no text)."""
    return docx_package("<w:p/>" * (megabytes * 1024 * 1024 // 6))


def many_parts_docx(parts: int) -> bytes:
    """Headers of the document, each just under the size its ratio is checked from and packed
    1000:1: only their total gives them away (python-docx parses every related part)."""
    part = f'<w:hdr xmlns:w="{W}">' + "<w:p/>" * (1_000_000 // 6 - 20) + "</w:hdr>"
    header = "application/vnd.openxmlformats-officedocument.wordprocessingml.header+xml"
    kind = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/header"
    relations = "".join(
        f'<Relationship Id="rIdH{i}" Type="{kind}" Target="header{i}.xml"/>' for i in range(parts)
    )
    overrides = "".join(
        f'<Override PartName="/word/header{i}.xml" ContentType="{header}"/>' for i in range(parts)
    )
    members = {f"word/header{i}.xml": part for i in range(parts)}
    members["word/_rels/document.xml.rels"] = (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
        f'openxmlformats.org/package/2006/relationships">{relations}</Relationships>'
    )
    return docx_package("<w:p><w:r><w:t>x</w:t></w:r></w:p>", members, overrides)


def paragraphs_docx(paragraphs: int) -> bytes:
    """Empty paragraphs with random revision ids: packs only ~7:1, passes every bound on the
    input; 8 MB of XML that lxml makes ten times bigger."""
    rng = random.Random(11)
    return docx_package(
        "".join(f'<w:p w:rsidR="{rng.getrandbits(16):04X}"/>' for _ in range(paragraphs))
    )


def page_tree_pdf(pages: int, *, declared: int | None = None) -> bytes:
    """One page object referenced `pages` times: a few bytes per page. `declared` is the /Count
    the tree claims (a liar claims 1)."""
    content = b"BT /F1 12 Tf 72 720 Td (Restart the print spooler) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + b"3 0 R " * pages + b"] /Count %d >>" % (declared or pages),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


@dataclass(frozen=True)
class Bomb:
    filename: str
    make: Callable[[], bytes]
    message: str  # in the 422's message, after the file name
    settings: dict[str, object] | None = None  # tighter than the defaults, for this bomb


BOMBS = [
    Bomb("empty-paragraphs.docx", lambda: empty_paragraphs_docx(16), "is a zip bomb"),
    Bomb("many-parts.docx", lambda: many_parts_docx(120), "unpacks to 114 MB"),
    Bomb("nested.html", lambda: b"<div>a" * 200_000, "nests HTML elements more than 512"),
    Bomb("wide.html", lambda: b"<br>" * 500_001, "more than 500,000 HTML elements"),
    Bomb("pages.pdf", lambda: page_tree_pdf(50_000), "has 50,000 pages"),
    Bomb("liar.pdf", lambda: page_tree_pdf(50_000, declared=1), "has 50,000 pages"),
    Bomb(
        "memory.docx",
        lambda: paragraphs_docx(400_000),
        "needs more than 64 MB of memory",
        {"ingest_parse_memory_mb": 64},
    ),
    Bomb(
        "slow.pdf",
        lambda: page_tree_pdf(1_999),  # under the page limit; ~2 s of text extraction here
        "took longer than 0.25 s to parse",
        {"ingest_parse_timeout_seconds": 0.25},
    ),
]


@pytest.mark.parametrize("bomb", BOMBS, ids=[b.filename for b in BOMBS])
async def test_a_bomb_is_a_quick_422_naming_the_file_and_the_next_upload_works(
    client, support, settings, monkeypatch, capsys, bomb: Bomb
) -> None:
    warm = await upload(client, support, ("printer.md", RUNBOOK))  # models loaded, worker up
    assert warm.status_code == 200, warm.text
    for name, value in (bomb.settings or {}).items():
        monkeypatch.setattr(settings, name, value)
    data = bomb.make()
    process = psutil.Process()
    rss_before = process.memory_info().rss
    started = time.perf_counter()
    response = await upload(client, support, (bomb.filename, data))
    seconds = time.perf_counter() - started
    growth = process.memory_info().rss - rss_before

    error = assert_error_shape(response, 422, "document_too_complex")
    assert error["message"].startswith(bomb.filename) and bomb.message in error["message"]
    with capsys.disabled():
        print(
            f"\n  {bomb.filename:22} {len(data) / 1024:7.0f} KB -> 422 in {seconds:5.2f} s, "
            f"server RSS {growth / 2**20:+6.1f} MB: {error['message']}"
        )
    assert seconds < MAX_SECONDS
    assert growth < MAX_RSS_GROWTH

    monkeypatch.undo()  # the next upload runs with the defaults
    assert (await client.get("/healthz")).status_code == 200
    after = await upload(client, support, ("printer-v2.md", RUNBOOK + b"Then print a test page.\n"))
    assert after.status_code == 200, after.text
    assert after.json()["results"][0]["status"] == "ingested"


async def test_a_queued_bomb_fails_with_its_error_and_the_worker_goes_on(
    app, client, support, drain, monkeypatch
) -> None:
    monkeypatch.setattr(app.state.settings, "ingest_background_bytes", 50)
    response = await upload(client, support, ("nested.html", b"<div>a" * 200_000))
    assert response.status_code == 202, response.text
    queued = await upload(client, support, ("printer.md", RUNBOOK))
    assert queued.status_code == 202
    assert await drain() == 2
    documents = (await client.get(DOCUMENTS, headers=support.headers)).json()["items"]
    by_name = {d["filename"]: d for d in documents}
    assert by_name["nested.html"]["status"] == "failed"
    assert by_name["nested.html"]["error"].startswith("nested.html nests HTML elements")
    assert by_name["printer.md"]["status"] == "ready"


@pytest.mark.parametrize(
    ("filename", "data", "outcome"),
    [
        # Quadratic before: Python's html.parser rescans an unclosed quote at every `<`
        # (30 KB: 14 s); the old Markdown heading regex backtracked over a line of spaces
        # (20 KB: 20 s); BeautifulSoup's walk looked for a heading ancestor at every text node.
        ("quotes.html", b"<p>VPN</p>" + b"<a b='" * 100_000, "ingested"),
        ("comments.html", b"<p>VPN</p>" + b"<!--" * 100_000, "ingested"),
        ("heading.md", b"# VPN" + b" " * 1_000_000 + b"x\n\nReconnect the client.\n", "ingested"),
        ("paragraphs.html", b"<p>VPN</p>" + b"<p> " * 100_000, "ingested"),
    ],
)
async def test_inputs_that_were_quadratic_parse_in_linear_time(
    client, support, capsys, filename, data, outcome
) -> None:
    started = time.perf_counter()
    response = await upload(client, support, (filename, data))
    seconds = time.perf_counter() - started
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["status"] == outcome
    with capsys.disabled():
        print(f"\n  {filename:16} {len(data) / 1024:7.0f} KB -> {outcome} in {seconds:.2f} s")
    assert seconds < MAX_SECONDS


# --- The sandbox -----------------------------------------------------------------------------


@pytest.fixture
async def sandbox() -> AsyncIterator[ParserSandbox]:
    own = ParserSandbox()  # not the app's: these tests kill workers on purpose
    yield own
    own.close()


def limits(**changes: object) -> ParseLimits:
    return replace(default_limits(), **changes)


async def gone(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                await asyncio.sleep(0.05)  # killed, not yet reaped
                continue
        except psutil.NoSuchProcess:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_warming_starts_the_worker_that_parses_the_first_upload(sandbox) -> None:
    before = {child.pid for child in psutil.Process().children()}
    sandbox.warm(workers=1)  # what `inferra serve` does at start-up
    deadline = time.monotonic() + 30
    while not (started := {c.pid for c in psutil.Process().children()} - before):
        assert time.monotonic() < deadline, "no parser worker was started"
        await asyncio.sleep(0.05)
    assert await sandbox.run(os.getpid, filename="x", limits=limits(), workers=1) in started


async def test_a_parser_killed_for_its_time_budget_leaves_the_pool_usable(sandbox) -> None:
    budget = limits(timeout_seconds=0.5)
    pid = await sandbox.run(os.getpid, filename="x", limits=budget, workers=1)
    started = time.perf_counter()
    with pytest.raises(DocumentTooComplex, match=r"^stuck\.pdf took longer than 0\.5 s"):
        await sandbox.run(time.sleep, 60, filename="stuck.pdf", limits=budget, workers=1)
    assert time.perf_counter() - started < 2.0
    assert await gone(pid)  # killed, and reaped

    guide = docs.markdown_bytes(docs.IT_GUIDE)
    parsed = await sandbox.run(
        load, "guide.md", guide, budget, filename="guide.md", limits=budget, workers=1
    )
    assert [s.heading_path for s in parsed.sections][:2] == ["VPN", "VPN > Disconnects"]
    assert await sandbox.run(os.getpid, filename="x", limits=budget, workers=1) != pid


async def test_a_parser_that_crashes_or_runs_out_of_memory_is_a_422_and_replaced(
    sandbox,
) -> None:
    budget = limits(memory_mb=256)
    with pytest.raises(DocumentTooComplex, match=r"^crash\.pdf stopped the parser: .* -6\)"):
        await sandbox.run(os.abort, filename="crash.pdf", limits=budget)
    with pytest.raises(DocumentTooComplex, match=r"^spin\.pdf stopped the parser: .* CPU time"):
        await sandbox.run(signal.raise_signal, signal.SIGXCPU, filename="spin.pdf", limits=budget)
    with pytest.raises(DocumentTooComplex, match=r"^huge\.docx needs more than 256 MB"):
        await sandbox.run(bytearray, 2 * 1024**3, filename="huge.docx", limits=budget)
    assert await sandbox.run(sum, [1, 2, 3], filename="x", limits=budget) == 6


async def test_a_cancelled_parse_is_killed_with_it(sandbox) -> None:
    budget = limits(timeout_seconds=60)
    pid = await sandbox.run(os.getpid, filename="x", limits=budget, workers=1)
    task = asyncio.ensure_future(
        sandbox.run(time.sleep, 60, filename="stuck.pdf", limits=budget, workers=1)
    )
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await gone(pid)
    assert await sandbox.run(sum, [2, 2], filename="x", limits=budget, workers=1) == 4


async def test_parses_beyond_the_worker_count_wait_their_turn(sandbox) -> None:
    budget = limits()
    data = docs.markdown_bytes(docs.IT_GUIDE)
    results = await asyncio.gather(
        *(
            sandbox.run(load, f"g{i}.md", data, budget, filename=f"g{i}.md", limits=budget)
            for i in range(6)
        )
    )
    assert [r.filename for r in results] == [f"g{i}.md" for i in range(6)]
    workers = [
        p for p in psutil.Process().children() if "ingestion.parse_worker" in " ".join(p.cmdline())
    ]
    assert 1 <= len(workers) <= 2 + 2  # this sandbox's two, and the app's if it started any


async def test_errors_cross_the_process_boundary_with_their_type_and_code(sandbox) -> None:
    budget = limits()
    with pytest.raises(CorruptDocument) as caught:
        garbage = b"%PDF-1.4 garbage"
        await sandbox.run(load, "broken.pdf", garbage, budget, filename="broken.pdf", limits=budget)
    assert caught.value.code == "corrupt_document" and caught.value.status_code == 422
    assert caught.value.message.startswith("broken.pdf is not a readable PDF")


# --- The loaders' bounds, in process ---------------------------------------------------------


def test_a_zip_directory_too_big_is_refused_before_zipfile_reads_it() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for i in range(20_000):
            archive.writestr(f"word/{i}.xml", "")
    started = time.perf_counter()
    with pytest.raises(DocumentTooComplex, match=r"^parts\.docx has more than 10,000 members"):
        load("parts.docx", out.getvalue())
    assert time.perf_counter() - started < 0.5


def test_html_is_walked_once_with_implied_end_tags_and_inline_headings() -> None:
    page = (
        b"<title>Printing</title><h1>Paper <b>jams</b></h1><p>Open tray 2<p>Press reset"
        b"<ul><li>one<li>two</ul><pre>lpq  -a\n  lprm</pre><h2>Toner</h2>Shake it"
    )
    parsed = load("print.html", page + b"<p>more" * 5_000)  # 5000 unclosed <p>: depth 3
    assert parsed.title == "Printing"
    assert [s.heading_path for s in parsed.sections] == ["Paper jams", "Paper jams > Toner"]
    assert parsed.sections[0].text == "Open tray 2\nPress reset\n\none\ntwo\nlpq  -a\n  lprm"
    assert parsed.sections[1].text.startswith("Shake it\nmore\nmore")


def test_html_past_its_depth_or_element_count_is_refused() -> None:
    with pytest.raises(DocumentTooComplex, match=r"^deep\.html nests HTML elements more than 20"):
        load("deep.html", b"<span>" * 21, limits(max_html_depth=20))
    with pytest.raises(DocumentTooComplex, match=r"^wide\.html has more than 100 HTML elements"):
        load("wide.html", b"<br>" * 101, limits(max_html_nodes=100))


def test_too_much_text_is_refused() -> None:
    with pytest.raises(DocumentTooComplex, match=r"^notes\.txt holds 2,000 characters of text"):
        load("notes.txt", b"x" * 2000, limits(max_text_chars=1000))


def test_markdown_and_html_without_text_load_empty() -> None:
    for filename, data in (("empty.md", b"# Title only\n"), ("empty.html", b"<p>   </p>")):
        assert load(filename, data).sections == []  # the pipeline then says empty_document


# --- What the sandbox costs ------------------------------------------------------------------


def manual(pages: int) -> docs.Outline:
    """A 20-page runbook: per page a chapter and two sections of ~110 words each."""
    rng = random.Random(5)
    words = "restart the print spooler service then check the queue and the badge reader".split()
    outline: docs.Outline = []
    for page in range(pages):
        for level, heading in ((1, f"Chapter {page + 1}"), (2, "Symptoms"), (2, "Resolution")):
            outline.append((level, heading, " ".join(rng.choice(words) for _ in range(110))))
    return outline


async def test_sandbox_overhead_on_normal_documents(settings, capsys) -> None:
    outline = manual(20)
    files = {
        "manual.pdf": docs.pdf_bytes(outline),
        "manual.docx": docs.docx_bytes(outline),
        "manual.md": docs.markdown_bytes(outline),
    }
    await parse("warm.md", b"# Warm\n\nup", settings)  # a worker started: the usual case
    lines = []
    for filename, data in files.items():
        in_process, sandboxed = [], []
        for _ in range(5):
            started = time.perf_counter()
            expected = load(filename, data)
            in_process.append(time.perf_counter() - started)
            started = time.perf_counter()
            parsed = await parse(filename, data, settings)
            sandboxed.append(time.perf_counter() - started)
            assert parsed == expected
        before, after = statistics.median(in_process), statistics.median(sandboxed)
        lines.append(
            f"  {filename:12} {len(data) / 1024:5.0f} KB  in process {before * 1000:6.1f} ms  "
            f"sandbox {after * 1000:6.1f} ms  (+{(after - before) * 1000:.1f} ms)"
        )
        assert after - before < 0.5
    with capsys.disabled():
        print("\n" + "\n".join(lines))
