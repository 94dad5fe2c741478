from __future__ import annotations

import httpx

from tests.conftest import assert_error_shape


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_readyz_reports_migration_head_and_pgvector(client: httpx.AsyncClient) -> None:
    body = (await client.get("/readyz")).json()
    assert body["status"] == "ready"
    assert body["migration"] == body["head"]
    assert body["pgvector"]


async def test_unknown_route_is_404_in_error_shape(client: httpx.AsyncClient) -> None:
    assert_error_shape(await client.get("/api/v1/nope"), 404, "not_found")


async def test_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    assert len((await client.get("/healthz")).headers["x-request-id"]) == 32


async def test_readyz_tells_anonymous_callers_no_internals(app) -> None:
    from types import SimpleNamespace

    from api.health import readyz
    from core.errors import ServiceUnavailable

    class Unreachable:
        def connect(self):
            raise OSError("connection to /tmp/.s.PGSQL.5432 failed: secret detail")

    state = SimpleNamespace(runtime=SimpleNamespace(engine=Unreachable()))
    request = SimpleNamespace(app=SimpleNamespace(state=state))
    try:
        await readyz(request)  # type: ignore[arg-type]
    except ServiceUnavailable as exc:
        assert exc.details is None and "PGSQL" not in exc.message
    else:
        raise AssertionError("readyz said ready")
