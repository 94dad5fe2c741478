"""Hybrid retrieval on real pgvector with the real local embedding model (assertions on ranks)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import sqlalchemy.exc
from sqlalchemy import select, text

from core.concurrency import side_by_side
from core.models import Category, FeedbackReason, Ticket, Verdict
from core.repositories.feedback import FeedbackRepository
from core.retrieval import DocChunkHit, Retriever, fuse, per_document
from core.settings import RetrievalMode
from ingestion.pipeline import ingest_bytes
from services.search_stats import refresh_search_stats
from tests import documents, factories
from tests.test_crash_recovery import until

HISTORY = {
    "vpn": (
        "GlobalProtect VPN disconnects every few minutes",
        "Working from home, the VPN drops the connection constantly.",
        "Updated GlobalProtect to 6.2; the keep-alive bug is fixed.",
        Category.network_vpn,
    ),
    "printer": (
        "Cannot print to 3rd floor Ricoh",
        "Print jobs stay in the queue and never come out.",
        "Re-added the printer through PaperCut and cleared the spooler.",
        Category.printing,
    ),
    "outlook": (
        "Outlook stuck on loading profile",
        "Outlook hangs at the splash screen every morning.",
        "Rebuilt the Outlook profile and removed the oversized OST file.",
        Category.email,
    ),
    "mfa": (
        "New phone, Okta Verify codes not working",
        "I switched phones and now the MFA push never arrives.",
        "Reset Okta Verify enrollment and re-registered the new device.",
        Category.access_accounts,
    ),
    "disk": (
        "C: drive full",
        "Windows says low disk space, only 200MB left.",
        "Ran Storage Sense and moved the Downloads folder to OneDrive.",
        Category.os,
    ),
    "phishing": (
        "Suspicious email asking for my password",
        "Got a mail pretending to be HR with a login link.",
        "Reported with the Phish Alert button; security blocked the sender.",
        Category.security,
    ),
    "dock": (
        "Monitors not detected on dock",
        "External screens stay black when docked.",
        "Updated the Dell dock firmware and the DisplayLink driver.",
        Category.hardware,
    ),
    "wifi": (
        "Wi-Fi NW-Corp keeps asking for certificate",
        "Laptop won't join the corporate wireless.",
        "Renewed the 802.1X machine certificate via Intune sync.",
        Category.network_vpn,
    ),
}

KEYWORD_QUERIES = {
    "vpn": "GlobalProtect VPN disconnects",
    "printer": "Ricoh print queue stuck",
    "outlook": "Outlook profile loading",
    "disk": "low disk space C: drive full",
}
PARAPHRASED_QUERIES = {
    "vpn": "the thing that lets me work from home keeps kicking me out",
    "mfa": "got a new mobile and the approval notification to sign in never shows up",
    "dock": "my two big screens stay dark when I plug the laptop into the desk station",
    "phishing": "weird message from someone claiming to be human resources wants my credentials",
}


@pytest.fixture
async def history(app, agent_context, admin) -> dict[str, str]:
    ids = {}
    for key, (title, description, fix, category) in HISTORY.items():
        ids[key] = str(
            await factories.resolved_ticket(
                app.state.runtime.sessionmaker,
                agent_context.embedder,
                owner_id=admin.id,
                title=title,
                description=description,
                resolution=fix,
                steps=[fix],
                category=category,
            )
        )
    await refresh_search_stats(app.state.runtime.sessionmaker, force=True)
    return ids


async def ranked(app, agent_context, query: str, mode: RetrievalMode) -> list[str]:
    retriever = Retriever(app.state.settings, agent_context.embedder)
    async with app.state.runtime.sessionmaker() as session:
        return [str(t.id) for t in await retriever.similar_tickets(session, query, mode=mode)]


async def test_vpn_disconnects_finds_the_resolved_vpn_ticket_first(
    app, agent_context, history
) -> None:
    for mode in RetrievalMode:
        hits = await ranked(app, agent_context, "VPN disconnects every few minutes", mode)
        assert hits[0] == history["vpn"], mode


@pytest.mark.parametrize("mode", list(RetrievalMode))
@pytest.mark.parametrize("key", list(KEYWORD_QUERIES))
async def test_keyword_queries_rank_first_in_every_mode(app, agent_context, history, mode, key):
    hits = await ranked(app, agent_context, KEYWORD_QUERIES[key], mode)
    assert hits and hits[0] == history[key]


@pytest.mark.parametrize("mode", [RetrievalMode.vector, RetrievalMode.hybrid])
@pytest.mark.parametrize("key", list(PARAPHRASED_QUERIES))
async def test_paraphrased_queries_rank_first_with_vectors(
    app, agent_context, history, mode, key
) -> None:
    hits = await ranked(app, agent_context, PARAPHRASED_QUERIES[key], mode)
    assert hits and hits[0] == history[key]


async def test_fulltext_alone_misses_paraphrases(app, agent_context, history) -> None:
    """The reason hybrid exists: without shared words full-text ranks the right ticket low."""
    firsts = [
        (await ranked(app, agent_context, query, RetrievalMode.fulltext) or [None])[0]
        == history[key]
        for key, query in PARAPHRASED_QUERIES.items()
    ]
    assert sum(firsts) < len(firsts)


async def test_public_comments_of_resolved_tickets_are_searched_internal_ones_never(
    app, client, agent_context, history, support
) -> None:
    await client.post(
        f"/api/v1/tickets/{history['disk']}/comments",
        json={"body": "Root cause was a runaway Teams cache of 40 GB"},
        headers=support.headers,
    )
    await client.post(
        f"/api/v1/tickets/{history['disk']}/comments",
        json={"body": "Staff only: the Zorblax licence server was rebooted", "internal": True},
        headers=support.headers,
    )
    for mode in (RetrievalMode.fulltext, RetrievalMode.hybrid):
        hits = await ranked(app, agent_context, "Teams cache huge", mode)
        assert hits[0] == history["disk"], mode
    assert await ranked(app, agent_context, "Zorblax licence server", RetrievalMode.fulltext) == []


async def test_unresolved_tickets_are_not_similar_tickets(app, client, agent_context, user):
    await client.post(
        "/api/v1/tickets",
        headers=user.headers,
        json={"title": "VPN disconnects", "description": "VPN drops"},
    )
    assert await ranked(app, agent_context, "VPN disconnects", RetrievalMode.hybrid) == []


async def test_the_halves_find_the_same_side_by_side_as_one_after_the_other(
    app, agent_context, history, sessionmaker
) -> None:
    """With a sessionmaker the full-text half runs in its own session beside the vector half."""
    in_turn = Retriever(app.state.settings, agent_context.embedder)
    side_by_side = Retriever(app.state.settings, agent_context.embedder, sessionmaker)
    for query in [*KEYWORD_QUERIES.values(), *PARAPHRASED_QUERIES.values()]:
        async with sessionmaker() as session:
            expected = await in_turn.similar_tickets(session, query)
            assert expected and await side_by_side.similar_tickets(session, query) == expected


async def test_the_side_session_gives_way_to_a_schema_change_instead_of_deadlocking(
    app, agent_context, history, sessionmaker
) -> None:
    """A run's session holds a read lock on tickets; a schema change queues behind it; the
    full-text half's own session then queues behind the change. Unbounded, the three would wait
    for ever (one edge of the cycle is in this process, so Postgres cannot break it)."""
    retriever = Retriever(app.state.settings, agent_context.embedder, sessionmaker)
    engine = app.state.runtime.engine

    async def schema_change() -> None:
        async with engine.connect() as conn, conn.begin() as transaction:
            await conn.execute(text("LOCK TABLE tickets IN ACCESS EXCLUSIVE MODE"))
            await transaction.rollback()

    async with sessionmaker() as session:
        await session.execute(select(Ticket.id).limit(1))  # the run's read lock, held
        change = asyncio.create_task(schema_change())
        await until(lambda: _lock_awaited(engine, "tickets"), "a lock wait on tickets", 30)
        with pytest.raises(sqlalchemy.exc.OperationalError, match="lock timeout"):
            await asyncio.wait_for(retriever.similar_tickets(session, "VPN disconnects"), 60)
        await session.rollback()  # the run's attempt fails and lets go
    await asyncio.wait_for(change, 60)  # the change went through


async def _lock_awaited(engine, table: str) -> bool:
    """Some session waits for a lock on `table`."""
    async with engine.connect() as conn:
        waiting = await conn.scalar(
            text(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
                " WHERE c.relname = :t AND NOT l.granted"
            ),
            {"t": table},
        )
    return bool(waiting)


async def test_side_by_side_cancels_the_other_half_when_one_fails() -> None:
    finished = []

    async def slow() -> list:
        await asyncio.sleep(0.05)
        finished.append("slow")
        return []

    async def failing() -> list:
        raise RuntimeError("connection lost")

    with pytest.raises(RuntimeError, match="connection lost"):
        await side_by_side(slow(), failing())
    await asyncio.sleep(0.1)
    assert finished == []  # cancelled, not left running on the caller's session


def test_weighted_rrf() -> None:
    a, b, c = "a", "b", "c"
    fused = fuse([a, b], [c, b], k=60, weight_vector=1.0, weight_fulltext=1.0, top_k=3)
    assert fused[0].id == b  # in both lists
    vector_only = fuse([a, b], [c, b], k=60, weight_vector=1.0, weight_fulltext=0.0, top_k=3)
    assert [h.id for h in vector_only][:2] == [a, b]
    assert fused[0].vector_rank == 2 and fused[0].fulltext_rank == 2


async def test_hits_keep_their_cosine_similarity_and_neighbours_their_category(
    app, agent_context, history
) -> None:
    retriever = Retriever(app.state.settings, agent_context.embedder)
    query = PARAPHRASED_QUERIES["dock"]
    async with app.state.runtime.sessionmaker() as session:
        hits = await retriever.similar_tickets(session, query)
        neighbours = await retriever.labelled_neighbours(session, query)
    by_vector = [h.similarity for h in hits if h.vector_rank is not None]
    assert by_vector and all(0 < s <= 1 for s in by_vector)
    assert all(h.similarity is None for h in hits if h.vector_rank is None)
    assert neighbours[0] == ("hardware", pytest.approx(max(by_vector), abs=1e-4))
    assert [s for _, s in neighbours] == sorted((s for _, s in neighbours), reverse=True)


def chunk_of(document_id: uuid.UUID) -> DocChunkHit:
    return DocChunkHit(uuid.uuid4(), document_id, "f.md", None, None, "", 0.0, None, None, None)


def test_per_document_keeps_each_documents_best_chunks_in_rank_order() -> None:
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    ranked = [chunk_of(d) for d in (a, a, b, a, c, b)]
    assert per_document(ranked, 1, 5) == [ranked[0], ranked[2], ranked[4]]
    assert per_document(ranked, 2, 5) == [ranked[0], ranked[1], ranked[2], ranked[4], ranked[5]]
    assert per_document(ranked, 2, 3) == ranked[:3]
    assert per_document(ranked, 5, 5) == ranked[:5]  # the old top_k chunks


PRINTER_FAQ = (
    b"# Printer FAQ\n\n## Toner\n\n"
    b"When the Ricoh printer shows toner low, order a cartridge in the service portal.\n"
)


async def test_kb_chunks_are_capped_per_document_each_by_its_best_chunk(
    sessionmaker, agent_context, settings
) -> None:
    """One guide's sections fill the plain top 5; a cap per document lets the other in."""
    for filename, data in (
        ("it-guide.md", documents.markdown_bytes(documents.IT_GUIDE)),
        ("printer-faq.md", PRINTER_FAQ),
    ):
        async with sessionmaker.begin() as session:
            await ingest_bytes(
                session=session,
                embedder=agent_context.embedder,
                settings=settings,
                filename=filename,
                data=data,
            )
    await refresh_search_stats(sessionmaker, force=True)

    async def doc_chunks(limit: int) -> list[DocChunkHit]:
        capped = settings.model_copy(update={"retrieval_chunks_per_document": limit})
        async with sessionmaker() as session:
            return await Retriever(capped, agent_context.embedder).doc_chunks(
                session, "the Ricoh printer says paper jam, what do I do?"
            )

    every = await doc_chunks(settings.retrieval_top_k)
    assert len(every) == settings.retrieval_top_k
    assert [h.filename for h in every].count("it-guide.md") >= settings.retrieval_top_k - 1
    one_each = await doc_chunks(1)
    assert [h.filename for h in one_each] == ["it-guide.md", "printer-faq.md"]
    assert one_each[0] == every[0] and one_each[0].heading_path == "Printing > Paper jams"
    default = await doc_chunks(settings.retrieval_chunks_per_document)
    assert settings.retrieval_chunks_per_document == 2
    assert default[:2] == every[:2]  # the two chunks the offline draft quotes are kept
    assert sorted(h.filename for h in default) == ["it-guide.md", "it-guide.md", "printer-faq.md"]


VPN_FROM_HOME = "my VPN keeps kicking me out when I work from home"
HOME_OFFICE = (
    "Working from home > Your home set-up",
    "Tips for working from home: a desk, a chair at the right height, your home router close by."
    " If your home connection keeps dropping, restart the router.",
)
CLIENT_UPGRADE = (
    "Remote access > GlobalProtect disconnects",
    "GlobalProtect VPN versions before 6.2 have a keep-alive bug that drops the connection every"
    " few minutes. Install version 6.2 from Company Portal, then reconnect.",
)


async def test_kb_search_takes_feedback_from_the_nearest_resolved_ticket(
    agent_context, history, sessionmaker, settings, admin
) -> None:
    """The requester's words are closer to a home-office page than to the VPN runbook; the
    resolved VPN ticket nearest to them ("Updated GlobalProtect to 6.2...") points at the
    runbook. Its similarity to the query stays the query's own."""
    for filename, section in (("home.md", HOME_OFFICE), ("globalprotect.md", CLIENT_UPGRADE)):
        await factories.kb_document(
            sessionmaker, agent_context.embedder, filename=filename, sections=[section]
        )
    await refresh_search_stats(sessionmaker, force=True)

    async def search(
        query: str, weight: float, exclude: uuid.UUID | None = None
    ) -> dict[str, float | None]:
        tuned = settings.model_copy(update={"retrieval_feedback_weight": weight})
        async with sessionmaker() as session:
            hits = await Retriever(tuned, agent_context.embedder).doc_chunks(
                session, query, exclude=exclude
            )
        return {h.filename: h.similarity for h in hits}

    plain = await search(VPN_FROM_HOME, 0)
    assert list(plain) == ["home.md", "globalprotect.md"]
    fed = await search(VPN_FROM_HOME, settings.retrieval_feedback_weight)
    assert list(fed) == ["globalprotect.md", "home.md"]
    assert fed == pytest.approx(plain)  # cosine to the query, not to the moved vector
    # The ticket being resolved never feeds back its own resolution.
    own = await search(VPN_FROM_HOME, 0.5, exclude=uuid.UUID(history["vpn"]))
    assert next(iter(own)) == "home.md"
    # Nothing resolved is close to these words (cosine ~0.26 to the VPN ticket): no feedback.
    vague = "the thing that lets me work from home keeps kicking me out"
    assert await search(vague, 0.5) == await search(vague, 0)
    # A resolution someone found not helpful no longer steers the search.
    async with sessionmaker.begin() as session:
        ticket = await session.get(Ticket, uuid.UUID(history["vpn"]))
        assert ticket is not None
        await FeedbackRepository(session).upsert(
            resolution_id=ticket.accepted_resolution_id,
            user_id=admin.id,
            verdict=Verdict.not_helpful,
            reason=FeedbackReason.outdated,
            comment=None,
        )
    assert next(iter(await search(VPN_FROM_HOME, 0.5))) == "home.md"
