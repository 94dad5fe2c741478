"""`inferra` CLI. Commands that touch the database start (or attach to) the embedded server
when DATABASE_URL is unset, exactly like the API does."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from core import migrate
from core.db import database_location
from core.errors import InferraError
from core.logging import configure_logging
from core.models import Role
from core.providers.embeddings import embedding_dimension
from core.settings import Environment, get_settings
from services.resources import Runtime
from services.runtime import open_runtime, prepare_database
from services.search_stats import refresh_search_stats

app = typer.Typer(help="Inferra: AI-assisted IT support backend.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations (Alembic).", no_args_is_help=True)
app.add_typer(db_app, name="db")

T = TypeVar("T")


SERVICES = {"serve", "worker"}  # long-running: they log at LOG_LEVEL; one-shot commands stay quiet


@app.callback()
def _setup(
    ctx: typer.Context,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show the log (stderr) of one-shot commands")
    ] = False,
) -> None:
    settings = get_settings()
    quiet = ctx.invoked_subcommand not in SERVICES and not verbose
    configure_logging("WARNING" if quiet else settings.log_level, json=settings.log_json)


def with_runtime(work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Open the runtime (database migrated to head) and run `work` on it."""

    async def _run() -> T:
        async with open_runtime(get_settings(), migrate_database=True, pool_size=2) as runtime:
            return await work(runtime)

    return asyncio.run(_run())


def in_transaction(work: Callable[[AsyncSession, Runtime], Awaitable[T]]) -> T:
    """Run `work` in one committed transaction of the runtime's database; then refresh the
    full-text term statistics if it changed enough of a corpus (seed-demo, ingest)."""

    async def _work(runtime: Runtime) -> T:
        async with runtime.sessionmaker.begin() as session:
            result = await work(session, runtime)
        await refresh_search_stats(runtime.sessionmaker)
        return result

    return with_runtime(_work)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address")] = None,
    port: Annotated[int | None, typer.Option(help="Port")] = None,
    reload: Annotated[bool, typer.Option(help="Auto-reload on code change (dev)")] = False,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="API processes on one port (default WEB_CONCURRENCY, 1)"),
    ] = None,
) -> None:
    """Start the API (migrates the database first)."""
    import os

    import uvicorn

    settings = get_settings()
    workers = workers or settings.web_concurrency
    if workers > 1:
        prepare_database(settings)  # once, here, rather than in every process at the same time
        os.environ["MIGRATE_ON_START"] = "false"  # the worker processes read it
    uvicorn.run(
        "api.main:app_factory",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        reload=reload,
        workers=None if reload else workers,
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
    from services.users import create_user

    try:
        user = in_transaction(
            lambda s, _: create_user(session=s, email=email, password=password, role=Role.admin)
        )
    except InferraError as exc:
        hint = ""
        if exc.code == "user_exists":
            hint = f"; to reset its password: inferra set-password --email {email}"
        _fail(f"{exc.message}{hint}")
    typer.echo(f"admin created: {user.email} ({user.id})")


@app.command("set-password")
def set_password(
    email: Annotated[str, typer.Option(help="The account's email")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="INFERRA_NEW_PASSWORD",
            help="At least 8 characters (or INFERRA_NEW_PASSWORD)",
        ),
    ],
) -> None:
    """Set a new password for an existing account (e.g. a forgotten admin password)."""
    from services.users import reset_password

    try:
        user = in_transaction(
            lambda s, _: reset_password(session=s, email=email, password=password)
        )
    except InferraError as exc:
        _fail(exc.message)
    typer.echo(f"password set: {user.email}")


def _fail(message: str) -> NoReturn:
    """One line on stderr, exit code 1: what a person at a terminal expects of an error."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1)


@app.command("seed-demo")
def seed_demo() -> None:
    """Load demo users, a small knowledge base, resolved past tickets and two open tickets.
    Refused with INFERRA_ENV=production: the demo accounts have a published password."""
    from inferra.demo import seed

    if get_settings().inferra_env is Environment.production:
        _fail(
            "seed-demo creates accounts with a published password; it is refused "
            "with INFERRA_ENV=production"
        )

    summary = in_transaction(seed)
    for line in summary:
        typer.echo(line)
    typer.echo(
        "the open tickets are resolved by the worker of `inferra serve` (or `inferra worker`)"
    )


@app.command()
def worker(
    once: Annotated[bool, typer.Option(help="Process the queued jobs, then exit")] = False,
    concurrency: Annotated[int | None, typer.Option(min=1, help="Jobs at a time")] = None,
) -> None:
    """Process queued runs and document ingests (scales out `serve`'s embedded worker; with
    WORKER_ENABLED=false on `serve`, these do all the work). Stops gracefully on SIGTERM."""
    from services.worker import drain, run_worker_until_stopped

    async def _work(runtime: Runtime) -> None:
        if once:
            typer.echo(f"processed {await drain(runtime)} job(s)")
            return
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):  # stop gracefully: running jobs finish
            loop.add_signal_handler(signum, task.cancel)
        options = {"concurrency": concurrency} if concurrency else {}
        try:
            await run_worker_until_stopped(runtime, **options)
        except asyncio.CancelledError:
            task.uncancel()
            typer.echo("worker stopped", err=True)

    with_runtime(_work)


@app.command()
def ingest(paths: list[Path]) -> None:
    """Ingest files or folders (recursive) into the knowledge base: .pdf .docx .md .txt .html."""
    from rich.console import Console

    from ingestion.pipeline import ingest_paths

    console = Console()
    summary = in_transaction(
        lambda session, runtime: ingest_paths(
            session, paths, embedder=runtime.embedder, settings=runtime.settings, console=console
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
