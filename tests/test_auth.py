from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta

import fastapi_users.manager
import httpx
import pytest
from fastapi_users.jwt import generate_jwt
from fastapi_users.password import PasswordHelper

from api.auth.backend import VerifiedTokens
from core.models import Role
from tests.conftest import PASSWORD, assert_error_shape, login


async def register(client: httpx.AsyncClient, email: str, **extra) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/register", json={"email": email, "password": PASSWORD, **extra}
    )


async def test_register_login_and_me(client: httpx.AsyncClient) -> None:
    created = await register(client, "new@example.com")
    assert created.status_code == 201, created.text
    assert created.json()["role"] == "user"
    assert "hashed_password" not in created.json()

    token = await login(client, "new@example.com")
    me = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["email"] == "new@example.com"
    assert me.json()["role"] == "user"


async def test_internationalised_domains_are_kept_in_their_ascii_form(
    client: httpx.AsyncClient,
) -> None:
    """What was sent is what is stored and returned (the IDNA spelling), and login finds the user
    under either spelling of the domain."""
    sent = "it-desk@shop.xn--g2xx48c"
    created = await register(client, sent)
    assert created.status_code == 201, created.text
    assert created.json()["email"] == sent
    unicode_domain = await register(client, "help@购物.example")
    assert unicode_domain.json()["email"] == "help@xn--g2xx48c.example"
    for spelling in (sent, "it-desk@shop.购物", "IT-desk@SHOP.xn--g2xx48c"):
        await login(client, spelling)
    assert_error_shape(await register(client, "it-desk@shop.购物"), 400)  # same user


async def test_non_ascii_local_part_is_refused_clearly(client: httpx.AsyncClient) -> None:
    error = assert_error_shape(await register(client, "jürgen@example.com"), 422)
    assert "non-ASCII characters before the @" in str(error["details"])


async def test_registration_ignores_role_and_superuser_fields(client: httpx.AsyncClient) -> None:
    created = await register(
        client, "sneaky@example.com", role="admin", is_superuser=True, is_active=True
    )
    assert created.status_code == 201
    assert created.json()["role"] == Role.user.value
    assert created.json()["is_superuser"] is False
    token = await login(client, "sneaky@example.com")
    users = await client.get("/api/v1/users", headers={"Authorization": f"Bearer {token}"})
    assert_error_shape(users, 403, "forbidden")


async def test_duplicate_registration_is_refused(client: httpx.AsyncClient) -> None:
    assert (await register(client, "twice@example.com")).status_code == 201
    error = assert_error_shape(await register(client, "TWICE@example.com"), 400)
    assert error["code"] == "register_user_already_exists"


async def test_bad_bodies_get_422_in_error_shape(client: httpx.AsyncClient) -> None:
    error = assert_error_shape(
        await client.post("/api/v1/auth/register", json={"email": "not-an-email", "password": "x"}),
        422,
        "validation_error",
    )
    fields = {tuple(d["loc"]) for d in error["details"]}
    assert ("body", "email") in fields and ("body", "password") in fields
    assert_error_shape(
        await client.post(
            "/api/v1/auth/register",
            content=b"{not json",
            headers={"content-type": "application/json"},
        ),
        422,
    )
    assert_error_shape(await client.post("/api/v1/auth/login", data={}), 422)


async def test_wrong_password_is_400_without_detail_leak(client: httpx.AsyncClient) -> None:
    await register(client, "someone@example.com")
    response = await client.post(
        "/api/v1/auth/login", data={"username": "someone@example.com", "password": "wrong-pass"}
    )
    error = assert_error_shape(response, 400, "login_bad_credentials")
    assert "Wrong email or password" in error["message"]


async def test_a_json_login_body_is_told_to_use_the_form_fields(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/login", json={"username": "a@example.com", "password": "whatever-pass"}
    )
    message = assert_error_shape(response, 422, "validation_error")["message"]
    assert "form-encoded" in message and "username" in message and "password" in message


async def test_refused_tokens_say_why(client: httpx.AsyncClient, settings, make_actor) -> None:
    actor = await make_actor(Role.user)
    claims = {"sub": str(actor.id), "aud": ["fastapi-users:auth"]}
    expired = generate_jwt(
        {**claims, "exp": datetime.now(UTC) - timedelta(minutes=1)}, settings.jwt_secret()
    )
    forged = generate_jwt(claims, "another-servers-secret-" + "y" * 40, lifetime_seconds=60)
    cases = {
        None: "missing_token",
        f"Bearer {expired}": "expired_token",
        f"Bearer {forged}": "invalid_token",
        "Bearer not-a-jwt": "invalid_token",
    }
    for header, reason in cases.items():
        headers = {"Authorization": header} if header else {}
        response = await client.get("/api/v1/users/me", headers=headers)
        error = assert_error_shape(response, 401, "unauthorized")
        assert error["details"] == {"reason": reason}, header
        assert response.headers["www-authenticate"].startswith("Bearer")
    expired_error = (
        await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {expired}"})
    ).json()["error"]
    assert "expired" in expired_error["message"]


def test_a_checked_token_is_kept_until_it_expires_only() -> None:
    tokens = VerifiedTokens(max_tokens=2)
    tokens.remember("a", {"sub": "user-a", "exp": 1000})
    assert tokens.subject("a", now=999.5) == "user-a"
    assert tokens.subject("a", now=1000) is None  # as PyJWT: expired at exp
    assert tokens.subject("a", now=10) is None  # and forgotten
    tokens.remember("no-expiry", {"sub": "x"})
    tokens.remember("not-before", {"sub": "x", "exp": 1000, "nbf": 900})
    assert tokens.subject("no-expiry", now=0) is None
    assert tokens.subject("not-before", now=950) is None
    for name in ("b", "c", "d"):
        tokens.remember(name, {"sub": name, "exp": 1000})
    assert [tokens.subject(name, now=0) for name in ("b", "c", "d")] == [None, "c", "d"]


async def test_a_token_checked_once_is_still_refused_when_its_user_is_deactivated(
    client: httpx.AsyncClient, make_actor, admin
) -> None:
    actor = await make_actor(Role.user)
    for _ in range(2):  # the second time from the checked tokens
        assert (await client.get("/api/v1/users/me", headers=actor.headers)).status_code == 200
    deactivated = await client.delete(f"/api/v1/users/{actor.id}", headers=admin.headers)
    assert deactivated.status_code in (200, 204), deactivated.text
    assert (await client.get("/api/v1/users/me", headers=actor.headers)).status_code == 401


def client_at(app, ip: str) -> httpx.AsyncClient:
    """A client whose requests come from `ip` (the limits count per client IP)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def clear_of_window_end(window_seconds: int, margin: float) -> None:
    """Sleep past the end of the current fixed window when it ends within `margin` seconds: a
    test that straddled it would see its counts reset."""
    left = window_seconds - time.time() % window_seconds
    if left < margin:
        await asyncio.sleep(left + 0.1)


@pytest.fixture
async def login_window(settings) -> None:
    await clear_of_window_end(settings.login_rate_limit_window_seconds, margin=60)


async def attempt(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/login", data={"username": email, "password": password})


async def test_failed_logins_lock_the_guesser_out_not_the_owner(
    app, client: httpx.AsyncClient, settings, login_window
) -> None:
    await register(client, "target@example.com")
    async with client_at(app, "198.51.100.7") as guesser:
        for _ in range(settings.login_rate_limit_per_email):
            assert (await attempt(guesser, "target@example.com", "wrong-pass")).status_code == 400
        limited = await attempt(guesser, "target@example.com", "wrong-pass")
        error = assert_error_shape(limited, 429, "rate_limited")
        retry_after = int(limited.headers["Retry-After"])
        assert 1 <= retry_after <= settings.login_rate_limit_window_seconds
        assert error["details"]["retry_after_seconds"] == retry_after
        # The guesser has failed: even the right password is refused to it now.
        assert (await attempt(guesser, "target@example.com", PASSWORD)).status_code == 429
    # The owner, from a client that has not failed, logs in while the account is under attack.
    for _ in range(3):
        await login(client, "target@example.com")
    # Another account from the guesser's IP is still allowed (the per-IP limit is higher).
    await register(client, "other@example.com")
    async with client_at(app, "198.51.100.7") as guesser:
        assert (await attempt(guesser, "other@example.com", PASSWORD)).status_code == 200


async def test_logins_that_did_not_fail_are_never_counted(
    client: httpx.AsyncClient, settings, login_window
) -> None:
    await register(client, "busy@example.com")
    many = max(settings.login_rate_limit_per_ip, settings.login_rate_limit_per_email) + 5
    for _ in range(many):
        await login(client, "busy@example.com")
        # Nor are requests that never check a password (no password: 422).
        form = {"username": "busy@example.com"}
        assert (await client.post("/api/v1/auth/login", data=form)).status_code == 422
    assert (await attempt(client, "busy@example.com", "wrong-pass")).status_code == 400


async def test_failed_logins_are_limited_per_ip(
    app, client: httpx.AsyncClient, settings, login_window
) -> None:
    await register(client, "fresh@example.com")
    async with client_at(app, "198.51.100.8") as guesser:
        for i in range(settings.login_rate_limit_per_ip):
            response = await attempt(guesser, f"nobody{i}@example.com", "wrong-pass")
            assert response.status_code == 400
        limited = await attempt(guesser, "fresh@example.com", PASSWORD)
        assert_error_shape(limited, 429, "rate_limited")
        assert int(limited.headers["Retry-After"]) >= 1
    await login(client, "fresh@example.com")  # another client is not affected


async def test_a_burst_of_concurrent_guesses_cannot_outrun_the_count(
    app, client: httpx.AsyncClient, settings, login_window
) -> None:
    """Each attempt is counted before its password is checked: of 30 parallel guesses, only the
    account's limit get to try a password."""
    await register(client, "burst@example.com")
    async with client_at(app, "198.51.100.9") as guesser:
        answers = await asyncio.gather(
            *(attempt(guesser, "burst@example.com", f"guess-{i}") for i in range(30))
        )
    codes = sorted(r.status_code for r in answers)
    assert codes.count(400) == settings.login_rate_limit_per_email, codes
    assert codes.count(429) == 30 - settings.login_rate_limit_per_email, codes
    await login(client, "burst@example.com")  # the owner, from a client that has not failed


async def test_password_hashing_runs_off_the_event_loop(
    client: httpx.AsyncClient, monkeypatch
) -> None:
    threads: list[str] = []
    helper = PasswordHelper()
    hash_, verify = helper.hash, helper.verify_and_update

    def hash_spy(password: str) -> str:
        threads.append(threading.current_thread().name)
        return hash_(password)

    def verify_spy(password: str, hashed: str):
        threads.append(threading.current_thread().name)
        return verify(password, hashed)

    monkeypatch.setattr(helper, "hash", hash_spy)
    monkeypatch.setattr(helper, "verify_and_update", verify_spy)
    monkeypatch.setattr(fastapi_users.manager, "PasswordHelper", lambda: helper)
    assert (await register(client, "threads@example.com")).status_code == 201
    await login(client, "threads@example.com")  # verify_and_update
    wrong = await attempt(client, "nobody-here@example.com", "wrong-pass")  # hash (timing)
    assert wrong.status_code == 400
    loop_thread = threading.current_thread().name
    assert len(threads) == 3 and loop_thread not in threads, (threads, loop_thread)


async def test_deactivated_user_cannot_log_in_or_use_token(
    client: httpx.AsyncClient, admin, user
) -> None:
    deleted = await client.delete(f"/api/v1/users/{user.id}", headers=admin.headers)
    assert deleted.status_code == 204
    refused = await client.get("/api/v1/users/me", headers=user.headers)
    assert assert_error_shape(refused, 401)["details"] == {"reason": "inactive_user"}
    response = await client.post(
        "/api/v1/auth/login", data={"username": user.email, "password": PASSWORD}
    )
    assert_error_shape(response, 400, "login_bad_credentials")


async def test_missing_or_garbage_token_is_401(client: httpx.AsyncClient) -> None:
    assert_error_shape(await client.get("/api/v1/users/me"), 401, "unauthorized")
    response = await client.get("/api/v1/users/me", headers={"Authorization": "Bearer garbage"})
    assert_error_shape(response, 401, "unauthorized")
