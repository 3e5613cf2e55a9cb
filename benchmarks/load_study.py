"""Load test of the study app: simulated participants do the whole flow at once.

Two modes.

**One run** (default): N people (default 50) arriving together, each doing consent ->
briefing -> chat (M messages, each answered by the agent; the last asks for a cancellation,
which the scripted fake agent does with a real τ² tool call) -> end -> questionnaire -> done.
It prints wall time, the latency of every page (p50 / p95 / max per page type), send -> reply
times, CPU per process, and checks the store (every finished participant has a `done` session
with a τ² reward and a stored questionnaire). `--model fake` (default) is the fake
OpenAI-compatible server with a fixed latency (a hosted model: the numbers are the app's own
overhead plus that latency); `--model local` is the embedded SmolLM2-135M, loaded when the
server starts (the run begins once `/healthz` says it is ready).

**Capacity** (`--capacity`): how many people at once keep the send -> reply p95 under
`--target` seconds (10), for the embedded model and for the fake hosted model. For each model it
runs a ladder of group sizes (a fresh server and database each), stops at the first size that
misses the target (or loses a participant), and prints one table, the machine's load average
before and after (the numbers are only as good as the CPU they had), and the answer. The
per-study cap on chats at once is off during these runs: they measure what is behind it.

Everything runs on 127.0.0.1: the study server (`simgap study serve`, the real CLI), the fake
model server, and this script's async httpx clients. Bounded: at most 500 participants and
`--timeout` seconds per run (then everything is stopped and what finished is reported).

    .venv/bin/python benchmarks/load_study.py                  # 50 people, 3 messages each
    .venv/bin/python benchmarks/load_study.py -n 10 --json out.json
    .venv/bin/python benchmarks/load_study.py -n 3 --model local
    .venv/bin/python benchmarks/load_study.py --capacity       # the capacity table (~15 min)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import closing, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.fakes (the fake model server)

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
RESERVATION = "Z7GOZK"
EMBEDDED_LADDER = (1, 2, 3, 4, 6, 8)
HOSTED_LADDER = (10, 25, 50, 100, 200)


# -- the fake agent model (runs in its own process) ------------------------------------------------
def serve_fake_agent(latency_s: float) -> None:
    from tests.fakes.openai_server import FakeOpenAIServer, Reply

    def responder(req: dict[str, Any]) -> Reply:
        last = (req.get("messages") or [{}])[-1]
        if last.get("role") == "tool":
            return Reply.text(f"Done: reservation {RESERVATION} is cancelled. Anything else?")
        if "cancel" in str(last.get("content") or "").lower():
            return Reply.tool_call("cancel_reservation", {"reservation_id": RESERVATION})
        return Reply.text("Sure, I can help with that. Could you give me your user id?")

    stop = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)
    srv = FakeOpenAIServer(latency_s=latency_s, responder=responder).start()
    print(srv.base_url, flush=True)
    signal.sigwait(stop)
    srv.stop()


def group_cpu_s(pgid: int) -> float:
    """CPU seconds used so far by the live processes of a process group (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # field 5 (pgrp) is index 2 after the command name
            total += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return total


def free_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (what `uptime` prints)."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


# -- one participant -------------------------------------------------------------------------------
class Recorder:
    def __init__(self) -> None:
        self.lat: dict[str, list[float]] = defaultdict(list)
        self.reply_wait: list[float] = []
        self.start_wait: list[float] = []  # time on the "you are next" page
        self.errors: list[str] = []

    async def req(
        self, c: httpx.AsyncClient, kind: str, method: str, url: str, **kw: Any
    ) -> httpx.Response:
        """One request, redirects followed by hand so each page is timed on its own."""
        while True:
            t0 = time.perf_counter()
            try:
                r = await c.request(method, url, **kw)
            except httpx.HTTPError as e:
                raise RuntimeError(f"{method} {url}: {type(e).__name__} {e}") from None
            self.lat[kind].append(time.perf_counter() - t0)
            if r.status_code not in (301, 302, 303, 307):
                if r.status_code >= 400:
                    raise RuntimeError(f"{method} {url}: HTTP {r.status_code}")
                return r
            url = r.headers["location"]
            method, kw = "GET", {}
            kind = "GET " + url.split("?")[0]


async def participant(
    i: int,
    base: str,
    rec: Recorder,
    *,
    messages: int,
    think_s: float,
    read_s: float,
    ramp_s: float,
    n_total: int,
    answers: dict[str, str],
) -> float:
    rnd = random.Random(i)
    await asyncio.sleep(ramp_s * i / max(1, n_total))  # staggered arrival
    t0 = time.perf_counter()
    limits = httpx.Limits(keepalive_expiry=30)  # the server keeps connections 75 s
    async with httpx.AsyncClient(base_url=base, timeout=300, limits=limits) as c:
        r = await rec.req(c, "GET /start", "GET", f"/start?PROLIFIC_PID=load-{i:04d}")
        csrf = CSRF.search(r.text).group(1)  # type: ignore[union-attr]
        await rec.req(
            c,
            "POST /p/consent",
            "POST",
            "/p/consent",
            data={"csrf": csrf, "choice": "agree", "agree": "yes"},
        )
        await asyncio.sleep(read_s * (0.5 + rnd.random()))  # reading the scenario
        r = await rec.req(c, "POST /p/briefing", "POST", "/p/briefing", data={"csrf": csrf})
        if r.url.path == "/p/wait":  # the study is at its cap of chats at once
            tw = time.perf_counter()
            while True:
                await asyncio.sleep(1.0)
                st = (await c.get("/p/wait/state", headers={"X-Requested-With": "fetch"})).json()
                if st.get("start") or st.get("next"):
                    break
            rec.start_wait.append(time.perf_counter() - tw)
            await rec.req(c, "POST /p/briefing", "POST", "/p/briefing", data={"csrf": csrf})
        last = -1
        for k in range(messages):
            await asyncio.sleep(think_s * (0.5 + rnd.random()))  # reading and typing
            text = "please cancel my reservation" if k == messages - 1 else f"hello, message {k}"
            ts = time.perf_counter()
            r = await c.post(
                "/p/chat/send",
                data={"csrf": csrf, "text": text, "msg_id": f"{i}-{k}"},
                headers={"X-Requested-With": "fetch"},
            )
            rec.lat["POST /p/chat/send"].append(time.perf_counter() - ts)
            st = r.json()
            if r.status_code == 409 or st.get("ended"):
                break  # the agent (or a limit) ended the chat: on to the questions
            if r.status_code >= 400:
                raise RuntimeError(f"POST /p/chat/send: HTTP {r.status_code} {st}")
            while st.get("thinking"):
                msgs = st.get("messages") or []
                last = msgs[-1]["idx"] if msgs else last
                t1 = time.perf_counter()
                r = await c.get(
                    f"/p/chat/state?after={last}&wait=20", headers={"X-Requested-With": "fetch"}
                )
                rec.lat["GET /p/chat/state (long-poll)"].append(time.perf_counter() - t1)
                st = r.json()
            rec.reply_wait.append(time.perf_counter() - ts)
            if st.get("ended"):
                break
        await asyncio.sleep(think_s)
        await rec.req(c, "POST /p/chat/end", "POST", "/p/chat/end", data={"csrf": csrf})
        await asyncio.sleep(think_s)
        r = await rec.req(
            c, "POST /p/questionnaire", "POST", "/p/questionnaire", data={"csrf": csrf, **answers}
        )
        if "completion-code" not in r.text:
            raise RuntimeError(f"participant {i} did not reach the completion code")
    return time.perf_counter() - t0


def pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


# -- one run ---------------------------------------------------------------------------------------
@dataclass
class Run:
    """What one run of N participants measured."""

    model: str
    n: int
    wall_s: float = 0.0
    rewards_s: float = 0.0
    model_load_s: float | None = None
    finished: int = 0
    failures: list[str] = field(default_factory=list)
    sessions_done: int = 0
    rewarded_1: int = 0
    questionnaires: int = 0
    per_participant: list[float] = field(default_factory=list)
    pages: dict[str, dict[str, float]] = field(default_factory=dict)
    all_pages: list[float] = field(default_factory=list)
    reply_wait: list[float] = field(default_factory=list)
    start_wait: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.finished == self.n and self.questionnaires == self.n


def _answers() -> dict[str, str]:
    from simgap.models import ItemKind, load_questionnaire

    out: dict[str, str] = {}
    for it in load_questionnaire().items:
        if it.kind == ItemKind.ORDINAL:
            out[it.field] = it.options[-1]
        elif it.kind == ItemKind.LIKERT:
            out[it.field] = str(it.scale_max)
    return out


def run_load(
    n: int,
    *,
    model: str,
    latency: float,
    messages: int,
    think: float,
    read: float,
    ramp: float,
    timeout: float,
    db: str | None = None,
    cap: int | None = None,
    quiet: bool = False,
) -> Run:
    """Start a fake model (for `fake`), `simgap study serve` on a fresh store, and run `n`
    participants through it. `cap`: the study's `max_active_chats` (None: its default)."""
    from simgap.models import SessionStatus
    from simgap.store import Store

    work = Path(tempfile.mkdtemp(prefix="simgap-load-"))
    db = db or str(work / "study.db")
    procs: list[subprocess.Popen[bytes]] = []
    run = Run(model=model, n=n)
    results: list[Any] = []
    store: Any = None
    try:
        if model == "fake":
            fake = subprocess.Popen(
                [sys.executable, __file__, "--serve-fake-agent", "--latency", str(latency)],
                stdout=subprocess.PIPE,
                start_new_session=True,
            )
            procs.append(fake)
            assert fake.stdout is not None
            agent: dict[str, Any] = {
                "model": "openai/fake-agent",
                "api_base": fake.stdout.readline().decode().strip(),
                "api_key": "sk-load",
            }
        else:
            agent = {"model": "local"}
        n_tasks = 10
        per_task = math.ceil(n / n_tasks)
        study: dict[str, Any] = {
            "name": "load",
            "domain": "airline",
            # task 19 first: the scripted agent's cancellation solves it (reward 1)
            "tasks": ["19", *[str(k) for k in range(n_tasks - 1)]],
            "people_per_task": per_task,
            "batches": [f"b{k + 1}" for k in range(per_task)],
            "synthetic": True,
            "agent": agent,
            "completion": {"code": "LOAD"},
        }
        if cap is not None:
            study["max_active_chats"] = cap
        config = work / "study.yaml"
        config.write_text(json.dumps(study))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = (work / "serve.log").open("wb")
        srv = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from simgap.cli.app import main; main()",
                "study",
                "serve",
                "--config",
                str(config),
                "--db",
                db,
                "--port",
                str(port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "SIMGAP_ADMIN_PASSWORD": "load-test"},
        )
        procs.append(srv)
        # Up, and its model loaded (the embedded one loads when the server starts).
        deadline = time.monotonic() + 600
        while True:
            try:
                h = httpx.get(base + "/healthz", timeout=2)
                if h.status_code == 200:
                    run.model_load_s = h.json()["model"]["load_s"]
                    break
                if h.json().get("status") == "error":
                    raise SystemExit(f"the agent's model failed to load: {h.text}")
            except httpx.HTTPError:
                pass
            if srv.poll() is not None or time.monotonic() > deadline:
                print((work / "serve.log").read_text()[-3000:], file=sys.stderr)
                raise SystemExit("the study server did not start")
            time.sleep(0.3)

        answers = _answers()
        rec = Recorder()

        async def run_all() -> list[Any]:
            jobs = [
                asyncio.create_task(
                    participant(
                        i,
                        base,
                        rec,
                        messages=messages,
                        think_s=think,
                        read_s=read,
                        ramp_s=ramp,
                        n_total=n,
                        answers=answers,
                    )
                )
                for i in range(n)
            ]
            done, pending = await asyncio.wait(jobs, timeout=timeout)
            for j in pending:
                j.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            return [j.result() if not j.exception() else j.exception() for j in done]

        if not quiet:
            print(
                f"{n} participants × {messages} messages; model {model}"
                + (f" (latency {latency}s)" if model == "fake" else "")
                + f"; think {think}s, read {read}s, arrivals over {ramp}s; store {db}; "
                f"{os.cpu_count()} CPU cores; load average {load_average()}"
            )
        t0 = time.perf_counter()
        results = asyncio.run(run_all())
        run.wall_s = time.perf_counter() - t0
        # τ²'s rewards are computed after each participant moved on: wait until all are stored.
        store = Store(db)
        n_ok = sum(1 for r in results if isinstance(r, float))
        while time.perf_counter() - t0 < timeout:
            done_now = sum(
                1
                for s in store.iter_sessions(with_turns=False)
                if s.status == SessionStatus.DONE and s.reward is not None
            )
            if done_now >= n_ok:
                break
            time.sleep(0.5)
        run.rewards_s = time.perf_counter() - t0
        run.cpu = {
            "study server (+ model, reward workers)": group_cpu_s(srv.pid),
            "load clients (this script)": time.process_time(),
        }
        if model == "fake":
            run.cpu["fake model server"] = group_cpu_s(procs[0].pid)
        run.reply_wait, run.start_wait = rec.reply_wait, rec.start_wait
        for kind in sorted(rec.lat):
            xs = rec.lat[kind]
            run.pages[kind] = {
                "n": len(xs),
                "p50": pct(xs, 0.5),
                "p95": pct(xs, 0.95),
                "max": max(xs),
            }
        run.all_pages = [x for k, xs in rec.lat.items() if "long-poll" not in k for x in xs]
    finally:
        for p in reversed(procs):
            with suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            with suppress(subprocess.TimeoutExpired):
                p.wait(timeout=30)

    run.per_participant = [r for r in results if isinstance(r, float)]
    run.finished = len(run.per_participant)
    run.failures = [f"{type(e).__name__}: {e}" for e in results if not isinstance(e, float)]
    run.failures += ["cut off by the time limit"] * (n - len(results))
    if store is not None:
        sessions = list(store.iter_sessions(with_turns=False))
        done = [s for s in sessions if s.status == SessionStatus.DONE and s.reward is not None]
        run.sessions_done = len(done)
        run.rewarded_1 = sum(1 for s in done if s.reward and s.reward.value == 1.0)
        run.questionnaires = len({f.session_id for f in store.get_feedback()})
    return run


def print_run(run: Run, timeout: float) -> None:
    n = run.n
    print(
        f"\nfinished {run.finished}/{n} participants in {run.wall_s:.1f} s wall time "
        f"({len(run.failures)} failed or cut off by the {timeout:.0f} s limit)"
    )
    for e in run.failures[:5]:
        print(f"  failure: {e}")
    ok = run.per_participant
    if ok:
        print(f"per participant: median {statistics.median(ok):.1f} s, max {max(ok):.1f} s")
    if run.model_load_s is not None:
        print(f"model loaded at server start in {run.model_load_s:.1f} s")
    print(f"all τ² rewards stored {run.rewards_s:.1f} s after the start")
    print("CPU used: " + ", ".join(f"{k} {v:.1f} s" for k, v in run.cpu.items()))
    print(
        f"store: {run.sessions_done} sessions done with a τ² reward "
        f"({run.rewarded_1} with reward 1), {run.questionnaires} questionnaires"
    )
    print(f"\n{'page':34} {'n':>5} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9}")
    for kind, row in run.pages.items():
        print(
            f"{kind:34} {int(row['n']):5d} {1000 * row['p50']:9.1f} "
            f"{1000 * row['p95']:9.1f} {1000 * row['max']:9.1f}"
        )
    pages, rw = run.all_pages, run.reply_wait
    if pages:
        print(
            f"{'ALL PAGES (no long-polls)':34} {len(pages):5d} {1000 * pct(pages, 0.5):9.1f} "
            f"{1000 * pct(pages, 0.95):9.1f} {1000 * max(pages):9.1f}"
        )
    if rw:
        print(
            f"{'send -> agent reply shown':34} {len(rw):5d} {1000 * pct(rw, 0.5):9.1f} "
            f"{1000 * pct(rw, 0.95):9.1f} {1000 * max(rw):9.1f}"
        )
    if run.start_wait:
        sw = run.start_wait
        print(
            f"{'waiting for a chat (cap reached)':34} {len(sw):5d} {1000 * pct(sw, 0.5):9.1f} "
            f"{1000 * pct(sw, 0.95):9.1f} {1000 * max(sw):9.1f}"
        )


def run_json(run: Run) -> dict[str, Any]:
    return {
        "model": run.model,
        "participants": run.n,
        "finished": run.finished,
        "wall_s": run.wall_s,
        "rewards_stored_s": run.rewards_s,
        "model_load_s": run.model_load_s,
        "pages": run.pages,
        "all_pages": {"p50": pct(run.all_pages, 0.5), "p95": pct(run.all_pages, 0.95)},
        "reply_wait": {"p50": pct(run.reply_wait, 0.5), "p95": pct(run.reply_wait, 0.95)},
        "sessions_done": run.sessions_done,
        "questionnaires": run.questionnaires,
        "failures": run.failures,
    }


# -- capacity --------------------------------------------------------------------------------------
def capacity(args: argparse.Namespace) -> int:
    """The ladder for each model, one table, and the answer (see the module docstring)."""
    models = [("local", EMBEDDED_LADDER), ("fake", HOSTED_LADDER)]
    if args.only:
        models = [m for m in models if m[0] == args.only]
    names = {"local": "embedded SmolLM2-135M", "fake": f"fake hosted ({args.latency:g} s)"}
    before = load_average()
    t_start = time.perf_counter()
    print(
        f"capacity: send -> reply p95 under {args.target:g} s; {os.cpu_count()} CPU cores; "
        f"{args.messages} messages per person, think {args.think:g} s, read {args.read:g} s, "
        f"arrivals over {args.ramp:g} s; load average before: {before}",
        flush=True,
    )
    rows: list[tuple[str, Run, bool]] = []
    best: dict[str, int] = {}
    for model, ladder in models:
        for n in ladder:
            run = run_load(
                n,
                model=model,
                latency=args.latency,
                messages=args.messages,
                think=args.think,
                read=args.read,
                ramp=args.ramp,
                timeout=args.timeout,
                cap=100_000,  # measure what is behind the study's cap
                quiet=True,
            )
            good = run.ok and bool(run.reply_wait) and pct(run.reply_wait, 0.95) < args.target
            rows.append((model, run, good))
            rw = run.reply_wait
            print(
                f"  {names[model]}, {n} people: {run.finished}/{n} finished, send -> reply "
                f"p95 {pct(rw, 0.95):.1f} s; load average now {load_average()}",
                flush=True,
            )
            if not good:
                break
            best[model] = n
    after = load_average()
    print(
        f"\n| model | people at once | finished | replies | send → reply p50 | p95 | max "
        f"| pages p95 | p95 < {args.target:g} s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for model, run, good in rows:
        rw = run.reply_wait
        print(
            f"| {names[model]} | {run.n} | {run.finished}/{run.n} | {len(rw)} "
            f"| {pct(rw, 0.5):.1f} s | {pct(rw, 0.95):.1f} s | {max(rw, default=float('nan')):.1f} s "
            f"| {1000 * pct(run.all_pages, 0.95):.0f} ms | {'yes' if good else 'no'} |"
        )
    print(
        f"\nload average before {before}, after {after} ({os.cpu_count()} cores; "
        f"{(time.perf_counter() - t_start) / 60:.1f} min)"
    )
    for model, ladder in models:
        k = best.get(model)
        tried = [r.n for m, r, _ in rows if m == model]
        if k is None:
            print(
                f"{names[model]}: not even {tried[0]} people at once keep p95 < {args.target:g} s"
            )
        elif k == tried[-1] and k == ladder[-1]:
            print(f"{names[model]}: at least {k} people at once (the largest group tried)")
        else:
            print(f"{names[model]}: up to {k} people at once keep p95 < {args.target:g} s")
    if args.json_out:
        Path(args.json_out).write_text(
            json.dumps(
                {
                    "load_before": before,
                    "load_after": after,
                    "cores": os.cpu_count(),
                    "target_s": args.target,
                    "best": best,
                    "runs": [run_json(r) | {"meets_target": g} for _, r, g in rows],
                },
                indent=2,
            )
        )
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("-n", "--participants", type=int, default=50, help="people at once (max 500)")
    ap.add_argument("--model", choices=["fake", "local"], default="fake", help="agent's model")
    ap.add_argument("--messages", type=int, default=None, help="chat messages per person (3)")
    ap.add_argument("--latency", type=float, default=0.2, help="fake model latency per call (s)")
    ap.add_argument("--think", type=float, default=None, help="mean pause between actions (s)")
    ap.add_argument("--read", type=float, default=None, help="mean time reading the briefing (s)")
    ap.add_argument("--ramp", type=float, default=None, help="arrivals spread over this many s")
    ap.add_argument("--timeout", type=float, default=None, help="hard limit for a run (s)")
    ap.add_argument("--db", default=None, help="store (default: a temporary SQLite file)")
    ap.add_argument("--json", dest="json_out", default=None, help="also write results here")
    ap.add_argument(
        "--capacity",
        action="store_true",
        help="the capacity table: people at once with send -> reply p95 under --target",
    )
    ap.add_argument("--target", type=float, default=10.0, help="capacity: p95 target (s)")
    ap.add_argument("--only", choices=["fake", "local"], default=None, help="capacity: one model")
    ap.add_argument("--serve-fake-agent", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_fake_agent:
        serve_fake_agent(args.latency)
        return 0
    # One run: a burst (1 s between actions); capacity: people who take ~10 s per message.
    for name, single, cap_mode in (
        ("messages", 3, 3),
        ("think", 1.0, 10.0),
        ("read", 5.0, 10.0),
        ("ramp", 0.0, 10.0),
        ("timeout", 300.0, 900.0),
    ):
        if getattr(args, name) is None:
            setattr(args, name, cap_mode if args.capacity else single)
    if args.capacity:
        return capacity(args)
    n = max(1, min(500, args.participants))
    run = run_load(
        n,
        model=args.model,
        latency=args.latency,
        messages=args.messages,
        think=args.think,
        read=args.read,
        ramp=args.ramp,
        timeout=args.timeout,
        db=args.db,
    )
    print_run(run, args.timeout)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(run_json(run), indent=2))
    return 0 if run.ok and run.sessions_done == n else 1


if __name__ == "__main__":
    raise SystemExit(main())
