"""`inferra` CLI. Commands that touch the database start (or attach to) the embedded server
when DATABASE_URL is unset, exactly like the API does."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from core import migrate
from core.db import DatabaseUrls, create_engine, create_sessionmaker, database_location
from core.errors import InferraError
from core.logging import configure_logging
from core.models import Role
from core.providers.embeddings import embedding_dimension
from core.settings import get_settings

app = typer.Typer(help="Inferra: AI-assisted IT support backend.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations (Alembic).", no_args_is_help=True)
app.add_typer(db_app, name="db")

T = TypeVar("T")


@app.callback()
def _setup() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json)


def run_in_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Open the database (migrated to head), run `work` in one committed transaction."""
    settings = get_settings()

    async def _run(urls: DatabaseUrls) -> T:
        engine = create_engine(urls, pool_size=2)
        try:
            async with create_sessionmaker(engine).begin() as session:
                return await work(session)
        finally:
            await engine.dispose()

    with database_location(settings) as urls:
        migrate.upgrade(urls, embedding_dim=embedding_dimension(settings))
        return asyncio.run(_run(urls))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address")] = None,
    port: Annotated[int | None, typer.Option(help="Port")] = None,
    reload: Annotated[bool, typer.Option(help="Auto-reload on code change (dev)")] = False,
) -> None:
    """Start the API (migrates the database first)."""
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        "api.main:app_factory",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        reload=reload,
        log_config=None,
        access_log=False,
    )


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations up to REVISION (default: head)."""
    settings = get_settings()
    with database_location(settings) as urls:
        migrate.upgrade(urls, revision, embedding_dim=embedding_dimension(settings))
    typer.echo(f"database at {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: str = "-1") -> None:
    """Revert migrations down to REVISION (default: one step)."""
    with database_location(get_settings()) as urls:
        migrate.downgrade(urls, revision)
    typer.echo(f"database downgraded to {revision}")


@app.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(help="Admin email")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            envvar="INFERRA_ADMIN_PASSWORD",
            help="At least 8 characters (or INFERRA_ADMIN_PASSWORD)",
        ),
    ],
) -> None:
    """Create an admin account: the only way to obtain the first admin."""
    from api.users.service import create_user

    try:
        user = run_in_session(
            lambda s: create_user(session=s, email=email, password=password, role=Role.admin)
        )
    except (InferraError, ValueError) as exc:
        typer.echo(f"error: {getattr(exc, 'message', exc)}", err=True)
        raise typer.Exit(code=1) from exc
    typer.echo(f"admin created: {user.email} ({user.id})")


@app.command("seed-demo")
def seed_demo() -> None:
    """Load demo users, a small knowledge base, resolved past tickets and two open tickets."""
    from core.providers.embeddings import create_embedder
    from inferra.demo import seed

    embedder = create_embedder(get_settings())
    summary = run_in_session(lambda session: seed(session, embedder))
    for line in summary:
        typer.echo(line)
    typer.echo(
        "the open tickets are resolved by the worker of `inferra serve` (or `inferra worker`)"
    )


@app.command()
def worker(
    once: Annotated[bool, typer.Option(help="Process the queued runs, then exit")] = False,
    concurrency: Annotated[int | None, typer.Option(help="Runs at a time")] = None,
) -> None:
    """Run agent runs from the queue (extra workers scale out `serve`'s in-process one)."""
    from inferra.worker import run_worker

    processed = asyncio.run(run_worker(get_settings(), once=once, concurrency=concurrency))
    if once:
        typer.echo(f"processed {processed} run(s)")


@app.command()
def ingest(paths: list[Path]) -> None:
    """Ingest files or folders (recursive) into the knowledge base: .pdf .docx .md .txt .html."""
    from rich.console import Console

    from core.providers.embeddings import create_embedder
    from ingestion.pipeline import ingest_paths

    settings, console = get_settings(), Console()
    summary = run_in_session(
        lambda session: ingest_paths(
            session, paths, embedder=create_embedder(settings), settings=settings, console=console
        )
    )
    console.print(summary.as_table())
    if summary.failures:
        console.print(summary.failures_table())
        raise typer.Exit(code=1)


@app.command("eval")
def eval_(
    dataset: Annotated[
        Path | None, typer.Option(help="Dataset folder (default evals/datasets/it_support_v1)")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N cases")] = None,
    no_web: Annotated[bool, typer.Option("--no-web", help="Disable web search")] = False,
    judge: Annotated[
        bool, typer.Option("--judge", help="LLM judge for coverage (needs GEMINI_API_KEY)")
    ] = False,
    retrieval_only: Annotated[
        bool, typer.Option("--retrieval-only", help="Only the retrieval ablation, no graph run")
    ] = False,
    modes: Annotated[
        str | None, typer.Option(help="Ablation modes, e.g. vector,fulltext,hybrid")
    ] = None,
    fulltext_weights: Annotated[
        str | None, typer.Option(help="Ablation: hybrid at these FUSION_WEIGHT_FULLTEXT values")
    ] = None,
    compare: Annotated[
        tuple[Path, Path] | None, typer.Option(help="Compare two results folders A B (no run)")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Results folder (default evals/results/<UTC time>)")
    ] = None,
) -> None:
    """Evaluate the agent on a dataset in a fresh database; results in evals/results/."""
    from rich.console import Console

    from evals.command import DEFAULT_DATASET, EvalOptions, main

    options = EvalOptions(
        dataset=dataset or DEFAULT_DATASET,
        limit=limit,
        no_web=no_web,
        judge=judge,
        retrieval_only=retrieval_only,
        modes=modes,
        fulltext_weights=fulltext_weights,
        compare=compare,
        out=out,
    )
    raise typer.Exit(code=main(options, Console()))
