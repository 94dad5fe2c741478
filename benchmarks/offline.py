"""Settings for the in-process benchmarks: a fresh embedded Postgres in a temp dir, no key.

Whatever the environment holds (DATABASE_URL, provider keys), these settings use the embedded
server under a new data dir and the offline providers (local embeddings, offline resolver unless
the benchmark passes a chat model), never trace to LangSmith, and raise the per-user ticket
quotas out of reach.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from core.settings import Settings

# The per-user quotas (services/quotas.py) would refuse a benchmark's flood of tickets from a few
# accounts: raised out of reach, all of them (quotas.UNLIMITED) and at least the ticket ones.
# Settings ignore names they do not know, so older code (before/after comparisons) runs too.
NO_QUOTAS: dict[str, int] = {"quota_tickets_per_hour": 10**9, "quota_open_tickets": 10**9}
try:
    from services.quotas import UNLIMITED
except ImportError:  # code without quotas
    UNLIMITED = {}
NO_QUOTAS |= UNLIMITED


def offline_settings(prefix: str = "inferra-bench-", **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": Path(tempfile.mkdtemp(prefix=prefix)),
        "database_url": None,  # unset: an embedded Postgres under data_dir/pg
        "gemini_api_key": None,
        "nomic_api_key": None,
        "langsmith_api_key": None,
        "jwt_secret_key": "bench-" + "x" * 40,
        "worker_enabled": False,  # the benchmark decides when jobs run
        "log_level": "WARNING",
        **NO_QUOTAS,
    }
    return Settings(**{**values, **overrides}, _env_file=None)
