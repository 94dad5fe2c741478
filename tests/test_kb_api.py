"""The knowledge-base API over HTTP: uploads with their limits and per-file isolation, staff-only
access, the document list/detail/delete, and the agent's search with its scores."""

from __future__ import annotations

import uuid

import httpx
import pytest

from core.models import Role
from tests import documents as docs
from tests.conftest import assert_error_shape

INGEST = "/api/v1/llm/ingest_doc/"
DOCUMENTS = "/api/v1/kb/documents"
SEARCH = "/api/v1/kb/search"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


async def upload(client: httpx.AsyncClient, actor, *files: tuple[str, bytes]) -> httpx.Response:
    return await client.post(
        INGEST,
        files=[("files", (name, data, "application/octet-stream")) for name, data in files],
        headers=actor.headers if actor else {},
    )


async def test_upload_every_format_then_list_and_read_them(client, support) -> None:
    response = await upload(
        client,
        support,
        ("guide.pdf", docs.pdf_bytes(docs.IT_GUIDE)),
        ("guide.docx", docs.docx_bytes(docs.IT_GUIDE)),
        ("guide.md", docs.markdown_bytes(docs.IT_GUIDE)),
        ("guide.html", docs.html_bytes(docs.IT_GUIDE)),
        ("guide.txt", docs.text_bytes(docs.IT_GUIDE)),
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [(r["filename"], r["status"], r["chunks"], r["pages"]) for r in results] == [
        ("guide.pdf", "ingested", 6, 3),
        ("guide.docx", "ingested", 6, None),
        ("guide.md", "ingested", 6, None),
        ("guide.html", "ingested", 6, None),
        ("guide.txt", "ingested", 1, None),
    ]

    listed = (await client.get(DOCUMENTS, headers=support.headers)).json()
    assert listed["total"] == 5
    assert {d["filename"]: d["mime"] for d in listed["items"]}["guide.docx"].endswith(
        "wordprocessingml.document"
    )
    assert all(d["status"] == "ready" and d["error"] is None for d in listed["items"])
    page = (await client.get(f"{DOCUMENTS}?page=2&page_size=2", headers=support.headers)).json()
    assert len(page["items"]) == 2 and page["total"] == 5

    pdf_id = results[0]["document_id"]
    detail = (await client.get(f"{DOCUMENTS}/{pdf_id}", headers=support.headers)).json()
    assert detail["filename"] == "guide.pdf" and detail["chunk_count"] == 6
    assert [(c["ordinal"], c["heading_path"], c["page"]) for c in detail["chunks"]] == [
        (0, "VPN", 1),
        (1, "VPN > Disconnects", 1),
        (2, "Printing", 2),
        (3, "Printing > Paper jams", 2),
        (4, "Email", 3),
        (5, "Email > Outlook stuck loading profile", 3),
    ]
    assert "green reset button" in detail["chunks"][3]["text"]


async def test_list_is_newest_first(client, admin) -> None:
    for name in ("first.md", "second.md"):
        await upload(client, admin, (name, f"# {name}\n\nbody of {name}".encode()))
    listed = (await client.get(DOCUMENTS, headers=admin.headers)).json()
    assert [d["filename"] for d in listed["items"]] == ["second.md", "first.md"]


async def test_staff_only_users_get_403_and_anonymous_401(client, make_actor) -> None:
    user = await make_actor(Role.user)
    some_id = uuid.uuid4()
    calls = [
        ("POST", INGEST),
        ("GET", DOCUMENTS),
        ("GET", f"{DOCUMENTS}/{some_id}"),
        ("DELETE", f"{DOCUMENTS}/{some_id}"),
        ("GET", f"{SEARCH}?q=vpn"),
    ]
    for method, url in calls:
        files = [("files", ("a.md", b"# A\n\ntext", "text/markdown"))] if method == "POST" else None
        anonymous = await client.request(method, url, files=files)
        assert_error_shape(anonymous, 401)
        forbidden = await client.request(method, url, files=files, headers=user.headers)
        assert_error_shape(forbidden, 403, "forbidden")
    assert (await client.get(DOCUMENTS, headers=(await make_actor(Role.admin)).headers)).json()[
        "total"
    ] == 0  # nothing was ingested by the refused uploads


@pytest.mark.parametrize(
    ("filename", "data", "status", "code"),
    [
        ("diagram.pdf", PNG, 415, "unsupported_media_type"),
        ("setup.exe", b"MZ\x90\x00", 415, "unsupported_media_type"),
        ("broken.pdf", b"%PDF-1.4\n" + bytes(range(256)) * 4, 422, "corrupt_document"),
        ("locked.pdf", docs.encrypted_pdf_bytes(docs.IT_GUIDE), 422, "corrupt_document"),
    ],
)
async def test_a_refused_single_file_is_the_error(client, support, filename, data, status, code):
    response = await upload(client, support, (filename, data))
    error = assert_error_shape(response, status, code)
    assert filename in error["message"]
    assert error["details"]["results"][0]["status"] == "failed"
    assert (await client.get(DOCUMENTS, headers=support.headers)).json()["total"] == 0


async def test_a_file_over_the_size_limit_is_413_and_fails_alone(
    client, support, settings, monkeypatch
) -> None:
    monkeypatch.setattr(settings, "ingest_max_file_bytes", 4000)
    big = ("big.md", b"# Big\n\n" + b"lorem ipsum " * 1000)
    alone = await upload(client, support, big)
    assert "big.md" in assert_error_shape(alone, 413, "payload_too_large")["message"]

    mixed = await upload(client, support, big, ("small.md", b"# Small\n\nfits"))
    assert mixed.status_code == 200
    assert [(r["filename"], r["status"]) for r in mixed.json()["results"]] == [
        ("big.md", "failed"),
        ("small.md", "ingested"),
    ]
    assert mixed.json()["results"][0]["error"]["code"] == "payload_too_large"


async def test_a_request_over_the_request_limit_is_413_before_it_is_read(
    client, support, settings, monkeypatch
) -> None:
    monkeypatch.setattr(settings, "ingest_max_request_bytes", 1000)
    files = [(f"part{i}.md", b"# Part\n\n" + b"x " * 30_000) for i in range(3)]
    response = await upload(client, support, *files)
    assert "per-request limit" in assert_error_shape(response, 413, "payload_too_large")["message"]


async def test_a_streamed_request_is_cut_off_at_the_request_limit(
    client, support, settings, monkeypatch
) -> None:
    monkeypatch.setattr(settings, "ingest_max_request_bytes", 1000)
    encoded = httpx.Request(
        "POST", INGEST, files=[("files", ("a.md", b"# A\n\n" + b"x " * 60_000))]
    )
    body = encoded.read()

    async def chunked():  # no Content-Length: only counting the bytes can stop it
        for start in range(0, len(body), 16_384):
            yield body[start : start + 16_384]

    headers = {**support.headers, "content-type": encoded.headers["content-type"]}
    response = await client.post(INGEST, content=chunked(), headers=headers)
    assert_error_shape(response, 413, "payload_too_large")


async def test_no_files_is_422(client, support) -> None:
    response = await client.post(INGEST, data={"note": "no file"}, headers=support.headers)
    assert_error_shape(response, 422, "validation_error")


async def test_a_corrupt_pdf_fails_alone_while_the_others_are_ingested(client, support) -> None:
    response = await upload(
        client,
        support,
        ("guide.md", docs.markdown_bytes(docs.IT_GUIDE)),
        ("broken.pdf", b"%PDF-1.4 garbage"),
        ("manual.pdf", docs.pdf_bytes(docs.IT_GUIDE[:2])),
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [(r["filename"], r["status"]) for r in results] == [
        ("guide.md", "ingested"),
        ("broken.pdf", "failed"),
        ("manual.pdf", "ingested"),
    ]
    assert results[1]["error"]["code"] == "corrupt_document"
    assert "broken.pdf" in results[1]["error"]["message"]
    listed = (await client.get(DOCUMENTS, headers=support.headers)).json()
    assert {d["filename"] for d in listed["items"]} == {"guide.md", "manual.pdf"}


async def test_duplicate_then_replace_on_change(client, support) -> None:
    v1 = b"# VPN\n\n## Disconnects\n\nInstall GlobalProtect 6.2 to stop the drops.\n"
    v2 = b"# VPN\n\n## Disconnects\n\nInstall GlobalProtect 7.1; version 6.2 is withdrawn.\n"
    first = (await upload(client, support, ("vpn.md", v1))).json()["results"][0]
    again = (await upload(client, support, ("vpn.md", v1))).json()["results"][0]
    assert (again["status"], again["document_id"]) == ("duplicate", first["document_id"])

    changed = (await upload(client, support, ("vpn.md", v2))).json()["results"][0]
    assert changed["status"] == "replaced" and changed["document_id"] != first["document_id"]
    assert_error_shape(
        await client.get(f"{DOCUMENTS}/{first['document_id']}", headers=support.headers), 404
    )
    hits = await search(client, support, "which GlobalProtect version fixes the VPN drops")
    assert {h["document_id"] for h in hits} == {changed["document_id"]}
    assert "7.1" in hits[0]["text"]


async def test_delete_removes_the_document_and_its_chunks(client, admin) -> None:
    [result] = (
        await upload(client, admin, ("guide.md", docs.markdown_bytes(docs.IT_GUIDE)))
    ).json()["results"]
    url = f"{DOCUMENTS}/{result['document_id']}"
    assert (await client.delete(url, headers=admin.headers)).status_code == 204
    assert_error_shape(await client.get(url, headers=admin.headers), 404)
    assert_error_shape(await client.delete(url, headers=admin.headers), 404)
    assert await search(client, admin, "paper jam") == []


@pytest.mark.parametrize("mode", ["hybrid", "vector", "fulltext"])
async def test_search_ranks_the_answering_chunk_first(client, support, mode) -> None:
    await upload(client, support, ("it-guide.pdf", docs.pdf_bytes(docs.IT_GUIDE)))
    question = "the Ricoh printer says paper jam, what do I do?"
    response = await client.get(
        SEARCH, params={"q": question, "mode": mode}, headers=support.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mode"] == mode and body["query"] == question
    top = body["hits"][0]
    assert (top["filename"], top["heading_path"], top["page"]) == (
        "it-guide.pdf",
        "Printing > Paper jams",
        2,
    )
    assert "green reset button" in top["text"] and top["score"] > 0
    if mode != "fulltext":
        assert top["vector_rank"] == 1
    if mode != "vector":
        assert top["fulltext_rank"] is not None


async def test_search_validates_its_query(client, support) -> None:
    assert_error_shape(await client.get(SEARCH, headers=support.headers), 422)
    assert_error_shape(
        await client.get(SEARCH, params={"q": "vpn", "mode": "magic"}, headers=support.headers),
        422,
    )


async def search(client: httpx.AsyncClient, actor, q: str) -> list[dict]:
    response = await client.get(SEARCH, params={"q": q}, headers=actor.headers)
    assert response.status_code == 200, response.text
    return response.json()["hits"]
