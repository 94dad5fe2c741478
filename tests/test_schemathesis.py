"""Property-based API tests from the OpenAPI schema (schemathesis), against a real `inferra
serve` on 127.0.0.1, as an authenticated user and as an admin: no 5xx, responses match the
schema. The number of examples per operation is bounded (SCHEMATHESIS_EXAMPLES, default 8)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from core.models import Role
from services.users import create_user
from tests.conftest import PASSWORD
from tests.live import free_port, wait_until_ready

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "8"))
# Schema-valid data that our rules reject on purpose (an email on a reserved domain, a NUL in
# text, a status transition that is not allowed) is a 4xx by design, not a bug.
EXCLUDED_CHECKS = [positive_data_acceptance]


@pytest.fixture(scope="session")
def live_server(settings_for_server) -> Iterator[str]:
    yield from _serve(settings_for_server)


def _serve(env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "inferra", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    wait_until_ready(base, process, lambda: process.stderr.read() if process.stderr else "")
    yield base
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()  # never left running: its worker would take later tests' jobs
        process.wait()
        raise


@pytest.fixture(scope="session")
def settings_for_server(settings) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "JWT_SECRET_KEY": settings.jwt_secret(),
        "MIGRATE_ON_START": "false",
        "WORKER_ENABLED": "false",  # queued runs stay queued: only the API is under test
        "WEB_SEARCH_ENABLED": "false",
        "LOGIN_RATE_LIMIT_PER_IP": "100000",
        "LOGIN_RATE_LIMIT_PER_EMAIL": "100000",
        "REGISTER_RATE_LIMIT_PER_IP": "100000",
        "QUOTA_OPEN_TICKETS": "100000",
        "QUOTA_TICKETS_PER_HOUR": "100000",
        "QUOTA_MANUAL_RUNS_PER_HOUR": "100000",
        "QUOTA_FORKS_PER_HOUR": "100000",
        "QUOTA_COMMENTS_PER_MINUTE": "100000",
        "LOG_LEVEL": "WARNING",
        "GEMINI_API_KEY": "",
        "NOMIC_API_KEY": "",
    }


@pytest.fixture
def auth_headers(app, live_server, settings_for_server, request) -> dict[str, dict[str, str]]:
    """A fresh user and admin for each operation (the tables are emptied after each test)."""
    headers = {}
    for role in ("user", "admin"):
        email = f"st-{role}-{uuid.uuid4().hex[:8]}@example.com"
        if role == "admin":
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "inferra",
                    "create-admin",
                    "--email",
                    email,
                    "--password",
                    PASSWORD,
                ],
                env=settings_for_server,
                check=True,
                capture_output=True,
                timeout=120,
            )
        else:
            httpx.post(
                f"{live_server}/api/v1/auth/register",
                json={"email": email, "password": PASSWORD},
                timeout=10,
            )
        token = httpx.post(
            f"{live_server}/api/v1/auth/login",
            data={"username": email, "password": PASSWORD},
            timeout=10,
        )
        headers[role] = {"Authorization": f"Bearer {token.json()['access_token']}"}
    return headers


HYPOTHESIS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)


def _check_operation(operation, headers: dict[str, str], base_url: str) -> None:
    @given(case=operation.as_strategy())
    @HYPOTHESIS
    def run(case) -> None:
        case.call_and_validate(
            headers=dict(headers), base_url=base_url, timeout=30, excluded_checks=EXCLUDED_CHECKS
        )

    run()


# One test walks every operation (schemathesis' own pytest plugin does not load on pytest 9):
# the users it creates live for the whole walk, and every failure is reported at the end.
@pytest.mark.parametrize("role", ["user", "admin"])
def test_every_operation_conforms(live_server, auth_headers, role) -> None:
    schema = schemathesis.openapi.from_url(f"{live_server}/openapi.json")
    failures = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20
    for operation in operations:
        try:
            _check_operation(operation, auth_headers[role], live_server)
        except BaseException as exc:  # hypothesis raises groups; collect every broken operation
            if isinstance(exc, KeyboardInterrupt):
                raise
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)


@pytest.fixture(scope="module")
def live_server_with_worker(settings_for_server) -> Iterator[str]:
    """A second server whose embedded worker executes the runs the walk queues, so replay, fork,
    resume and feedback meet real runs, checkpoints and resolutions. Module-scoped: its worker
    must be gone before other modules' tests, which expect their runs to stay queued."""
    env = {**settings_for_server, "WORKER_ENABLED": "true"}
    yield from _serve(env)


STATEFUL = settings(
    max_examples=int(os.environ.get("SCHEMATHESIS_STATEFUL_EXAMPLES", "6")),
    stateful_step_count=6,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)


@pytest.fixture
async def staff_headers(sessionmaker, live_server_with_worker) -> dict[str, dict[str, str]]:
    headers = {}
    async with httpx.AsyncClient(base_url=live_server_with_worker, timeout=10) as http:
        for role in (Role.user, Role.support, Role.admin):
            email = f"sf-{role.value}-{uuid.uuid4().hex[:8]}@example.com"
            async with sessionmaker.begin() as session:
                await create_user(session=session, email=email, password=PASSWORD, role=role)
            login = await http.post(
                "/api/v1/auth/login", data={"username": email, "password": PASSWORD}
            )
            headers[role.value] = {"Authorization": f"Bearer {login.json()['access_token']}"}
    return headers


@pytest.mark.parametrize("role", ["user", "support", "admin"])
def test_operations_chained_through_their_links(
    live_server_with_worker, staff_headers, role
) -> None:
    """Stateful: links inferred from the schema chain real ids (POST /tickets -> its runs ->
    replay/fork/resume, resolutions -> feedback): no 5xx, responses match the schema."""
    schema = schemathesis.openapi.from_url(f"{live_server_with_worker}/openapi.json")
    machine = schema.as_state_machine()
    headers = staff_headers[role]

    class Machine(machine):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case):
            return {"headers": dict(headers), "base_url": live_server_with_worker, "timeout": 30}

        def validate_response(self, response, case, **kwargs):
            case.validate_response(response, excluded_checks=EXCLUDED_CHECKS)

    Machine.run(settings=STATEFUL)
