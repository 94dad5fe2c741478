"""Real documents generated in memory: PDF (fpdf2), DOCX (python-docx), Markdown, HTML and text
from one outline, so every format carries the same headings and text. Also used by
benchmarks/ingestion_throughput.py to build its corpus."""

from __future__ import annotations

import io
import zipfile
from html import escape

import docx
import pypdf
from fpdf import FPDF

# (level, heading, body): level 1 starts a new PDF page; paragraphs are separated by blank lines.
Outline = list[tuple[int, str, str]]

IT_GUIDE: Outline = [
    (1, "VPN", "GlobalProtect is the company VPN client. Connect to vpn.northwind.example."),
    (
        2,
        "Disconnects",
        "If GlobalProtect drops every few minutes, the client is older than 6.2 and has the "
        "keep-alive bug. Install GlobalProtect 6.2 from Company Portal, then reconnect.",
    ),
    (1, "Printing", "Printers are managed by PaperCut; release jobs with your badge."),
    (
        2,
        "Paper jams",
        "When the Ricoh printer reports a paper jam, open tray 2, pull out the crumpled sheet "
        "and press the green reset button on the front panel.",
    ),
    (1, "Email", "Mail runs on Exchange Online; use Outlook or the web app."),
    (
        2,
        "Outlook stuck loading profile",
        "Close Outlook and Teams. In Control Panel > Mail > Show Profiles add a new profile, "
        "make it the default and start Outlook again.",
    ),
]


def pdf_bytes(outline: Outline, *, title: str | None = None) -> bytes:
    """Each level-1 heading starts a page; every heading is a bookmark and a bold line."""
    pdf = FPDF()
    pdf.set_auto_page_break(True, margin=15)
    if title:
        pdf.set_title(title)
    for level, heading, body in outline:
        if level == 1 or pdf.page == 0:
            pdf.add_page()
        pdf.start_section(heading, level=level - 1)
        pdf.set_font("Helvetica", "B", 14)
        pdf.cell(text=heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=10)
        pdf.multi_cell(0, 5, body, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def encrypted_pdf_bytes(outline: Outline, password: str = "s3cret") -> bytes:
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(pdf_bytes(outline))))
    writer.encrypt(password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_bytes(outline: Outline, *, title: str | None = None) -> bytes:
    document = docx.Document()
    if title:
        document.add_heading(title, 0)  # the "Title" style
    for level, heading, body in outline:
        document.add_heading(heading, level)
        for paragraph in body.split("\n\n"):
            document.add_paragraph(paragraph)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def markdown_bytes(outline: Outline) -> bytes:
    parts = [f"{'#' * level} {heading}\n\n{body}\n" for level, heading, body in outline]
    return "\n".join(parts).encode()


def html_bytes(outline: Outline, *, title: str = "IT guide") -> bytes:
    body = "".join(
        f"<h{level}>{escape(heading)}</h{level}>"
        + "".join(f"<p>{escape(p)}</p>" for p in text.split("\n\n"))
        for level, heading, text in outline
    )
    page = (
        f"<!doctype html><html><head><title>{escape(title)}</title>"
        "<style>p { color: red }</style></head><body>"
        "<nav><a href='/'>Home</a> | <a href='/kb'>Knowledge base</a></nav>"
        f"<main>{body}</main><script>track('pageview')</script></body></html>"
    )
    return page.encode()


def text_bytes(outline: Outline) -> bytes:
    return "\n\n".join(f"{heading}\n{body}" for _, heading, body in outline).encode()


def zip_bytes(members: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return out.getvalue()
