"""Benchmark: peak memory (RSS) of a sweep stays flat in the number of sessions.

What runs: one `SweepRunner` sweep of N real sessions (environment, agent, τ² user simulator
prompt, every turn written to SQLite, τ² reward through the fast path) at concurrency 32, for
N = 1,000 and N = 10,000, each in a fresh subprocess. To make 10,000 sessions fit in minutes on
a 2-core machine the sessions are short and cheap: τ²'s `mock` domain (a tiny database), task
`update_task_1`, four model calls per session (customer asks, agent calls
`update_task_status`, agent answers, customer stops), answered by a scripted client:

* `--client inproc` (default): a scripted `LLMClient` in the process (no HTTP), so the harness,
  not litellm, is what is measured;
* `--client http`: the project's fake OpenAI-compatible server (tests/fakes) through litellm,
  slower (use a smaller N), to check the model-call path does not grow either.

Printed: peak RSS of each run, RSS sampled every N/10 sessions (flat = no per-session growth),
and the ratio peak(10,000) ÷ peak(1,000), which should be ~1.

Run: `.venv/bin/python benchmarks/bench_sweep_memory.py [--sizes 1000,10000] [--client inproc]`
"""

from __future__ import annotations

import argparse
import json
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

DOMAIN, TASK_ID = "mock", "update_task_1"


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _is_user(model: str) -> bool:
    return "user" in model


def scripted_reply(model: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The four-call conversation (same logic for both clients)."""
    if _is_user(model):
        n = sum(1 for m in messages if m["role"] == "assistant")
        if n <= 1:
            return {"content": "Please mark task_1 as completed."}
        return {"content": "Thanks! ###STOP###"}
    if messages[-1]["role"] == "tool":
        return {"content": "Done: task_1 is completed."}
    return {
        "tool": ("update_task_status", {"task_id": "task_1", "status": "completed"}),
    }


class ScriptedClient:
    """In-process `LLMClient` answering the scripted conversation."""

    def __init__(self, config: Any) -> None:
        self.config = config
        self._n = 0

    async def complete(self, request: Any) -> Any:
        from simgap.llm.base import ChatResponse
        from simgap.models import ToolCall, Usage

        r = scripted_reply(request.model, request.messages)
        self._n += 1
        calls = []
        if "tool" in r:
            name, args = r["tool"]
            calls = [ToolCall(id=f"call_{self._n}", name=name, arguments=args)]
        return ChatResponse(
            content=r.get("content"),
            tool_calls=calls,
            finish_reason="tool_calls" if calls else "stop",
            model=request.model,
            usage=Usage(prompt_tokens=10, completion_tokens=5, calls=1),
        )

    async def aclose(self) -> None:
        return None


def serve() -> None:
    from tests.fakes.openai_server import FakeOpenAIServer, Reply

    def respond(body: dict[str, Any]) -> Reply:
        r = scripted_reply(str(body.get("model", "")), body["messages"])
        if "tool" in r:
            name, args = r["tool"]
            return Reply.tool_call(name, args)
        return Reply.text(r["content"])

    srv = FakeOpenAIServer(latency_s=0.0, responder=respond).start()
    print(srv.base_url, flush=True)
    try:
        sys.stdin.read()
    finally:
        srv.stop()


def run_sweep(n: int, concurrency: int, url: str | None) -> dict[str, Any]:
    import asyncio

    from simgap.domains import load_tasks
    from simgap.llm.base import ModelConfig
    from simgap.llm.factory import make_client
    from simgap.models import AgentSpec
    from simgap.sessions import RunOptions, SweepRunner, plan_sessions
    from simgap.sessions.runner import SessionOutcome
    from simgap.store import Store
    from simgap.users import UserPreset

    def cfg(name: str) -> ModelConfig:
        return ModelConfig(
            model=f"openai/{name}", api_base=url or "http://127.0.0.1:9", api_key="sk-x"
        )

    agent_cfg = cfg("bench-agent")
    preset = UserPreset(name="bench-user", kind="tau2", model=cfg("bench-user"))
    tasks = load_tasks(DOMAIN, task_ids=[TASK_ID])
    spec = AgentSpec(name="llm", model=agent_cfg.model, settings=agent_cfg.public())
    plans = plan_sessions(tasks, [preset], agent=spec, trials=n)
    store = Store(Path(tempfile.mkdtemp(prefix="simgap-sweepmem-")) / "runs.db")
    factory = (
        (lambda c, cache: make_client(c, cache=cache))
        if url
        else (lambda c, cache: ScriptedClient(c))
    )
    samples: list[tuple[int, float]] = []
    every = max(1, n // 10)

    class Sink:
        done = 0

        def sweep_started(self, *a: Any, **k: Any) -> None:
            samples.append((0, _rss_mb()))

        def session_finished(self, out: SessionOutcome) -> None:
            Sink.done += 1
            if Sink.done % every == 0:
                samples.append((Sink.done, _rss_mb()))

    async def go() -> Any:
        runner = SweepRunner(
            store,
            agent_config=agent_cfg,
            options=RunOptions(concurrency=concurrency, use_cache=False),
            client_factory=factory,  # type: ignore[arg-type]
        )
        try:
            return await runner.run(plans, Sink())  # type: ignore[arg-type]
        finally:
            await runner.aclose()

    t0 = time.perf_counter()
    summary = asyncio.run(go())
    wall = time.perf_counter() - t0
    rewards = [s.reward.value for s in store.iter_sessions(with_turns=False) if s.reward]
    return {
        "n": n,
        "wall_s": wall,
        "done": summary.done,
        "failed": summary.failed,
        "mean_reward": sum(rewards) / len(rewards) if rewards else None,
        "peak_rss_mb": _peak_mb(),
        "samples": samples,
    }


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
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--client", choices=["inproc", "http"], default="inproc")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--run", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.serve:
        serve()
        return
    if a.run:
        print(json.dumps(run_sweep(a.run, a.concurrency, a.url)), flush=True)
        return

    proc = None
    url_args: list[str] = []
    if a.client == "http":
        proc = subprocess.Popen(
            [sys.executable, __file__, "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert proc.stdout is not None
        url_args = ["--url", proc.stdout.readline().strip()]
    sizes = [int(x) for x in a.sizes.split(",")]
    print(
        f"sweeps of τ² {DOMAIN} task {TASK_ID}, 4 model calls per session ({a.client} client), "
        f"concurrency {a.concurrency}; sizes {sizes}",
        flush=True,
    )
    rows = []
    try:
        for n in sizes:
            r = child(["--run", str(n), "--concurrency", str(a.concurrency), *url_args])
            rows.append(r)
            trace = " ".join(f"{k}:{v:.0f}" for k, v in r["samples"])
            print(
                f"  {n:>6} sessions: {r['wall_s']:7.1f} s ({60 * n / r['wall_s']:.0f}/min), "
                f"done {r['done']} failed {r['failed']} reward {r['mean_reward']}, "
                f"peak RSS {r['peak_rss_mb']:.0f} MB; RSS (MB) by sessions done: {trace}",
                flush=True,
            )
    finally:
        if proc is not None:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(timeout=30)
    print()
    print("| sessions | wall s | peak RSS MB | RSS after 10% MB | RSS at end MB |")
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        s = r["samples"]
        first = s[1][1] if len(s) > 1 else float("nan")
        print(
            f"| {r['n']} | {r['wall_s']:.0f} | {r['peak_rss_mb']:.0f} | {first:.0f} | {s[-1][1]:.0f} |"
        )
    if len(rows) >= 2:
        print(
            f"\npeak RSS {rows[-1]['n']} ÷ {rows[0]['n']} sessions: "
            f"{rows[-1]['peak_rss_mb'] / rows[0]['peak_rss_mb']:.2f}×"
        )


if __name__ == "__main__":
    main()
