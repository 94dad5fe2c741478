"""The OpenAPI document, made to tell the truth about our error bodies.

fastapi-users documents its errors as `{"detail": ...}`; our one exception handler renders every
error as `{"error": {code, message, details}}`. The schema says so, so that generated clients and
schemathesis see what the API really returns.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.schemas import ErrorOut

LIBRARY_ERROR = "#/components/schemas/ErrorModel"
OUR_ERROR = "#/components/schemas/ErrorOut"


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            _use_our_error_shape(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _use_our_error_shape(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    definition = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(definition.pop("$defs", {}))
    components["ErrorOut"] = definition
    components.pop("ErrorModel", None)
    for operation in (op for path in schema["paths"].values() for op in path.values()):
        for response in operation.get("responses", {}).values():
            content = response.get("content", {}).get("application/json")
            if content and content.get("schema", {}).get("$ref") == LIBRARY_ERROR:
                response["content"]["application/json"] = {"schema": {"$ref": OUR_ERROR}}
