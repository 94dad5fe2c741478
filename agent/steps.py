"""A run's steps read from its LangGraph checkpoints: which node ran, from which checkpoint,
when, for how long, and what it changed in the state (a short, readable diff)."""

from __future__ import annotations

import json
from datetime import datetime
from itertools import pairwise
from typing import Any

from langgraph.graph.state import CompiledStateGraph
from langgraph.types import StateSnapshot

from agent.runner import thread_config

MAX_VALUE_CHARS = 300


def summarize(value: Any) -> Any:
    """Short human-readable form of a state value (lists become a count and their titles)."""
    if isinstance(value, list):
        titles = [
            str(item.get("title") or item.get("filename") or item.get("step") or "")[:80]
            for item in value
            if isinstance(item, dict)
        ]
        return {"count": len(value), "items": [t for t in titles if t][:5]}
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "…"


def checkpoint_id(snapshot: StateSnapshot) -> str:
    return snapshot.config["configurable"]["checkpoint_id"]


def _changes(before: dict[str, Any], writes: Any) -> list[dict[str, Any]]:
    if not isinstance(writes, dict):
        return []
    return [
        {"key": key, "before": summarize(before.get(key)), "after": summarize(value)}
        for key, value in writes.items()
        if before.get(key) != value
    ]


async def history(graph: CompiledStateGraph, run_id: str) -> list[StateSnapshot]:
    """Checkpoints of the run, oldest first."""
    snapshots = [s async for s in graph.aget_state_history(thread_config(run_id))]
    return list(reversed(snapshots))


def steps_from(snapshots: list[StateSnapshot]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    for index, (start, end) in enumerate(pairwise(snapshots)):
        started = datetime.fromisoformat(start.created_at)
        finished = datetime.fromisoformat(end.created_at)
        for task in sorted(start.tasks, key=lambda t: t.name):
            if task.name == "__start__":
                continue
            steps.append(
                {
                    "step": index,
                    "node": task.name,
                    "status": "failed" if task.error else "done",
                    "checkpoint_id": checkpoint_id(start),
                    "result_checkpoint_id": checkpoint_id(end),
                    "started_at": started,
                    "finished_at": finished,
                    "duration_ms": round((finished - started).total_seconds() * 1000, 1),
                    "changes": _changes(start.values, task.result),
                    "error": str(task.error) if task.error else None,
                }
            )
    if snapshots and snapshots[-1].next:
        last = snapshots[-1]
        for task in last.tasks:
            steps.append(
                {
                    "step": len(snapshots) - 1,
                    "node": task.name,
                    "status": "waiting_for_staff" if task.interrupts else "pending",
                    "checkpoint_id": checkpoint_id(last),
                    "result_checkpoint_id": None,
                    "started_at": datetime.fromisoformat(last.created_at),
                    "finished_at": None,
                    "duration_ms": None,
                    "changes": [],
                    "error": str(task.error) if task.error else None,
                    "interrupt": task.interrupts[0].value if task.interrupts else None,
                }
            )
    return steps
