"""Test doubles for the only things the tests fake: the chat model and the web."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from core.providers import ProviderUnavailable
from core.providers.web_search import WebResult


def tool_call(schema: str, args: dict[str, Any]) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": schema, "args": args, "id": "call-1"}])


class ScriptedChatModel(GenericFakeChatModel):
    """Answers each call with the next scripted message; with_structured_output works because
    bind_tools is a no-op and the scripted AIMessages carry the tool call. Keeps the prompts."""

    model: str = "scripted-fake"
    prompts: list[str] = []  # noqa: RUF012 (a pydantic field: copied per instance)

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:
        return self

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        self.prompts.append("\n".join(str(m.content) for m in messages))
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)


def scripted(*messages: AIMessage) -> ScriptedChatModel:
    return ScriptedChatModel(messages=iter(messages), prompts=[])


def classification(category: str = "network_vpn", priority: str = "high") -> AIMessage:
    return tool_call(
        "Classification",
        {"category": category, "priority": priority, "search_query": "vpn disconnects"},
    )


def resolution(sources: list[str], confidence: float = 0.8, **overrides: Any) -> AIMessage:
    args = {
        "summary": "The VPN client drops because of an outdated GlobalProtect version.",
        "diagnoses": ["Outdated GlobalProtect client"],
        "solutions": [
            {
                "title": "Update the client",
                "steps": ["Open Company Portal", "Install GlobalProtect 6.2"],
            }
        ],
        "sources": sources,
        "confidence": confidence,
        **overrides,
    }
    return tool_call("DraftResolution", args)


class OfflineWebSearch:
    """The web as it is in tests: unreachable."""

    async def search(self, query: str) -> list[WebResult]:
        raise ProviderUnavailable("web search unavailable: network is blocked in tests")


class CannedWebSearch:
    def __init__(self, results: list[WebResult]) -> None:
        self.results = results

    async def search(self, query: str) -> list[WebResult]:
        return self.results
