"""Loaders: a file's bytes -> a ParsedDocument (title, sections with heading path and PDF page).

The type is decided by the content (PDF magic, a zip holding word/document.xml, UTF-8 text) and
the extension must agree with it: a PNG renamed x.pdf is refused, not parsed as garbage.
PDF: pypdf (text per page, headings from the outline); DOCX: python-docx (Heading styles);
HTML: BeautifulSoup (h1-h6); Markdown: ATX and setext headings outside code fences.
"""

from __future__ import annotations

import io
import re
import zipfile
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePath

import structlog

from ingestion.errors import CorruptDocument, UnsupportedDocument

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
MAX_UNZIPPED_BYTES = 256 * 1024 * 1024


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


def load(filename: str, data: bytes) -> ParsedDocument:
    kind = detect_kind(filename, data)
    return _LOADERS[kind](filename, data)


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


def _load_pdf(filename: str, data: bytes) -> ParsedDocument:
    import pypdf
    from pypdf import PasswordType

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise CorruptDocument(
                f"{filename} is an encrypted (password-protected) PDF; upload an unprotected copy"
            )
        texts = [page.extract_text() or "" for page in reader.pages]
        title = reader.metadata.title if reader.metadata else None
    except CorruptDocument:
        raise
    except Exception as exc:  # pypdf raises many types on damaged files (PdfReadError, KeyError..)
        raise CorruptDocument(f"{filename} is not a readable PDF: {exc}") from exc
    outline = _outline(reader, filename)
    sections = [s for i, text in enumerate(texts) for s in _page_sections(text, i, outline)]
    first_heading = outline[0].title if outline else None
    return ParsedDocument(
        filename, DocumentKind.pdf, _title(title, first_heading), len(texts), sections
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


def _load_docx(filename: str, data: bytes) -> ParsedDocument:
    import docx
    from docx.table import Table

    _refuse_zip_bomb(filename, data)
    builder = SectionBuilder()
    try:
        document = docx.Document(io.BytesIO(data))
        title = document.core_properties.title
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                builder.add(_table_text(block))
                continue
            style = block.style.name if block.style is not None else ""
            if style == "Title":
                title = title or block.text
            elif match := _HEADING_STYLE.match(style):
                builder.heading(int(match.group(1)), block.text)
            else:
                builder.add(block.text + "\n")
    except Exception as exc:  # python-docx / lxml on a damaged package
        raise CorruptDocument(f"{filename} is not a readable DOCX: {exc}") from exc
    sections = builder.finish()
    return ParsedDocument(
        filename, DocumentKind.docx, _title(title, builder.first_heading), None, sections
    )


def _refuse_zip_bomb(filename: str, data: bytes) -> None:
    """python-docx inflates the XML in memory: a few MB can unpack to gigabytes."""
    try:
        unpacked = sum(info.file_size for info in zipfile.ZipFile(io.BytesIO(data)).infolist())
    except zipfile.BadZipFile:
        return  # the DOCX loader reports it
    if unpacked > MAX_UNZIPPED_BYTES:
        raise CorruptDocument(
            f"{filename} unpacks to {unpacked // (1024 * 1024)} MB, more than a document should"
        )


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
_HTML_DROPPED = ["script", "style", "nav", "noscript", "template"]
_HTML_BLOCKS = frozenset(
    "address article aside blockquote br dd div dl dt figcaption figure footer form header hr "
    "li main ol p pre section table tbody td th thead tr ul".split()
)


def _load_html(filename: str, data: bytes) -> ParsedDocument:
    from bs4 import BeautifulSoup, NavigableString, Tag
    from bs4.element import PreformattedString

    soup = BeautifulSoup(_decode_text(data) or "", "html.parser")
    page_title = soup.title.get_text() if soup.title else None
    for tag in soup.find_all([*_HTML_DROPPED, "head"]):
        tag.decompose()
    builder = SectionBuilder()
    for node in soup.descendants:
        if isinstance(node, Tag):
            if node.name in _HTML_HEADINGS:
                builder.heading(_HTML_HEADINGS[node.name], node.get_text(" "))
            elif node.name in _HTML_BLOCKS:
                builder.add("\n")
        elif isinstance(node, NavigableString) and not isinstance(node, PreformattedString):
            if node.find_parent(list(_HTML_HEADINGS)) is not None:
                continue  # already taken as the heading
            if _after_block(node):
                builder.add("\n")
            text = str(node)
            builder.add(text if node.find_parent("pre") else re.sub(r"\s+", " ", text))
    sections = builder.finish()
    return ParsedDocument(
        filename, DocumentKind.html, _title(page_title, builder.first_heading), None, sections
    )


def _after_block(node) -> bool:
    """Text right after a closed block (`<p>a</p>b`) starts a new line."""
    from bs4 import Tag

    sibling = node.previous_sibling
    return isinstance(sibling, Tag) and sibling.name in _HTML_BLOCKS - {"br", "hr"}


# --- Markdown and plain text ----------------------------------------------------------------

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def _load_markdown(filename: str, data: bytes) -> ParsedDocument:
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
                builder.heading(len(atx.group(1)), atx.group(2) or "")
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


def _setext_level(line: str, following: list[str]) -> int | None:
    """`Title` over `=====` is a level-1 heading, over `-----` level 2 (a paragraph's only line)."""
    if not line.strip() or not following or not (match := _SETEXT.match(following[0])):
        return None
    return 1 if match.group(1).startswith("=") else 2


def _load_text(filename: str, data: bytes) -> ParsedDocument:
    text = _tidy(_decode_text(data) or "")
    first_line = next((line for line in text.splitlines() if line.strip()), None)
    sections = [Section(text)] if text else []
    return ParsedDocument(filename, DocumentKind.text, _title(first_line), None, sections)


_LOADERS: dict[DocumentKind, Callable[[str, bytes], ParsedDocument]] = {
    DocumentKind.pdf: _load_pdf,
    DocumentKind.docx: _load_docx,
    DocumentKind.html: _load_html,
    DocumentKind.markdown: _load_markdown,
    DocumentKind.text: _load_text,
}
