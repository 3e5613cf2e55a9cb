"""`simgap run`: agent ↔ simulated users on τ²-bench tasks, stored turn by turn, resumable."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table

from simgap.cli.common import console, split_csv
from simgap.cli.progress import SweepProgress
from simgap.errors import SimgapError
from simgap.llm.base import ModelConfig
from simgap.sessions import SweepSummary
from simgap.sessions.config import SweepConfig
from simgap.sessions.plan import SessionPlan

if TYPE_CHECKING:
    from simgap.models import Task


def print_summary(s: SweepSummary, *, out: str) -> None:
    """The end-of-run table: what ran, how it went (sessions by category, the success rate with
    its denominator), what it cost."""
    from simgap.models import SessionCategory as C
    from simgap.store.store import without_password

    t = Table(title="simgap run", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    t.add_row(
        "sessions",
        f"{s.planned} planned ({s.already_done} finished earlier, {s.ran} run now): "
        f"{s.category(C.COMPLETED)} completed, "
        f"{s.category(C.MODEL_FAILURE)} model failures scored as τ² (reward 0), "
        f"{s.category(C.INFRA_ERROR)} infrastructure errors pending retry, "
        f"{s.category(C.RUNNING)} interrupted",
    )
    sr = (
        "n/a (no scored session)"
        if s.success_rate is None
        else f"{100 * s.success_rate:.1f}% = {s.successes}/{s.rewarded} "
        "(completed + model failures; infrastructure errors not counted until retried)"
    )
    t.add_row("success rate (τ² reward = 1)", sr)
    t.add_row("mean turns per session", f"{s.mean_turns:.1f}")
    t.add_row("terminations", ", ".join(f"{k} {v}" for k, v in sorted(s.terminations.items())))
    u = s.usage
    t.add_row("tokens", f"{u.prompt_tokens:,} prompt + {u.completion_tokens:,} completion")
    t.add_row("model calls", f"{u.calls:,} ({u.cached_calls:,} served from cache)")
    t.add_row("cost", f"${u.cost_usd:.4f}")
    t.add_row("wall time", f"{s.wall_s:.1f} s")
    if s.per_node:
        t.add_row(
            "sessions per node",
            ", ".join(f"{node} {n}" for node, n in s.per_node.items())
            + f" ({len(s.per_node)} node(s))",
        )
    t.add_row("stored in", without_password(out))
    console.print(t)
    for sid, cause in s.model_failures[:3]:
        console.print(f"[yellow]model failure[/] {sid}: {escape(cause)}", soft_wrap=True)
    for note in s.notes:
        console.print(f"[yellow]note[/] {escape(note)}", soft_wrap=True)
    for sid, err in s.failures[:5]:
        console.print(f"[red]infrastructure error[/] {sid}: {escape(err)}", soft_wrap=True)
    if len(s.failures) > 5:
        console.print(f"[red]… and {len(s.failures) - 5} more infrastructure errors[/]")
    if s.failures:
        console.print("rerun the same command to retry the sessions with infrastructure errors")


def runnable_tasks(agent: str, tasks: list[Task]) -> list[Task]:
    """The tasks `agent` can run; τ²'s GT and solo agents skip some, as τ² does (said once)."""
    from simgap.agents.registry import task_problem
    from simgap.errors import ConfigError

    problems = [(t, task_problem(agent, t)) for t in tasks]
    keep = [t for t, p in problems if p is None]
    skipped = [p for _, p in problems if p is not None]
    if skipped and not keep:
        raise ConfigError(skipped[0])
    if skipped:
        console.print(
            f"skipping {len(skipped)} task(s) agent {agent} cannot run (first: {skipped[0]})",
            markup=False,
            highlight=False,
        )
    return keep


def prepare_sweep(cfg: SweepConfig) -> tuple[list[SessionPlan], ModelConfig, str]:
    """Tasks × simulators × trials of a config, and the agent's model config and name."""
    from simgap.agents.registry import agent_needs_model, check_agent
    from simgap.models import AgentSpec
    from simgap.sessions import plan_sessions

    if cfg.user_profile:  # inline the profile: its content, not just its path, names sessions
        from simgap.users import use_profile

        use_profile(cfg.user_profile)
    with console.status("loading τ²-bench tasks…"):
        task_list = cfg.resolve_tasks()
        presets = cfg.resolve_presets()
    agent_cfg = cfg.agent
    check_agent(agent_cfg.name)
    if agent_needs_model(agent_cfg.name):
        model_cfg = ModelConfig.model_validate(agent_cfg.model_dump(exclude={"name"}))
        spec = AgentSpec(name=agent_cfg.name, model=model_cfg.model, settings=model_cfg.public())
    else:  # model-free (the probe, a plugin that says so): no model is recorded or built
        model_cfg = ModelConfig(model="none")
        spec = AgentSpec(name=agent_cfg.name, model="none")
    task_list = runnable_tasks(agent_cfg.name, task_list)
    plans = plan_sessions(
        task_list,
        presets,
        agent=spec,
        trials=cfg.trials,
        batch=cfg.batch,
        base_seed=cfg.seed,
        protocol=cfg.protocol,
    )
    console.print(
        f"{len(plans)} sessions: {len(task_list)} task(s) of {', '.join(cfg.domain_list)} × "
        f"{len(presets)} simulator(s) ({', '.join(p.name for p in presets)}) × "
        f"{cfg.trials} trial(s); agent {spec.name} on {spec.model}; protocol {cfg.protocol}",
        markup=False,
        highlight=False,
    )
    return plans, model_cfg, agent_cfg.name


def execute_sweep(
    cfg: SweepConfig, prepared: tuple[list[SessionPlan], ModelConfig, str] | None = None
) -> SweepSummary:
    """Run a config with progress and print the summary (shared by `run` and `sweep`)."""
    from simgap.sessions import RunOptions, run_sweep
    from simgap.store import Store

    plans, model_cfg, agent_name = prepared or prepare_sweep(cfg)
    store = Store(cfg.out)
    options = RunOptions(
        concurrency=cfg.concurrency,
        max_steps=cfg.max_steps,
        max_errors=cfg.max_errors,
        use_cache=cfg.cache,
    )
    lost: SimgapError | None = None
    try:
        with SweepProgress(console) as progress:
            if cfg.engine == "ray":
                from simgap.sessions.ray_engine import ClusterLost, RayEngine

                try:
                    summary = RayEngine(
                        store,
                        agent_config=model_cfg,
                        agent_name=agent_name,
                        options=options,
                        address=cfg.ray_address,
                        worker_cpus=cfg.ray_worker_cpus,
                    ).run(plans, progress)
                except ClusterLost as e:  # print what is stored, then the one-line error
                    summary, lost = e.summary, e
            else:
                summary = run_sweep(
                    store,
                    plans,
                    agent_config=model_cfg,
                    options=options,
                    progress=progress,
                    agent_name=agent_name,
                )
    finally:
        store.close()
    print_summary(summary, out=cfg.out)
    if lost is not None:
        raise lost
    return summary


def run(
    domain: str = typer.Option(
        None, "--domain", "-d", help="τ²-bench domain: airline, retail, telecom, mock."
    ),
    tasks: int = typer.Option(None, "--tasks", "-n", help="Run the first N tasks of the split."),
    task_ids: str = typer.Option(
        None, "--task-ids", help="Comma-separated task ids (instead of --tasks)."
    ),
    split: str = typer.Option(None, "--split", help="τ² task split (default: base)."),
    user: list[str] = typer.Option(
        None, "--user", "-u", help="User simulator preset (repeatable). Default: local."
    ),
    user_model: str = typer.Option(
        None, "--user-model", help="Model for LLM simulators (litellm id), overriding the preset's."
    ),
    user_api_base: str = typer.Option(
        None, "--user-api-base", help="OpenAI-compatible endpoint for the simulator model."
    ),
    user_profile: str = typer.Option(
        None, "--user-profile", help="Fitted profile JSON (`simgap fit`) for grounded simulators."
    ),
    agent: str = typer.Option(
        None,
        "--agent",
        "-a",
        help="Agent under test: a name (probe, llm_agent_gt, an installed simgap.agents entry "
        "point), an import path (mypkg.agents:MyAgent), or a model for τ²'s LLM agent: "
        "'local' (embedded) or a litellm model id.",
    ),
    agent_model: str = typer.Option(
        None, "--agent-model", help="Model of an agent given by name (e.g. llm_agent_gt)."
    ),
    agent_api_base: str = typer.Option(
        None, "--agent-api-base", help="OpenAI-compatible endpoint for the agent model."
    ),
    agent_temperature: float = typer.Option(
        None, "--agent-temperature", help="Agent sampling temperature."
    ),
    trials: int = typer.Option(None, "--trials", "-t", help="Sessions per task and simulator."),
    batch: str = typer.Option(None, "--batch", help="Batch label stored with every session."),
    concurrency: int = typer.Option(
        None, "--concurrency", "-c", help="Sessions in parallel (async)."
    ),
    protocol: str = typer.Option(
        None,
        "--protocol",
        help="Conversation protocol: tau2 (τ²-bench's Orchestrator exactly, the default) or "
        "paper (the study of arXiv 2603.11245). See docs/protocol.md.",
    ),
    max_steps: int = typer.Option(
        None, "--max-steps", help="τ² step limit per session (default: the protocol's; tau2 200)."
    ),
    max_errors: int = typer.Option(
        None,
        "--max-errors",
        help="τ² tool-error limit per session (default: the protocol's; tau2 10).",
    ),
    seed: int = typer.Option(None, "--seed", help="Base seed (default 300, as τ²)."),
    out: str = typer.Option(
        None, "--out", "-o", help="Store: SQLite file (default runs.db) or database URL."
    ),
    engine: str = typer.Option(
        None, "--engine", help="local (asyncio, default) or ray (a Ray cluster; see --ray-address)."
    ),
    ray_address: str = typer.Option(
        None, "--ray-address", help="Ray cluster address (default $RAY_ADDRESS, else a local Ray)."
    ),
    ray_worker_cpus: float = typer.Option(
        None,
        "--ray-worker-cpus",
        help="CPUs per Ray worker: one worker per this many CPUs of each node (default 1).",
    ),
    no_cache: bool = typer.Option(
        False, "--no-cache", help="Do not use the on-disk response cache."
    ),
    config: Path = typer.Option(
        None, "--config", help="YAML file with any of these settings; flags win."
    ),
) -> None:
    """Run agent ↔ user-simulator sessions on τ²-bench tasks and store every turn.

    Rerunning the same command resumes: finished sessions are skipped, interrupted ones continue.

    Example (offline, no key):

        simgap run --domain airline --tasks 5 --user local --agent local --trials 1 --out runs.db
        simgap run -d retail -n 10 -u behavior --agent probe

    Your own agent or simulator (docs/plugins.md):

        simgap run -d airline -n 5 --agent mypkg.agents:MyAgent -u mypkg.sims:MySim

    With hosted models:

        simgap run -d retail -n 20 -u tau2 --user-model openai/gpt-4.1 --agent openai/gpt-4.1-mini
    """
    from simgap.sessions.config import load_sweep_config, make_sweep_config

    overrides: dict[str, Any] = {
        k: v
        for k, v in {
            "domain": domain,
            "split": split,
            "trials": trials,
            "batch": batch,
            "concurrency": concurrency,
            "protocol": protocol,
            "max_steps": max_steps,
            "max_errors": max_errors,
            "seed": seed,
            "out": out,
            "engine": engine,
            "ray_address": ray_address,
            "ray_worker_cpus": ray_worker_cpus,
            "user_profile": user_profile,
        }.items()
        if v is not None
    }
    if task_ids:
        overrides["tasks"] = split_csv(task_ids)
    elif tasks is not None:
        overrides["tasks"] = tasks
    if user:
        overrides["users"] = list(user)
    if no_cache:
        overrides["cache"] = False
    from simgap.agents.registry import is_agent_name

    agent_over = {
        k: v
        for k, v in {
            "model": agent_model,
            "api_base": agent_api_base,
            "temperature": agent_temperature,
        }.items()
        if v is not None
    }
    if agent is not None:
        if is_agent_name(agent):
            agent_over["name"] = agent
        else:  # a model: τ²'s LLM agent on it
            agent_over["name"] = "llm"
            agent_over.setdefault("model", agent)
    user_over = {k: v for k, v in {"model": user_model, "api_base": user_api_base}.items() if v}

    if config is not None:
        base = load_sweep_config(config)
        data = base.model_dump(exclude_unset=True)
        data.update(overrides)
        if agent_over:
            data["agent"] = {**data.get("agent", {}), **agent_over}
        if user_over:
            data["user_model"] = {**(data.get("user_model") or {}), **user_over}
        cfg = make_sweep_config(data, where=str(config))
    else:
        if agent_over:
            overrides["agent"] = agent_over
        if user_over:
            overrides["user_model"] = user_over
        cfg = make_sweep_config(overrides)
    execute_sweep(cfg)


def register(app: typer.Typer) -> None:
    """Add `simgap run`."""
    app.command("run")(run)
