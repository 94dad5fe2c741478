"""One embedded Postgres for the whole session; each test starts from empty tables.

Isolation is by truncation, not a rolled-back transaction: the app opens several sessions of its
own (the login limiter commits separately; later the agent worker and the checkpointer too).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agent.context import AgentContext
from api.main import create_app
from core import migrate
from core.db import DatabaseUrls
from core.embedded_pg import start_embedded_postgres, stop_embedded_postgres
from core.models import Base, Role
from core.settings import Settings
from services.resources import Runtime
from services.users import create_user
from services.worker import drain as drain_queue
from tests.fakes import OfflineWebSearch

PASSWORD = "correct-horse-battery"
CHECKPOINT_TABLES = ("checkpoints", "checkpoint_blobs", "checkpoint_writes")
JOB_TABLES = (
    "procrastinate_jobs",
    "procrastinate_events",
    "procrastinate_periodic_defers",
    "procrastinate_workers",
)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    server = start_embedded_postgres(tmp_path_factory.mktemp("pg") / "data")
    yield server
    stop_embedded_postgres(server)


@pytest.fixture(scope="session")
def database_urls(pg_server) -> DatabaseUrls:
    urls = DatabaseUrls.from_any(pg_server.get_uri())
    migrate.upgrade(urls)
    return urls


@pytest.fixture(scope="session")
def settings(database_urls: DatabaseUrls, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        inferra_env="test",
        database_url=database_urls.libpq,
        data_dir=tmp_path_factory.mktemp("data"),
        jwt_secret_key="test-secret-" + "x" * 40,
        migrate_on_start=False,
        log_json=False,
        # Long fixed window: a test never straddles a window boundary (which resets counts).
        login_rate_limit_window_seconds=3600,
        worker_enabled=False,  # tests drain the queue explicitly (deterministic)
        # Fast crash detection for the crash tests (workers in subprocesses share these).
        worker_heartbeat_seconds=0.5,
        worker_stalled_seconds=2,
        worker_sweep_seconds=1,
        gemini_api_key=None,  # never reach a real provider from the tests
        nomic_api_key=None,
        langsmith_api_key=None,
        _env_file=None,
    )


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings, web_search=OfflineWebSearch())
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def runtime(app: FastAPI) -> Runtime:
    return app.state.runtime


@pytest.fixture
def agent_context(runtime: Runtime) -> Iterator[AgentContext]:
    """The app's agent context; a test may swap its chat model or web search (restored after)."""
    context: AgentContext = runtime.agent
    model, web = context.chat_model, context.web_search
    yield context
    context.chat_model, context.web_search = model, web


@pytest.fixture
def drain(runtime: Runtime):
    """Run every queued job to its end, through a real procrastinate worker."""

    async def _drain() -> int:
        return await drain_queue(runtime)

    return _drain


@pytest.fixture(autouse=True)
async def _empty_tables(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    yield
    if "app" not in request.fixturenames:
        return
    application: FastAPI = request.getfixturevalue("app")
    names = [*(t.name for t in Base.metadata.sorted_tables), *CHECKPOINT_TABLES, *JOB_TABLES]
    tables = ", ".join(f'"{name}"' for name in names)
    # A run a test left going may hold a table the TRUNCATE needs while it waits for one the
    # TRUNCATE holds: Postgres cancels one of the two; if it was the TRUNCATE, the run goes on
    # and a second try finds the tables free.
    for attempt in range(3):
        try:
            async with application.state.runtime.engine.begin() as conn:
                await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            return
        except DBAPIError as exc:
            if attempt == 2 or not isinstance(exc.orig, psycopg.errors.DeadlockDetected):
                raise


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@pytest.fixture
def sessionmaker(app: FastAPI) -> async_sessionmaker[AsyncSession]:
    return app.state.runtime.sessionmaker


class Actor:
    """A logged-in user as the tests see it: id, email and auth headers."""

    def __init__(self, user_id: uuid.UUID, email: str, token: str) -> None:
        self.id = user_id
        self.email = email
        self.headers = {"Authorization": f"Bearer {token}"}


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    response = await client.post(
        "/api/v1/auth/login", data={"username": email, "password": password}
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


@pytest.fixture
def make_actor(client: httpx.AsyncClient, sessionmaker):
    async def _make(role: Role = Role.user, email: str | None = None) -> Actor:
        email = email or f"{role.value}-{uuid.uuid4().hex[:8]}@example.com"
        async with sessionmaker.begin() as session:
            user = await create_user(session=session, email=email, password=PASSWORD, role=role)
        return Actor(user.id, email, await login(client, email))

    return _make


@pytest.fixture
async def user(make_actor) -> Actor:
    return await make_actor(Role.user)


@pytest.fixture
async def support(make_actor) -> Actor:
    return await make_actor(Role.support)


@pytest.fixture
async def admin(make_actor) -> Actor:
    return await make_actor(Role.admin)


def assert_error_shape(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    if code is not None:
        assert body["error"]["code"] == code
    return body["error"]


__all__ = ["PASSWORD", "Actor", "assert_error_shape", "login"]


# --- Browser tests (pytest-playwright): Debian's Chromium, never a downloaded browser -------------
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": ["--no-sandbox"]}
