"""Prompts for the chat model. The offline resolver does not use them."""

from __future__ import annotations

from typing import Any

CLASSIFY = """You triage IT support tickets for an internal IT team.
Categories: access_accounts (logins, passwords, SSO, MFA, permissions), network_vpn (VPN, Wi-Fi,
network, DNS), email (Outlook, mailboxes, calendar), hardware (laptops, docks, monitors,
peripherals), software_install (installing, updating, licensing applications), os (operating
system problems, disk space, updates, boot, performance), printing (printers, scanners),
security (phishing, malware, lost devices, suspicious activity), other.
Priority: critical (security incident or many people blocked), high (one person fully blocked),
medium (degraded), low (question or cosmetic).
Also give a short keyword search query to find similar past tickets and knowledge-base articles.

Ticket title: {title}
Ticket description:
{description}
{hint}"""

DRAFT = """You are an experienced IT support engineer. Write a resolution for the ticket below,
using ONLY the evidence provided. Cite the evidence labels you relied on (e.g. T1, D2, W1) in
`sources`; cite nothing else. Give concrete ordered steps. Never repeat passwords, tokens or
other secrets that appear in the ticket. Set `confidence` between 0 and 1: low when the evidence
does not clearly match the problem.

Ticket ({category}, {priority}): {title}
{description}

Evidence:
{evidence}
{hint}{errors}"""

HINT = """
Note from support staff: {hint}
"""

RETRY = """
Your previous answer was rejected for these reasons; fix all of them:
{errors}"""


def evidence_block(evidence: list[dict[str, Any]]) -> str:
    if not evidence:
        return "(no evidence found)"
    return "\n\n".join(f"[{item['label']}] {item['title']}\n{item['text']}" for item in evidence)
