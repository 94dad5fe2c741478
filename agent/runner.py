"""Start, continue and resume runs of the graph. A run's id is its LangGraph thread id."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, Durability

from agent.context import AgentContext
from agent.schemas import HumanDecision
from agent.state import TicketInput
from core.models import RunStatus, Ticket

# When a step's checkpoint is written: "sync" before the next step starts, "async" while it
# runs, "exit" only at the end. Measured (benchmarks/README.md, graph_overhead --durability) and
# checked against tests/test_crash_recovery.py, which needs a crashed run to go on from its
# last step.
DURABILITY: Durability = "sync"


@dataclass(frozen=True)
class RunOutcome:
    status: RunStatus
    model: str | None = None
    skipped: list[dict[str, Any]] = field(default_factory=list)


def thread_config(run_id: uuid.UUID | str) -> dict[str, Any]:
    return {"configurable": {"thread_id": str(run_id)}}


def ticket_input(ticket: Ticket) -> dict[str, Any]:
    return {
        "ticket": TicketInput(
            ticket_id=str(ticket.id),
            title=ticket.title,
            description=ticket.description,
            category_hint=ticket.category_hint.value if ticket.category_hint else None,
        )
    }


async def outcome(graph: CompiledStateGraph, run_id: uuid.UUID) -> RunOutcome:
    """Where the run's graph stands: waiting for staff, or done."""
    snapshot = await graph.aget_state(thread_config(run_id))
    values = snapshot.values or {}
    status = RunStatus.interrupted if snapshot.interrupts else RunStatus.succeeded
    return RunOutcome(status, values.get("drafted_by"), list(values.get("skipped", [])))


async def execute(
    graph: CompiledStateGraph,
    context: AgentContext,
    run_id: uuid.UUID,
    start: dict[str, Any],
    *,
    durability: Durability = DURABILITY,
) -> RunOutcome:
    """Run to the end or to an interrupt, from `start` (a ticket's input, or a fork's state).
    A run that already has checkpoints (its worker died) goes on from the last one."""
    config = thread_config(run_id)
    snapshot = await graph.aget_state(config)
    if snapshot.interrupts or (snapshot.created_at is not None and not snapshot.next):
        return await outcome(graph, run_id)  # waiting for staff, or already finished
    graph_input = None if snapshot.created_at is not None else start
    await graph.ainvoke(graph_input, config, context=context, durability=durability)
    return await outcome(graph, run_id)


async def resume(
    graph: CompiledStateGraph, context: AgentContext, run_id: uuid.UUID, decision: HumanDecision
) -> RunOutcome:
    await graph.ainvoke(
        Command(resume=decision.model_dump(mode="json")),
        thread_config(run_id),
        context=context,
        durability=DURABILITY,
    )
    return await outcome(graph, run_id)


async def fork_input(
    graph: CompiledStateGraph,
    parent_run_id: uuid.UUID,
    checkpoint_id: str,
    state_patch: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The input of a replay/fork run: the parent's state at checkpoint_id (with the staff's
    edits), starting at the steps that were next there."""
    config = thread_config(parent_run_id)
    config["configurable"]["checkpoint_id"] = checkpoint_id
    snapshot = await graph.aget_state(config)
    if snapshot.created_at is None:
        raise LookupError(f"checkpoint {checkpoint_id} not found in run {parent_run_id}")
    if not snapshot.next:
        raise ValueError("nothing follows the final checkpoint of a run")
    values = {**snapshot.values, **(state_patch or {})}
    values["start_at"] = [n for n in snapshot.next if n != "__start__"] or ["classify"]
    if state_patch and "draft" in state_patch:
        # An edited draft is checked like any other before it can be persisted.
        values.update(start_at=["validate"], draft_error=None, validation_errors=[])
    return values
