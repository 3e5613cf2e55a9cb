"""`simgap demo`: the whole pipeline, offline, on the embedded model, in a few minutes.

run → feedback → score → report on a few τ²-bench airline tasks:

* the agent is the `probe` (simgap.agents.probe): deterministic, model-free, gold-informed and
  information-gated. It acts only on what the customer has said and agreed to, so with the
  agent held fixed, success measures the customer side: what each simulator discloses and
  confirms. The tasks are the first airline tasks whose gold changes the database (where what
  the customer says decides the reward). `--agent local` (or any model, or any registered or
  plugin agent) puts a real agent under test instead;
* the simulators are `local` (τ²'s user prompt on the embedded SmolLM2-135M: no key, no
  network; it runs on the first `llm_tasks` tasks only, as it costs nearly all of the demo's
  time) and the parametric, non-LLM `behavior` (synthetic);
* the reference is the `standin` simulator: a parametric generator whose profile leans toward
  the tendencies the paper reports for people. It is a SYNTHETIC STAND-IN, not people: its
  sessions are stored with `meta.synthetic`, their batches are named `synthetic-b1..b3`, and
  the leaderboard, the report and the console all say so. A real study replaces it with
  people from `simgap study serve` or `simgap import` (see the README).

Everything lands under one folder and every step is resumable: rerunning the demo after a
crash or Ctrl-C skips finished sessions and questionnaires.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simgap.llm.base import ModelConfig
from simgap.models import AgentSpec, Task
from simgap.sessions import RunOptions, SweepSummary, plan_sessions, run_sweep
from simgap.sessions.plan import SessionPlan
from simgap.sessions.runner import ProgressSink
from simgap.store import Store
from simgap.users import get_preset

Say = Callable[[str], None]

DEMO_SIMULATORS = ("local", "behavior")
DEMO_AGENT = "probe"
REFERENCE_PRESET = "standin"
REFERENCE_BATCHES = ("synthetic-b1", "synthetic-b2", "synthetic-b3")


@dataclass
class DemoOptions:
    """What the demo runs. The defaults keep it under 10 minutes on 2 cores."""

    out_dir: Path = Path("simgap-demo")
    tasks: int = 6
    llm_tasks: int = 1  # tasks for simulators that call a model (the embedded one is slow)
    simulators: tuple[str, ...] = DEMO_SIMULATORS
    reference: str = REFERENCE_PRESET
    reference_batches: tuple[str, ...] = REFERENCE_BATCHES
    agent: str = DEMO_AGENT  # a registered/plugin agent, or a model for τ²'s LLM agent
    agent_model: str = "local"  # the model of an agent that needs one
    agent_max_tokens: int = 96
    max_steps: int = 40
    bootstrap: int = 500
    permutations: int = 200
    seed: int = 300

    @property
    def store_path(self) -> Path:
        return self.out_dir / "runs.db"


@dataclass
class DemoResult:
    out_dir: Path
    store: Path
    score_json: Path
    report_html: Path
    report_md: Path
    sweep: SweepSummary
    leaderboard: Any  # simgap.metrics.Leaderboard
    wall_s: float
    steps_s: dict[str, float] = field(default_factory=dict)


def demo_tasks(n: int) -> list[Task]:
    """The first `n` airline tasks whose gold changes the database: there the reward depends on
    what the customer says and agrees to (a task whose gold only refuses is won by any
    customer the probe refuses)."""
    from simgap.agents.probe_plan import make_plan
    from simgap.domains import DomainEnvironment, load_tasks

    tasks = load_tasks("airline")
    kinds = DomainEnvironment(tasks[0]).tool_kinds()
    return [t for t in tasks if any(s.writes for s in make_plan(t, kinds).steps)][:n]


def agent_setup(agent: str, model: str, max_tokens: int) -> tuple[AgentSpec, ModelConfig]:
    """`agent` as the runner takes it: a registered or plugin agent name (its model `model` if
    it needs one), or else a model id for τ²'s LLM agent (`llm`)."""
    from simgap.agents.registry import agent_needs_model, check_agent, is_agent_name

    name = agent if is_agent_name(agent) else "llm"
    if name != "llm":
        check_agent(name)
    else:
        model = agent
    if not agent_needs_model(name):
        return AgentSpec(name=name, model="none"), ModelConfig(model="none")
    cfg = ModelConfig(model=model, max_tokens=max_tokens)
    return AgentSpec(name=name, model=cfg.model, settings=cfg.public()), cfg


def demo_plans(opts: DemoOptions) -> tuple[list[SessionPlan], ModelConfig]:
    """Candidates × tasks (one trial each), plus the stand-in reference × tasks × batches."""
    tasks = demo_tasks(opts.tasks)
    spec, agent_cfg = agent_setup(opts.agent, opts.agent_model, opts.agent_max_tokens)
    candidates = [get_preset(n) for n in opts.simulators]
    plans = []
    for preset in candidates:
        subset = tasks if preset.model is None else tasks[: opts.llm_tasks]
        plans += plan_sessions(subset, [preset], agent=spec, batch="demo", base_seed=opts.seed)
    ref = get_preset(opts.reference)
    for b in opts.reference_batches:
        plans += plan_sessions(tasks, [ref], agent=spec, batch=b, base_seed=opts.seed)
    return plans, agent_cfg


def run_demo(
    opts: DemoOptions,
    *,
    say: Say = print,
    progress: ProgressSink | None = None,
    feedback_progress: Any = None,
) -> DemoResult:
    """Run every stage; `say` gets one line per step, `progress` the sessions as they end."""
    from simgap.feedback import collect_feedback
    from simgap.metrics import ScoreSettings, score_sets
    from simgap.metrics.inputs import load_set, parse_set_spec
    from simgap.models import UserKind
    from simgap.report.html import render_html
    from simgap.report.markdown import render_markdown
    from simgap.report.scorefile import parse_score

    t0 = time.perf_counter()
    steps: dict[str, float] = {}
    opts.out_dir.mkdir(parents=True, exist_ok=True)
    db = str(opts.store_path)

    # 1. sessions ------------------------------------------------------------------------------
    plans, agent_cfg = demo_plans(opts)
    agent = plans[0].agent if plans else None
    who = (
        "probe (model-free, gold-informed, information-gated instrument)"
        if agent is not None and agent.name == "probe"
        else f"{agent.name} on {agent.model}"
        if agent is not None
        else "-"
    )
    say(
        f"1/4 sessions: {opts.tasks} airline task(s) ({opts.llm_tasks} for simulators on a "
        f"model) × simulators {', '.join(opts.simulators)} "
        f"+ SYNTHETIC stand-in reference ({opts.reference} × {len(opts.reference_batches)} "
        f"batches) = {len(plans)} sessions; agent: {who}"
    )
    store = Store(db)
    try:
        summary = run_sweep(
            store,
            plans,
            agent_config=agent_cfg,
            # one session at a time: the embedded model keeps its KV cache for the session's
            # growing prompt (two sessions interleaved would reprocess it on every call)
            options=RunOptions(concurrency=1, max_steps=opts.max_steps),
            progress=progress,
            agent_name=plans[0].agent.name if plans else "llm",
        )
    finally:
        store.close()
    steps["sessions"] = time.perf_counter() - t0

    # 2. questionnaires --------------------------------------------------------------------------
    t = time.perf_counter()
    say("2/4 post-interaction questionnaire answered by each simulator and by the stand-in")
    store = Store(db)
    try:
        for name in (*opts.simulators, opts.reference):
            fs = collect_feedback(store, simulator=name, progress=feedback_progress)
            say(
                f"    {name}: {fs.answered + fs.already} of {fs.sessions} answered"
                + (f", {len(fs.failed)} failed ({fs.failed[0][1]})" if fs.failed else "")
            )
    finally:
        store.close()
    steps["feedback"] = time.perf_counter() - t

    # 3. score -----------------------------------------------------------------------------------
    t = time.perf_counter()
    say(f"3/4 User-Sim Index against the stand-in ({opts.bootstrap} bootstrap resamples)")
    ref = load_set(
        parse_set_spec(f"{db}:user_kind=simulator,user={opts.reference},label=synthetic stand-in"),
        default_kind=UserKind.SIMULATOR,
    )
    cands = [
        load_set(parse_set_spec(f"{db}:user={n},label={n}"), default_kind=UserKind.SIMULATOR)
        for n in opts.simulators
    ]
    settings = ScoreSettings(
        n_boot=opts.bootstrap, n_permutations=opts.permutations, seed=opts.seed
    )
    lb = score_sets(ref, cands, settings)
    score_json = opts.out_dir / "usi_scores.json"
    doc_json = lb.to_json()
    score_json.write_text(json.dumps(doc_json, indent=2, ensure_ascii=False), encoding="utf-8")
    (opts.out_dir / "usi_scores.csv").write_text(lb.to_csv(), encoding="utf-8")
    steps["score"] = time.perf_counter() - t

    # 4. report ----------------------------------------------------------------------------------
    t = time.perf_counter()
    say("4/4 report")
    doc = parse_score(doc_json, source=str(score_json))
    title = "simgap demo: simulators vs a SYNTHETIC stand-in reference (not people)"
    html = opts.out_dir / "report.html"
    html.write_text(render_html(doc, title=title, source=str(score_json)).html, encoding="utf-8")
    md = opts.out_dir / "report.md"
    md.write_text(render_markdown(doc, title=title), encoding="utf-8")
    steps["report"] = time.perf_counter() - t

    return DemoResult(
        out_dir=opts.out_dir,
        store=opts.store_path,
        score_json=score_json,
        report_html=html,
        report_md=md,
        sweep=summary,
        leaderboard=lb,
        wall_s=time.perf_counter() - t0,
        steps_s=steps,
    )
