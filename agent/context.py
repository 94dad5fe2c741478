"""Runtime context of a run: providers and the database, injected, never imported by nodes."""

from __future__ import annotations

from dataclasses import dataclass

from langchain_core.language_models import BaseChatModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.providers.embeddings import Embedder, create_embedder
from core.providers.web_search import DdgsWebSearch, DisabledWebSearch, WebSearch
from core.retrieval import Retriever
from core.settings import Settings

OFFLINE_MODEL = "offline-extractive"


@dataclass
class AgentContext:
    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    embedder: Embedder
    web_search: WebSearch
    chat_model: BaseChatModel | None = None

    @property
    def retriever(self) -> Retriever:
        return Retriever(self.settings, self.embedder, self.sessionmaker)

    @property
    def model_name(self) -> str:
        if self.chat_model is None:
            return OFFLINE_MODEL
        return str(getattr(self.chat_model, "model", None) or type(self.chat_model).__name__)


def create_web_search(settings: Settings) -> WebSearch:
    if not settings.web_search_enabled:
        return DisabledWebSearch()
    return DdgsWebSearch(
        timeout=settings.web_search_timeout_seconds,
        max_results=settings.web_search_max_results,
        cooldown=settings.web_search_cooldown_seconds,
    )


def build_context(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    chat_model: BaseChatModel | None = None,
    embedder: Embedder | None = None,
    web_search: WebSearch | None = None,
) -> AgentContext:
    from core.providers.chat import create_chat_model

    return AgentContext(
        settings=settings,
        sessionmaker=sessionmaker,
        embedder=embedder or create_embedder(settings),
        web_search=web_search or create_web_search(settings),
        chat_model=chat_model if chat_model is not None else create_chat_model(settings),
    )


def context_of(runtime) -> AgentContext:
    """The run's AgentContext: given as is by the runtime's own runs, or held by a front door's
    context (LangGraph Studio's, which the dev server builds from what a person typed)."""
    return getattr(runtime.context, "agent", runtime.context)
