"""Chat model: Gemini when GEMINI_API_KEY is set; None means the agent's offline resolver runs."""

from __future__ import annotations

import os

from langchain_core.language_models import BaseChatModel

from core.settings import Settings


def create_chat_model(settings: Settings) -> BaseChatModel | None:
    if not settings.gemini_api_key:
        return None
    from langchain_google_genai import ChatGoogleGenerativeAI

    return ChatGoogleGenerativeAI(
        model=settings.gemini_model,
        api_key=settings.gemini_api_key.get_secret_value(),
        timeout=settings.provider_timeout_seconds,
        max_retries=2,
        temperature=0.2,
    )


def configure_tracing(settings: Settings) -> bool:
    """LangSmith tracing when a key is set (LangChain reads these variables itself)."""
    if not settings.langsmith_api_key:
        return False
    os.environ.setdefault("LANGSMITH_TRACING", "true")
    os.environ.setdefault("LANGSMITH_API_KEY", settings.langsmith_api_key.get_secret_value())
    os.environ.setdefault("LANGSMITH_PROJECT", "inferra")
    return True
