"""Memory under a POST flood: the RSS of `inferra serve`, its child processes, its embedded
Postgres (and a separate worker), sampled while only `POST /api/v1/tickets` is sent.

    .venv/bin/python -m benchmarks.memory_flood [--duration 60] [--tail 30] [--users 16]
        [--accounts 4] [--interval 1] [--no-worker | --separate-worker]

Needs locust (the `bench` extra), like api_load, whose steps it reuses: `inferra serve` on a
fresh embedded database in a temp dir, with its in-process run worker (as `inferra serve` runs
by default), accounts registered, one warm-up ticket per account whose run loads the embedding
model, then until the server is idle. Three phases follow, sampled every --interval seconds:
  1. idle:  --idle seconds with no load (the baseline);
  2. flood: --users closed-loop locust users that only file tickets, for --duration seconds
            (every ticket queues an agent run that the worker executes meanwhile);
  3. tail:  --tail seconds with no HTTP load while the worker goes on with the backlog.
Prints, per phase and per part, the RSS at the phase's start, its peak and its end (MB):
  server          the `inferra serve` process (the figure issue 17 bounds);
  server anon     its anonymous memory (RSS less file-backed pages: heap, arenas, tensors);
  children        its child processes (e.g. the parse sandbox), RSS summed;
  postgres        the embedded Postgres, PSS summed over its processes (RSS would count the
                  shared buffers once per backend);
  worker          `inferra worker` with --separate-worker.
and the flood's POST req/s, errors and the runs the worker finished.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from benchmarks.api_load import login_accounts, run_phase, ticket_counts, warm_up
from benchmarks.figures import machine
from benchmarks.serve import Server, add_load_options, inferra_serve, inferra_worker

MB = 2**20


def _rss(pid: int) -> tuple[int, int]:
    """(RSS, anonymous RSS) of one process, in bytes; (0, 0) if it is gone."""
    try:
        info = psutil.Process(pid).memory_info()
    except psutil.Error:
        return 0, 0
    return info.rss, info.rss - info.shared


def _pss(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            total += psutil.Process(pid).memory_full_info().pss
    return total


def sample(server: Server) -> dict[str, float]:
    """One reading of every part, in MB."""
    parts = server.pids()
    main, *children = parts.pop("server") or [server.process.pid]
    rss, anon = _rss(main)
    reading = {
        "server": rss,
        "server anon": anon,
        "children": sum(_rss(pid)[0] for pid in children),
        "postgres": _pss(parts.pop("postgres")),
    }
    reading |= {part: sum(_rss(pid)[0] for pid in pids) for part, pids in parts.items()}
    return {part: value / MB for part, value in reading.items()}


@dataclass
class Sampler:
    """Samples `server` every `interval` seconds in a thread, into the current phase."""

    server: Server
    interval: float
    phases: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    _phase: str = ""
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self, phase: str) -> None:
        self.phases[phase] = [sample(self.server)]
        self._phase = phase

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.phases[self._phase].append(sample(self.server))

    @contextlib.contextmanager
    def running(self):
        thread = threading.Thread(target=self._loop, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()
            self.phases[self._phase].append(sample(self.server))


def report(phases: dict[str, list[dict[str, float]]]) -> None:
    parts = list(next(iter(phases.values()))[0])
    print(f"\n{'phase':<6} {'part':<12} {'start MB':>9} {'peak MB':>9} {'end MB':>9} samples")
    for name, readings in phases.items():
        for part in parts:
            values = [r.get(part, 0.0) for r in readings]
            print(
                f"{name:<6} {part:<12} {values[0]:>9.0f} {max(values):>9.0f} "
                f"{values[-1]:>9.0f} {len(values):>7}"
            )
    server = [r["server"] for readings in phases.values() for r in readings]
    print(f"server RSS over the whole run: first {server[0]:.0f} MB, peak {max(server):.0f} MB")


def main(args: argparse.Namespace) -> None:
    work_dir = Path(tempfile.mkdtemp(prefix="inferra-bench-memory-"))
    print(f"machine: {machine()}")
    separate = args.separate_worker
    env = {} if args.worker and not separate else {"WORKER_ENABLED": "false"}
    print(f"run worker: {'own process' if separate else 'in-process' if args.worker else 'off'}")
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(inferra_serve(work_dir / "data", **env))
        ready = server.wait_ready()
        if separate:
            worker = stack.enter_context(inferra_worker(work_dir / "data"))
            server.extra_parts["worker"] = worker.pid
        tokens = login_accounts(server.base_url, args.accounts)
        (work_dir / "tokens.json").write_text(json.dumps(tokens))
        warm_up(server.base_url, tokens, args.warmup_timeout, wait_runs=args.worker or separate)
        idle = server.wait_idle()
        print(f"server ready in {ready:.1f} s, idle {idle:.1f} s after the warm-up runs")
        sampler = Sampler(server, args.interval)
        sampler.start("idle")
        with sampler.running():
            time.sleep(args.idle)
            filed_before, _ = ticket_counts(server.base_url, tokens)
            sampler.start("flood")
            flood = run_phase(server, "flood", "PostFloodUser", args.duration, args.users, work_dir)
            filed, open_after_flood = ticket_counts(server.base_url, tokens)
            sampler.start("tail")
            time.sleep(args.tail)
            _, open_after_tail = ticket_counts(server.base_url, tokens)
    shutil.rmtree(work_dir / "data" / "pg", ignore_errors=True)  # keep the logs only
    report(sampler.phases)
    for s in flood.stats:
        print(f"flood: {s.name} {s.requests} requests, {s.errors} errors, {s.rps:.1f} req/s")
    print(
        f"runs: {filed - filed_before} tickets filed in the flood; still queued at its end "
        f"{open_after_flood}, after the tail {open_after_tail}; logs in {work_dir}"
    )
    print(f"machine after: {machine()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=60, help="seconds of POST flood")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds sampled before it")
    parser.add_argument("--tail", type=float, default=30.0, help="seconds sampled after it")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between samples")
    add_load_options(parser)
    main(parser.parse_args())
