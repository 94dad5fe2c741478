"""Structured outputs of the agent: what the chat model must return (and the offline resolver
builds), validated by pydantic."""

from __future__ import annotations

from pydantic import BaseModel, Field

from core.models import Category, Priority
from core.text import Text


class Classification(BaseModel):
    """Classify an IT support ticket."""

    category: Category = Field(description="One category from the fixed taxonomy")
    priority: Priority = Field(description="low, medium, high or critical")
    search_query: Text = Field(
        min_length=3, max_length=300, description="Keywords to search past tickets and the KB"
    )


class Solution(BaseModel):
    title: Text = Field(min_length=3, max_length=200)
    steps: list[Text] = Field(min_length=1, max_length=15, description="Ordered steps")


class DraftResolution(BaseModel):
    """A resolution for the ticket, citing the evidence labels it relies on (e.g. T1, D2, W1)."""

    summary: Text = Field(min_length=10, max_length=2000)
    diagnoses: list[Text] = Field(min_length=1, max_length=8)
    # Empty when nothing supports a fix: the run is handed to staff, never persisted as an answer.
    solutions: list[Solution] = Field(default_factory=list, max_length=6)
    sources: list[Text] = Field(default_factory=list, max_length=20)
    confidence: float = Field(ge=0, le=1)


class HumanDecision(BaseModel):
    """What support staff answer to a run interrupted for handoff."""

    action: str = Field(pattern="^(approve|edit|reject)$")
    resolution: DraftResolution | None = None
    note: Text | None = Field(default=None, max_length=5000)
    by: str | None = Field(default=None, description="id of the staff member deciding")
