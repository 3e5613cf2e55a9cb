"""Benchmark: simgap's session runner against τ²-bench's own `run_tasks`, same sessions, same run.

What runs: N sessions of τ² airline task 19 (N trials of one task), agent and customer both
scripted and served by the project's fake OpenAI-compatible server (tests/fakes) in a separate
process on 127.0.0.1 with a fixed latency per call. Each session is the same conversation:
the customer asks `--turns` questions about reservation Z7GOZK (the agent answers each after a
`get_reservation_details` tool call), then asks to cancel it (the agent calls
`cancel_reservation`), then ends with ###STOP###. Both systems call the model through litellm,
step through the same τ² environment and score with the same τ² evaluator, so their rewards
must agree (printed as a correctness check).

Systems, each in its own subprocess so CPU and memory are not shared:

* `simgap`: `SweepRunner` (asyncio, bounded concurrency, every turn written to SQLite);
* `simgap-ray`: the same sessions through `--engine ray` (a local Ray instance, one async
  worker process per core) — shown because one Python process is GIL-bound;
* `tau2`: `tau2.run.run_tasks(..., max_concurrency=C)` (thread pool), results kept in memory
  (`save_to=None`, its fastest setting).

Printed: sessions/minute of each, the ratio simgap ÷ τ², and each as a fraction of the ideal
(concurrency ÷ per-session model latency, i.e. what an infinitely fast harness would reach).
Also peak memory (RSS) for 1,000 stored sessions: simgap writing them turn by turn to its
store and reading them back, against τ²'s way of holding results (a `Results` object of 1,000
simulations parsed from its JSON), each in a fresh subprocess.

Harness CPU per session (`--cpu-sessions K`, default 20): K more simgap sessions one at a time
(concurrency 1, so the process's CPU clock belongs to one session), each split into the CPU
spent inside model calls (the LLM client: litellm, HTTP, JSON) and everything else (the
harness: environment, agent/user prompts, store, reward); the median of the latter is the
figure the scale target is about. Then one more session under cProfile (CPU clock), paused
inside model calls so that it holds the harness alone, summarised by area and by function
(cProfile's own overhead makes its figures larger than the unprofiled median).

Run: `.venv/bin/python benchmarks/bench_harness.py [--sessions 64] [--concurrency 32,128]
[--latency 0.2] [--turns 5] [--systems simgap,tau2,simgap-ray] [--cpu-sessions 20]`
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TASK_ID = "19"
RESERVATION = "Z7GOZK"


# -- the scripted conversation (served by the fake server) -------------------------------------
def _user_turns_so_far(body: dict[str, Any]) -> int:
    return sum(1 for m in body["messages"] if m["role"] == "assistant")


def make_responder(turns: int) -> Any:
    from tests.fakes.openai_server import Reply

    def respond(body: dict[str, Any]) -> Reply:
        if "user" in str(body.get("model", "")):
            n = _user_turns_so_far(body)
            if n < turns:
                return Reply.text(
                    f"Question {n + 1}: what is the status of reservation {RESERVATION}?"
                )
            if n == turns:
                return Reply.text(f"Please cancel reservation {RESERVATION}.")
            return Reply.text("Thank you, that is all. ###STOP###")
        last = body["messages"][-1]
        if last["role"] == "tool":
            return Reply.text("Done. Is there anything else I can help with?")
        if "cancel" in str(last.get("content", "")).lower():
            return Reply.tool_call("cancel_reservation", {"reservation_id": RESERVATION})
        return Reply.tool_call("get_reservation_details", {"reservation_id": RESERVATION})

    return respond


def calls_per_session(turns: int) -> int:
    """Customer: `turns` questions + cancel + stop; agent: tool call + answer for all but stop."""
    return (turns + 2) + 2 * (turns + 1)


# -- fake server process --------------------------------------------------------------------
def serve(latency: float, turns: int) -> None:
    from tests.fakes.openai_server import FakeOpenAIServer

    srv = FakeOpenAIServer(latency_s=latency, responder=make_responder(turns)).start()
    print(srv.base_url, flush=True)
    try:
        sys.stdin.read()  # until the parent closes our stdin
    finally:
        srv.stop()


def start_server(latency: float, turns: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--latency", str(latency), "--turns", str(turns)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        raise SystemExit(f"fake server did not start: {url!r}")
    return proc, url


# -- the systems ----------------------------------------------------------------------------
def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_simgap(url: str, n: int, concurrency: int, engine: str) -> dict[str, Any]:
    import asyncio

    from simgap.domains import load_tasks
    from simgap.llm.base import ModelConfig
    from simgap.models import AgentSpec
    from simgap.sessions import RunOptions, SweepRunner, plan_sessions
    from simgap.store import Store
    from simgap.users import UserPreset

    def cfg(name: str) -> ModelConfig:
        return ModelConfig(model=f"openai/{name}", api_base=url, api_key="sk-bench", timeout_s=60)

    agent_cfg = cfg("bench-agent")
    preset = UserPreset(name="bench-user", kind="tau2", model=cfg("bench-user"))
    tasks = load_tasks("airline", task_ids=[TASK_ID])
    spec = AgentSpec(name="llm", model=agent_cfg.model, settings=agent_cfg.public())
    plans = plan_sessions(tasks, [preset], agent=spec, trials=n)
    tmp = tempfile.mkdtemp(prefix="simgap-bench-")
    store = Store(Path(tmp) / "runs.db")
    options = RunOptions(concurrency=concurrency, use_cache=False)
    t0 = time.perf_counter()
    if engine == "ray":
        from simgap.sessions.ray_engine import RayEngine

        summary = RayEngine(store, agent_config=agent_cfg, options=options).run(plans, None)
    else:

        async def go() -> Any:
            runner = SweepRunner(store, agent_config=agent_cfg, options=options)
            try:
                return await runner.run(plans)
            finally:
                await runner.aclose()

        summary = asyncio.run(go())
    wall = time.perf_counter() - t0
    rewards = [s.reward.value for s in store.iter_sessions(with_turns=False) if s.reward]
    return {
        "wall_s": wall,
        "done": summary.done,
        "failed": summary.failed,
        "mean_reward": sum(rewards) / len(rewards) if rewards else None,
        "peak_rss_mb": _peak_rss_mb(),
        "db": str(Path(tmp) / "runs.db"),
    }


def run_tau2(url: str, n: int, concurrency: int) -> dict[str, Any]:
    from simgap.domains import tau2_runtime

    tau2_runtime.registry()  # τ²'s registry and quiet logging, as simgap loads it
    from tau2.run import load_tasks as tau2_load_tasks
    from tau2.run import run_tasks

    task = next(t for t in tau2_load_tasks("airline") if str(t.id) == TASK_ID)
    args = {"api_base": url, "api_key": "sk-bench", "timeout": 60}
    t0 = time.perf_counter()
    results = run_tasks(
        domain="airline",
        tasks=[task],
        agent="llm_agent",
        user="user_simulator",
        llm_agent="openai/bench-agent",
        llm_args_agent=dict(args),
        llm_user="openai/bench-user",
        llm_args_user=dict(args),
        num_trials=n,
        max_steps=100,
        save_to=None,
        console_display=False,
        max_concurrency=concurrency,
        log_level="ERROR",
    )
    wall = time.perf_counter() - t0
    rewards = [s.reward_info.reward for s in results.simulations if s.reward_info]
    return {
        "wall_s": wall,
        "done": len(results.simulations),
        "failed": 0,
        "mean_reward": sum(rewards) / len(rewards) if rewards else None,
        "peak_rss_mb": _peak_rss_mb(),
    }


# -- harness CPU per session and a profile of one -----------------------------------------------
class _ModelCPU:
    """Wraps an LLM client and adds the process CPU spent inside its calls to `spent` (exact at
    concurrency 1: nothing else runs while a call is awaited)."""

    spent = 0.0
    # While set, the profiler is paused for the duration of each model call, so the profile
    # holds the harness alone (concurrency 1: nothing else runs while a call is awaited).
    profiler: Any = None

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.config = inner.config

    async def complete(self, request: Any) -> Any:
        prof = _ModelCPU.profiler
        if prof is not None:
            prof.disable()
        t0 = time.process_time()
        try:
            return await self.inner.complete(request)
        finally:
            _ModelCPU.spent += time.process_time() - t0
            if prof is not None:
                prof.enable()

    async def aclose(self) -> None:
        await self.inner.aclose()


# where a profiled function's own CPU is counted (first match on its file path)
_BUCKETS = [
    (
        "model calls (litellm, httpx, openai)",
        (
            "litellm",
            "httpx",
            "httpcore",
            "openai",
            "aiohttp",
            "h11",
            "ssl",
            "tiktoken",
            "tokenizers",
        ),
    ),
    ("τ² environment/tools", ("/tau2/",)),
    ("pydantic (models, (de)serialisation)", ("pydantic",)),
    ("store (SQLAlchemy, sqlite)", ("sqlalchemy", "sqlite3", "simgap/store")),
    ("simgap reward (fast path)", ("simgap/domains/fast_eval", "simgap/domains/gold")),
    ("simgap other", ("simgap/",)),
    ("json/pickle/hashlib/copy", ("json/", "pickle", "_hashlib", "copy.py", "{built-in")),
    ("asyncio/threads", ("asyncio", "threading", "concurrent")),
]


def _bucket(filename: str) -> str:
    for name, keys in _BUCKETS:
        if any(k in filename for k in keys):
            return name
    return "other"


def _own_cpu_by_bucket(stats: dict[Any, Any]) -> tuple[dict[str, float], list[tuple[str, float]]]:
    """Each profiled function's own CPU in its area (`_BUCKETS`). A C builtin (file `~`: a
    sqlite3 `execute`, a `json` encoder, a socket `send`) has no file of its own, so its time
    is split over the Python functions that called it, by how much each caller spent in it,
    and counted in the callers' areas. Also: the harness's top functions by own CPU
    (everything outside model calls), builtins named with their caller."""
    areas: dict[str, float] = {}
    funcs: dict[str, float] = {}

    def add(filename: str, label: str, tt: float) -> None:
        area = _bucket(filename)
        areas[area] = areas.get(area, 0.0) + tt
        if not area.startswith("model calls"):
            funcs[label] = funcs.get(label, 0.0) + tt

    for (filename, line, fn), (_cc, _nc, tt, _ct, callers) in stats.items():
        if filename != "~" or not callers:
            add(filename, f"{Path(filename).name}:{line}({fn})", tt)
            continue
        spent = sum(c[2] for c in callers.values()) or 1.0
        for (cfile, cline, cfn), c in callers.items():
            share = tt * c[2] / spent
            add(cfile, f"{fn} from {Path(cfile).name}:{cline}({cfn})", share)
    top = sorted(funcs.items(), key=lambda kv: -kv[1])[:12]
    return areas, top


def cpu_simgap(url: str, n: int) -> dict[str, Any]:
    import asyncio
    import cProfile
    import pstats
    import statistics

    from simgap.domains import load_tasks
    from simgap.llm.base import ModelConfig
    from simgap.llm.factory import make_client
    from simgap.models import AgentSpec
    from simgap.sessions import RunOptions, SweepRunner, plan_sessions
    from simgap.store import Store
    from simgap.users import UserPreset

    def cfg(name: str) -> ModelConfig:
        return ModelConfig(model=f"openai/{name}", api_base=url, api_key="sk-bench", timeout_s=60)

    agent_cfg = cfg("bench-agent")
    preset = UserPreset(name="bench-user", kind="tau2", model=cfg("bench-user"))
    tasks = load_tasks("airline", task_ids=[TASK_ID])
    spec = AgentSpec(name="llm", model=agent_cfg.model, settings=agent_cfg.public())
    plans = plan_sessions(tasks, [preset], agent=spec, trials=n + 2)
    store = Store(Path(tempfile.mkdtemp(prefix="simgap-cpu-")) / "runs.db")
    options = RunOptions(concurrency=1, use_cache=False)

    async def go() -> dict[str, Any]:
        runner = SweepRunner(
            store,
            agent_config=agent_cfg,
            options=options,
            client_factory=lambda c, cache: _ModelCPU(make_client(c, cache=cache)),
        )
        try:
            await runner.run_one(plans[0])  # warm-up: imports, gold outcome, first env
            # what SweepRunner.run does around its sessions
            import gc

            from simgap.sessions.runner import SWEEP_GC_THRESHOLD, _settle_heap

            _settle_heap("airline")
            gc.set_threshold(*SWEEP_GC_THRESHOLD)
            total, model, harness = [], [], []
            for p in plans[1 : n + 1]:
                m0, c0 = _ModelCPU.spent, time.process_time()
                await runner.run_one(p)
                c, m = time.process_time() - c0, _ModelCPU.spent - m0
                total.append(c)
                model.append(m)
                harness.append(c - m)
            # Environment builds, tool calls and the reward run in worker threads, which cProfile
            # does not see: run them inline for the profiled session (concurrency 1: same work).
            real_to_thread = asyncio.to_thread

            async def inline(func: Any, /, *args: Any, **kwargs: Any) -> Any:
                return func(*args, **kwargs)

            asyncio.to_thread = inline  # type: ignore[assignment]
            prof = cProfile.Profile(time.process_time)
            m0, c0 = _ModelCPU.spent, time.process_time()
            _ModelCPU.profiler = prof
            prof.enable()
            await runner.run_one(plans[n + 1])
            prof.disable()
            _ModelCPU.profiler = None
            asyncio.to_thread = real_to_thread  # type: ignore[assignment]
            prof_total = time.process_time() - c0
            st = pstats.Stats(prof)
            buckets, top_own = _own_cpu_by_bucket(st.stats)  # type: ignore[attr-defined]
            top = sorted(st.stats.items(), key=lambda kv: -kv[1][3])  # type: ignore[attr-defined]
            wanted = (
                "_tool_schemas",
                "replay_equivalent",
                "evaluate_simulation_fast",
                "gold_outcome",
                "to_tau2_messages",
                "call",
                "run_one",
                "DomainEnvironment.__init__",
                "__init__",
                "evaluate",
                "get_db_hash",
                "complete",
                "append_turn",
                "update_session",
                "start_session",
                "reply",
                "construct",
            )
            cum = [
                {"fn": f"{Path(k[0]).name}:{k[2]}", "cum_ms": round(1000 * v[3], 1)}
                for k, v in top
                if k[2] in wanted and ("simgap" in k[0] or "tau2" in k[0])
            ][:14]
            rewards = [s.reward.value for s in store.iter_sessions(with_turns=False) if s.reward]
            return {
                "sessions": n,
                "cpu_ms_median": 1000 * statistics.median(total),
                "model_ms_median": 1000 * statistics.median(model),
                "harness_ms_median": 1000 * statistics.median(harness),
                "harness_ms_p90": 1000 * sorted(harness)[int(0.9 * (len(harness) - 1))],
                "profile_total_ms": 1000 * prof_total,
                "profile_model_ms": 1000 * (_ModelCPU.spent - m0),
                "profile_buckets_ms": {
                    k: round(1000 * v, 1) for k, v in sorted(buckets.items(), key=lambda kv: -kv[1])
                },
                "profile_cumulative": cum,
                "profile_top_harness": [
                    {"fn": fn, "own_ms": round(1000 * v, 1)} for fn, v in top_own
                ],
                "rewards": sorted(set(rewards)),
            }
        finally:
            await runner.aclose()

    return asyncio.run(go())


# -- memory for 1,000 stored sessions ---------------------------------------------------------
def memory_simgap(n: int, source_db: str) -> dict[str, Any]:
    """Copy one finished benchmark session n times into a fresh store, turn by turn, then
    read them all back; report the peak RSS above the baseline after imports."""
    from simgap.store import Store

    src = Store(source_db)
    template = next(iter(src.iter_sessions()))
    src.close()
    base = _peak_rss_mb()
    tmp = tempfile.mkdtemp(prefix="simgap-mem-")
    store = Store(Path(tmp) / "mem.db")
    for i in range(n):
        s = template.model_copy(update={"session_id": f"m{i:05d}", "turns": []})
        store.start_session(s)
        for turn in template.turns:
            store.append_turn(s.session_id, turn)
        store.update_session(s.session_id, status=template.status)
    turns = sum(len(s.turns) for s in store.iter_sessions())
    return {"peak_rss_mb": _peak_rss_mb(), "base_rss_mb": base, "turns": turns}


def tau2_one(url: str) -> dict[str, Any]:
    """One τ² simulation saved by τ² itself (its results JSON), the template for memory_tau2."""
    from simgap.domains import tau2_runtime

    tau2_runtime.registry()
    from tau2.run import load_tasks as tau2_load_tasks
    from tau2.run import run_tasks

    task = next(t for t in tau2_load_tasks("airline") if str(t.id) == TASK_ID)
    args = {"api_base": url, "api_key": "sk-bench", "timeout": 60}
    path = Path(tempfile.mkdtemp(prefix="simgap-tau2-")) / "results.json"
    run_tasks(
        domain="airline", tasks=[task], agent="llm_agent", user="user_simulator",
        llm_agent="openai/bench-agent", llm_args_agent=dict(args),
        llm_user="openai/bench-user", llm_args_user=dict(args), num_trials=1,
        save_to=path, console_display=False, log_level="ERROR",
    )  # fmt: skip
    return {"path": str(path)}


def memory_tau2(n: int, source_json: str) -> dict[str, Any]:
    """τ² keeps a run's results in one `Results` object and one JSON file, rewritten after
    every simulation: build it for n copies of a real τ² simulation, write it, read it back."""
    from simgap.domains import tau2_runtime

    tau2_runtime.registry()
    from tau2.data_model.simulation import Results

    one = Results.model_validate_json(Path(source_json).read_text())
    base = _peak_rss_mb()
    sim = one.simulations[0]
    many = one.model_copy(
        update={"simulations": [sim.model_copy(update={"id": f"m{i}"}) for i in range(n)]}
    )
    out = Path(source_json).with_name("many.json")
    out.write_text(many.model_dump_json(indent=2))
    del many
    parsed = Results.model_validate_json(out.read_text())
    n_msgs = sum(len(s.messages) for s in parsed.simulations)
    return {"peak_rss_mb": _peak_rss_mb(), "base_rss_mb": base, "turns": n_msgs}


# -- orchestration ----------------------------------------------------------------------------
def child(argv: list[str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, *argv], capture_output=True, text=True, cwd=ROOT, check=False
    )
    lines = [x for x in out.stdout.splitlines() if x.startswith("{")]
    if out.returncode != 0 or not lines:
        raise SystemExit(f"child {argv} failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=64)
    ap.add_argument("--concurrency", default="32", help="one or more, comma-separated: 32,128")
    ap.add_argument("--cpu-sessions", type=int, default=20)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--turns", type=int, default=5)
    ap.add_argument("--systems", default="simgap,tau2,simgap-ray")
    ap.add_argument("--memory-sessions", type=int, default=1000)
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--system", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--source-db", help=argparse.SUPPRESS)
    a = ap.parse_args()

    if a.serve:
        serve(a.latency, a.turns)
        return
    if a.system:
        conc = int(a.concurrency)
        if a.system == "simgap":
            r = run_simgap(a.url, a.sessions, conc, "local")
        elif a.system == "simgap-ray":
            r = run_simgap(a.url, a.sessions, conc, "ray")
        elif a.system == "tau2":
            r = run_tau2(a.url, a.sessions, conc)
        elif a.system == "cpu-simgap":
            r = cpu_simgap(a.url, a.sessions)
        elif a.system == "mem-simgap":
            r = memory_simgap(a.sessions, a.source_db)
        elif a.system == "tau2-one":
            r = tau2_one(a.url)
        elif a.system == "mem-tau2":
            r = memory_tau2(a.sessions, a.source_db)
        else:
            raise SystemExit(f"unknown system {a.system}")
        print(json.dumps(r), flush=True)
        return

    n_calls = calls_per_session(a.turns)
    per_session_s = n_calls * a.latency
    concurrencies = [int(c) for c in str(a.concurrency).split(",") if c.strip()]
    print(
        f"{a.sessions} sessions of τ² airline task {TASK_ID}, {n_calls} model calls each at "
        f"{a.latency * 1000:.0f} ms, concurrency {concurrencies}; "
        + ", ".join(
            f"ideal at {c}: {60 * c / per_session_s:.0f} sessions/min" for c in concurrencies
        )
        + f"; {os.cpu_count()} CPU cores",
        flush=True,
    )
    proc, url = start_server(a.latency, a.turns)
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    cpu: dict[str, Any] | None = None
    try:
        for conc in concurrencies:
            ideal = 60 * conc / per_session_s
            common = ["--url", url, "--sessions", str(a.sessions), "--concurrency", str(conc)]
            for system in [s.strip() for s in a.systems.split(",") if s.strip()]:
                r = child(["--system", system, *common])
                r["per_min"] = 60 * a.sessions / r["wall_s"]
                rows[(system, conc)] = r
                print(
                    f"  c={conc:<4} {system:<11} {r['wall_s']:7.1f} s  {r['per_min']:7.1f} sessions/min  "
                    f"{100 * r['per_min'] / ideal:5.1f}% of ideal  reward {r['mean_reward']}  "
                    f"done {r['done']} failed {r['failed']}  peak RSS {r['peak_rss_mb']:.0f} MB",
                    flush=True,
                )
        if a.cpu_sessions:
            cpu = child(["--system", "cpu-simgap", "--url", url, "--sessions", str(a.cpu_sessions)])
        mem_rows: dict[str, dict[str, Any]] = {}
        if a.memory_sessions:
            if ("simgap", concurrencies[0]) in rows:
                src = rows[("simgap", concurrencies[0])]["db"]
            else:
                src = child(["--system", "simgap", "--url", url, "--sessions", "1"])["db"]
            mem_rows["simgap"] = child(
                ["--system", "mem-simgap", "--sessions", str(a.memory_sessions), "--source-db", src]
            )
            one = child(["--system", "tau2-one", "--url", url])["path"]
            mem_rows["tau2"] = child(
                ["--system", "mem-tau2", "--sessions", str(a.memory_sessions), "--source-db", one]
            )
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)

    print()
    print("| concurrency | system | wall s | sessions/min | × τ² | % of ideal | mean reward |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for (name, conc), r in rows.items():
        ideal = 60 * conc / per_session_s
        base = rows.get(("tau2", conc), {}).get("per_min")
        ratio = f"{r['per_min'] / base:.2f}" if base else "n/a"
        print(
            f"| {conc} | {name} | {r['wall_s']:.1f} | {r['per_min']:.1f} | {ratio} | "
            f"{100 * r['per_min'] / ideal:.1f} | {r['mean_reward']} |"
        )
    if cpu is not None:
        print()
        print(
            f"CPU per simgap session (concurrency 1, median of {cpu['sessions']}): total "
            f"{cpu['cpu_ms_median']:.0f} ms = model calls {cpu['model_ms_median']:.0f} ms + "
            f"harness {cpu['harness_ms_median']:.0f} ms (p90 {cpu['harness_ms_p90']:.0f} ms); "
            f"rewards {cpu['rewards']}"
        )
        print(
            f"profile of one session's harness (cProfile paused inside model calls; "
            f"{cpu['profile_total_ms'] - cpu['profile_model_ms']:.0f} ms of harness CPU with "
            f"the profiler's overhead), own CPU by area:"
        )
        for k, v in cpu["profile_buckets_ms"].items():
            print(f"  {k:<40} {v:8.1f} ms")
        print("  cumulative, selected functions:")
        for row in cpu["profile_cumulative"]:
            print(f"    {row['fn']:<50} {row['cum_ms']:8.1f} ms")
        print("  top harness functions by own CPU (outside model calls):")
        for row in cpu["profile_top_harness"]:
            print(f"    {row['fn'][:78]:<78} {row['own_ms']:8.1f} ms")
    if mem_rows:
        print()
        print(f"peak memory for {a.memory_sessions} stored sessions (RSS above the process "
              "after imports):")  # fmt: skip
        for name, m in mem_rows.items():
            print(
                f"  {name:<7} {m['peak_rss_mb'] - m['base_rss_mb']:7.1f} MB above base "
                f"(peak {m['peak_rss_mb']:.0f} MB, {m['turns']} messages)"
            )
        s, t = mem_rows["simgap"], mem_rows["tau2"]
        d_s = s["peak_rss_mb"] - s["base_rss_mb"]
        d_t = t["peak_rss_mb"] - t["base_rss_mb"]
        if d_s > 0:
            print(f"  τ² ÷ simgap: {d_t / d_s:.1f}×")


if __name__ == "__main__":
    main()
