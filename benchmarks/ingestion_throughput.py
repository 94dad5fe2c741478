"""Knowledge-base ingestion throughput per format, embeddings included, on a generated corpus.

    .venv/bin/python -m benchmarks.ingestion_throughput [--pages 200] [--files 10]
        [--formats pdf,docx,md,html] [--precision auto|fp32|bf16|fp32,bf16]
        [--corpus DIR] [--unstructured-python /tmp/unst/bin/python [--unstructured-cwd DIR]]

Generates an IT manual of --pages pages (each: a chapter heading and two sections, ~310 words)
as PDF (fpdf2), and the same outline as DOCX, Markdown and HTML, split over --files files per
format. Each format is ingested into its own fresh embedded database (temp dir, opened by
services.runtime.open_runtime) through ingestion.pipeline.ingest_sequence (the next file parsed
and the previous one stored while this one is embedded), one committed transaction per file as
the API does; the runtime is warmed up before the clock starts as `inferra serve` warms it (the
model loaded, a parser worker started). Then the model alone embeds the same stored chunk texts
in the same batches: the embedding-only ceiling, in the same run. DOCX/Markdown/HTML have no
pages: their "pages" are the PDF pages of the same text. With --unstructured-python, the same
files are then partitioned by unstructured's default `partition()` in that interpreter (its own
venv).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from sqlalchemy import text

from benchmarks.offline import offline_settings
from core.logging import configure_logging
from ingestion.loaders import load
from ingestion.pipeline import IngestResult, SourceFile, ingest_sequence
from services.runtime import open_runtime, warm_up
from tests import documents as docs

FORMATS = {
    "pdf": docs.pdf_bytes,
    "docx": docs.docx_bytes,
    "md": docs.markdown_bytes,
    "html": docs.html_bytes,
}
TOPICS = [
    ("VPN", ["GlobalProtect", "gateway", "tunnel", "keep-alive", "split tunnelling"]),
    ("Email", ["Outlook", "mailbox", "OST file", "shared calendar", "Exchange Online"]),
    ("Printing", ["PaperCut", "Ricoh", "toner", "print queue", "badge release"]),
    ("Accounts", ["Okta", "MFA push", "password reset", "lockout", "SSO"]),
    ("Laptops", ["BitLocker", "docking station", "firmware", "battery", "BIOS"]),
    ("Software", ["Company Portal", "licence", "installer", "update ring", "uninstall"]),
]
VERBS = ["check", "restart", "update", "reinstall", "reset", "verify", "open", "remove"]
CONDITIONS = ["after a reboot", "when docked", "on Wi-Fi", "at sign-in", "every morning"]


def sentence(rng: random.Random, terms: list[str]) -> str:
    a, b = rng.sample(terms, 2)
    return (
        f"If the {a} fails {rng.choice(CONDITIONS)}, {rng.choice(VERBS)} the {b} and "
        f"{rng.choice(VERBS)} the {rng.choice(terms)} before you open a ticket with step "
        f"{rng.randint(1, 40)} of the runbook."
    )


def paragraph(rng: random.Random, terms: list[str], sentences: int) -> str:
    return " ".join(sentence(rng, terms) for _ in range(sentences))


def manual(pages: int, seed: int = 7) -> docs.Outline:
    """One chapter per PDF page: ~110 words of introduction and two sections of ~110 words."""
    rng = random.Random(seed)
    outline: docs.Outline = []
    for page in range(pages):
        topic, terms = TOPICS[page % len(TOPICS)]
        outline.append((1, f"{topic} chapter {page + 1}", paragraph(rng, terms, 4)))
        for section in ("Symptoms", "Resolution"):
            outline.append((2, f"{section} {page + 1}", paragraph(rng, terms, 4)))
    return outline


def write_corpus(root: Path, pages: int, files: int) -> dict[str, list[Path]]:
    outline = manual(pages)
    per_file = -(-len(outline) // files) // 3 * 3  # whole chapters (3 outline entries) per file
    parts = [outline[i : i + per_file] for i in range(0, len(outline), per_file)]
    corpus: dict[str, list[Path]] = {}
    for fmt, build in FORMATS.items():
        folder = root / fmt
        folder.mkdir(parents=True, exist_ok=True)
        corpus[fmt] = []
        for i, part in enumerate(parts):
            path = folder / f"manual-{i:02d}.{fmt}"
            path.write_bytes(build(part))
            corpus[fmt].append(path)
    return corpus


async def ingest_format(paths: list[Path], pdf_pages: int, precision: str) -> dict:
    settings = offline_settings(prefix="inferra-ingest-bench-", embedding_precision=precision)
    async with open_runtime(settings, migrate_database=True) as runtime:
        embedder = runtime.embedder
        await warm_up(runtime)  # a parser worker started, the model loaded, as a server does
        await embedder.embed_documents(["warm the first batch up"])
        stages: dict[str, float] = defaultdict(float)
        chunks = 0
        files = [SourceFile(p.name, _reader(p)) for p in paths]
        started = time.perf_counter()
        async for file, result in ingest_sequence(
            files, transaction=runtime.sessionmaker.begin, embedder=embedder, settings=settings
        ):
            if not isinstance(result, IngestResult):
                raise RuntimeError(f"{file.name}: {result}")
            chunks += result.chunks
            for stage, seconds in result.stage_seconds.items():
                stages[stage] += seconds
        seconds = time.perf_counter() - started
        ceiling = await embedding_ceiling(runtime, embedder)
    return {
        "pages": pdf_pages,
        "chunks": chunks,
        "seconds": seconds,
        "stages": dict(stages),
        "precision": getattr(embedder, "precision", "?"),
        "ceiling_s": ceiling,
    }


async def embedding_ceiling(runtime, embedder) -> float:
    """Seconds the model alone takes to embed the stored chunks' texts, in the pipeline's
    batches: the most any ingestion could reach on this machine at this moment."""
    from ingestion.chunker import Chunk
    from ingestion.pipeline import embed_chunks

    async with runtime.sessionmaker() as session:
        rows = (await session.execute(text("SELECT text, heading_path FROM document_chunks"))).all()
    chunks = [Chunk(row.text, row.heading_path, None) for row in rows]
    started = time.perf_counter()
    await embed_chunks(embedder, chunks, "ceiling", runtime.settings)
    return time.perf_counter() - started


def _reader(path: Path):
    async def read() -> bytes:
        return await asyncio.to_thread(path.read_bytes)

    return read


def parse_only(paths: list[Path]) -> float:
    started = time.perf_counter()
    for path in paths:
        load(path.name, path.read_bytes())
    return time.perf_counter() - started


UNSTRUCTURED_SCRIPT = """
import json, sys, time, traceback
paths = sys.argv[1:]
started = time.perf_counter()
out = {"files": 0, "elements": 0, "per_file_s": []}
try:
    from unstructured.partition.auto import partition
    out["import_s"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    for p in paths:
        one = time.perf_counter()
        out["elements"] += len(partition(filename=p))
        out["per_file_s"].append(round(time.perf_counter() - one, 2))
        out["files"] += 1
    out["seconds"] = round(time.perf_counter() - started, 2)
except BaseException as exc:
    out["failed_after_s"] = round(time.perf_counter() - started, 2)
    out["error"] = f"{type(exc).__name__}: {exc}"[:600]
    out["trace"] = traceback.format_exc()[-1500:]
print(json.dumps(out))
"""


def run_unstructured(python: str, paths: list[Path], timeout: float, cwd: str | None) -> dict:
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [python, "-c", UNSTRUCTURED_SCRIPT, *map(str, paths)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
            env={**os.environ, "UNSTRUCTURED_DISABLE_NOTICE": "1"},
        )
    except subprocess.TimeoutExpired:
        waited = time.perf_counter() - started
        return {"error": f"timed out after {timeout:.0f} s", "wall_s": waited}
    lines = done.stdout.strip().splitlines()
    result = json.loads(lines[-1]) if lines else {"error": done.stderr[-800:]}
    result["wall_s"] = round(time.perf_counter() - started, 2)
    return result


def print_unstructured(fmt: str, pages: int, result: dict) -> None:
    if "error" in result:
        shown = {k: v for k, v in result.items() if k not in ("trace", "per_file_s")}
        print(f"{fmt:<5} FAILED {json.dumps(shown)}")
        return
    first, rest = result["per_file_s"][0], sum(result["per_file_s"][1:])
    steady = pages * (len(result["per_file_s"]) - 1) / len(result["per_file_s"]) / rest
    print(
        f"{fmt:<5} files={result['files']:<3} elements={result['elements']:<5} "
        f"{result['seconds']:6.1f} s  {pages / result['seconds']:6.1f} pages/s  "
        f"(first file {first:.1f} s: models load; then {steady:.1f} pages/s)"
    )


def print_inferra(fmt: str, files: int, run: dict, parse_s: float) -> None:
    pages, chunks, seconds = run["pages"], run["chunks"], run["seconds"]
    shares = "  ".join(f"{k} {v:5.1f}s" for k, v in run["stages"].items())
    ceiling = run["ceiling_s"]
    print(
        f"{fmt:<5} {run['precision']:<4} files={files:<3} pages={pages:<4} chunks={chunks:<5} "
        f"{seconds:6.1f} s  {pages / seconds:6.1f} pages/s  {chunks / seconds:6.1f} chunks/s   "
        f"[{shares}]  parse-only {parse_s:.2f} s\n"
        f"{'':<10} embedding only (same chunks, same batches): {ceiling:6.1f} s  "
        f"{pages / ceiling:6.1f} pages/s  {chunks / ceiling:6.1f} chunks/s  "
        f"(end to end = {ceiling / seconds:.0%} of it)"
    )


async def main(args: argparse.Namespace) -> None:
    configure_logging("WARNING")
    root = Path(args.corpus or tempfile.mkdtemp(prefix="inferra-corpus-"))
    corpus = write_corpus(root, args.pages, args.files)
    import pypdf

    pdf_pages = sum(len(pypdf.PdfReader(p).pages) for p in corpus["pdf"])
    print(f"corpus in {root}: {pdf_pages} PDF pages; same outline as DOCX, Markdown, HTML")
    # Figures are per wall-clock second: a busy machine (other processes) lowers them.
    print(f"cores={os.cpu_count()} load average at start={os.getloadavg()[0]:.1f}")
    print("\ninferra (pypdf / python-docx / bs4 / own Markdown walk), embeddings included:")
    for fmt in args.formats.split(","):
        paths = corpus[fmt]
        for precision in args.precision.split(","):
            run = await ingest_format(paths, pdf_pages, precision)
            print_inferra(fmt, len(paths), run, parse_only(paths))
    print(f"load average after ingestion={os.getloadavg()[0]:.1f}")
    if not args.unstructured_python:
        return
    print(f"\nunstructured partition() in {args.unstructured_python} (parse only, no embeddings):")
    for fmt, paths in corpus.items():
        result = run_unstructured(
            args.unstructured_python, paths, args.unstructured_timeout, args.unstructured_cwd
        )
        print_unstructured(fmt, pdf_pages, result)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--formats", default="pdf,docx,md,html", help="comma-separated")
    parser.add_argument(
        "--precision",
        default="auto",
        help="EMBEDDING_PRECISION values to run one after the other, e.g. fp32,bf16",
    )
    parser.add_argument("--corpus", help="folder for the generated files (default: a temp dir)")
    parser.add_argument("--unstructured-python", help="python of a venv with unstructured")
    parser.add_argument("--unstructured-timeout", type=float, default=900)
    parser.add_argument(
        "--unstructured-cwd",
        help="working dir for unstructured: offline, a folder holding an en_core_web_sm model "
        "directory lets spacy.load('en_core_web_sm') find it instead of downloading it",
    )
    asyncio.run(main(parser.parse_args()))
