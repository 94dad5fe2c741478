"""The resolution graph:

classify -> (retrieve_tickets | retrieve_docs | web_search) -> draft -> validate
validate -> draft (retry with the errors) | handoff (interrupt for staff) | persist
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agent.context import AgentContext
from agent.nodes.classify import classify
from agent.nodes.draft import draft
from agent.nodes.handoff import handoff
from agent.nodes.persist import persist
from agent.nodes.retrieve_docs import retrieve_docs
from agent.nodes.retrieve_tickets import retrieve_tickets
from agent.nodes.validate import route_after_validate, validate
from agent.nodes.web_search import web_search
from agent.state import AgentState

RETRIEVAL_STEPS = ["retrieve_tickets", "retrieve_docs", "web_search"]
NODE_ORDER = ["classify", *RETRIEVAL_STEPS, "draft", "validate", "handoff", "persist"]


def route_start(state: AgentState) -> list[str]:
    """A new ticket starts at classify; a replay or fork where its parent checkpoint stood."""
    return state.get("start_at") or ["classify"]


def build_graph(
    checkpointer: BaseCheckpointSaver | None = None,
    *,
    context_schema: type = AgentContext,
    entry: tuple[str, Any, type] | None = None,
) -> CompiledStateGraph:
    """`entry` (name, node, its input schema) runs first and makes the state a run starts from:
    a front door's own input (LangGraph Studio's) becomes the graph's."""
    input_schema = entry[2] if entry else None
    builder = StateGraph(AgentState, context_schema=context_schema, input_schema=input_schema)
    builder.add_node("classify", classify)
    builder.add_node("retrieve_tickets", retrieve_tickets)
    builder.add_node("retrieve_docs", retrieve_docs)
    builder.add_node("web_search", web_search)
    builder.add_node("draft", draft)
    builder.add_node("validate", validate)
    builder.add_node("handoff", handoff)
    builder.add_node("persist", persist)

    if entry is None:
        builder.add_conditional_edges(START, route_start, NODE_ORDER)
    else:
        name, node, schema = entry
        builder.add_node(name, node, input_schema=schema)
        builder.add_edge(START, name)
        builder.add_conditional_edges(name, route_start, NODE_ORDER)
    for step in RETRIEVAL_STEPS:
        builder.add_edge("classify", step)
    builder.add_edge(RETRIEVAL_STEPS, "draft")  # join: draft waits for all three
    builder.add_edge("draft", "validate")
    builder.add_conditional_edges("validate", route_after_validate)
    builder.add_edge("persist", END)
    return builder.compile(checkpointer=checkpointer, name="inferra-resolver")
