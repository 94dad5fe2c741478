"""Evidence retrieved in a run, labelled T1.. (tickets), D1.. (KB chunks), W1.. (web) so that a
draft can cite it and the validator can check that every citation was really retrieved."""

from __future__ import annotations

from typing import Any

from agent.state import AgentState

MAX_TEXT = 1200


def collect(state: AgentState) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for i, t in enumerate(state.get("similar_tickets") or [], 1):
        steps = "\n".join(f"- {s}" for s in t.get("solution_steps", []))
        items.append(
            {
                "label": f"T{i}",
                "type": "ticket",
                "id": t["id"],
                "title": f"Resolved ticket: {t['title']}",
                "text": f"{t['description'][:400]}\nResolution: {t['resolution_summary']}\n{steps}"[
                    :MAX_TEXT
                ],
                "score": t.get("score"),
            }
        )
    for i, d in enumerate(state.get("doc_chunks") or [], 1):
        items.append(
            {
                "label": f"D{i}",
                "type": "doc",
                "id": d["id"],
                "title": f"{d['filename']} > {d.get('heading_path') or ''}".rstrip(" >"),
                "text": d["text"][:MAX_TEXT],
                "score": d.get("score"),
            }
        )
    for i, w in enumerate(state.get("web_results") or [], 1):
        items.append(
            {
                "label": f"W{i}",
                "type": "web",
                "id": w["url"],
                "title": w["title"],
                "text": w["snippet"][:MAX_TEXT],
                "score": None,
            }
        )
    return items


def by_label(state: AgentState) -> dict[str, dict[str, Any]]:
    return {item["label"]: item for item in collect(state)}
