"""Response shapes shared by every room of the API."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from core.text import Text

T = TypeVar("T")
__all__ = ["ERROR_RESPONSES", "ErrorOut", "PageOut", "Text"]


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    page_size: int


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorOut(BaseModel):
    error: ErrorBody


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 422)
}
