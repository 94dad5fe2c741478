"""Text as PostgreSQL can store it, and the free-text fields every front door shares."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from pydantic import AfterValidator, StringConstraints, TypeAdapter, ValidationError

from core.errors import InferraError


def _no_nul(value: str) -> str:
    # PostgreSQL text and jsonb cannot hold NUL: refuse it at the edge, not in the database.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


# Every free-text field of a request or of a model's structured output goes through this.
Text = Annotated[str, AfterValidator(_no_nul)]


def _trimmed(min_length: int, max_length: int) -> Any:
    """Trimmed first, then measured: "   " is blank (422), not a three-character title."""
    return Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length),
        AfterValidator(_no_nul),
    ]


# One definition for the API schemas and the services (console, CLI, evals call the services).
TicketTitle = _trimmed(3, 200)
TicketDescription = _trimmed(1, 10_000)
CommentBody = _trimmed(1, 5_000)


@cache
def _adapter(kind: Any) -> TypeAdapter[str]:
    # Built once per kind: building one generates its schema, ~0.5 ms (issue 17).
    return TypeAdapter(kind)


def checked(field: str, kind: Any, value: str) -> str:
    """`value` under `kind`'s rules (trimmed), or a 422 naming the field."""
    try:
        return _adapter(kind).validate_python(value)
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"]
        raise InferraError(
            f"{field}: {reason}",
            code="validation_error",
            status_code=422,
            details=[{"loc": [field], "message": reason}],
        ) from None
