"""`simgap sweep config.yaml`: a whole study's simulated side declared in one file.

The file holds the same settings as `simgap run` (see `simgap.sessions.config.SweepConfig`):
domains, tasks, simulators, trials, agent, limits, engine. Before anything is spent the plan
is printed (sessions, model calls, tokens, dollars from litellm's price table) and the user is
asked to confirm; `--yes` skips the question, and without a terminal to ask on, a sweep that
would call a hosted model refuses to start unless `--yes` is given.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.table import Table

from simgap.cli.common import console
from simgap.cli.run_cmd import execute_sweep, prepare_sweep
from simgap.errors import ConfigError
from simgap.sessions.estimate import PlanEstimate


def _fmt_count(x: float) -> str:
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e4:
        return f"{x / 1e3:.1f}k"
    return f"{x:,.0f}"


def print_estimate(est: PlanEstimate) -> None:
    """The plan table: one row per model and role, then the totals."""
    t = Table(title="plan", title_justify="left")
    t.add_column("role", overflow="fold")
    t.add_column("model", overflow="fold")
    for col in ("sessions", "calls", "prompt", "compl.", "cost"):
        t.add_column(col, justify="right", no_wrap=True)
    t.add_column("basis", overflow="fold")
    for line in est.lines:
        cost = "unpriced" if line.cost_usd is None else f"${line.cost_usd:,.2f}"
        t.add_row(
            line.role,
            line.model,
            str(line.sessions),
            _fmt_count(line.calls),
            _fmt_count(line.prompt_tokens),
            _fmt_count(line.completion_tokens),
            cost,
            line.basis,
        )
    console.print(t)
    total = f"${est.cost_usd:,.2f}"
    if est.unpriced:
        total += f" + unpriced models ({', '.join(est.unpriced)})"
    console.print(
        f"{est.to_run} of {est.planned} sessions to run ({est.already_done} already done); "
        f"about {_fmt_count(est.calls)} model calls, {_fmt_count(est.tokens)} tokens, {total}. "
        "Cached responses cost nothing and are not subtracted.",
        markup=False,
        highlight=False,
    )


def sweep(
    config: Path = typer.Argument(..., help="Sweep YAML: domains, tasks, users, trials, agent…"),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before spending money."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan and stop."),
    out: str = typer.Option(None, "--out", "-o", help="Store (overrides the file's `out`)."),
) -> None:
    """Plan, confirm and run a sweep declared in a YAML file (resumable like `simgap run`).

    Example file:

        domains: \\[airline, retail]
        tasks: 20
        users: \\[gpt-4o, claude-sonnet-4, llama-3.1-70b, local]
        trials: 3
        agent: {model: openai/gpt-4.1-mini, temperature: 0.0}
        concurrency: 32
        out: sweep.db
    """
    from simgap.sessions.config import load_sweep_config
    from simgap.sessions.estimate import estimate_plan
    from simgap.sessions.protocol import get_protocol
    from simgap.store import Store

    cfg = load_sweep_config(config, {"out": out} if out else None)
    prepared = prepare_sweep(cfg)
    plans, model_cfg, _ = prepared
    store = Store(cfg.out)
    try:
        with console.status("estimating calls, tokens and cost…"):
            # the step limit the sessions will run under (the protocol's unless set)
            limit = get_protocol(cfg.protocol).with_limits(
                max_steps=cfg.max_steps, max_errors=cfg.max_errors
            )
            est = estimate_plan(
                plans, agent_config=model_cfg, store=store, max_steps=limit.max_steps
            )
    finally:
        store.close()
    print_estimate(est)
    if dry_run:
        return
    if est.to_run == 0:
        console.print("nothing left to run")
        return
    if est.spends_money and not yes:
        if not sys.stdin.isatty():
            raise ConfigError(
                "this sweep calls hosted models and there is no terminal to confirm on; "
                "rerun with --yes to accept the plan"
            )
        if not typer.confirm("Run this sweep?", default=False):
            console.print("not started")
            raise typer.Exit(1)
    execute_sweep(cfg, prepared)


def register(app: typer.Typer) -> None:
    """Add `simgap sweep`."""
    app.command("sweep")(sweep)
