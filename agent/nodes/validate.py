"""validate: schema + rules. Decides between another draft, a human handoff and persisting."""

from __future__ import annotations

import re
from typing import Any, Literal

from langgraph.runtime import Runtime
from pydantic import ValidationError

from agent.context import OFFLINE_MODEL, AgentContext, context_of
from agent.evidence import by_label
from agent.handoff_policy import low_confidence_reason, no_solution_reason
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


# What a step could make a requester fetch or run: links, downloadable programs, commands.
ACTIONABLE_PATTERNS = [
    re.compile(r"(?i)\b(?:https?://|www\.)[^\s<>\"'`)\]]+"),
    re.compile(r"(?i)\b[\w./\\-]+\.(?:exe|msi|ps1|bat|cmd|vbs|scr|sh|dmg|pkg|apk|jar)\b"),
    re.compile(r"`([^`]{2,200})`"),
]
QUOTE_WORDS = 8  # a run of this many words of another ticket's text is a quotation
MIN_TITLE_CHARS = 15


def find_secrets(text: str) -> list[str]:
    return [m.group(0)[:12] + "…" for p in SECRET_PATTERNS for m in p.finditer(text)]


def _normalised(text: str) -> str:
    return " ".join(text.lower().split())


def actionable_items(text: str) -> set[str]:
    found = set()
    for pattern in ACTIONABLE_PATTERNS:
        for match in pattern.finditer(text):
            item = _normalised(match.group(match.lastindex or 0)).rstrip(".,;:!?")
            if item:
                found.add(item)
    return found


def curated_text(state: AgentState) -> str:
    """What staff wrote or approved for this run: KB sections and past tickets' accepted
    resolutions. Not web pages, not any requester's words."""
    parts: list[str] = []
    for item in by_label(state).values():
        if item["type"] == "doc":
            parts += [item["title"], item["source"]["text"]]
        elif item["type"] == "ticket":
            parts += [item["source"]["resolution_summary"], *item["source"]["solution_steps"]]
    return _normalised("\n".join(parts))


def unsupported_actions(texts: list[str], state: AgentState) -> list[str]:
    """Links, programs and commands in the draft that no curated evidence of this run has:
    instructions planted in a ticket, a comment or a web page never become steps."""
    curated = curated_text(state)
    return sorted(i for t in texts for i in actionable_items(t) if i not in curated)


def _word_runs(text: str, size: int) -> set[str]:
    words = re.findall(r"\w+", text.lower())
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}


def quoted_tickets(texts: list[str], state: AgentState) -> list[str]:
    """Labels of past tickets whose title or description the draft quotes: a requester never
    reads another user's ticket (its staff-approved resolution may be used)."""
    draft_text = _normalised("\n".join(texts))
    draft_runs = _word_runs(draft_text, QUOTE_WORDS)
    ticket = state.get("ticket") or {}
    # Words that may appear anyway: what staff wrote or approved, and the requester's own ticket.
    own = _normalised(f"{ticket.get('title', '')}\n{ticket.get('description', '')}")
    allowed_text = f"{curated_text(state)}\n{own}"
    allowed_runs = _word_runs(allowed_text, QUOTE_WORDS)
    quoted = []
    for label, item in by_label(state).items():
        if item["type"] != "ticket":
            continue
        title = _normalised(item["source"]["title"])
        title_quoted = (
            len(title) >= MIN_TITLE_CHARS and title in draft_text and title not in allowed_text
        )
        described = _word_runs(item["source"]["description"], QUOTE_WORDS) - allowed_runs
        if title_quoted or described & draft_runs:
            quoted.append(label)
    return quoted


def check_draft(
    state: AgentState, *, by_staff: bool = False, as_answer: bool = False
) -> list[str]:
    """The draft's problems, as messages for the next draft (empty: valid). A staff member's
    own edit may add links and commands of their own; a model's draft may not. A draft may
    propose no fix (it is then handed off); one that staff approve or write (`as_answer`) must
    propose at least one: the ticket is resolved with it."""
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
    if as_answer and not draft.solutions:
        errors.append("No solution proposed.")
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
    unsupported = [] if by_staff else unsupported_actions(texts, state)
    if unsupported:
        errors.append(
            "Links, programs or commands that no knowledge-base article or approved resolution "
            f"of this run contains: {', '.join(unsupported[:5])}. Use only what the evidence says."
        )
    quoted = quoted_tickets(texts, state)
    if quoted:
        errors.append(
            f"The resolution quotes the title or description of past tickets {', '.join(quoted)}; "
            "say 'a similar resolved ticket' and use its resolution's steps only."
        )
    return errors


async def validate(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    settings = context_of(runtime).settings
    errors = check_draft(state)
    reason = None
    draft = state.get("draft")
    if draft is not None and not draft.get("solutions"):
        # The drafter found nothing to propose (it says why in its summary): drafting again
        # would not find evidence that retrieval did not.
        reason = no_solution_reason(state, settings)
    elif errors and state.get("drafted_by") == OFFLINE_MODEL and state.get("draft") is not None:
        # The offline resolver is deterministic: drafting again would give the same answer.
        reason = "The offline resolver's draft failed validation."
    elif errors and state.get("attempts", 0) >= settings.agent_max_draft_attempts:
        reason = f"No valid draft after {state.get('attempts', 0)} attempts."
    elif not errors and state["draft"]["confidence"] < settings.agent_handoff_confidence:
        reason = low_confidence_reason(state, settings)
    return {"validation_errors": errors, "handoff_reason": reason}


def route_after_validate(state: AgentState) -> Literal["draft", "handoff", "persist"]:
    if state.get("handoff_reason"):
        return "handoff"
    if state.get("validation_errors"):
        return "draft"
    return "persist"
