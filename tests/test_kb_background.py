"""Large uploads are queued (202) and ingested by the worker; their status shows progress."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import assert_error_shape
from tests.test_kb_api import DOCUMENTS, SEARCH, upload

RUNBOOK = (
    b"# Wi-Fi\n\n## Guest access\n\nThe guest network NW-Guest needs a daily voucher from the "
    b"reception desk; vouchers expire at midnight.\n"
)


@pytest.fixture
def background_over_100_bytes(app) -> Iterator[None]:
    settings = app.state.settings
    previous = settings.ingest_background_bytes
    settings.ingest_background_bytes = 100
    yield
    settings.ingest_background_bytes = previous


async def test_a_large_upload_is_queued_then_ingested_by_the_worker(
    client, support, drain, background_over_100_bytes
) -> None:
    response = await upload(client, support, ("wifi.md", RUNBOOK), ("small.md", b"# Tiny\n\nok"))
    assert response.status_code == 202, response.text
    by_name = {r["filename"]: r for r in response.json()["results"]}
    assert by_name["wifi.md"]["status"] == "queued" and by_name["small.md"]["status"] == "ingested"
    job = by_name["wifi.md"]["document_id"]
    queued = (await client.get(f"{DOCUMENTS}/{job}", headers=support.headers)).json()
    assert queued["status"] == "queued" and queued["chunks"] == []

    assert await drain() == 1
    ready = (await client.get(f"{DOCUMENTS}/{job}", headers=support.headers)).json()
    assert (
        ready["status"] == "ready" and ready["chunks"][0]["heading_path"] == "Wi-Fi > Guest access"
    )
    found = (
        await client.get(SEARCH, params={"q": "guest wifi voucher"}, headers=support.headers)
    ).json()
    assert found["hits"][0]["filename"] == "wifi.md"


async def test_a_queued_corrupt_file_fails_with_its_error(
    client, support, drain, background_over_100_bytes
) -> None:
    corrupt = b"%PDF-1.4\n" + b"garbage " * 40
    response = await upload(client, support, ("broken.pdf", corrupt))
    assert response.status_code == 202
    job = response.json()["results"][0]["document_id"]
    await drain()
    failed = (await client.get(f"{DOCUMENTS}/{job}", headers=support.headers)).json()
    assert failed["status"] == "failed" and "broken.pdf" in failed["error"]


async def test_queued_uploads_are_still_checked_for_type_at_once(
    client, support, background_over_100_bytes
) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(400)
    assert_error_shape(await upload(client, support, ("image.pdf", png)), 415)


async def test_a_queued_new_version_replaces_the_old_one(
    client, support, drain, background_over_100_bytes
) -> None:
    old = (await upload(client, support, ("wifi.md", b"# Wi-Fi\n\nold"))).json()
    response = await upload(client, support, ("wifi.md", RUNBOOK))
    assert response.status_code == 202
    await drain()
    listed = (await client.get(DOCUMENTS, headers=support.headers)).json()
    assert [d["filename"] for d in listed["items"]] == ["wifi.md"]
    assert listed["items"][0]["id"] != old["results"][0]["document_id"]


async def test_a_queued_upload_gets_the_same_name_checks(
    client, support, background_over_100_bytes
) -> None:
    long_name = "x" * 300 + ".md"
    assert_error_shape(
        await upload(client, support, (long_name, RUNBOOK)), 422, "filename_too_long"
    )


async def test_a_failed_document_can_be_uploaded_again(
    client, support, drain, background_over_100_bytes
) -> None:
    corrupt = b"%PDF-1.4\n" + b"garbage " * 40
    await upload(client, support, ("broken.pdf", corrupt))
    await drain()
    again = await upload(client, support, ("broken.pdf", corrupt))
    assert again.status_code == 202, again.text
    assert again.json()["results"][0]["status"] == "queued"  # not "duplicate" of the failure
