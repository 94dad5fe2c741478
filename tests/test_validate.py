"""The validator's secret detector: credentials are caught, prose about passwords is not."""

from __future__ import annotations

import pytest

from agent.nodes.validate import find_secrets


@pytest.mark.parametrize(
    "text",
    [
        "password: hunter22",
        "Password = S3cret!x",
        "api_key: sk-ABCDEFGHIJKLMNOPQRSTUV",
        "-----BEGIN RSA PRIVATE KEY-----",
        "AKIAABCDEFGHIJKLMNOP",
        "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdefghijklmnop",
    ],
)
def test_secrets_are_found(text: str) -> None:
    assert find_secrets(text)


@pytest.mark.parametrize(
    "text",
    [
        "After changing your password: update everything",
        "Reset your password at northwind.okta.com",
        "token: expired",
    ],
)
def test_prose_about_secrets_is_not_a_secret(text: str) -> None:
    assert find_secrets(text) == []


async def test_an_invalid_offline_draft_goes_straight_to_handoff(settings) -> None:
    from types import SimpleNamespace

    from agent.context import OFFLINE_MODEL
    from agent.nodes.validate import route_after_validate, validate

    draft = {
        "summary": "Use password: hunter22 to log in",
        "diagnoses": ["x"],
        "solutions": [{"title": "Log in", "steps": ["do it"]}],
        "sources": [],
        "confidence": 0.9,
    }
    state = {"ticket": {}, "draft": draft, "drafted_by": OFFLINE_MODEL, "attempts": 1}
    runtime = SimpleNamespace(context=SimpleNamespace(settings=settings))
    update = await validate(state, runtime)
    assert update["validation_errors"] and "offline" in update["handoff_reason"]
    assert route_after_validate({**state, **update}) == "handoff"
