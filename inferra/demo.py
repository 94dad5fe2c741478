"""Demo data so that a newcomer sees something real: users, a small IT knowledge base, resolved
past tickets (retrieval evidence) and two open tickets whose runs the worker resolves.
Idempotent: what exists is kept."""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.history import PastTicket, import_resolved_tickets
from core.models import Category, Document, Role, Ticket, User
from core.providers.embeddings import Embedder
from core.repositories.documents import ChunkIn, DocumentRepository
from core.repositories.users import UserRepository
from services import tickets
from services.resources import Runtime
from services.users import create_user

DEMO_PASSWORD = "demo-password"
DEMO_USERS = [
    ("admin@demo.inferra.dev", Role.admin),
    ("support@demo.inferra.dev", Role.support),
    ("alice@demo.inferra.dev", Role.user),
    ("bob@demo.inferra.dev", Role.user),
]

KB: dict[str, list[tuple[str, str]]] = {
    "vpn-globalprotect.md": [
        (
            "VPN > GlobalProtect disconnects",
            "If GlobalProtect drops every few minutes:\n1. Check the client version in About; "
            "versions before 6.2 have a keep-alive bug.\n2. Install GlobalProtect 6.2 from "
            "Company Portal.\n3. Reconnect to the gateway vpn.northwind.example.\n"
            "4. If it still drops, switch from Wi-Fi to a wired connection and send the "
            "GlobalProtect logs (Settings > Troubleshooting > Collect Logs) to IT.",
        ),
        (
            "VPN > Certificate errors",
            "The error 'valid client certificate is required' means the device certificate "
            "expired.\n1. Open Company Portal and click Sync.\n2. Restart the laptop.\n"
            "3. Connect again; the renewed certificate is picked automatically.",
        ),
    ],
    "okta-mfa.md": [
        (
            "MFA > New or lost phone",
            "To move Okta Verify to a new phone:\n1. Ask the service desk to reset your Okta "
            "Verify factor (identity check by video call).\n2. Sign in at northwind.okta.com.\n"
            "3. Scan the enrollment QR code with Okta Verify on the new phone.\n"
            "A lost phone is also a security incident: report it within 24 hours.",
        ),
        (
            "MFA > Push notifications not arriving",
            "1. Check that notifications are enabled for Okta Verify.\n2. Open the app and pull "
            "to refresh.\n3. Use the 6-digit code instead of the push as a fallback.",
        ),
    ],
    "password-reset.md": [
        (
            "Accounts > Password reset and lockout",
            "Accounts lock after 5 failed attempts for 30 minutes.\n1. Use self-service reset at "
            "northwind.okta.com > Forgot password.\n2. Passwords need 14 characters and cannot "
            "reuse the last 10.\n3. After a reset, update the password on your phone's mail app "
            "to avoid a new lockout.",
        ),
    ],
    "outlook.md": [
        (
            "Email > Outlook stuck loading profile",
            "1. Close Outlook and Teams.\n2. Control Panel > Mail > Show Profiles > Add a new "
            "profile.\n3. Set it as default and start Outlook; it re-downloads the mailbox.\n"
            "4. Delete the old OST file if it is larger than 20 GB.",
        ),
        (
            "Email > Shared mailbox missing",
            "Shared mailboxes appear automatically 60 minutes after access is granted. If not, "
            "File > Account Settings > Change > More Settings > Advanced > Add.",
        ),
    ],
    "printing-papercut.md": [
        (
            "Printing > Jobs stuck in the queue",
            "1. Open the PaperCut client and check your balance.\n2. Remove the printer and add "
            "it again from \\\\print.northwind.example.\n3. Restart the Print Spooler service.\n"
            "4. Release the job at the printer by tapping your badge.",
        ),
    ],
    "disk-space.md": [
        (
            "Windows > Low disk space",
            "1. Settings > System > Storage > turn on Storage Sense and run it now.\n2. Move "
            "Downloads and Desktop to OneDrive (Files On-Demand).\n3. Clear the Teams cache in "
            "%appdata%\\Microsoft\\Teams.\n4. Never delete files from C:\\Windows.",
        ),
    ],
}

HISTORY = [
    (
        "VPN keeps disconnecting at home",
        "GlobalProtect disconnects every 5-10 minutes.",
        "Client was 6.0; updated GlobalProtect to 6.2 from Company Portal, no more drops.",
        ["Update GlobalProtect to 6.2 from Company Portal", "Reconnect"],
        Category.network_vpn,
    ),
    (
        "VPN certificate error",
        "GlobalProtect says a valid client certificate is required.",
        "Device certificate expired; synced Company Portal and restarted the laptop.",
        ["Sync Company Portal", "Restart", "Reconnect"],
        Category.network_vpn,
    ),
    (
        "New phone, no MFA",
        "Changed my phone and Okta Verify is gone.",
        "Reset the Okta Verify factor after a video identity check; user re-enrolled.",
        ["Reset Okta Verify factor", "Re-enroll on the new phone"],
        Category.access_accounts,
    ),
    (
        "Locked out of my account",
        "Typed the wrong password too many times.",
        "Account unlocked; user reset the password via self-service and updated the phone.",
        ["Self-service reset at northwind.okta.com", "Update the phone's mail app"],
        Category.access_accounts,
    ),
    (
        "Outlook frozen on 'Loading profile'",
        "Outlook never opens since Monday.",
        "OST was 48 GB; created a new Outlook profile and deleted the old OST.",
        ["Create a new Outlook profile", "Delete the old OST"],
        Category.email,
    ),
    (
        "Print job never comes out",
        "Sent to the 2nd floor Ricoh, nothing prints.",
        "Spooler stuck; re-added the printer from the print server and restarted the spooler.",
        ["Re-add the printer", "Restart Print Spooler", "Release with badge"],
        Category.printing,
    ),
    (
        "Laptop says disk is full",
        "Only 300 MB free on C:.",
        "Teams cache was 30 GB; cleared it and enabled Storage Sense.",
        ["Clear the Teams cache", "Enable Storage Sense"],
        Category.os,
    ),
]

OPEN_TICKETS = [
    (
        "VPN drops all the time",
        "The VPN thing I use from home kicks me out every few minutes "
        "and I lose my work. Started after the weekend.",
    ),
    ("Can't print", "My document is stuck in the print queue since this morning."),
]


async def seed(session: AsyncSession, runtime: Runtime) -> list[str]:
    embedder = runtime.embedder
    lines = await _users(session)
    users = UserRepository(session)
    admin = await users.get_by_email(DEMO_USERS[0][0])
    alice = await users.get_by_email(DEMO_USERS[2][0])
    assert admin is not None and alice is not None
    lines += await _knowledge_base(session, embedder, admin)
    lines += await _history(session, embedder, admin)
    lines += await _open_tickets(session, runtime, alice)
    return lines


async def _users(session: AsyncSession) -> list[str]:
    lines = []
    repo = UserRepository(session)
    for email, role in DEMO_USERS:
        if await repo.get_by_email(email) is None:
            await create_user(session=session, email=email, password=DEMO_PASSWORD, role=role)
            lines.append(f"user {email} ({role.value}) password={DEMO_PASSWORD}")
        else:
            lines.append(f"user {email} exists")
    return lines


async def _knowledge_base(session: AsyncSession, embedder: Embedder, admin: User) -> list[str]:
    repo = DocumentRepository(session)
    lines = []
    for filename, sections in KB.items():
        sha = hashlib.sha256(repr(sections).encode()).hexdigest()
        if await repo.by_sha256(sha) is not None:
            continue
        vectors = await embedder.embed_documents([f"{h}\n{t}" for h, t in sections])
        await repo.add_with_chunks(
            Document(
                filename=filename,
                mime="text/markdown",
                sha256=sha,
                title=filename,
                uploaded_by=admin.id,
            ),
            [
                ChunkIn(text=t, heading_path=h, page=None, embedding=v)
                for (h, t), v in zip(sections, vectors, strict=True)
            ],
        )
        lines.append(f"kb {filename} ({len(sections)} chunks)")
    return lines


async def _history(session: AsyncSession, embedder: Embedder, admin: User) -> list[str]:
    titles = [title for title, *_ in HISTORY]
    seeded = set(await session.scalars(select(Ticket.title).where(Ticket.title.in_(titles))))
    missing = [PastTicket(*item) for item in HISTORY if item[0] not in seeded]
    await import_resolved_tickets(session, embedder, missing, owner_id=admin.id, model="demo")
    return [f"resolved ticket: {past.title}" for past in missing]


async def _open_tickets(session: AsyncSession, runtime: Runtime, alice: User) -> list[str]:
    lines = []
    for title, description in OPEN_TICKETS:
        if await session.scalar(select(Ticket.id).where(Ticket.title == title)):
            continue
        _, run = await tickets.create(
            session=session,
            runtime=runtime,
            owner=alice,
            title=title,
            description=description,
            category_hint=None,
        )
        lines.append(f"open ticket by alice: {title} (run {run.id} queued)")
    return lines
