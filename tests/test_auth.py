from __future__ import annotations

import httpx

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
    assert assert_error_shape(response, 400)["code"] == "login_bad_credentials"


async def test_login_is_rate_limited_per_email(client: httpx.AsyncClient, settings) -> None:
    await register(client, "target@example.com")
    form = {"username": "target@example.com", "password": "wrong-pass"}
    for _ in range(settings.login_rate_limit_per_email):
        assert (await client.post("/api/v1/auth/login", data=form)).status_code == 400
    limited = await client.post("/api/v1/auth/login", data=form)
    error = assert_error_shape(limited, 429, "rate_limited")
    retry_after = int(limited.headers["Retry-After"])
    assert 1 <= retry_after <= settings.login_rate_limit_window_seconds
    assert error["details"]["retry_after_seconds"] == retry_after
    # The right password does not bypass the limit either.
    form["password"] = PASSWORD
    assert (await client.post("/api/v1/auth/login", data=form)).status_code == 429
    # Another account from the same IP is still allowed (per-IP limit is higher).
    await register(client, "other@example.com")
    await login(client, "other@example.com")


async def test_login_is_rate_limited_per_ip(client: httpx.AsyncClient, settings) -> None:
    for i in range(settings.login_rate_limit_per_ip):
        form = {"username": f"nobody{i}@example.com", "password": "wrong-pass"}
        assert (await client.post("/api/v1/auth/login", data=form)).status_code == 400
    form = {"username": "fresh@example.com", "password": "wrong-pass"}
    assert_error_shape(await client.post("/api/v1/auth/login", data=form), 429, "rate_limited")


async def test_deactivated_user_cannot_log_in_or_use_token(
    client: httpx.AsyncClient, admin, user
) -> None:
    deleted = await client.delete(f"/api/v1/users/{user.id}", headers=admin.headers)
    assert deleted.status_code == 204
    assert (await client.get("/api/v1/users/me", headers=user.headers)).status_code == 401
    response = await client.post(
        "/api/v1/auth/login", data={"username": user.email, "password": PASSWORD}
    )
    assert_error_shape(response, 400, "login_bad_credentials")


async def test_missing_or_garbage_token_is_401(client: httpx.AsyncClient) -> None:
    assert_error_shape(await client.get("/api/v1/users/me"), 401, "unauthorized")
    response = await client.get("/api/v1/users/me", headers={"Authorization": "Bearer garbage"})
    assert_error_shape(response, 401, "unauthorized")
