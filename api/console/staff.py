"""Staff pages: the queue, a ticket with every resolution version, a run's timeline with
replay, fork and the handed-off draft."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from agent.schemas import DraftResolution, Solution
from api.console.web import ConsoleRoute, ConsoleStaff, redirect, render
from api.deps import RuntimeDep, SessionDep
from api.runs.schemas import StatePatch, TicketPatch
from api.schemas import Text
from api.tickets.schemas import ResolutionForStaff
from core import ticket_rules
from core.errors import InferraError
from core.models import Category, Priority, Resolution, Role, RunStatus, TicketStatus, User
from core.pagination import PageRequest
from services import runs, tickets, users

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)
QUEUE_PAGE_SIZE = 25
COMMENTS_SHOWN = 200
ACTIVE = frozenset({RunStatus.queued, RunStatus.running})


async def _staff_members(session: AsyncSession) -> list[User]:
    first = PageRequest(page=1, page_size=100)
    found = []
    for role in (Role.support, Role.admin):
        page = await users.list_users(session=session, page=first, role=role, is_active=True)
        found.extend(page.items)
    return found


@router.get("/queue")
async def queue(
    request: Request,
    user: ConsoleStaff,
    session: SessionDep,
    status: Annotated[TicketStatus | None, Query()] = None,
    category: Annotated[Category | None, Query()] = None,
    priority: Annotated[Priority | None, Query()] = None,
    assignee: Annotated[uuid.UUID | None, Query()] = None,
    q: Annotated[Text | None, Query(max_length=200)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    filters: dict[str, Any] = {
        "category": category,
        "priority": priority,
        "assignee_id": assignee,
        "text": q,
    }
    found = await tickets.list_visible(
        session=session,
        user=user,
        page=PageRequest(page=page, page_size=QUEUE_PAGE_SIZE),
        status=status,
        escalated_first=True,
        **filters,
    )
    counts = await tickets.count_by_status(session=session, user=user, **filters)
    staff = await _staff_members(session)
    query = {k: v for k, v in request.query_params.items() if k != "page" and v}
    context = {
        "page": found,
        "counts": counts,
        "staff": staff,
        "staff_names": {s.id: s.email for s in staff},
        "filters": query,
        "page_url": "/console/queue?" + "".join(f"{k}={v}&" for k, v in query.items()),
        "statuses": list(TicketStatus),
        "categories": list(Category),
        "priorities": list(Priority),
    }
    return render(request, "queue.html", context, user=user)


@router.post("/tickets/{ticket_id}/assign-to-me")
async def assign_to_me(
    request: Request,
    ticket_id: uuid.UUID,
    user: ConsoleStaff,
    session: SessionDep,
    runtime: RuntimeDep,
    back: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    await tickets.update(
        session=session, runtime=runtime, actor=user, ticket_id=ticket_id, assignee_id=user.id
    )
    target = back if back.startswith("/console/") else f"/console/tickets/{ticket_id}"
    return redirect(request, target)


@router.post("/tickets/{ticket_id}/status")
async def change_status(
    request: Request,
    ticket_id: uuid.UUID,
    user: ConsoleStaff,
    session: SessionDep,
    runtime: RuntimeDep,
    status: Annotated[TicketStatus, Form()],
) -> Response:
    await tickets.update(
        session=session, runtime=runtime, actor=user, ticket_id=ticket_id, status=status
    )
    return redirect(request, f"/console/tickets/{ticket_id}")


@router.post("/tickets/{ticket_id}/rerun")
async def rerun(
    request: Request,
    ticket_id: uuid.UUID,
    user: ConsoleStaff,
    session: SessionDep,
    runtime: RuntimeDep,
) -> Response:
    run = await tickets.request_resolution(
        session=session, runtime=runtime, user=user, ticket_id=ticket_id
    )
    return redirect(request, f"/console/runs/{run.id}")


def _versions(found: list[Resolution]) -> list[dict[str, Any]]:
    """Each version (latest first) with what is new against the one before it marked."""
    shaped = [ResolutionForStaff.model_validate(r) for r in found]
    out = []
    for i, current in enumerate(shaped):
        previous = shaped[i + 1] if i + 1 < len(shaped) else None
        before_steps = {
            step for s in (previous.solutions if previous else []) for step in s.get("steps", [])
        }
        out.append(
            {
                "resolution": current,
                "summary_changed": previous is not None and previous.summary != current.summary,
                "new_steps": {
                    step
                    for s in current.solutions
                    for step in s.get("steps", [])
                    if previous is not None and step not in before_steps
                },
            }
        )
    return out


async def staff_ticket_page(
    request: Request, ticket_id: uuid.UUID, user: User, session: AsyncSession
) -> Response:
    view = await tickets.view(session=session, user=user, ticket_id=ticket_id)
    comments = await tickets.comments(
        session=session, user=user, ticket_id=ticket_id, page=PageRequest(1, COMMENTS_SHOWN)
    )
    context = {
        "ticket": view.ticket,
        "owner": await users.get_user(session=session, user_id=view.ticket.owner_id),
        "versions": _versions(
            await tickets.resolutions(session=session, user=user, ticket_id=ticket_id)
        ),
        "runs": list(
            reversed(await runs.runs_of_ticket(session=session, user=user, ticket_id=ticket_id))
        ),
        "comments": comments.items,
        "allowed": sorted(ticket_rules.TRANSITIONS[view.ticket.status]),
    }
    return render(request, "ticket_staff.html", context, user=user)


# --- Runs -----------------------------------------------------------------------------------


def _draft_text(draft: dict[str, Any] | None) -> dict[str, str]:
    """A draft as the edit form's fields: solutions as `## title` blocks of step lines."""
    draft = draft or {}
    blocks = [
        "\n".join([f"## {s.get('title', '')}", *s.get("steps", [])])
        for s in draft.get("solutions", [])
    ]
    return {
        "summary": draft.get("summary", ""),
        "diagnoses": "\n".join(draft.get("diagnoses", [])),
        "solutions": "\n\n".join(blocks),
        "sources": "\n".join(draft.get("sources", [])),
        "confidence": str(draft.get("confidence", 0.5)),
    }


def _draft_from_form(
    summary: str, diagnoses: str, solutions: str, sources: str, confidence: float
) -> DraftResolution:
    parsed: list[Solution] = []
    for block in solutions.split("## ")[1:]:
        title, *steps = [line.strip() for line in block.strip().splitlines() if line.strip()]
        parsed.append(Solution(title=title, steps=steps))
    return DraftResolution(
        summary=summary,
        diagnoses=[d.strip() for d in diagnoses.splitlines() if d.strip()],
        solutions=parsed,
        sources=[s.strip() for s in sources.splitlines() if s.strip()],
        confidence=confidence,
    )


@router.get("/runs/{run_id}")
async def run_page(
    request: Request,
    run_id: uuid.UUID,
    user: ConsoleStaff,
    session: SessionDep,
    runtime: RuntimeDep,
) -> Response:
    run = await runs.get_run(session=session, user=user, run_id=run_id)
    steps = await runs.steps_of(runtime=runtime, run_id=run.id)
    waiting = next((s for s in steps if s["status"] == "waiting_for_staff"), None)
    interrupt = (waiting or {}).get("interrupt") or {}
    context = {
        "run": run,
        "steps": steps,
        "running": run.status in ACTIVE,
        "waiting": run.status is RunStatus.interrupted,
        "handoff": interrupt,
        "draft": _draft_text(interrupt.get("draft")),
        # A draft with no fix cannot be approved as is (services.runs: 409 no_solution).
        "approvable": bool((interrupt.get("draft") or {}).get("solutions")),
        "categories": list(Category),
        "priorities": list(Priority),
    }
    return render(request, "run.html", context, user=user)


@router.post("/runs/{run_id}/replay")
async def replay(
    request: Request,
    run_id: uuid.UUID,
    user: ConsoleStaff,
    session: SessionDep,
    runtime: RuntimeDep,
    checkpoint_id: Annotated[str, Form(min_length=1, max_length=100)],
) -> Response:
    run = await runs.start_from_checkpoint(
        session=session, runtime=runtime, user=user, run_id=run_id, checkpoint_id=checkpoint_id
    )
    return redirect(request, f"/console/runs/{run.id}")


@router.post("/runs/{run_id}/fork")
async def fork(
    request: Request,
    run_id: uuid.UUID,
    user: ConsoleStaff,
    session: SessionDep,
    runtime: RuntimeDep,
    checkpoint_id: Annotated[str, Form(min_length=1, max_length=100)],
    staff_hint: Annotated[Text | None, Form(max_length=2000)] = None,
    category: Annotated[Category | None, Form()] = None,
    priority: Annotated[Priority | None, Form()] = None,
    title: Annotated[Text | None, Form(max_length=200)] = None,
    description: Annotated[Text | None, Form(max_length=10_000)] = None,
) -> Response:
    patch = _fork_patch(staff_hint, category, priority, title, description)
    if not patch:
        raise InferraError(
            "A fork needs a hint, a category, a priority or edited ticket text",
            code="validation_error",
            status_code=422,
        )
    run = await runs.start_from_checkpoint(
        session=session,
        runtime=runtime,
        user=user,
        run_id=run_id,
        checkpoint_id=checkpoint_id,
        patch=patch,
    )
    return redirect(request, f"/console/runs/{run.id}")


def _fork_patch(
    staff_hint: str | None,
    category: Category | None,
    priority: Priority | None,
    title: str | None,
    description: str | None,
) -> dict[str, Any]:
    """The form's non-empty fields under the API's own fork rules (`StatePatch`: edited ticket
    text trimmed, blank refused), so a fork from the console stores what one from the API would."""
    edited = {k: v for k, v in {"title": title, "description": description}.items() if v}
    fields = {"staff_hint": staff_hint or None, "category": category, "priority": priority}
    try:
        patch = StatePatch(**fields, ticket=TicketPatch(**edited) if edited else None)
    except ValidationError as exc:
        raise InferraError(
            "The fork's fields are not valid",
            code="validation_error",
            status_code=422,
            details=[{"loc": list(e["loc"]), "message": e["msg"]} for e in exc.errors()],
        ) from None
    return patch.model_dump(mode="json", exclude_none=True)


@router.post("/runs/{run_id}/decide")
async def decide(
    request: Request,
    run_id: uuid.UUID,
    user: ConsoleStaff,
    session: SessionDep,
    runtime: RuntimeDep,
    action: Annotated[str, Form(pattern="^(approve|edit|reject)$")],
    summary: Annotated[str, Form(max_length=2000)] = "",
    diagnoses: Annotated[str, Form(max_length=10_000)] = "",
    solutions: Annotated[str, Form(max_length=20_000)] = "",
    sources: Annotated[str, Form(max_length=2000)] = "",
    confidence: Annotated[float, Form(ge=0, le=1)] = 0.5,
    note: Annotated[Text | None, Form(max_length=5000)] = None,
) -> Response:
    """approve: the agent's draft as it is; edit: the form's text; reject: a note only."""
    resolution = None
    if action == "edit":
        try:
            resolution = _draft_from_form(summary, diagnoses, solutions, sources, confidence)
        except (ValueError, TypeError) as exc:
            raise InferraError(
                f"The edited draft is not valid: {exc}", code="validation_error", status_code=422
            ) from None
    run = await runs.request_resume(
        session=session,
        runtime=runtime,
        user=user,
        run_id=run_id,
        action=action,
        resolution=resolution,
        note=note or None,
    )
    return redirect(request, f"/console/runs/{run.id}")
