"""Loaders: a file's bytes -> a ParsedDocument (title, sections with heading path and PDF page).

The type is decided by the content (PDF magic, a zip holding word/document.xml, UTF-8 text) and
the extension must agree with it: a PNG renamed x.pdf is refused, not parsed as garbage.
PDF: pypdf (text per page, headings from the outline); DOCX: python-docx (Heading styles);
HTML: lxml's HTML parser, streamed (h1-h6); Markdown: ATX and setext headings outside code fences.

Every loader is bounded in time and memory by its input (ingestion/limits.py): a DOCX's zip
directory is checked before any member is opened, HTML is walked once without building a tree
(depth and elements counted as it goes), a PDF's pages are counted before any text is extracted,
and no loader is worse than linear in its input. What is left (a pathological stream, a parser
bug) is for the sandbox the pipeline parses in (ingestion/sandbox.py).
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePath

import structlog

from ingestion.errors import CorruptDocument, DocumentTooComplex, UnsupportedDocument
from ingestion.limits import MB, ParseLimits, default_limits

log = structlog.get_logger(__name__)

HEADING_SEPARATOR = " > "
MAX_TITLE_CHARS = 200


class DocumentKind(StrEnum):
    """The accepted types; the value is the MIME type stored with the document."""

    pdf = "application/pdf"
    docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    html = "text/html"
    markdown = "text/markdown"
    text = "text/plain"


EXTENSIONS: dict[str, DocumentKind] = {
    ".pdf": DocumentKind.pdf,
    ".docx": DocumentKind.docx,
    ".html": DocumentKind.html,
    ".htm": DocumentKind.html,
    ".md": DocumentKind.markdown,
    ".markdown": DocumentKind.markdown,
    ".txt": DocumentKind.text,
}
TEXT_KINDS = frozenset({DocumentKind.html, DocumentKind.markdown, DocumentKind.text})
ACCEPTED = ", ".join(EXTENSIONS)
PDF_MAGIC = b"%PDF-"
ZIP_MAGIC = b"PK\x03\x04"
# A DOCX holds tens of members (hundreds with many images); its zip directory is read before the
# archive is opened: zipfile would build an entry per member (200k entries: 6 s of CPU).
MAX_ZIP_ENTRIES = 10_000
MAX_ZIP_DIRECTORY_BYTES = 4 * MB
RATIO_CHECKED_FROM_BYTES = MB  # smaller members may compress tightly (styles.xml: 30:1)


@dataclass(frozen=True)
class Section:
    """Text under one heading (or on one PDF page): chunks never cross a section."""

    text: str
    heading_path: str | None = None
    page: int | None = None


@dataclass(frozen=True)
class ParsedDocument:
    filename: str
    kind: DocumentKind
    title: str | None
    pages: int | None
    sections: list[Section]

    @property
    def mime(self) -> str:
        return self.kind.value


def load(filename: str, data: bytes, limits: ParseLimits | None = None) -> ParsedDocument:
    """Parses in this process (within the input bounds of `limits`, by default the settings'
    defaults); the pipeline calls ingestion.sandbox.parse, which runs this in a worker."""
    limits = limits or default_limits()
    kind = detect_kind(filename, data)
    parsed = _LOADERS[kind](filename, data, limits)
    chars = sum(len(s.text) for s in parsed.sections)
    if chars > limits.max_text_chars:
        raise DocumentTooComplex(
            f"{filename} holds {chars:,} characters of text, more than the limit of "
            f"{limits.max_text_chars:,} per file; split it"
        )
    return parsed


def is_accepted_name(filename: str) -> bool:
    return PurePath(filename).suffix.lower() in EXTENSIONS


def detect_kind(filename: str, data: bytes) -> DocumentKind:
    claimed = EXTENSIONS.get(PurePath(filename).suffix.lower())
    if claimed is None:
        raise UnsupportedDocument(f"{filename}: unsupported file type (accepted: {ACCEPTED})")
    found = _sniff(data)
    if found is claimed or (found is DocumentKind.text and claimed in TEXT_KINDS):
        return claimed
    if found is None:
        raise UnsupportedDocument(f"{filename}: the content is not a supported document type")
    raise UnsupportedDocument(
        f"{filename}: the content is {found.name.upper()}, which contradicts the extension "
        f"{PurePath(filename).suffix.lower()}"
    )


def _sniff(data: bytes) -> DocumentKind | None:
    """The kind the bytes themselves show; text covers HTML and Markdown too."""
    if data.startswith(PDF_MAGIC):
        return DocumentKind.pdf
    if data.startswith(ZIP_MAGIC):
        if _zip_directory_too_big(data):
            return DocumentKind.docx  # the DOCX loader refuses it (and says why)
        try:
            names = zipfile.ZipFile(io.BytesIO(data)).namelist()
        except zipfile.BadZipFile:
            return DocumentKind.docx  # a damaged zip: the DOCX loader reports it as corrupt
        return DocumentKind.docx if "word/document.xml" in names else None
    return DocumentKind.text if _decode_text(data) is not None else None


def _decode_text(data: bytes) -> str | None:
    if b"\x00" in data:  # UTF-16 or binary: not a text file we can index
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def _title(*candidates: str | None) -> str | None:
    for candidate in candidates:
        if candidate and candidate.strip():
            return " ".join(candidate.split())[:MAX_TITLE_CHARS]
    return None


def _tidy(text: str) -> str:
    """Trailing spaces off, runs of blank lines down to one: chunks stay readable."""
    lines = [line.rstrip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


class SectionBuilder:
    """Collects text under the current heading path; each heading closes the section before it."""

    def __init__(self) -> None:
        self._path: list[tuple[int, str]] = []
        self._parts: list[str] = []
        self.sections: list[Section] = []
        self.first_heading: str | None = None

    def heading(self, level: int, title: str) -> None:
        title = " ".join(title.split())
        if not title:
            return
        self._flush()
        self._path = [(lvl, t) for lvl, t in self._path if lvl < level] + [(level, title)]
        self.first_heading = self.first_heading or title

    def add(self, text: str) -> None:
        self._parts.append(text)

    def finish(self) -> list[Section]:
        self._flush()
        return self.sections

    def _flush(self) -> None:
        text = _tidy("".join(self._parts))
        self._parts = []
        if text:
            path = HEADING_SEPARATOR.join(t for _, t in self._path) or None
            self.sections.append(Section(text, path))


# --- PDF ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Bookmark:
    page: int  # 0-based
    title: str
    path: str


def _load_pdf(filename: str, data: bytes, limits: ParseLimits) -> ParsedDocument:
    import pypdf
    from pypdf import PasswordType
    from pypdf.errors import LimitReachedError

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise CorruptDocument(
                f"{filename} is an encrypted (password-protected) PDF; upload an unprotected copy"
            )
        _check_pages(filename, _declared_pages(reader), limits)  # before walking the page tree
        _check_pages(filename, len(reader.pages), limits)  # the tree may declare fewer
        texts = [page.extract_text() or "" for page in reader.pages]
        title = reader.metadata.title if reader.metadata else None
    except (CorruptDocument, MemoryError):
        raise
    except LimitReachedError as exc:  # pypdf's own bounds (array sizes, stream output, tree depth)
        raise DocumentTooComplex(f"{filename} is past a PDF parsing limit: {exc}") from exc
    except Exception as exc:  # pypdf raises many types on damaged files (PdfReadError, KeyError..)
        raise CorruptDocument(f"{filename} is not a readable PDF: {exc}") from exc
    outline = _outline(reader, filename)
    sections = [s for i, text in enumerate(texts) for s in _page_sections(text, i, outline)]
    first_heading = outline[0].title if outline else None
    return ParsedDocument(
        filename, DocumentKind.pdf, _title(title, first_heading), len(texts), sections
    )


def _declared_pages(reader) -> int:
    """The page count the page tree's root declares: read without walking the tree."""
    try:
        return int(reader.trailer["/Root"]["/Pages"]["/Count"])
    except Exception:
        return 0  # missing or damaged: the walk that follows counts (or fails)


def _check_pages(filename: str, pages: int, limits: ParseLimits) -> None:
    if pages > limits.max_pdf_pages:
        raise DocumentTooComplex(
            f"{filename} has {pages:,} pages, more than the limit of {limits.max_pdf_pages:,}; "
            "split it"
        )


def _outline(reader, filename: str) -> list[_Bookmark]:
    """The bookmarks with their heading paths, by start page. A broken outline costs the
    headings, not the document."""
    bookmarks: list[_Bookmark] = []

    def walk(items: list, parents: list[str]) -> None:
        last: str | None = None
        for item in items:
            if isinstance(item, list):  # children of the entry just before
                walk(item, [*parents, last] if last else parents)
                continue
            last = " ".join(str(item.title).split())
            page = reader.get_destination_page_number(item)
            if last and page is not None and page >= 0:
                bookmarks.append(_Bookmark(page, last, HEADING_SEPARATOR.join([*parents, last])))

    try:
        walk(reader.outline, [])
    except Exception as exc:
        log.warning("pdf_outline_unreadable", filename=filename, error=str(exc))
        return []
    return sorted(bookmarks, key=lambda b: b.page)  # stable: outline order within a page


def _page_sections(text: str, index: int, outline: list[_Bookmark]) -> list[Section]:
    """A page split at the lines that are the titles of bookmarks starting on it; the text above
    the first belongs to the heading in effect at the top of the page. When no title is found
    as a line (wrapped, styled), the whole page goes to the last bookmark starting on it."""
    starts = [b.page for b in outline]
    first, last = bisect_left(starts, index), bisect_right(starts, index)
    on_page = outline[first:last]
    parts: list[tuple[str | None, list[str]]] = [(outline[first - 1].path if first else None, [])]
    titles = {b.title: b.path for b in reversed(on_page)}  # a repeated title: its first entry
    for line in text.splitlines():
        path = titles.pop(" ".join(line.split()), None)
        if path is not None:
            parts.append((path, []))
        else:
            parts[-1][1].append(line)
    if on_page and len(parts) == 1:
        parts = [(on_page[-1].path, parts[0][1])]
    sections = [(path, _tidy("\n".join(lines))) for path, lines in parts]
    return [Section(body, path, page=index + 1) for path, body in sections if body]


# --- DOCX -----------------------------------------------------------------------------------

_HEADING_STYLE = re.compile(r"^Heading (\d)$")


def _load_docx(filename: str, data: bytes, limits: ParseLimits) -> ParsedDocument:
    import docx
    from docx.table import Table

    _check_zip(filename, data, limits)  # before python-docx inflates a single member
    builder = SectionBuilder()
    try:
        document = docx.Document(io.BytesIO(data))
        title = document.core_properties.title
        style_names: dict[str | None, str] = {}
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                builder.add(_table_text(block))
                continue
            style = _style_name(block, style_names)
            if style == "Title":
                title = title or block.text
            elif match := _HEADING_STYLE.match(style):
                builder.heading(int(match.group(1)), block.text)
            else:
                builder.add(block.text + "\n")
    except MemoryError:
        raise
    except Exception as exc:  # python-docx / lxml on a damaged package
        raise CorruptDocument(f"{filename} is not a readable DOCX: {exc}") from exc
    sections = builder.finish()
    return ParsedDocument(
        filename, DocumentKind.docx, _title(title, builder.first_heading), None, sections
    )


def _style_name(paragraph, names: dict[str | None, str]) -> str:
    """By style id, once: python-docx resolves `paragraph.style` by scanning every style of the
    document (90% of a DOCX's parse time; 0.3 ms a paragraph, whatever its size)."""
    style_id = paragraph._p.style  # the w:pStyle value; None: the default paragraph style
    if style_id not in names:
        style = paragraph.style
        names[style_id] = style.name if style is not None else ""
    return names[style_id]


def _check_zip(filename: str, data: bytes, limits: ParseLimits) -> None:
    """python-docx inflates every XML member into an lxml tree (an empty paragraph, 6 bytes of
    XML, becomes ~120 bytes of tree; 16 MB of them pack into 23 KB): the sizes the zip's
    directory declares are checked first. zipfile never inflates a member past its declared
    size (it fails on the CRC instead), so a directory cannot lie its way past this."""
    if _zip_directory_too_big(data):
        raise DocumentTooComplex(
            f"{filename} has more than {MAX_ZIP_ENTRIES:,} members, more than a document has"
        )
    try:
        infos = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except zipfile.BadZipFile:
        return  # the DOCX loader reports it
    unpacked = sum(info.file_size for info in infos)
    if unpacked > limits.max_decompressed_bytes:
        raise DocumentTooComplex(
            f"{filename} unpacks to {unpacked / MB:,.0f} MB, more than the limit of "
            f"{limits.max_decompressed_bytes / MB:,.0f} MB"
        )
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size >= RATIO_CHECKED_FROM_BYTES and ratio > limits.max_compression_ratio:
            raise DocumentTooComplex(
                f"{filename} is a zip bomb: its member {info.filename[:100]} unpacks "
                f"{ratio:,.0f} times its packed size ({info.file_size / MB:,.0f} MB; "
                f"the limit is {limits.max_compression_ratio:g} times)"
            )


def _zip_directory_too_big(data: bytes) -> bool:
    """From the end-of-central-directory record, without parsing the directory: more members
    than MAX_ZIP_ENTRIES, a directory over MAX_ZIP_DIRECTORY_BYTES, or ZIP64 (a document never
    needs it). No record found: the zip is damaged, and zipfile says so."""
    at = data.rfind(b"PK\x05\x06", max(0, len(data) - 22 - 65535))
    if at < 0 or len(data) < at + 22:
        return False
    entries, directory_size = struct.unpack_from("<HI", data, at + 10)
    zip64 = data[max(0, at - 20) : at - 16] == b"PK\x06\x07"  # its locator precedes the record
    zip64 = zip64 or entries == 0xFFFF or directory_size == 0xFFFFFFFF
    return zip64 or entries > MAX_ZIP_ENTRIES or directory_size > MAX_ZIP_DIRECTORY_BYTES


def _table_text(table) -> str:
    """One line per row, cells joined with ' | ' (merged cells repeat in python-docx: once)."""
    lines = []
    for row in table.rows:
        cells = [c.text.strip() for c in dict.fromkeys(row.cells)]
        if any(cells):
            lines.append(" | ".join(cells))
    return "\n".join(lines) + "\n"


# --- HTML -----------------------------------------------------------------------------------

_HTML_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_HTML_DROPPED = frozenset({"script", "style", "nav", "noscript", "template", "head"})
_HTML_BLOCKS = frozenset(
    "address article aside blockquote br dd div dl dt figcaption figure footer form header hr "
    "li main ol p pre section table tbody td th thead tr ul".split()
)
_HTML_SPACE = re.compile(r"\s+")


def _load_html(filename: str, data: bytes, limits: ParseLimits) -> ParsedDocument:
    """One streamed pass of libxml2's HTML parser (C, linear even on malformed input, which
    Python's html.parser is not: 30 KB of `<a b='` take it 14 s), no tree kept. The events
    already carry HTML's implied end tags (`<p>a<p>b` are siblings), so the depth counted is
    the document's real nesting."""
    from lxml import etree

    walker = _HtmlWalker(filename, limits)
    parser = etree.HTMLParser(
        target=walker, encoding="utf-8", no_network=True, remove_comments=True, remove_pis=True
    )
    text = data.removeprefix(b"\xef\xbb\xbf")  # the BOM; the content was checked to be UTF-8
    try:
        for start in range(0, len(text), _HTML_FEED_BYTES):
            parser.feed(text[start : start + _HTML_FEED_BYTES])
        parser.close()
    except (DocumentTooComplex, MemoryError):
        raise
    except etree.LxmlError as exc:  # libxml2 recovers from nearly anything; not from everything
        raise CorruptDocument(f"{filename} is not readable HTML: {exc}") from exc
    return ParsedDocument(
        filename,
        DocumentKind.html,
        _title(walker.page_title, walker.builder.first_heading),
        None,
        walker.builder.finish(),
    )


_HTML_FEED_BYTES = 1 * MB


@dataclass
class _HtmlElement:
    name: str
    dropped: bool  # script, style, nav, ...: nothing inside is text
    pre: bool  # whitespace kept
    heading: bool  # inside h1-h6: the text is the heading's


class _HtmlWalker:
    """lxml parser target: start/end/data events in document order. Text is what the reader
    sees: a block element starts a new line, whitespace collapses outside <pre>, a heading
    opens a section and its text is the section's title."""

    def __init__(self, filename: str, limits: ParseLimits) -> None:
        self.filename, self.limits = filename, limits
        self.builder = SectionBuilder()
        self.page_title: str | None = None
        self._open: list[_HtmlElement] = []
        self._elements = 0
        self._text: list[str] = []  # the current text node (lxml splits one at entities)
        self._heading: tuple[int, list[str]] | None = None  # level and text of the open heading
        self._title: list[str] | None = None  # inside the first <title>
        self._after_block = False  # the previous sibling was a closed block: text starts a line

    def start(self, tag: str, attrib: object) -> None:
        self._flush()
        parent = self._open[-1] if self._open else _HtmlElement("", False, False, False)
        name = tag.lower() if isinstance(tag, str) else ""
        self._elements += 1
        if len(self._open) >= self.limits.max_html_depth:
            raise DocumentTooComplex(
                f"{self.filename} nests HTML elements more than {self.limits.max_html_depth} "
                "deep, more than a document does"
            )
        if self._elements > self.limits.max_html_nodes:
            raise DocumentTooComplex(
                f"{self.filename} has more than {self.limits.max_html_nodes:,} HTML elements"
            )
        element = _HtmlElement(
            name,
            dropped=parent.dropped or name in _HTML_DROPPED,
            pre=parent.pre or name == "pre",
            heading=parent.heading or (name in _HTML_HEADINGS and not parent.dropped),
        )
        self._open.append(element)
        self._after_block = False
        if name == "title" and self.page_title is None and self._title is None:
            self._title = []
        if element.dropped:
            return
        if element.heading and not parent.heading:
            self._heading = (_HTML_HEADINGS[name], [])
        elif name in _HTML_BLOCKS:
            if element.heading and self._heading is not None:
                self._heading[1].append(" ")
            else:
                self.builder.add("\n")

    def end(self, tag: str) -> None:
        self._flush()
        if not self._open:
            return
        element = self._open.pop()
        parent = self._open[-1] if self._open else None
        if element.name == "title" and self._title is not None:
            self.page_title, self._title = "".join(self._title), None
        if element.heading and not (parent and parent.heading) and self._heading is not None:
            level, parts = self._heading
            self._heading = None
            self.builder.heading(level, "".join(parts))
        self._after_block = element.name in _HTML_BLOCKS - {"br", "hr"} and not element.dropped

    def data(self, text: str) -> None:
        self._text.append(text)

    def comment(self, text: str) -> None:  # not text; it separates the text around it
        self._flush()
        self._after_block = False

    def close(self) -> None:
        self._flush()
        while self._open:  # libxml2 closes what is open; in case it did not
            self.end(self._open[-1].name)

    def _flush(self) -> None:
        if not self._text:
            return
        text, self._text = "".join(self._text), []
        if self._title is not None:
            self._title.append(text)
        element = self._open[-1] if self._open else None
        if element is None or element.dropped:
            return
        if element.heading:
            if self._heading is not None:
                self._heading[1].append(text)
            return
        if self._after_block:
            self.builder.add("\n")
        self._after_block = False
        self.builder.add(text if element.pre else _HTML_SPACE.sub(" ", text))


# --- Markdown and plain text ----------------------------------------------------------------

# The opening of an ATX heading only: one regex for the whole line (`(.*?)` then optional
# closing #s) backtracks quadratically on a long line of spaces (20 KB: 20 s).
_ATX = re.compile(r" {0,3}(#{1,6})(?=[ \t]|$)")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def _load_markdown(filename: str, data: bytes, limits: ParseLimits) -> ParsedDocument:
    lines = (_decode_text(data) or "").splitlines()
    builder = SectionBuilder()
    fence: str | None = None
    skip_next = False
    for i, line in enumerate(lines):
        if skip_next:
            skip_next = False
            continue
        if match := _FENCE.match(line):
            marker = match.group(1)[0]
            fence = None if fence == marker else (fence or marker)
        elif fence is None:
            if atx := _ATX.match(line):
                builder.heading(len(atx.group(1)), _atx_title(line[atx.end() :]))
                continue
            if level := _setext_level(line, lines[i + 1 : i + 2]):
                builder.heading(level, line)
                skip_next = True
                continue
        builder.add(line + "\n")
    sections = builder.finish()
    return ParsedDocument(
        filename, DocumentKind.markdown, _title(builder.first_heading), None, sections
    )


def _atx_title(rest: str) -> str:
    """`## Title ##` -> `Title`: the closing #s go only when a space or tab precedes them."""
    text = rest.strip(" \t")
    unclosed = text.rstrip("#")
    if not unclosed:
        return ""
    return unclosed.rstrip(" \t") if unclosed != text and unclosed[-1] in " \t" else text


def _setext_level(line: str, following: list[str]) -> int | None:
    """`Title` over `=====` is a level-1 heading, over `-----` level 2 (a paragraph's only line)."""
    if not line.strip() or not following or not (match := _SETEXT.match(following[0])):
        return None
    return 1 if match.group(1).startswith("=") else 2


def _load_text(filename: str, data: bytes, limits: ParseLimits) -> ParsedDocument:
    text = _tidy(_decode_text(data) or "")
    first_line = next((line for line in text.splitlines() if line.strip()), None)
    sections = [Section(text)] if text else []
    return ParsedDocument(filename, DocumentKind.text, _title(first_line), None, sections)


_LOADERS: dict[DocumentKind, Callable[[str, bytes, ParseLimits], ParsedDocument]] = {
    DocumentKind.pdf: _load_pdf,
    DocumentKind.docx: _load_docx,
    DocumentKind.html: _load_html,
    DocumentKind.markdown: _load_markdown,
    DocumentKind.text: _load_text,
}
