"""The parser worker process (ingestion/sandbox.py starts and drives it), and the wire both ends
speak: length-prefixed frames, a request pickled by the server (trusted), an answer in JSON
(never pickle: a parser subverted by its input cannot run code in the server by its answer).

    python -c "from ingestion.parse_worker import serve; serve()"

Lean on purpose (no pydantic, no asyncio): a worker starts in a few hundred milliseconds.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import pickle
import signal
import struct
from collections.abc import Callable
from typing import IO, Any

import psutil

from core.errors import InferraError
from ingestion import errors
from ingestion.errors import CorruptDocument, DocumentTooComplex
from ingestion.limits import MB
from ingestion.loaders import DocumentKind, ParsedDocument, Section

try:
    import resource
except ImportError:  # not POSIX: the wall-clock budget still applies, the rlimits do not
    resource = None  # type: ignore[assignment]

PARSERS = ("pypdf", "docx", "lxml.etree")  # imported lazily by the loaders; ahead in a worker
_HEADER = struct.Struct("<Q")


# --- The wire ------------------------------------------------------------------------------


def send(pipe: IO[bytes], body: bytes) -> None:
    pipe.write(_HEADER.pack(len(body)))
    pipe.write(body)
    pipe.flush()


def receive(pipe: IO[bytes] | None, *, trusted: bool = False) -> Any:
    """A frame: JSON from a worker, or (trusted: in the worker, from the server) a pickle."""
    assert pipe is not None
    header = pipe.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError("the other end closed the pipe")
    (size,) = _HEADER.unpack(header)
    body = pipe.read(size)
    if len(body) < size:
        raise EOFError("the other end closed the pipe")
    return pickle.loads(body) if trusted else json.loads(body)


_ERRORS: dict[str, type[InferraError]] = {
    cls.__name__: cls
    for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, InferraError)
}


def _encode(value: Any) -> dict:
    if isinstance(value, ParsedDocument):
        return {
            "parsed": {
                "filename": value.filename,
                "kind": value.kind.name,
                "title": value.title,
                "pages": value.pages,
                "sections": [[s.text, s.heading_path, s.page] for s in value.sections],
            }
        }
    return {"value": value}


def _encode_error(exc: InferraError) -> dict:
    return {
        "error": {
            "type": type(exc).__name__,
            "message": exc.message,
            "code": exc.code,
            "status": exc.status_code,
        }
    }


def decode(answer: dict) -> Any:
    if error := answer.get("error"):
        cls = _ERRORS.get(error["type"], InferraError)
        raise cls(str(error["message"]), code=error["code"], status_code=error["status"])
    if parsed := answer.get("parsed"):
        return ParsedDocument(
            filename=parsed["filename"],
            kind=DocumentKind[parsed["kind"]],
            title=parsed["title"],
            pages=parsed["pages"],
            sections=[Section(text, path, page) for text, path, page in parsed["sections"]],
        )
    return answer.get("value")


# --- In the worker process ------------------------------------------------------------------


def serve() -> None:
    """The worker's loop: a request (pickled) in, an answer (JSON) out, until stdin closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's to handle
    requests = os.fdopen(os.dup(0), "rb")
    answers = os.fdopen(os.dup(1), "wb")
    # The pipes now have private descriptors: a library printing to stdout cannot corrupt them.
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(2, 1)
    if resource is not None:  # SIGXCPU and crashes would dump cores of a parser's heap
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for module in PARSERS:
        importlib.import_module(module)
    send(answers, json.dumps({"ready": os.getpid()}).encode())
    while True:
        try:
            call, args, filename, memory_mb, cpu_seconds = receive(requests, trusted=True)
        except EOFError:
            return  # the server closed the pipe: it is gone, or retired this worker
        answer = _run_limited(call, args, filename, memory_mb, cpu_seconds)
        try:
            body = json.dumps(answer).encode()
        except (TypeError, ValueError) as exc:  # a call that returned something else
            body = json.dumps(_encode_error(CorruptDocument(f"{filename}: {exc}"))).encode()
        send(answers, body)


def _run_limited(
    call: Callable[..., Any], args: tuple, filename: str, memory_mb: int, cpu_seconds: float
) -> dict:
    """`call(*args)` under this task's limits, lifted again before the answer is encoded (the
    worker waits for its next task unlimited). Running out of memory is the file's 422: a
    MemoryError, or any failure once the task's peak address space came within half of its
    budget of the limit (C code out of memory says so in its own words: libxml2 answers
    "unknown error")."""
    peak_before = _peak_address_space()
    _limit(memory_mb, cpu_seconds)
    try:
        value = call(*args)
    except Exception as exc:
        error = _error_of(exc, filename, memory_mb)
        peak = _peak_address_space()
        if peak is not None and peak_before is not None and not isinstance(exc, MemoryError):
            if peak - peak_before > memory_mb * MB // 2 and _is_failure(error):
                error = _over_memory(filename, memory_mb)
    else:
        _unlimit()
        return _encode(value)
    _unlimit()
    return {**_encode_error(error), "out_of_memory": error.message.endswith(_OVER_MEMORY)}


def _error_of(exc: Exception, filename: str, memory_mb: int) -> InferraError:
    causes = (exc, exc.__cause__ or exc.__context__)  # a loader's error may wrap either
    if any(isinstance(c, MemoryError) for c in causes):
        return _over_memory(filename, memory_mb)
    if any(isinstance(c, RecursionError) for c in causes):
        return _too_deep(filename)
    if isinstance(exc, InferraError):
        return exc
    # A loader let something through: still this file's problem.
    return CorruptDocument(f"{filename} could not be parsed: {exc!r}"[:500])


def _is_failure(error: InferraError) -> bool:
    """A parser that failed, as opposed to a bound that refused the file on purpose."""
    return type(error) is CorruptDocument


def _peak_address_space() -> int | None:
    """VmPeak (Linux): the most address space this process ever had mapped."""
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmPeak:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


_OVER_MEMORY = "MB of memory to parse"


def _over_memory(filename: str, memory_mb: int) -> DocumentTooComplex:
    return DocumentTooComplex(f"{filename} needs more than {memory_mb} {_OVER_MEMORY}")


def _too_deep(filename: str) -> DocumentTooComplex:
    return DocumentTooComplex(f"{filename} nests its content too deep to be parsed")


_BASELINE: dict[str, int] = {}


def _limit(memory_mb: int, cpu_seconds: float) -> None:
    if resource is None:
        return
    for name in ("RLIMIT_AS", "RLIMIT_CPU"):
        _BASELINE.setdefault(name, resource.getrlimit(getattr(resource, name))[0])
    # Address space: what the worker maps already (interpreter, parsers, the request) plus
    # the budget.
    _set_soft("RLIMIT_AS", psutil.Process().memory_info().vms + memory_mb * MB)
    # CPU time counts over the worker's life: the budget goes on top of what it used so far.
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _set_soft("RLIMIT_CPU", math.ceil(usage.ru_utime + usage.ru_stime + cpu_seconds) + 1)


def _unlimit() -> None:
    for name, soft in _BASELINE.items():
        _set_soft(name, soft)


def _set_soft(name: str, value: int) -> None:
    which = getattr(resource, name)
    hard = resource.getrlimit(which)[1]
    if hard != resource.RLIM_INFINITY and (value == resource.RLIM_INFINITY or value > hard):
        value = hard
    resource.setrlimit(which, (value, hard))
