from __future__ import annotations

import uuid

import httpx
import pytest

from core.models import Role
from tests.conftest import assert_error_shape

ADMIN_ROUTES = [
    ("GET", "/api/v1/users", None),
    ("PATCH", "/api/v1/users/{id}/role", {"role": "support"}),
    ("DELETE", "/api/v1/users/{id}", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES)
@pytest.mark.parametrize("role", [Role.user, Role.support])
async def test_non_admins_get_403_on_admin_routes(
    client: httpx.AsyncClient, make_actor, method, path, body, role
) -> None:
    actor = await make_actor(role)
    victim = await make_actor(Role.user)
    response = await client.request(
        method, path.format(id=victim.id), json=body, headers=actor.headers
    )
    assert_error_shape(response, 403, "forbidden")


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES)
async def test_anonymous_gets_401_on_admin_routes(
    client: httpx.AsyncClient, method, path, body
) -> None:
    response = await client.request(method, path.format(id=uuid.uuid4()), json=body)
    assert_error_shape(response, 401)


async def test_admin_lists_users_paginated_and_filtered(
    client: httpx.AsyncClient, admin, make_actor
) -> None:
    for _ in range(4):
        await make_actor(Role.user)
    await make_actor(Role.support)
    page1 = (await client.get("/api/v1/users?page=1&page_size=2", headers=admin.headers)).json()
    page3 = (await client.get("/api/v1/users?page=3&page_size=2", headers=admin.headers)).json()
    assert page1["total"] == 6 and len(page1["items"]) == 2 and len(page3["items"]) == 2
    assert not {u["id"] for u in page1["items"]} & {u["id"] for u in page3["items"]}
    supports = (await client.get("/api/v1/users?role=support", headers=admin.headers)).json()
    assert [u["role"] for u in supports["items"]] == ["support"]
    by_email = (await client.get("/api/v1/users?email=admin-", headers=admin.headers)).json()
    assert [u["id"] for u in by_email["items"]] == [str(admin.id)]


@pytest.mark.parametrize("query", ["page_size=101", "page_size=0", "page=0", "role=root"])
async def test_bad_pagination_and_filters_are_422(client: httpx.AsyncClient, admin, query) -> None:
    response = await client.get(f"/api/v1/users?{query}", headers=admin.headers)
    assert_error_shape(response, 422, "validation_error")


async def test_admin_changes_a_role_and_it_takes_effect(
    client: httpx.AsyncClient, admin, user
) -> None:
    response = await client.patch(
        f"/api/v1/users/{user.id}/role", json={"role": "support"}, headers=admin.headers
    )
    assert response.status_code == 200 and response.json()["role"] == "support"
    me = await client.get("/api/v1/users/me", headers=user.headers)
    assert me.json()["role"] == "support"


async def test_last_admin_cannot_be_demoted_or_deleted(
    client: httpx.AsyncClient, admin, make_actor
) -> None:
    demote = await client.patch(
        f"/api/v1/users/{admin.id}/role", json={"role": "user"}, headers=admin.headers
    )
    assert_error_shape(demote, 409, "last_admin")
    delete = await client.delete(f"/api/v1/users/{admin.id}", headers=admin.headers)
    assert_error_shape(delete, 409, "last_admin")

    second = await make_actor(Role.admin)
    demote = await client.patch(
        f"/api/v1/users/{admin.id}/role", json={"role": "user"}, headers=second.headers
    )
    assert demote.status_code == 200
    # Now `second` is the last one.
    demote = await client.patch(
        f"/api/v1/users/{second.id}/role", json={"role": "support"}, headers=second.headers
    )
    assert_error_shape(demote, 409, "last_admin")


async def test_unknown_user_and_bad_ids(client: httpx.AsyncClient, admin) -> None:
    missing = await client.delete(f"/api/v1/users/{uuid.uuid4()}", headers=admin.headers)
    assert_error_shape(missing, 404, "not_found")
    bad = await client.patch(
        "/api/v1/users/not-a-uuid/role", json={"role": "user"}, headers=admin.headers
    )
    assert_error_shape(bad, 422, "validation_error")
    bad_role = await client.patch(
        f"/api/v1/users/{admin.id}/role", json={"role": "root"}, headers=admin.headers
    )
    assert_error_shape(bad_role, 422, "validation_error")


async def test_deleted_user_stays_listed_as_inactive(
    client: httpx.AsyncClient, admin, user
) -> None:
    assert (
        await client.delete(f"/api/v1/users/{user.id}", headers=admin.headers)
    ).status_code == 204
    inactive = (await client.get("/api/v1/users?is_active=false", headers=admin.headers)).json()
    assert [u["id"] for u in inactive["items"]] == [str(user.id)]
