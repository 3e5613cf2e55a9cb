"""`simgap feedback`: simulators answer the post-interaction questionnaire people answer."""

from __future__ import annotations

import typer

from simgap.cli.common import console


def feedback(
    db: str = typer.Option("runs.db", "--db", help="Store: SQLite file or database URL."),
    simulator: list[str] = typer.Option(
        ...,
        "--simulator",
        "-s",
        help="Simulator whose sessions get a questionnaire (repeatable; as stored, e.g. "
        "gpt-4o or tau2:openai/gpt-4o).",
    ),
    model: str = typer.Option(None, "--model", help="Answering model override (litellm id)."),
    api_base: str = typer.Option(None, "--api-base", help="Endpoint for --model."),
    concurrency: int = typer.Option(
        4, "--concurrency", "-c", min=1, help="Questionnaires at once."
    ),
    per_item: bool = typer.Option(
        False, "--per-item", help="Ask one question at a time (models that cannot hold JSON)."
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not use the response cache."),
) -> None:
    """Each finished session of the simulator without its questionnaire gets one (resumable).

    Example: simgap feedback --db runs.db -s local -s standin
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

    from simgap.feedback import collect_feedback
    from simgap.llm.base import ModelConfig
    from simgap.store import Store

    over = {k: v for k, v in {"model": model, "api_base": api_base}.items() if v}
    cfg = ModelConfig.model_validate(over) if over else None
    store = Store(db)
    try:
        for name in simulator:
            columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
            with Progress(*columns, console=console, transient=True) as bar:
                task = bar.add_task(f"questionnaires: {name}", total=None)

                def tick(done: int, total: int, t: TaskID = task) -> None:
                    bar.update(t, completed=done, total=total)

                s = collect_feedback(
                    store,
                    simulator=name,
                    model=cfg,
                    concurrency=concurrency,
                    use_cache=not no_cache,
                    per_item=per_item,
                    progress=tick,
                )
            how = ", ".join(f"{k} {v}" for k, v in sorted(s.methods.items())) or "-"
            console.print(
                f"{name}: {s.answered} answered now ({how}), {s.already} earlier, "
                f"{len(s.failed)} failed, of {s.sessions} finished sessions; "
                f"{s.usage.calls} model calls, ${s.usage.cost_usd:.4f}, {s.wall_s:.1f} s",
                highlight=False,
            )
            for sid, err in s.failed[:5]:
                console.print(f"  [red]failed[/] {sid}: {err}", highlight=False)
            if len(s.failed) > 5:
                console.print(f"  [red]… and {len(s.failed) - 5} more[/]; rerun to retry them")
    finally:
        store.close()


def register(app: typer.Typer) -> None:
    """Add `simgap feedback`."""
    app.command("feedback")(feedback)
