"""Screenshots of every console page, taken in Debian's Chromium (the browser of the tests):
a fresh data directory (its own embedded Postgres), `inferra seed-demo`, `inferra serve`, then
each page as a requester, support staff and an admin. Writes docs/screenshots/*.png.

    .venv/bin/python scripts/screenshots.py
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.async_api import Page, async_playwright

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "demo-password"  # inferra/demo.py: the demo accounts' published password
RUN_SECONDS = 120


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def environment(data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "INFERRA_ENV": "dev",
        "DATA_DIR": str(data_dir),
        "WEB_SEARCH_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
        "GEMINI_API_KEY": "",
        "NOMIC_API_KEY": "",
        "LANGSMITH_API_KEY": "",
    }


def start_server(env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    inferra = [sys.executable, "-m", "inferra"]
    subprocess.run([*inferra, "seed-demo"], env=env, check=True, cwd=ROOT)
    process = subprocess.Popen(
        [*inferra, "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.5)
    process.terminate()
    raise SystemExit(f"inferra serve did not start:\n{log.read_text()[-3000:]}")


async def sign_in(page: Page, url: str, email: str) -> None:
    await page.goto(f"{url}/console/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(re.compile(r"/console/(tickets|queue)"))


async def shoot(page: Page, name: str) -> None:
    await page.screenshot(path=OUT / f"{name}.png", full_page=True)
    print(f"docs/screenshots/{name}.png")


async def file_ticket(page: Page, url: str, title: str, description: str) -> str:
    await page.goto(f"{url}/console/tickets/new")
    await page.get_by_label("Title").fill(title)
    await page.get_by_label("What happened? What did you try?").fill(description)
    await page.get_by_role("button", name="File ticket").click()
    await page.wait_for_url(re.compile(r"/console/tickets/[0-9a-f-]{36}$"))
    return page.url


async def requester_pages(browser, url: str) -> str:
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    await page.goto(f"{url}/console/login")
    await shoot(page, "sign-in")
    await sign_in(page, url, "alice@demo.inferra.dev")
    await page.goto(f"{url}/console/tickets/new")
    await page.get_by_label("Title").fill("VPN drops every few minutes")
    await page.get_by_label("What happened? What did you try?").fill(
        "GlobalProtect disconnects every few minutes when I work from home."
    )
    await shoot(page, "new-ticket")
    await page.get_by_role("button", name="File ticket").click()
    await page.wait_for_url(re.compile(r"/console/tickets/[0-9a-f-]{36}$"))
    answered = page.get_by_role("heading", name=re.compile("Suggested resolution"))
    await answered.wait_for(timeout=RUN_SECONDS * 1000)
    await shoot(page, "ticket-answer")
    await page.get_by_role("radio", name="Not helpful").check()
    await page.get_by_label("If not helpful, why?").select_option("incomplete")
    await page.get_by_label("Comment (optional)").fill("Still drops on the hotel wifi")
    await page.get_by_role("button", name="Send feedback").click()
    await page.get_by_text("Thank you for your feedback.").wait_for()
    handoff_url = await file_ticket(
        page, url, "Coffee machine on floor 3 shows E42", "It beeps twice and stops."
    )
    await page.goto(f"{url}/console/tickets")
    await shoot(page, "my-tickets")
    mobile = await browser.new_page(viewport={"width": 390, "height": 844})
    await sign_in(mobile, url, "alice@demo.inferra.dev")
    await mobile.goto(f"{url}/console/tickets")
    await shoot(mobile, "my-tickets-390px")
    return handoff_url


async def staff_pages(browser, url: str, handoff_url: str) -> None:
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    await sign_in(page, url, "support@demo.inferra.dev")
    await page.goto(handoff_url)
    run_link = page.get_by_role("link", name="auto run")
    await run_link.wait_for()
    await run_link.click()
    waiting = page.get_by_role("heading", name="Handed off to staff")
    for _ in range(RUN_SECONDS):  # the run page is rendered once; reload until it waits
        if await waiting.count():
            break
        await asyncio.sleep(1)
        await page.reload()
    await shoot(page, "run-handoff")
    await page.goto(f"{url}/console/queue")
    await shoot(page, "queue")
    await page.goto(f"{url}/console/queue?status=resolved")
    first = page.locator("#queue tbody tr td:first-child a").first
    await first.click()
    await shoot(page, "ticket-staff")
    await page.goto(f"{url}/console/kb?q=VPN+keeps+disconnecting")
    await shoot(page, "knowledge-base")
    await page.goto(f"{url}/console/feedback")
    await shoot(page, "feedback")
    mobile = await browser.new_page(viewport={"width": 390, "height": 844})
    await sign_in(mobile, url, "support@demo.inferra.dev")
    await mobile.goto(f"{url}/console/queue")
    await shoot(mobile, "queue-390px")
    admin = await browser.new_page(viewport={"width": 1280, "height": 800})
    await sign_in(admin, url, "admin@demo.inferra.dev")
    await admin.goto(f"{url}/console/admin/users")
    await shoot(admin, "admin-users")
    await admin.goto(f"{url}/docs")
    await admin.locator(".opblock").first.wait_for()
    await shoot(admin, "api-docs")


async def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="inferra-screenshots-") as tmp:
        env = environment(Path(tmp))
        process, url = start_server(env, Path(tmp) / "serve.log")
        try:
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=CHROMIUM, args=["--no-sandbox"]
                )
                handoff_url = await requester_pages(browser, url)
                await staff_pages(browser, url, handoff_url)
                await browser.close()
        finally:
            process.terminate()
            process.wait(timeout=60)


if __name__ == "__main__":
    asyncio.run(main())
