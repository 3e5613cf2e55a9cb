"""`simgap annotate`: code every user turn of stored sessions with the behavioural codebook."""

from __future__ import annotations

import asyncio
from typing import Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from simgap.cli.common import console, split_csv
from simgap.errors import ConfigError


class _Bar:
    """Rich progress for `annotate_store` (implements its AnnotateProgress)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None
        self.missing = 0

    def started(self, total: int, already_done: int) -> None:
        self.task = self.progress.add_task(
            "annotating", total=total, completed=already_done, stats=""
        )
        if already_done:
            self.progress.console.print(
                f"resuming: {already_done} of {total} sessions already annotated, skipped"
            )

    def session_done(self, session_id: str, n_turns: int, n_missing: int) -> None:
        self.missing += n_missing
        if self.task is not None:
            stats = f"[red]{self.missing} turns missing[/]" if self.missing else ""
            self.progress.update(self.task, advance=1, stats=stats)


def _make_annotator(spec: str, *, api_base: str | None, max_retries: int, cache: bool) -> Any:
    from simgap.annotate.rules import RuleAnnotator

    if spec == "rules":
        return RuleAnnotator()
    if not spec.startswith("llm:") or not spec[4:].strip():
        raise ConfigError(f"--annotator must be 'rules' or 'llm:<model>', got {spec!r}")
    from simgap.annotate.llm_annotator import LLMAnnotator
    from simgap.llm.base import ModelConfig

    try:
        from simgap.llm.cache import ResponseCache
        from simgap.llm.factory import make_client
    except ImportError as e:  # pragma: no cover - depends on the llm stage being installed
        raise ConfigError(f"the LLM annotator needs simgap.llm ({e})") from None
    config = ModelConfig(model=spec[4:].strip(), api_base=api_base, temperature=0.0)
    client = make_client(config, cache=ResponseCache() if cache else None)
    return LLMAnnotator(client, max_retries=max_retries)


def annotate(
    db: str = typer.Option("runs.db", "--db", help="Store: SQLite file or database URL."),
    annotator: str = typer.Option(
        "rules", "--annotator", "-a", help="'rules' (no model) or 'llm:<litellm model id>'."
    ),
    user_kind: str = typer.Option(None, "--user-kind", help="Only human or simulator sessions."),
    user: str = typer.Option(None, "--user", help="Comma-separated participant/simulator ids."),
    batch: str = typer.Option(None, "--batch", help="Comma-separated batch labels."),
    domain: str = typer.Option(None, "--domain", help="Only this domain."),
    api_base: str = typer.Option(None, "--api-base", help="OpenAI-compatible endpoint (llm)."),
    concurrency: int = typer.Option(
        4, "--concurrency", "-c", min=1, help="Sessions in parallel (llm)."
    ),
    max_retries: int = typer.Option(
        2, "--max-retries", help="Re-asks after an invalid answer before a turn is missing."
    ),
    limit: int = typer.Option(None, "--limit", help="Annotate at most N sessions this run."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Bypass the response cache (llm)."),
    failures: bool = typer.Option(
        False,
        "--failures",
        help="Instead of coding turns, label each failed session with who caused it (agent, "
        "user/simulator, environment) and its evidence turn: rules, or with --annotator "
        "llm:<model> an LLM judge. `simgap score` uses the stored labels.",
    ),
    scenarios: bool = typer.Option(
        True,
        "--scenarios/--no-scenarios",
        help="With --failures: load the τ² tasks so the rules and the judge see each user's "
        "scenario (contradictions, out-of-task requests).",
    ),
) -> None:
    """Code each user turn of finished sessions (codebook v1) and store the annotations.

    Resumable: sessions already annotated with the same annotator and codebook version are
    skipped, and each session is written in one transaction as soon as it is done, so Ctrl-C
    loses nothing finished. Invalid LLM answers are retried, then stored as missing.

    Examples:

        simgap annotate --db runs.db

        simgap annotate --db runs.db --annotator llm:openai/gpt-4o-mini --user-kind human

        simgap annotate --db runs.db --failures --user-kind simulator
    """
    from simgap.annotate.runner import annotate_store
    from simgap.models import UserKind
    from simgap.store import SessionFilter, Store

    try:
        kind = UserKind(user_kind) if user_kind else None
    except ValueError:
        raise ConfigError(f"--user-kind must be human or simulator, got {user_kind!r}") from None
    flt = SessionFilter(
        domain=domain,
        user_kind=kind,
        user_ids=split_csv(user) if user else (),
        batches=split_csv(batch) if batch else (),
    )
    if failures:
        _failures(db, annotator, flt, api_base, max_retries, not no_cache, scenarios, limit)
        return
    ann = _make_annotator(annotator, api_base=api_base, max_retries=max_retries, cache=not no_cache)
    store = Store(db)
    console.print(f"annotator {ann.name}, codebook v{ann.codebook_version}, store {db}")
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[stats]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )

    async def go() -> Any:
        try:
            return await annotate_store(
                store, ann, flt, concurrency=concurrency, progress=_Bar(progress), limit=limit
            )
        finally:
            await ann.aclose()

    with progress:
        summary = asyncio.run(go())
    t = Table(title="simgap annotate", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    t.add_row("annotator", f"{summary.annotator} (codebook v{summary.codebook_version})")
    t.add_row(
        "sessions",
        f"{summary.annotated} annotated now, {summary.already_done} earlier, "
        f"{summary.selected} selected (finished only)",
    )
    t.add_row("user turns", f"{summary.turns} coded, {summary.missing_turns} missing")
    u = summary.usage
    if u.calls or u.cached_calls or u.total_tokens:
        t.add_row("model calls", f"{u.calls} ({u.cached_calls} from cache), ${u.cost_usd:.4f}")
    t.add_row("wall time", f"{summary.wall_s:.1f} s")
    console.print(t)


def _tasks(store: Any, flt: Any) -> dict[str, Any]:
    """The τ² tasks of the selected sessions' domains, by `<domain>/<task_id>` (best effort)."""
    from simgap.domains import load_tasks

    out: dict[str, Any] = {}
    domains = sorted({s.domain for s in store.iter_sessions(flt, with_turns=False)})
    for d in domains:
        try:
            out.update({t.key: t for t in load_tasks(d, split=None)})
        except Exception as e:  # scenarios are optional: say so, go on
            console.print(f"[yellow]note[/] no scenarios for domain {d!r} ({e}); rules without")
    return out


def _failures(
    db: str,
    annotator: str,
    flt: Any,
    api_base: str | None,
    max_retries: int,
    cache: bool,
    scenarios: bool,
    limit: int | None,
) -> None:
    from simgap.annotate.failure_runner import attribute_store
    from simgap.store import Store

    judge = None
    if annotator != "rules":
        if not annotator.startswith("llm:") or not annotator[4:].strip():
            raise ConfigError(f"--annotator must be 'rules' or 'llm:<model>', got {annotator!r}")
        from simgap.annotate.failure_judge import FailureJudge
        from simgap.llm.base import ModelConfig
        from simgap.llm.cache import ResponseCache
        from simgap.llm.factory import make_client

        config = ModelConfig(model=annotator[4:].strip(), api_base=api_base, temperature=0.0)
        judge = FailureJudge(
            make_client(config, cache=ResponseCache() if cache else None), max_retries=max_retries
        )
    store = Store(db)
    tasks = _tasks(store, flt) if scenarios else {}

    async def go() -> Any:
        try:
            return await attribute_store(store, judge, flt, tasks=tasks, limit=limit)
        finally:
            if judge is not None:
                await judge.aclose()

    with console.status("labelling failed sessions…"):
        summary = asyncio.run(go())
    store.close()
    causes = ", ".join(f"{k} {v}" for k, v in sorted(summary.by_cause.items())) or "-"
    console.print(
        f"failure attribution by {summary.labeller}: {summary.labelled} labelled now "
        f"({causes}), {summary.already_done} earlier; {summary.failed} failed of "
        f"{summary.selected} finished sessions"
        + (
            f"; judge gave no valid answer for {summary.judge_failed} (rule label stored)"
            if summary.judge_failed
            else ""
        ),
        highlight=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    """Add `simgap annotate`."""
    app.command("annotate")(annotate)
