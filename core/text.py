"""Text as PostgreSQL can store it."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator


def _no_nul(value: str) -> str:
    # PostgreSQL text and jsonb cannot hold NUL: refuse it at the edge, not in the database.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


# Every free-text field of a request or of a model's structured output goes through this.
Text = Annotated[str, AfterValidator(_no_nul)]
