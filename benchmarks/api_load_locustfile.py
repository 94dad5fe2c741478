"""Locust users for benchmarks.api_load, which runs locust with this file (not a benchmark itself).

HealthUser hits the bare endpoint; TicketsUser files, lists and reads tickets with a bearer token
taken round-robin from --tokens-file (a JSON list written by api_load); PostFloodUser only files
tickets (memory_flood). No wait between requests: each user is a closed loop, so the server's
throughput is what limits the rate.
"""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

from locust import FastHttpUser, constant, events, task

PROBLEMS = [
    ("Outlook will not open", "Outlook hangs on loading profile since this morning."),
    ("VPN drops every few minutes", "GlobalProtect disconnects at home, reconnecting works."),
    ("Printer on floor 3 offline", "The HP printer shows offline for the whole team."),
    ("Password expired", "I cannot log in to Windows, it says my password expired."),
    ("Laptop very slow", "Teams and Chrome take minutes to start after the update."),
    ("Monitor flickers when docked", "The external screen flickers on the USB-C dock."),
]
_tokens: itertools.cycle | None = None


@events.init_command_line_parser.add_listener
def _options(parser) -> None:
    parser.add_argument("--tokens-file", default="", help="JSON list of bearer tokens")


@events.init.add_listener
def _load_tokens(environment, **_) -> None:
    global _tokens
    path = environment.parsed_options.tokens_file
    if path:
        _tokens = itertools.cycle(json.loads(Path(path).read_text()))


class HealthUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def healthz(self) -> None:
        self.client.get("/healthz", name="GET /healthz")


class _Requester(FastHttpUser):
    """A requester's bearer token and the tickets it files (its subclasses pick the tasks)."""

    abstract = True
    wait_time = constant(0)

    def on_start(self) -> None:
        assert _tokens is not None, "a requester needs --tokens-file"
        self.headers = {"Authorization": f"Bearer {next(_tokens)}"}
        self.problems = itertools.cycle(PROBLEMS)
        self.last_ticket: str | None = None

    def file_ticket(self) -> None:
        title, description = next(self.problems)
        response = self.client.post(
            "/api/v1/tickets",
            json={"title": title, "description": description},
            headers=self.headers,
            name="POST /api/v1/tickets",
        )
        if response.status_code == 201:
            self.last_ticket = response.json()["ticket"]["id"]


class TicketsUser(_Requester):
    @task
    def file(self) -> None:
        self.file_ticket()

    @task
    def read_ticket(self) -> None:
        if self.last_ticket is None:
            return
        self.client.get(
            f"/api/v1/tickets/{self.last_ticket}",
            headers=self.headers,
            name="GET /api/v1/tickets/{id}",
        )

    @task
    def list_tickets(self) -> None:
        self.client.get("/api/v1/tickets", headers=self.headers, name="GET /api/v1/tickets")


class PostFloodUser(_Requester):
    """Files tickets and nothing else: every request queues an agent run. Descriptions of 1 to
    40 sentences, as real tickets vary: the embedding model meets texts of every length."""

    @task
    def file(self) -> None:
        title, description = next(self.problems)
        sentences = random.randint(1, 40)
        self.client.post(
            "/api/v1/tickets",
            json={"title": title, "description": " ".join([description] * sentences)},
            headers=self.headers,
            name="POST /api/v1/tickets",
        )
