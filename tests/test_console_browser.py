"""The console in a real browser (Debian's Chromium through pytest-playwright-asyncio) against
a real `inferra serve` with its in-process worker: the flows of issue 13, at 1280 and 390 px."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, Route, expect

from core.models import Role
from core.repositories.users import UserRepository
from services.users import create_user
from tests.conftest import CHROMIUM, PASSWORD
from tests.console_live import console_server
from tests.documents import IT_GUIDE, markdown_bytes, pdf_bytes
from tests.factories import vpn_evidence

pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"
)
SLOW = 90_000  # ms: a run on a shared 2-core machine, embeddings included
ANSWER = re.compile("Suggested resolution")


@pytest.fixture(scope="module")
def server(settings, tmp_path_factory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("console-serve")
    with console_server(settings.database_url, settings.jwt_secret(), data_dir) as url:
        yield url


async def new_account(sessionmaker, role: Role) -> str:
    email = f"{role.value}-{uuid.uuid4().hex[:6]}@example.com"
    async with sessionmaker.begin() as session:
        await create_user(session=session, email=email, password=PASSWORD, role=role)
    return email


@pytest.fixture
async def staff_email(sessionmaker) -> str:
    return await new_account(sessionmaker, Role.support)


@pytest.fixture
async def requester_email(sessionmaker) -> str:
    return await new_account(sessionmaker, Role.user)


@pytest.fixture
async def vpn_known(sessionmaker, runtime, staff_email) -> None:
    """A resolved VPN ticket and a runbook section: a VPN ticket gets an answer, no handoff."""
    async with sessionmaker() as session:
        staff = await UserRepository(session).get_by_email(staff_email)
    await vpn_evidence(sessionmaker, runtime.embedder, owner_id=staff.id)


async def sign_in(page: Page, server: str, email: str) -> None:
    await page.goto(f"{server}/console/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(re.compile(r"/console/(tickets|queue)"))


async def register(page: Page, server: str) -> None:
    await page.goto(f"{server}/console/register")
    await page.get_by_label("Email").fill(f"new-{uuid.uuid4().hex[:6]}@example.com")
    await page.get_by_label("Password (8 to 128 characters)").fill(PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    await page.wait_for_url(re.compile(r"/console/tickets$"))


async def file_ticket(page: Page, server: str, title: str, description: str) -> str:
    await page.goto(f"{server}/console/tickets/new")
    await page.get_by_label("Title").fill(title)
    await page.get_by_label("What happened? What did you try?").fill(description)
    await page.get_by_role("button", name="File ticket").click()
    await page.wait_for_url(re.compile(r"/console/tickets/[0-9a-f-]{36}$"))
    return page.url


async def check_page_basics(page: Page) -> None:
    """Every visible control has a label; focus is visible; nothing is wider than the screen."""
    unlabelled = await page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
            .filter(e => e.type !== 'hidden' && e.offsetParent !== null)
            .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
            .map(e => e.name || e.id)"""
    )
    assert unlabelled == [], unlabelled
    width = page.viewport_size["width"]
    assert await page.evaluate("document.documentElement.scrollWidth") <= width
    for _ in range(3):
        await page.keyboard.press("Tab")
    outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none"), outline


async def test_docs_render_with_no_network(page: Page, server: str) -> None:
    async def only_local(route: Route) -> None:
        if route.request.url.startswith(server):
            await route.continue_()
        else:
            await route.abort()

    await page.route("**/*", only_local)
    await page.goto(f"{server}/docs")
    await expect(page.locator(".opblock").first).to_be_visible(timeout=30_000)
    await expect(page.get_by_text("/api/v1/tickets", exact=True).first).to_be_visible()
    await page.goto(f"{server}/redoc")
    await expect(page.get_by_text("Create Ticket").first).to_be_attached(timeout=30_000)


@pytest.mark.parametrize("width", [1280, 390])
async def test_register_file_watch_answer_feedback(
    browser: Browser, server: str, vpn_known, width: int
) -> None:
    page = await browser.new_page(viewport={"width": width, "height": 900})
    await page.goto(f"{server}/console/register")
    await check_page_basics(page)
    await register(page, server)
    await file_ticket(page, server, "VPN drops every few minutes", "GlobalProtect drops at home.")
    progress = page.get_by_role("heading", name="Working on it…")
    answer = page.get_by_role("heading", name=ANSWER)
    await expect(progress.or_(answer)).to_be_visible()  # a fast run may be over already
    await expect(answer).to_be_visible(timeout=SLOW)
    await expect(page.get_by_text("A similar resolved ticket", exact=True)).to_be_visible()
    await page.locator(".checklist input[type=checkbox]").first.check()
    await check_page_basics(page)
    await page.get_by_role("radio", name="Not helpful").check()
    await page.get_by_label("If not helpful, why?").select_option("incomplete")
    await page.get_by_label("Comment (optional)").fill("Still drops on hotel wifi")
    await page.get_by_role("button", name="Send feedback").click()
    await expect(page.get_by_text("Thank you for your feedback.")).to_be_visible()
    await page.close()


async def test_staff_approve_an_edited_draft_and_the_requester_sees_it(
    browser: Browser, server: str, staff_email: str, requester_email: str
) -> None:
    requester = await browser.new_page()
    await sign_in(requester, server, requester_email)
    ticket_url = await file_ticket(
        requester, server, "Coffee machine on floor 3 shows E42", "It beeps and stops."
    )
    await expect(requester.get_by_text("A support engineer is reviewing")).to_be_visible(
        timeout=SLOW
    )
    staff = await (await browser.new_context()).new_page()
    await sign_in(staff, server, staff_email)
    await check_page_basics(staff)
    first_row = staff.locator("#queue tbody tr").first
    await expect(first_row).to_contain_text("escalated")
    await staff.keyboard.press("j")  # keyboard navigation: j/k move, Enter opens
    await expect(first_row.get_by_role("link")).to_be_focused()
    await staff.keyboard.press("Enter")
    await expect(staff.get_by_role("heading", name="Coffee machine on floor 3")).to_be_visible()
    await staff.get_by_role("link", name="auto run").click()
    await expect(staff.get_by_role("heading", name="Handed off to staff")).to_be_visible()
    await check_page_basics(staff)
    # The agent proposes no fix here: nothing to approve as is, staff write the answer.
    await expect(staff.get_by_role("button", name="Approve the agent's draft")).to_have_count(0)
    await staff.get_by_label("Summary").fill("Descale the coffee machine: E42 means limescale.")
    await staff.get_by_label("Diagnoses (one per line)").fill("Limescale in the boiler")
    await staff.get_by_label('Solutions ("## title" then one step per line)').fill(
        "## Descale\nRun the descaling program\nRinse twice"
    )
    await staff.get_by_label("Cited evidence labels (one per line, e.g. D1)").fill("")
    await staff.get_by_role("button", name="Approve with my edits").click()
    await expect(staff.locator("h1 .badge")).to_have_text("succeeded", timeout=SLOW)

    await requester.goto(ticket_url)
    await expect(requester.get_by_text("E42 means limescale")).to_be_visible()
    await expect(requester.get_by_text("Run the descaling program")).to_be_visible()


async def test_fork_a_run_from_draft_with_a_hint(
    browser: Browser, server: str, vpn_known, staff_email: str, requester_email: str
) -> None:
    requester = await browser.new_page()
    await sign_in(requester, server, requester_email)
    ticket_url = await file_ticket(
        requester, server, "VPN keeps disconnecting", "GlobalProtect drops every hour."
    )
    await expect(requester.get_by_role("heading", name=ANSWER)).to_be_visible(timeout=SLOW)

    staff = await (await browser.new_context()).new_page()
    await sign_in(staff, server, staff_email)
    await staff.goto(ticket_url)
    await staff.get_by_role("link", name="auto run").click()
    await staff.locator("summary", has_text="Fork from draft").click()
    fork = staff.locator("form[data-node=draft]")
    await fork.get_by_label("Hint for the agent").fill("Mention the keep-alive bug fixed in 6.2")
    await fork.get_by_role("button", name="Fork").click()
    await expect(staff.get_by_text("fork run of")).to_be_visible()
    await expect(staff.locator("h1 .badge")).to_have_text("succeeded", timeout=SLOW)
    await staff.get_by_role("link", name="its ticket").click()
    await expect(staff.get_by_role("heading", name=re.compile("^Version 2"))).to_be_visible()
    await expect(staff.get_by_role("heading", name=re.compile("^Version 1"))).to_be_visible()


async def test_upload_markdown_and_pdf_then_find_them(
    browser: Browser, server: str, staff_email: str, tmp_path: Path
) -> None:
    guide_md = tmp_path / "printing-guide.md"
    guide_md.write_bytes(markdown_bytes(IT_GUIDE))
    guide_pdf = tmp_path / "email-guide.pdf"
    guide_pdf.write_bytes(pdf_bytes(IT_GUIDE[2:], title="Email guide"))
    page = await browser.new_page()
    await sign_in(page, server, staff_email)
    await page.goto(f"{server}/console/kb")
    await check_page_basics(page)
    await page.get_by_label("Files (PDF, DOCX, Markdown, HTML, text)").set_input_files(
        [str(guide_md), str(guide_pdf)]
    )
    await page.get_by_role("button", name="Upload").click()
    results = page.locator("#upload-results")
    await expect(results).to_contain_text("printing-guide.md: ingested", timeout=SLOW)
    await expect(results).to_contain_text("email-guide.pdf: ingested", timeout=SLOW)
    await page.goto(f"{server}/console/kb")
    await page.get_by_label("Search the knowledge base").fill("Ricoh paper jam tray 2")
    await page.get_by_role("button", name="Search").click()
    hits = page.locator("#search-results")
    await expect(hits).to_contain_text("Paper jams")
    await expect(hits).to_contain_text("printing-guide.md")
    await expect(hits).to_contain_text("email-guide.pdf")
    await expect(hits.locator("th", has_text="Vector rank")).to_be_visible()


async def test_requesters_cannot_open_staff_pages_or_others_tickets_nor_post_without_csrf(
    browser: Browser, server: str, requester_email: str
) -> None:
    owner = await browser.new_page()
    await sign_in(owner, server, requester_email)
    ticket_url = await file_ticket(owner, server, "Monitor flickers", "The left screen flickers.")
    other = await (await browser.new_context()).new_page()
    await register(other, server)
    assert (await other.goto(f"{server}/console/queue")).status == 403
    await expect(other.get_by_text("This page is for support staff.")).to_be_visible()
    assert (await other.goto(ticket_url)).status == 404
    forged = await other.request.post(
        f"{server}/console/tickets", form={"title": "Forged", "description": "no token"}
    )
    assert forged.status == 403
