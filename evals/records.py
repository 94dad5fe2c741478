"""What one eval case produced: one line of results.jsonl. Shared by the runner (writes it), the
metrics (read it) and the report."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Citation(BaseModel):
    label: str  # as cited by the draft: T1, D2, W1
    retrieved: bool  # the label names evidence retrieved in this run
    type: str | None = None  # ticket | doc | web
    ref: str | None = None  # history id, KB file name or URL


class CaseResult(BaseModel):
    id: str
    title: str
    expected_category: str
    predicted_category: str | None = None
    expect_handoff: bool = False
    handed_off: bool = False
    handoff_reason: str | None = None
    relevant_history: list[str] = Field(default_factory=list)
    retrieved_history: list[str] = Field(default_factory=list)  # rank order, history ids
    relevant_docs: list[str] = Field(default_factory=list)
    retrieved_docs: list[str] = Field(default_factory=list)  # rank order, KB file names
    # The first / last draft parsed into the DraftResolution schema ...
    json_valid_first: bool = False
    json_valid_final: bool = False
    # ... and passed every rule of the validate node (non-empty, cited ids retrieved, no secrets).
    draft_valid_first: bool = False
    draft_valid_final: bool = False
    attempts: int = 0
    validation_errors: list[str] = Field(default_factory=list)
    citations: list[Citation] = Field(default_factory=list)
    confidence: float | None = None
    resolution: str = ""
    reference_points: list[str] = Field(default_factory=list)
    points_covered: list[bool] = Field(default_factory=list)
    coverage_method: str | None = None  # matcher | judge
    node_latency_ms: dict[str, list[float]] = Field(default_factory=dict)
    total_ms: float | None = None
    model: str | None = None
    classified_by: str | None = None
    skipped: list[dict] = Field(default_factory=list)
    error: str | None = None

    @property
    def coverage(self) -> float | None:
        if not self.reference_points:
            return None
        return sum(self.points_covered) / len(self.reference_points)
