"""The in-process worker of `serve`: a ticket filed over HTTP is resolved in the background."""

from __future__ import annotations

import asyncio
import time

import httpx

from api.main import create_app
from tests.conftest import PASSWORD
from tests.fakes import OfflineWebSearch, classification, resolution, scripted


async def test_background_worker_picks_up_new_tickets(settings, app, user) -> None:
    await app.state.runtime.agent.embedder.warm_up()  # time the queue, not the model load
    live_settings = settings.model_copy(update={"worker_enabled": True, "worker_poll_seconds": 5})
    live = create_app(
        live_settings,
        web_search=OfflineWebSearch(),
        embedder=app.state.runtime.agent.embedder,  # share the loaded model
        chat_model=scripted(classification("printing"), resolution([])),
    )
    async with live.router.lifespan_context(live):
        transport = httpx.ASGITransport(app=live)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            token = (
                await client.post(
                    "/api/v1/auth/login", data={"username": user.email, "password": PASSWORD}
                )
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            created = await client.post(
                "/api/v1/tickets",
                headers=headers,
                json={"title": "Printer", "description": "No output"},
            )
            ticket_url = f"/api/v1/tickets/{created.json()['ticket']['id']}"
            started = time.perf_counter()
            while time.perf_counter() - started < 30:
                detail = (await client.get(ticket_url, headers=headers)).json()
                if detail["latest_run"]["status"] == "succeeded":
                    break
                await asyncio.sleep(0.1)
            assert detail["latest_resolution"] is not None
            # Woken by NOTIFY, not by the 5 s poll.
            assert time.perf_counter() - started < 4
