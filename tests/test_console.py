"""The console over HTTP (in process): cookie sessions, CSRF, roles and the 404-for-others rule,
the pages' content. The flows in a real browser are in tests/test_console_browser.py."""

from __future__ import annotations

import re

import httpx
import pytest

from core.models import Role
from tests.conftest import PASSWORD
from tests.factories import vpn_evidence

STAFF_PAGES = ("/console/queue", "/console/kb", "/console/feedback", "/console/admin/users")
TOKEN = re.compile(r'name="csrftoken" value="([^"]+)"')


def token_of(page: httpx.Response) -> str:
    found = TOKEN.search(page.text)
    assert found, page.text[:500]
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, email: str) -> str:
    """Signs in through the form; returns a CSRF token for the next forms."""
    form = await client.get("/console/login")
    token = token_of(form)
    response = await client.post(
        "/console/login", data={"csrftoken": token, "username": email, "password": PASSWORD}
    )
    assert response.status_code == 303, response.text
    return token


async def test_docs_and_redoc_use_local_assets(client) -> None:
    for path in ("/docs", "/redoc"):
        page = await client.get(path)
        assert page.status_code == 200
        assert "cdn" not in page.text and "googleapis" not in page.text
        for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text):
            assert (await client.get(asset)).status_code == 200, asset


async def test_sign_in_sets_a_session_cookie_and_sign_out_clears_it(client, user) -> None:
    token = await sign_in(client, user.email)
    session = next(c for c in client.cookies.jar if c.name == "inferra_session")
    assert session.has_nonstandard_attr("HttpOnly") and not session.secure  # test env: http
    page = await client.get("/console/tickets")
    assert page.status_code == 200 and "My tickets" in page.text
    out = await client.post("/console/logout", data={"csrftoken": token})
    assert out.status_code == 303
    again = await client.get("/console/tickets")
    assert again.status_code == 303 and again.headers["location"].startswith("/console/login")


async def test_the_session_cookie_does_not_authenticate_the_api(client, user) -> None:
    await sign_in(client, user.email)
    assert (await client.get("/api/v1/tickets")).status_code == 401


async def test_wrong_password_is_a_page_and_counts_for_the_rate_limit(client, user) -> None:
    form = await client.get("/console/login")
    data = {"csrftoken": token_of(form), "username": user.email, "password": "wrong-password"}
    response = await client.post("/console/login", data=data)
    assert response.status_code == 400 and "Wrong email or password" in response.text
    for _ in range(5):
        await client.post("/console/login", data=data)
    limited = await client.post("/console/login", data=data)
    assert limited.status_code == 429 and "too many requests" in limited.text


async def test_a_form_post_without_the_csrf_token_is_refused(client, user) -> None:
    await sign_in(client, user.email)
    response = await client.post(
        "/console/tickets", data={"title": "Printer jam", "description": "Tray 2"}
    )
    assert response.status_code == 403
    forged = await client.post(
        "/console/tickets",
        data={"csrftoken": "forged", "title": "Printer jam", "description": "Tray 2"},
    )
    assert forged.status_code == 403


async def test_register_files_a_ticket_and_shows_the_answer(
    client, drain, runtime, sessionmaker, support
) -> None:
    await vpn_evidence(sessionmaker, runtime.embedder, owner_id=support.id)
    token = token_of(await client.get("/console/register"))
    registered = await client.post(
        "/console/register",
        data={"csrftoken": token, "email": "New.Person@Example.com", "password": PASSWORD},
    )
    assert registered.status_code == 303 and registered.headers["location"] == "/console/tickets"
    filed = await client.post(
        "/console/tickets",
        data={
            "csrftoken": token,
            "title": "VPN drops every few minutes",
            "description": "GlobalProtect disconnects when I work from home.",
            "category": "network_vpn",
        },
    )
    assert filed.status_code == 303
    ticket_url = filed.headers["location"]
    running = await client.get(ticket_url)
    assert "data-run-events" in running.text
    await drain()
    page = await client.get(ticket_url)
    assert "Suggested resolution" in page.text and 'type="checkbox"' in page.text
    assert "GlobalProtect" in page.text and "A similar resolved ticket" in page.text
    resolution_id = re.search(r'name="resolution_id" value="([^"]+)"', page.text).group(1)
    sent = await client.post(
        f"{ticket_url}/feedback",
        data={
            "csrftoken": token,
            "resolution_id": resolution_id,
            "verdict": "not_helpful",
            "reason": "incomplete",
            "comment": "Still drops",
        },
    )
    assert sent.status_code == 303
    assert "Thank you" in (await client.get(sent.headers["location"])).text


async def test_requesters_get_403_on_staff_pages_and_404_on_others_tickets(
    client, make_actor, user
) -> None:
    other = await make_actor(Role.user)
    other_client_token = await sign_in(client, other.email)
    filed = await client.post(
        "/console/tickets",
        data={"csrftoken": other_client_token, "title": "My laptop", "description": "Broken"},
    )
    ticket_url = filed.headers["location"]
    client.cookies.clear()
    await sign_in(client, user.email)
    for staff_page in STAFF_PAGES:
        assert (await client.get(staff_page)).status_code == 403, staff_page
    assert (await client.get(ticket_url)).status_code == 404


@pytest.mark.parametrize("role", [Role.support, Role.admin])
async def test_staff_land_on_the_queue(client, make_actor, role) -> None:
    staff = await make_actor(role)
    form = await client.get("/console/login")
    response = await client.post(
        "/console/login",
        data={"csrftoken": token_of(form), "username": staff.email, "password": PASSWORD},
    )
    assert response.headers["location"] == "/console/queue"
    page = await client.get("/console/queue")
    assert page.status_code == 200 and "Queue" in page.text


async def test_next_never_leaves_the_console(client, user) -> None:
    form = await client.get("/console/login")
    response = await client.post(
        "/console/login",
        data={
            "csrftoken": token_of(form),
            "username": user.email,
            "password": PASSWORD,
            "next": "//evil.example/console",
        },
    )
    assert response.headers["location"] == "/console/tickets"


async def test_a_multipart_post_needs_the_token_in_its_header(client, support) -> None:
    token = await sign_in(client, support.email)
    files = {"files": ("a.md", b"# A\n\ntext", "text/markdown")}
    refused = await client.post("/console/kb/upload", data={"csrftoken": token}, files=files)
    assert refused.status_code == 403
    accepted = await client.post("/console/kb/upload", files=files, headers={"x-csrftoken": token})
    assert accepted.status_code == 200 and "a.md: ingested" in accepted.text


async def test_feedback_page_shows_rates_chart_and_reasons(client, support) -> None:
    await sign_in(client, support.email)
    page = await client.get("/console/feedback?days=7")
    assert page.status_code == 200 and "<svg" in page.text and "By category" in page.text


async def test_the_last_admin_is_a_clear_message(client, admin, support) -> None:
    token = await sign_in(client, admin.email)
    listed = await client.get("/console/admin/users")
    assert admin.email in listed.text and support.email in listed.text
    refused = await client.post(
        f"/console/admin/users/{admin.id}/deactivate", data={"csrftoken": token}
    )
    assert refused.status_code == 409 and "last active admin" in refused.text
    promoted = await client.post(
        f"/console/admin/users/{support.id}/role", data={"csrftoken": token, "role": "admin"}
    )
    assert promoted.status_code == 303
    assert (
        await client.post(f"/console/admin/users/{admin.id}/deactivate", data={"csrftoken": token})
    ).status_code == 303


async def test_queue_puts_escalated_first_counts_filters_and_assigns(client, user, support) -> None:
    ids = []
    for title in ("Printer offline", "Laptop fan noisy", "Outlook stuck loading"):
        created = await client.post(
            "/api/v1/tickets", json={"title": title, "description": "help"}, headers=user.headers
        )
        ids.append(created.json()["ticket"]["id"])
    escalate = await client.patch(
        f"/api/v1/tickets/{ids[0]}", json={"status": "escalated"}, headers=support.headers
    )
    assert escalate.status_code == 200
    token = await sign_in(client, support.email)
    page = await client.get("/console/queue")
    rows = re.findall(r'<td><a href="/console/tickets/([0-9a-f-]+)">', page.text)
    assert rows[0] == ids[0] and set(rows) == set(ids)
    assert "escalated: 1" in page.text and "open: 2" in page.text
    found = await client.get("/console/queue", params={"q": "outlook"})
    assert re.findall(r'<td><a href="/console/tickets/([0-9a-f-]+)">', found.text) == [ids[2]]
    assigned = await client.post(
        f"/console/tickets/{ids[1]}/assign-to-me",
        data={"csrftoken": token, "back": "/console/queue"},
    )
    assert assigned.status_code == 303
    mine = await client.get("/console/queue", params={"assignee": str(support.id)})
    assert re.findall(r'<td><a href="/console/tickets/([0-9a-f-]+)">', mine.text) == [ids[1]]


async def test_a_console_fork_follows_the_apis_text_rules(client, user, support, drain) -> None:
    created = await client.post(
        "/api/v1/tickets",
        json={"title": "VPN drops", "description": "Every hour at home"},
        headers=user.headers,
    )
    run_id = created.json()["run_id"]
    await drain()
    steps = (await client.get(f"/api/v1/runs/{run_id}", headers=support.headers)).json()["steps"]
    checkpoint = next(s["checkpoint_id"] for s in steps if s["node"] == "draft")
    token = await sign_in(client, support.email)
    url = f"/console/runs/{run_id}/fork"
    blank = await client.post(
        url, data={"csrftoken": token, "checkpoint_id": checkpoint, "title": "   "}
    )
    assert blank.status_code == 422, blank.text
    runs = (
        await client.get(
            f"/api/v1/tickets/{created.json()['ticket']['id']}/runs", headers=support.headers
        )
    ).json()
    assert len(runs) == 1  # nothing was forked
    trimmed = await client.post(
        url, data={"csrftoken": token, "checkpoint_id": checkpoint, "title": "  VPN drops hourly "}
    )
    assert trimmed.status_code == 303, trimmed.text
