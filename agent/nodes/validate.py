"""validate: schema + rules. Decides between another draft, a human handoff and persisting."""

from __future__ import annotations

import re
from typing import Any, Literal

from langgraph.runtime import Runtime
from pydantic import ValidationError

from agent.context import OFFLINE_MODEL, AgentContext, context_of
from agent.evidence import by_label
from agent.schemas import DraftResolution
from agent.state import AgentState

# Credentials must never be echoed back to a ticket (tickets are read by many people).
SECRET_PATTERNS = [
    # "password: hunter22" but not "After changing your password: update everything": a value
    # that looks like a secret (no spaces, 6+ characters, with a digit or a symbol).
    re.compile(
        r"(?i)\b(password|passwd|pwd|passcode|secret|api[_ -]?key|token)\b\s*[:=]\s*"
        r"(?=\S*[\d!@#$%^&*_+=~])\S{6,}"
    ),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    re.compile(r"\b(sk|ghp|xox[bap])[-_][A-Za-z0-9_-]{16,}\b"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\b"),
]


def find_secrets(text: str) -> list[str]:
    return [m.group(0)[:12] + "…" for p in SECRET_PATTERNS for m in p.finditer(text)]


def check_draft(state: AgentState) -> list[str]:
    if state.get("draft") is None:
        return [state.get("draft_error") or "No draft was produced."]
    try:
        draft = DraftResolution.model_validate(state["draft"])
    except ValidationError as exc:
        return [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
    errors = []
    texts = [draft.summary, *draft.diagnoses]
    for solution in draft.solutions:
        texts += [solution.title, *solution.steps]
    if any(not t.strip() for t in texts):
        errors.append("Empty summary, diagnosis, solution title or step.")
    retrieved = by_label(state)
    unknown = [s for s in draft.sources if s not in retrieved]
    if unknown:
        errors.append(
            f"Cited sources that were not retrieved in this run: {', '.join(unknown)}. "
            f"Cite only: {', '.join(retrieved) or 'nothing (no evidence)'}."
        )
    leaked = find_secrets("\n".join(texts))
    if leaked:
        errors.append(f"The resolution repeats secrets or credentials ({len(leaked)} found).")
    return errors


async def validate(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    settings = context_of(runtime).settings
    errors = check_draft(state)
    reason = None
    if errors and state.get("drafted_by") == OFFLINE_MODEL and state.get("draft") is not None:
        # The offline resolver is deterministic: drafting again would give the same answer.
        reason = "The offline resolver's draft failed validation."
    elif errors and state.get("attempts", 0) >= settings.agent_max_draft_attempts:
        reason = f"No valid draft after {state.get('attempts', 0)} attempts."
    elif not errors and state["draft"]["confidence"] < settings.agent_handoff_confidence:
        reason = (
            f"Confidence {state['draft']['confidence']:.2f} is below "
            f"{settings.agent_handoff_confidence:.2f}."
        )
    return {"validation_errors": errors, "handoff_reason": reason}


def route_after_validate(state: AgentState) -> Literal["draft", "handoff", "persist"]:
    if state.get("handoff_reason"):
        return "handoff"
    if state.get("validation_errors"):
        return "draft"
    return "persist"
