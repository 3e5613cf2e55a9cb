"""`simgap demo`: run → feedback → score → report, offline on the embedded model."""

from __future__ import annotations

from pathlib import Path

import typer

from simgap.cli.common import console, print_whole


def demo(
    out: Path = typer.Option(Path("simgap-demo"), "--out", "-o", help="Folder for everything."),
    tasks: int = typer.Option(
        6,
        "--tasks",
        "-n",
        min=1,
        help="τ² airline tasks (the first N whose gold changes the database).",
    ),
    llm_tasks: int = typer.Option(
        1,
        "--llm-tasks",
        min=0,
        help="How many of them simulators on a model (the embedded one) run.",
    ),
    agent: str = typer.Option(
        "probe",
        "--agent",
        "-a",
        help="Agent under test: probe (default), a registered or plugin agent, or a model for "
        "τ²'s LLM agent: local (embedded) or a litellm id.",
    ),
    agent_model: str = typer.Option(
        "local", "--agent-model", help="Model of an agent that needs one (llm_agent_gt...)."
    ),
    max_steps: int = typer.Option(40, "--max-steps", min=2, help="τ² step limit per session."),
    llm_max_steps: int = typer.Option(
        6,
        "--llm-max-steps",
        min=2,
        help="τ² step limit for sessions of simulators on a model (the embedded customer "
        "never ends a chat by itself; each of its turns costs seconds).",
    ),
    bootstrap: int = typer.Option(500, "--bootstrap", "-B", min=0, help="Bootstrap resamples."),
) -> None:
    """The main job, offline and with no key: the `probe` agent (deterministic, model-free,
    gold-informed, information-gated: it acts only on what the customer said and agreed to)
    on a few τ² airline tasks, with the embedded model and the parametric `behavior` simulator
    as customers, scored against a SYNTHETIC stand-in reference and reported. With the agent
    held fixed, success measures what each customer discloses and agrees to. Prints the path
    of the HTML report.

    `--agent local` (or any litellm model) tests τ²'s LLM agent instead. Rerun to resume after
    Ctrl-C. For real people instead of the stand-in, collect them with `simgap study serve` or
    `simgap import`, then `simgap score -r <people> -c <simulators>`.
    """
    from simgap.cli.progress import SweepProgress
    from simgap.cli.score_cmd import leaderboard_table, pass_k_table
    from simgap.demo import DemoOptions, run_demo

    opts = DemoOptions(
        out_dir=out,
        tasks=tasks,
        llm_tasks=llm_tasks,
        agent=agent,
        agent_model=agent_model,
        max_steps=max_steps,
        llm_max_steps=llm_max_steps,
        bootstrap=bootstrap,
    )
    console.print(
        "[bold yellow]The reference in this demo is a SYNTHETIC stand-in (a parametric "
        "simulator), not people.[/] It shows the pipeline; it measures nothing about humans."
    )
    with SweepProgress(console) as progress:
        result = run_demo(
            opts, say=lambda s: console.print(f"[bold]{s}[/]", highlight=False), progress=progress
        )
    pk = pass_k_table(result.leaderboard)
    print_whole(leaderboard_table(result.leaderboard), *([pk] if pk is not None else []))
    steps = ", ".join(f"{k} {v:.0f} s" for k, v in result.steps_s.items())
    console.print(f"demo finished in {result.wall_s:.0f} s ({steps})")
    sw = result.sweep  # usage of every stored session: a cold first run makes real calls
    u = sw.usage
    console.print(
        f"session model calls: {u.calls + u.cached_calls:,} ({u.calls:,} to the embedded model, "
        f"{u.cached_calls:,} served from the response cache) over {sw.done + sw.failed} "
        f"sessions, {sw.ran} of them run now"
    )
    console.print(f"sessions: {result.store}   scores: {result.score_json}")
    console.print(f"report: {result.report_html.resolve()}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add `simgap demo`."""
    app.command("demo")(demo)
