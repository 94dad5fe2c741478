"""Response shapes shared by every room of the API."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from core.pagination import Page
from core.text import Text

T = TypeVar("T")
__all__ = ["ERROR_RESPONSES", "ErrorOut", "PageOut", "Text"]


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    page_size: int

    @classmethod
    def of(cls, page: Page[Any], item: type[BaseModel]) -> PageOut:
        """A repository page rendered with the item schema (built from ORM attributes)."""
        return cls[item](  # type: ignore[index]
            items=[item.model_validate(row) for row in page.items],
            total=page.total,
            page=page.page,
            page_size=page.page_size,
        )


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorOut(BaseModel):
    error: ErrorBody


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 422, 429, 503)
}
