"""Parsing uploads in a child process, so that no file can take the server down with it.

`parse()` is what the pipeline awaits. The parse runs in a worker process under limits set for
each task: RLIMIT_AS (the memory a parse may add) and RLIMIT_CPU (its CPU seconds), and the
event loop awaits it with a wall-clock budget; nothing blocks the loop (the worker is driven
from a thread). A worker past its budget is SIGKILLed; one that died (SIGXCPU, the kernel's OOM
killer, a crash in C) is dropped. Either way the file gets a 422 document_too_complex naming it,
a fresh worker is started at once for the next upload, and a parse whose caller is cancelled
(client gone, shutdown) is killed too: nothing runs on without a caller.

Workers are ingestion/parse_worker.py processes, not multiprocessing's: a ProcessPoolExecutor
worker (spawn or forkserver) re-imports the parent's __main__ on start (for `inferra serve`, the
whole application: 2.4 s and 155 MB per worker; Python 3.11's forkserver does not preload it
despite its default). Requests go to the worker pickled (from the server: trusted); answers come
back as JSON, never pickle, so a parser subverted by its input cannot run code in the server
through its answer.

At most `ingest_parse_workers` parses run at a time (per event loop); more wait their turn, and
the wait is not counted in the budget. A worker that ran out of memory, grew past
RETIRE_RSS_BYTES or ran RETIRE_AFTER_TASKS parses is replaced; one that refused a file on a
bound (ingestion/loaders.py) is not: it did no harm to itself.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import pickle
import signal
import subprocess
import sys
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import structlog

from core.settings import Settings
from ingestion.errors import DocumentTooComplex
from ingestion.limits import MB, ParseLimits
from ingestion.loaders import ParsedDocument, load
from ingestion.parse_worker import decode, receive, send

log = structlog.get_logger(__name__)

RETIRE_AFTER_TASKS = 200
RETIRE_RSS_BYTES = 256 * MB
WORKER_START_SECONDS = 60.0
_WORKER_MAIN = "from ingestion.parse_worker import serve; serve()"


async def parse(filename: str, data: bytes, settings: Settings) -> ParsedDocument:
    """`ingestion.loaders.load` in a sandboxed worker, within the settings' limits."""
    limits = ParseLimits.from_settings(settings)
    return await sandbox().run(
        load,
        filename,
        data,
        limits,
        filename=filename,
        limits=limits,
        workers=settings.ingest_parse_workers,
    )


_SANDBOX: ParserSandbox | None = None
_SANDBOX_LOCK = threading.Lock()


def sandbox() -> ParserSandbox:
    """The process's one sandbox: its workers serve the API and the in-process job worker."""
    global _SANDBOX
    with _SANDBOX_LOCK:
        if _SANDBOX is None:
            _SANDBOX = ParserSandbox()
            atexit.register(_SANDBOX.close)
        return _SANDBOX


class ParserSandbox:
    def __init__(self) -> None:
        self._idle: list[_Worker] = []
        self._starting = 0  # spares being started by _replenish
        self._lock = threading.Lock()
        self._gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    async def run(
        self,
        call: Callable[..., Any],
        *args: Any,
        filename: str,
        limits: ParseLimits,
        workers: int = 2,
    ) -> Any:
        """`call(*args)` in a worker. `call` and its arguments must pickle (module-level names)
        and it must return a ParsedDocument or a JSON value. Raises what `call` raised (an
        InferraError), or DocumentTooComplex when the worker ran out of time or memory or died.
        """
        request = (call, args, filename, limits.memory_mb, limits.timeout_seconds)
        async with self._gate(workers):
            worker = await self._checkout()
            try:
                answer = await asyncio.wait_for(
                    asyncio.to_thread(worker.call, request), limits.timeout_seconds
                )
            except TimeoutError:
                worker.kill()
                self._replenish(workers)
                log.warning("parse_timed_out", filename=filename, seconds=limits.timeout_seconds)
                raise DocumentTooComplex(
                    f"{filename} took longer than {limits.timeout_seconds:g} s to parse; the "
                    "parser was stopped"
                ) from None
            except (EOFError, OSError, ValueError):  # the worker died under the parse
                reason = await asyncio.to_thread(worker.death, limits)
                self._replenish(workers)
                log.warning("parser_died", filename=filename, reason=reason)
                raise DocumentTooComplex(f"{filename} stopped the parser: {reason}") from None
            except BaseException:  # cancelled: the parse must not outlive its caller
                worker.kill()
                self._replenish(workers)
                raise
            # Out of memory: a C library may not have cleaned up after its failed allocation.
            self._checkin(worker, retire=bool(answer.get("out_of_memory")), workers=workers)
        return decode(answer)

    def close(self) -> None:
        """Stops the idle workers, blocking (at exit; busy ones end with their caller). A worker
        also stops by itself when this process is gone: its stdin closes."""
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.stop()

    def _gate(self, workers: int) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        with self._lock:
            gate = self._gates.get(loop)
            if gate is None:
                gate = self._gates[loop] = asyncio.Semaphore(workers)
            return gate

    async def _checkout(self) -> _Worker:
        while True:
            with self._lock:
                worker = self._idle.pop() if self._idle else None
                starting = self._starting
            if worker is not None:
                if worker.alive():
                    return worker
                worker.kill()  # died while idle (OOM killer, an operator): not this file's fault
            elif starting:
                await asyncio.sleep(0.02)  # a spare is on its way: sooner than starting another
            else:
                break
        starting = asyncio.ensure_future(asyncio.to_thread(_Worker.start))
        try:
            return await asyncio.shield(starting)
        except asyncio.CancelledError:
            starting.add_done_callback(_kill_started)
            raise

    def _checkin(self, worker: _Worker, *, retire: bool, workers: int) -> None:
        worker.tasks += 1
        retire = retire or worker.tasks >= RETIRE_AFTER_TASKS or worker.rss() > RETIRE_RSS_BYTES
        if not retire and self._keep(worker, workers):
            return
        worker.kill()
        self._replenish(workers)

    def _keep(self, worker: _Worker, workers: int) -> bool:
        with self._lock:
            if len(self._idle) < workers:
                self._idle.append(worker)
                return True
        return False

    def warm(self, workers: int) -> None:
        """A worker started now (on a thread; returns at once), so that the first upload does
        not wait ~0.2 s for one to start."""
        self._replenish(workers)

    def _replenish(self, workers: int) -> None:
        """A fresh worker for the next upload, started now on a thread of its own, so that
        the upload after a killed parse does not wait for a start."""
        with self._lock:
            if len(self._idle) + self._starting >= workers:
                return
            self._starting += 1

        def start() -> None:
            try:
                worker = _Worker.start()
            except Exception as exc:
                log.warning("parser_start_failed", error=str(exc))
                return
            finally:
                with self._lock:
                    self._starting -= 1
            if not self._keep(worker, workers):
                worker.kill()

        threading.Thread(target=start, name="parser-start", daemon=True).start()


def _kill_started(starting: asyncio.Future[_Worker]) -> None:
    if not starting.cancelled() and starting.exception() is None:
        starting.result().kill()


class _Worker:
    """One worker process and its two pipes; used by one parse at a time, from a thread."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.tasks = 0

    @classmethod
    def start(cls) -> _Worker:
        """Blocking (on a thread): starts the process and waits for it to be ready."""
        package_root = str(Path(__file__).resolve().parents[1])
        pythonpath = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
        process = subprocess.Popen(
            [sys.executable, "-c", _WORKER_MAIN],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": pythonpath},
        )
        worker = cls(process)
        watchdog = threading.Timer(WORKER_START_SECONDS, process.kill)
        watchdog.start()
        try:
            ready = receive(process.stdout)
        except BaseException:
            worker.kill()
            raise
        finally:
            watchdog.cancel()
        if ready != {"ready": process.pid}:
            worker.kill()
            raise RuntimeError(f"the parser worker answered {ready!r} to its start")
        return worker

    def call(self, request: tuple) -> dict:
        """Blocking: one request, its answer. EOFError when the process died."""
        assert self.process.stdin is not None
        send(self.process.stdin, pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL))
        return receive(self.process.stdout)

    def alive(self) -> bool:
        return self.process.poll() is None

    def rss(self) -> int:
        try:
            return psutil.Process(self.process.pid).memory_info().rss
        except psutil.Error:
            return 0

    def kill(self) -> None:
        """SIGKILL now; reaped and its pipes closed on a thread (a thread still reading the
        answer holds the pipe until the process is gone)."""
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        threading.Thread(target=self._reap, name="parser-reap", daemon=True).start()

    def stop(self) -> None:
        """Blocking: stdin closed (the worker's loop ends), SIGKILL if it has not within 1 s."""
        with contextlib.suppress(OSError, ValueError, AttributeError):
            self.process.stdin.close()  # type: ignore[union-attr]
        try:
            self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._reap()

    def _reap(self) -> None:
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError, ValueError):
                pipe.close()

    def death(self, limits: ParseLimits) -> str:
        """Why the process died, from its exit status (blocking briefly: on a thread)."""
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None  # alive but mute: a broken pipe
        self.kill()
        if code == -getattr(signal, "SIGXCPU", 0):
            return f"it used more than {limits.timeout_seconds:g} s of CPU time"
        if code == -getattr(signal, "SIGKILL", 0):
            return "it was killed, most likely for the memory it took"
        return f"the parser crashed (exit status {code})"
