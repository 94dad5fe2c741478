"""The offline classifier's keyword rules."""

from __future__ import annotations

import pytest

from agent.offline import classify


@pytest.mark.parametrize(
    ("title", "description", "category"),
    [
        ("Outlook crashes", "Outlook closes when I open the calendar", "email"),
        (
            "Suspicious email",
            "A mail asks me to confirm my mailbox password, looks fishy",
            "security",
        ),
        ("Phone stolen", "My phone with Okta Verify was stolen", "security"),
        ("VPN drops", "GlobalProtect disconnects every ten minutes", "network_vpn"),
        ("Laptop battery", "The battery drains in an hour", "hardware"),
        ("Coffee machine", "descale error", "other"),
    ],
)
def test_categories(title: str, description: str, category: str) -> None:
    assert classify(title, description, None).category.value == category


def test_the_requesters_hint_breaks_ties() -> None:
    assert classify("Help", "it does not work", "printing").category.value == "printing"
