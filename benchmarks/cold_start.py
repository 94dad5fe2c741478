"""Cold start of `inferra serve` on the embedded database: process start until /readyz is 200.

    .venv/bin/python -m benchmarks.cold_start [--runs 3]

Each run spawns `.venv/bin/inferra serve` (a subprocess, port in 18000-18999 on 127.0.0.1) and
polls /readyz every 20 ms; the clock starts just before the process is spawned, so it includes
the interpreter, imports, the embedded Postgres start and the migrations. "fresh" runs use a new
data dir each (initdb + all migrations); "restart" runs reuse the last fresh run's data dir
(server start, migrations already at head). The server is stopped with SIGINT after each run,
and the next run starts only once its Postgres has stopped. Prints each run and the median, and
the median time from SIGINT until Postgres has stopped (it includes waiting for the embedding
model that `serve` loads in a background thread at startup: a stop within ~15 s of the start
waits for that load to finish).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

from benchmarks.figures import machine
from benchmarks.serve import inferra_serve


def timed_start(data_dir: Path) -> tuple[float, float, bool]:
    """Seconds to ready, seconds to stop after SIGINT, and whether Postgres stopped."""
    with inferra_serve(data_dir) as server:
        ready = server.wait_ready()
        stopped = server.stop()
    return ready, server.exit_seconds or 0.0, stopped


def main(runs: int) -> None:
    print(f"machine: {machine()}")
    root = Path(tempfile.mkdtemp(prefix="inferra-bench-cold-"))
    results: dict[str, list[tuple[float, float, bool]]] = {"fresh": [], "restart": []}
    for i in range(runs):
        results["fresh"].append(timed_start(root / f"fresh-{i}"))
    for _ in range(runs):
        results["restart"].append(timed_start(root / f"fresh-{runs - 1}"))
    shutil.rmtree(root, ignore_errors=True)

    print(f"inferra serve until /readyz is 200 ({runs} runs each)")
    print(f"{'data dir':<9} {'runs (s)':<26} {'median':>8} {'stop (s)':>9}  postgres stopped")
    for kind, rows in results.items():
        ready = [r[0] for r in rows]
        stops = [r[1] for r in rows]
        print(
            f"{kind:<9} {' '.join(f'{s:6.2f}' for s in ready):<26} "
            f"{statistics.median(ready):7.2f}s {statistics.median(stops):8.2f}s  "
            f"{all(r[2] for r in rows)}"
        )
    print(f"machine after: {machine()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per kind (fresh, restart)")
    main(parser.parse_args().runs)
