"""`simgap feedback`: simulators answer the post-interaction questionnaire people answer."""

from __future__ import annotations

import typer

from simgap.cli.common import console


def feedback(
    db: str = typer.Option("runs.db", "--db", help="Store: SQLite file or database URL."),
    simulator: list[str] = typer.Option(
        ..., "--simulator", "-s", help="Preset whose sessions get a questionnaire (repeatable)."
    ),
    model: str = typer.Option(None, "--model", help="Model override (litellm id or local)."),
    api_base: str = typer.Option(None, "--api-base", help="Endpoint for --model."),
    concurrency: int = typer.Option(4, "--concurrency", "-c", help="Questionnaires at once."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not use the response cache."),
) -> None:
    """Each finished session of the simulator without its questionnaire gets one (resumable)."""
    from rich.progress import Progress, TaskID

    from simgap.feedback import collect_feedback
    from simgap.llm.base import ModelConfig
    from simgap.store import Store

    over = {k: v for k, v in {"model": model, "api_base": api_base}.items() if v}
    cfg = ModelConfig.model_validate(over) if over else None
    store = Store(db)
    try:
        for name in simulator:
            with Progress(console=console, transient=True) as bar:
                task = bar.add_task(f"questionnaires: {name}", total=None)

                def tick(done: int, total: int, t: TaskID = task) -> None:
                    bar.update(t, completed=done, total=total)

                s = collect_feedback(
                    store,
                    simulator=name,
                    model=cfg,
                    concurrency=concurrency,
                    use_cache=not no_cache,
                    progress=tick,
                )
            how = ", ".join(f"{k} {v}" for k, v in sorted(s.methods.items())) or "-"
            console.print(
                f"{name}: {s.answered} answered now ({how}), {s.already} earlier, "
                f"{len(s.failed)} failed, of {s.sessions} finished sessions; "
                f"{s.usage.calls} model calls",
                highlight=False,
            )
            for sid, err in s.failed[:5]:
                console.print(f"  [red]failed[/] {sid}: {err}", highlight=False)
    finally:
        store.close()


def register(app: typer.Typer) -> None:
    """Add `simgap feedback`."""
    app.command("feedback")(feedback)
