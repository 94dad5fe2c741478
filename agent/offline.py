"""The offline resolver: real, deterministic logic used when no chat model is configured.

It never invents: classification comes from keyword evidence, and the resolution is extracted
from the retrieved resolved tickets and KB chunks, with a confidence computed from how similar
that evidence is to the ticket (cosine similarity of the embeddings).
"""

from __future__ import annotations

import re

from agent.evidence import MAX_STEPS, Evidence
from agent.schemas import Classification, DraftResolution, Solution
from agent.state import DocChunk, SimilarTicket
from core.models import Category, Priority
from core.providers.embeddings import Embedder

CATEGORY_KEYWORDS: dict[Category, tuple[str, ...]] = {
    Category.access_accounts: (
        "password",
        "login",
        "log in",
        "sign in",
        "signin",
        "locked",
        "lockout",
        "account",
        "sso",
        "okta",
        "mfa",
        "2fa",
        "authenticator",
        "verify",
        "permission",
        "access denied",
        "reset",
        "expired",
    ),
    Category.network_vpn: (
        "vpn",
        "globalprotect",
        "wifi",
        "wi-fi",
        "wireless",
        "network",
        "internet",
        "dns",
        "ethernet",
        "proxy",
        "disconnect",
        "ssid",
        "connection drops",
        "work from home",
    ),
    Category.email: (
        "outlook",
        "email",
        "e-mail",
        "mail",
        "mailbox",
        "calendar",
        "inbox",
        "meeting invite",
        "shared mailbox",
        "autodiscover",
        "ost",
        "spam",
    ),
    Category.hardware: (
        "laptop",
        "battery",
        "dock",
        "docking",
        "monitor",
        "screen",
        "keyboard",
        "mouse",
        "charger",
        "headset",
        "webcam",
        "usb",
        "broken",
        "hardware",
        "fan",
    ),
    Category.software_install: (
        "install",
        "installation",
        "company portal",
        "self service",
        "license",
        "licence",
        "update app",
        "application",
        "software",
        "admin rights",
        "download",
    ),
    Category.os: (
        "windows",
        "macos",
        "blue screen",
        "bsod",
        "disk",
        "storage",
        "slow",
        "boot",
        "restart",
        "update",
        "freez",
        "crash",
        "bitlocker",
        "filevault",
        "startup",
    ),
    Category.printing: (
        "print",
        "printer",
        "papercut",
        "scanner",
        "scan",
        "toner",
        "paper jam",
        "ricoh",
    ),
    Category.security: (
        "phishing",
        "phish",
        "fishy",
        "suspicious",
        "malware",
        "malicious",
        "virus",
        "ransomware",
        "hacked",
        "stolen",
        "left my laptop",
        "crowdstrike",
        "breach",
        "scam",
        "clicked",
        "new sign-on",
        "new sign on",
        "sign-in from",
        "sign in from",
        "never been there",
        "not logging in",
        "wrong person",
        "wrong external",
        "quick assist",
        "from the helpdesk",
        "bank changed",
        "bank account",
        "security popup",
        "security pop",
    ),
}
URGENT = (
    "urgent",
    "asap",
    "critical",
    "outage",
    "everyone",
    "whole team",
    "all users",
    "ransomware",
    "hacked",
    "breach",
    "cannot work",
    "can't work",
    "blocked",
)
HIGH = ("can't", "cannot", "unable", "not working", "doesn't work", "down", "stolen", "lost")

MIN_SIMILARITY = 0.35


def classify(title: str, description: str, hint: str | None) -> Classification:
    text = f"{title} {description}".lower()
    scores = {
        category: sum(text.count(word) for word in words)
        for category, words in CATEGORY_KEYWORDS.items()
    }
    # A security incident outranks the product it happens in: a phishing mail is not an email
    # problem, a stolen phone not an MFA one. Any security signal decides.
    if scores[Category.security]:
        scores[Category.security] = max(scores.values()) + 1
    if hint in Category.__members__:
        scores[Category(hint)] = scores.get(Category(hint), 0) + 2
    best = max(scores, key=lambda c: scores[c])
    category = best if scores[best] > 0 else Category.other
    if category is Category.security and any(w in text for w in URGENT + HIGH):
        priority = Priority.critical
    elif any(w in text for w in URGENT):
        priority = Priority.high
    elif any(w in text for w in HIGH):
        priority = Priority.medium
    else:
        priority = Priority.low
    return Classification(category=category, priority=priority, search_query=title[:300] or "?")


CATEGORY_TOPICS = {c.value: c.value.replace("_", " ") for c in Category}
MAX_QUERY_TERMS = 6


def technical_query(category: str, text: str) -> str:
    """A web query that cannot carry personal data: the category's topic and the technical
    terms of our vocabulary that the ticket mentions (never names, hosts or free text)."""
    lowered = text.lower()
    terms = [
        term
        for keywords in CATEGORY_KEYWORDS.values()
        for term in keywords
        if re.search(rf"\b{re.escape(term)}", lowered)
    ]
    topic = CATEGORY_TOPICS.get(category, "")
    unique = list(dict.fromkeys([*terms[:MAX_QUERY_TERMS], topic, "troubleshooting"]))
    return " ".join(t for t in unique if t)


def _sentences(text: str, limit: int) -> list[str]:
    parts = [p.strip() for p in re.split(r"(?<=[.!?])\s+|\n+", text) if len(p.strip()) > 12]
    return parts[:limit]


def _steps_from_chunk(text: str) -> list[str]:
    """Numbered or bulleted lines of a runbook chunk; else its first sentences."""
    steps = [
        re.sub(r"^\s*(\d+[.)]|[-*•])\s*", "", line).strip()
        for line in text.splitlines()
        if re.match(r"^\s*(\d+[.)]|[-*•])\s+\S", line)
    ]
    return [s for s in steps if s][:8] or _sentences(text, 4)


def _steps_from_ticket(ticket: SimilarTicket) -> list[str]:
    """The steps its accepted resolution recorded; else the first sentences of its summary."""
    steps = [s.strip() for s in ticket["solution_steps"] if s.strip()]
    summary = ticket["resolution_summary"]
    return steps[:MAX_STEPS] or _sentences(summary, 4) or [summary[:300]]


SIMILAR_TICKET = "a similar resolved ticket"


def _name(item: Evidence) -> str:
    """How a requester-facing draft names a source: a KB section by its file and heading path;
    a past ticket never by its title or text (it may be another user's)."""
    return SIMILAR_TICKET if item["type"] == "ticket" else item["title"]


def _confidence(similarity: float) -> float:
    # Calibrated by eye on MiniLM cosine: ~0.35 is loosely related, ~0.8 the same problem.
    return round(min(0.95, max(0.05, (similarity - 0.25) * 1.6)), 2)


async def resolve(
    ticket_text: str, evidence: list[Evidence], embedder: Embedder
) -> DraftResolution:
    candidates = [e for e in evidence if e["type"] in ("ticket", "doc")]
    if candidates:
        # Titles carry meaning (a KB heading path, a past ticket's title): compare with them.
        texts = [f"{e['title']}\n{e['text']}" for e in candidates]
        vectors = await embedder.embed_documents([ticket_text, *texts])
        query, rest = vectors[0], vectors[1:]
        sims = [sum(a * b for a, b in zip(query, v, strict=True)) for v in rest]
    else:
        sims = []
    relevant = sorted(
        ((s, e) for s, e in zip(sims, candidates, strict=True) if s >= MIN_SIMILARITY),
        key=lambda pair: -pair[0],
    )
    if not relevant:
        return DraftResolution(
            summary="No resolved ticket or knowledge-base article matches this problem closely "
            "enough to propose a fix; a support engineer should take it.",
            diagnoses=["No matching evidence was found in past tickets or the knowledge base."],
            solutions=[
                Solution(
                    title="Hand over to support staff",
                    steps=["A support engineer reviews the ticket and contacts the requester."],
                )
            ],
            sources=[],
            confidence=0.05,
        )
    tickets = [(s, e) for s, e in relevant if e["type"] == "ticket"][:2]
    docs = [(s, e) for s, e in relevant if e["type"] == "doc"][:2]
    solutions: list[Solution] = []
    diagnoses: list[str] = []
    for _, e in tickets:
        ticket: SimilarTicket = e["source"]
        solutions.append(
            Solution(title="As resolved in a similar ticket", steps=_steps_from_ticket(ticket))
        )
        # The staff-approved resolution's own words, never the past requester's.
        diagnoses.append(f"Same symptoms as {SIMILAR_TICKET}: {ticket['resolution_summary']}"[:300])
    for _, e in docs:
        chunk: DocChunk = e["source"]
        solutions.append(
            Solution(
                title=f"Knowledge base: {e['title']}"[:200],
                steps=_steps_from_chunk(chunk["text"]) or [chunk["text"][:300]],
            )
        )
        diagnoses.append(f"Covered by the knowledge base: {e['title']}"[:300])
    best_similarity, best = relevant[0]
    return DraftResolution(
        summary=(
            f"Extracted from {len(tickets)} similar resolved ticket(s) and {len(docs)} "
            f"knowledge-base section(s); closest match: "
            f"{_name(best)}."
        )[:2000],
        diagnoses=diagnoses[:8],
        solutions=solutions[:6],
        sources=[e["label"] for _, e in tickets + docs],
        confidence=_confidence(best_similarity),
    )
