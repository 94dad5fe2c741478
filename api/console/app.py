"""Mounts the console on the FastAPI app: static files, CSRF, the offline docs, the pages."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from api.console import auth_pages, docs, insights, kb, requester, staff
from api.console.csrf import install_csrf
from api.console.web import HERE, install_page_errors
from core.settings import Settings

# Uploads on the knowledge-base page have their own limits, as the API's upload route.
CONSOLE_UPLOAD_PATH = "/console/kb/upload"


def install_console(app: FastAPI, settings: Settings) -> None:
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    install_csrf(app, settings)
    install_page_errors(app)
    app.include_router(docs.router)
    for pages in (auth_pages, requester, staff, kb, insights):
        app.include_router(pages.router)

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/console")
