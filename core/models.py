"""ORM models. Alembic (core/migrations) owns the schema; these mirror it."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from fastapi_users_db_sqlalchemy import SQLAlchemyBaseUserTableUUID
from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    BigInteger,
    Boolean,
    Computed,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _enum(enum_cls: type[StrEnum], name: str) -> Enum:
    return Enum(enum_cls, name=name, values_callable=lambda e: [m.value for m in e])


class Role(StrEnum):
    user = "user"
    support = "support"
    admin = "admin"


class User(SQLAlchemyBaseUserTableUUID, Base):
    __tablename__ = "users"

    role: Mapped[Role] = mapped_column(
        _enum(Role, "user_role"), default=Role.user, server_default=Role.user.value
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.support, Role.admin)


class RateLimitHit(Base):
    """Fixed-window counters for login throttling, shared by every API process."""

    __tablename__ = "rate_limit_hits"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    hits: Mapped[int] = mapped_column(Integer, default=0)


class Category(StrEnum):
    """The fixed ticket taxonomy (documented in the README)."""

    access_accounts = "access_accounts"
    network_vpn = "network_vpn"
    email = "email"
    hardware = "hardware"
    software_install = "software_install"
    os = "os"
    printing = "printing"
    security = "security"
    other = "other"


class Priority(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


class TicketStatus(StrEnum):
    open = "open"
    in_progress = "in_progress"
    resolved = "resolved"
    closed = "closed"
    escalated = "escalated"


class RunStatus(StrEnum):
    queued = "queued"
    running = "running"
    interrupted = "interrupted"
    succeeded = "succeeded"
    failed = "failed"


class RunTrigger(StrEnum):
    auto = "auto"
    manual = "manual"
    replay = "replay"
    fork = "fork"
    studio = "studio"  # started from LangGraph Studio / `langgraph dev` (inferra/studio.py)


def _now_column() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now())


class Ticket(Base):
    __tablename__ = "tickets"
    # Server-made columns (timestamps, search_tsv) come back with the INSERT/UPDATE itself
    # (RETURNING), not with a second SELECT when read.
    __mapper_args__: ClassVar[dict[str, Any]] = {"eager_defaults": True}

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    category_hint: Mapped[Category | None] = mapped_column(_enum(Category, "ticket_category"))
    category: Mapped[Category | None] = mapped_column(_enum(Category, "ticket_category"))
    priority: Mapped[Priority] = mapped_column(
        _enum(Priority, "ticket_priority"), default=Priority.medium
    )
    status: Mapped[TicketStatus] = mapped_column(
        _enum(TicketStatus, "ticket_status"), default=TicketStatus.open
    )
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    # The accepted resolution makes this ticket a "similar resolved ticket" for retrieval.
    accepted_resolution_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("resolutions.id", use_alter=True, ondelete="SET NULL")
    )
    resolution_text: Mapped[str | None] = mapped_column(Text)
    embedding: Mapped[list[float] | None] = mapped_column(Vector())
    search_tsv: Mapped[Any] = mapped_column(
        TSVECTOR,
        Computed(
            "to_tsvector('english', coalesce(title, '') || ' ' || coalesce(description, '')"
            " || ' ' || coalesce(resolution_text, ''))",
            persisted=True,
        ),
    )
    created_at: Mapped[datetime] = _now_column()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class TicketComment(Base):
    __tablename__ = "ticket_comments"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    ticket_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    internal: Mapped[bool] = mapped_column(Boolean, default=False)
    embedding: Mapped[list[float] | None] = mapped_column(Vector())
    tsv: Mapped[Any] = mapped_column(
        TSVECTOR, Computed("to_tsvector('english', body)", persisted=True)
    )
    created_at: Mapped[datetime] = _now_column()


class Resolution(Base):
    """One per agent run (or staff edit); the ticket shows the latest."""

    __tablename__ = "resolutions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    ticket_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), index=True
    )
    run_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agent_runs.id", ondelete="SET NULL"), unique=True
    )
    version: Mapped[int] = mapped_column(Integer)
    summary: Mapped[str] = mapped_column(Text)
    diagnoses: Mapped[list[str]] = mapped_column(JSONB, default=list)
    solutions: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    sources: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    confidence: Mapped[float] = mapped_column(Float)
    model: Mapped[str] = mapped_column(String(100))
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now_column()


class AgentRun(Base):
    """An agent run, the domain record of a job; its id is the LangGraph thread id."""

    __tablename__ = "agent_runs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    ticket_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[RunStatus] = mapped_column(
        _enum(RunStatus, "run_status"), default=RunStatus.queued
    )
    trigger: Mapped[RunTrigger] = mapped_column(_enum(RunTrigger, "run_trigger"))
    requested_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    parent_run_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agent_runs.id"))
    parent_checkpoint_id: Mapped[str | None] = mapped_column(String(100))
    model: Mapped[str | None] = mapped_column(String(100))
    error: Mapped[str | None] = mapped_column(Text)
    skipped_steps: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    state_patch: Mapped[dict[str, Any] | None] = mapped_column(JSONB)  # fork edits
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Who owns the run now: the token of the job attempt executing it. A finish carrying
    # another token (a worker that was superseded) is refused.
    attempt_token: Mapped[str | None] = mapped_column(String(100))
    job_id: Mapped[int | None] = mapped_column(BigInteger)  # the procrastinate job
    # A staff decision on a handed-off run, recorded by the API, applied by a worker.
    pending_decision: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = _now_column()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    filename: Mapped[str] = mapped_column(String(255), index=True)
    mime: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), default="ready")
    pages: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    uploaded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    # Bytes of a queued upload (deferred: never loaded with a listing).
    source: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime] = _now_column()


class DocumentChunk(Base):
    __tablename__ = "document_chunks"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    document_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    ordinal: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    heading_path: Mapped[str | None] = mapped_column(Text)
    page: Mapped[int | None] = mapped_column(Integer)
    embedding: Mapped[list[float] | None] = mapped_column(Vector())
    tsv: Mapped[Any] = mapped_column(
        TSVECTOR,
        Computed(
            "to_tsvector('english', coalesce(heading_path, '') || ' ' || text)", persisted=True
        ),
    )


class Verdict(StrEnum):
    helpful = "helpful"
    not_helpful = "not_helpful"


class FeedbackReason(StrEnum):
    incorrect = "incorrect"
    incomplete = "incomplete"
    outdated = "outdated"
    irrelevant = "irrelevant"
    other = "other"


class Feedback(Base):
    """One verdict per user per resolution (a new one replaces the old)."""

    __tablename__ = "feedback"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    resolution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("resolutions.id", ondelete="CASCADE")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    verdict: Mapped[Verdict] = mapped_column(_enum(Verdict, "feedback_verdict"))
    reason: Mapped[FeedbackReason | None] = mapped_column(_enum(FeedbackReason, "feedback_reason"))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now_column()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class SearchTermStat(Base):
    """How many rows of a full-text corpus contain a lexeme: BM25's IDF (migration 0009; each
    searchable table also has a server-made `search_terms` sparsevec, not mapped here: only
    SQL in core/repositories/search.py reads it)."""

    __tablename__ = "search_term_stats"

    corpus: Mapped[str] = mapped_column(Text, primary_key=True)
    lexeme: Mapped[str] = mapped_column(Text, primary_key=True)
    docs: Mapped[int] = mapped_column(Integer)


class SearchCorpusStat(Base):
    """A corpus's row count and table writes (pg_stat) at its last term-statistics refresh."""

    __tablename__ = "search_corpus_stats"

    corpus: Mapped[str] = mapped_column(Text, primary_key=True)
    docs: Mapped[int] = mapped_column(Integer)
    changes_seen: Mapped[int] = mapped_column(BigInteger)
    refreshed_at: Mapped[datetime] = _now_column()


class Meta(Base):
    """Facts fixed per database, e.g. the embedding dimension (a mismatch is a startup error)."""

    __tablename__ = "inferra_meta"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


__all__ = [
    "AgentRun",
    "Base",
    "Category",
    "Document",
    "DocumentChunk",
    "Feedback",
    "FeedbackReason",
    "Meta",
    "Priority",
    "RateLimitHit",
    "Resolution",
    "Role",
    "RunStatus",
    "RunTrigger",
    "SearchCorpusStat",
    "SearchTermStat",
    "Ticket",
    "TicketComment",
    "TicketStatus",
    "User",
    "Verdict",
]
