"""Load test of the study app: N simulated participants do the whole flow at once.

What it measures: wall time for N people (default 50) arriving together, each doing consent ->
briefing -> chat (M messages, each answered by the agent; one triggers a real τ² tool call) ->
end -> questionnaire -> done, and the latency of every page (p50 / p95 / max per page type).
The agent's model is the fake OpenAI-compatible server with a fixed latency, so the numbers are
the app's own overhead plus that latency, not a model's speed.

Everything runs on 127.0.0.1 in three processes: the study server (`simgap study serve`, the
real CLI), the fake model server, and this script's async httpx clients. Bounded: at most
--participants people and --timeout seconds (then everything is stopped and what finished is
reported). Afterwards the store is checked: every finished participant must have a `done`
session with a τ² reward and a stored questionnaire.

    .venv/bin/python benchmarks/load_study.py                  # 50 people, 3 messages each
    .venv/bin/python benchmarks/load_study.py -n 10 --json out.json
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
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.fakes (the fake model server)

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
RESERVATION = "Z7GOZK"


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


# -- one participant -------------------------------------------------------------------------------
class Recorder:
    def __init__(self) -> None:
        self.lat: dict[str, list[float]] = defaultdict(list)
        self.reply_wait: list[float] = []
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
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as c:
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
        last = -1
        for k in range(messages):
            await asyncio.sleep(think_s * (0.5 + rnd.random()))  # reading and typing
            text = "please cancel my reservation" if k == messages - 1 else f"hello, message {k}"
            ts = time.perf_counter()
            r = await rec.req(
                c,
                "POST /p/chat/send",
                "POST",
                "/p/chat/send",
                data={"csrf": csrf, "text": text, "msg_id": f"{i}-{k}"},
                headers={"X-Requested-With": "fetch"},
            )
            st = r.json()
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


# -- the run ---------------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("-n", "--participants", type=int, default=50, help="people at once (max 500)")
    ap.add_argument("--messages", type=int, default=3, help="chat messages per person")
    ap.add_argument("--latency", type=float, default=0.2, help="fake model latency per call (s)")
    ap.add_argument("--think", type=float, default=1.0, help="mean pause between actions (s)")
    ap.add_argument("--read", type=float, default=5.0, help="mean time reading the briefing (s)")
    ap.add_argument("--ramp", type=float, default=0.0, help="arrivals spread over this many s")
    ap.add_argument("--timeout", type=float, default=300.0, help="hard limit for the run (s)")
    ap.add_argument("--db", default=None, help="store (default: a temporary SQLite file)")
    ap.add_argument("--json", dest="json_out", default=None, help="also write results here")
    ap.add_argument("--serve-fake-agent", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_fake_agent:
        serve_fake_agent(args.latency)
        return 0
    n = max(1, min(500, args.participants))

    from simgap.models import ItemKind, SessionStatus, load_questionnaire
    from simgap.store import Store

    work = Path(tempfile.mkdtemp(prefix="simgap-load-"))
    db = args.db or str(work / "study.db")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        fake = subprocess.Popen(
            [sys.executable, __file__, "--serve-fake-agent", "--latency", str(args.latency)],
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        procs.append(fake)
        assert fake.stdout is not None
        api_base = fake.stdout.readline().decode().strip()
        n_tasks = 10
        per_task = math.ceil(n / n_tasks)
        config = work / "study.yaml"
        config.write_text(
            json.dumps(
                {
                    "name": "load",
                    "domain": "airline",
                    # task 19 first: the scripted agent's cancellation solves it (reward 1)
                    "tasks": ["19", *[str(k) for k in range(n_tasks - 1)]],
                    "people_per_task": per_task,
                    "batches": [f"b{k + 1}" for k in range(per_task)],
                    "synthetic": True,
                    "agent": {
                        "model": "openai/fake-agent",
                        "api_base": api_base,
                        "api_key": "sk-load",
                    },
                    "completion": {"code": "LOAD"},
                }
            )
        )
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
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(base + "/", timeout=1)
                break
            except httpx.HTTPError:
                if srv.poll() is not None or time.monotonic() > deadline:
                    print((work / "serve.log").read_text()[-3000:], file=sys.stderr)
                    raise SystemExit("the study server did not start") from None
                time.sleep(0.2)

        answers: dict[str, str] = {}
        for it in load_questionnaire().items:
            if it.kind == ItemKind.ORDINAL:
                answers[it.field] = it.options[-1]
            elif it.kind == ItemKind.LIKERT:
                answers[it.field] = str(it.scale_max)

        rec = Recorder()

        async def run_all() -> list[Any]:
            jobs = [
                asyncio.create_task(
                    participant(
                        i,
                        base,
                        rec,
                        messages=args.messages,
                        think_s=args.think,
                        read_s=args.read,
                        ramp_s=args.ramp,
                        n_total=n,
                        answers=answers,
                    )
                )
                for i in range(n)
            ]
            done, pending = await asyncio.wait(jobs, timeout=args.timeout)
            for j in pending:
                j.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            return [j.result() if not j.exception() else j.exception() for j in done]

        print(
            f"{n} participants × {args.messages} messages; model latency {args.latency}s; "
            f"think {args.think}s, read {args.read}s, arrivals over {args.ramp}s; store {db}; "
            f"{os.cpu_count()} CPU cores"
        )
        t0 = time.perf_counter()
        results = asyncio.run(run_all())
        wall = time.perf_counter() - t0
        # τ²'s rewards are computed after each participant moved on: wait until all are stored.
        store = Store(db)
        n_ok = sum(1 for r in results if isinstance(r, float))
        while time.perf_counter() - t0 < args.timeout:
            done_now = sum(
                1
                for s in store.iter_sessions(with_turns=False)
                if s.status == SessionStatus.DONE and s.reward is not None
            )
            if done_now >= n_ok:
                break
            time.sleep(0.5)
        rewards_wall = time.perf_counter() - t0
        cpu = {
            "study server (+ reward workers)": group_cpu_s(srv.pid),
            "fake model server": group_cpu_s(fake.pid),
            "load clients (this script)": time.process_time(),
        }
    finally:
        for p in reversed(procs):
            with suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            with suppress(subprocess.TimeoutExpired):
                p.wait(timeout=30)

    ok = [r for r in results if isinstance(r, float)]
    failed = [r for r in results if not isinstance(r, float)]
    sessions = list(store.iter_sessions(with_turns=False))
    done = [s for s in sessions if s.status == SessionStatus.DONE and s.reward is not None]
    fb = {f.session_id for f in store.get_feedback()}
    print(
        f"\nfinished {len(ok)}/{n} participants in {wall:.1f} s wall time "
        f"({len(failed)} failed, {n - len(results)} cut off by the {args.timeout:.0f} s limit)"
    )
    for e in failed[:5]:
        print(f"  failure: {type(e).__name__}: {e}")
    print(
        f"per participant: median {statistics.median(ok):.1f} s, max {max(ok):.1f} s" if ok else ""
    )
    print(f"all τ² rewards stored {rewards_wall:.1f} s after the start")
    print("CPU used: " + ", ".join(f"{k} {v:.1f} s" for k, v in cpu.items()))
    print(
        f"store: {len(done)} sessions done with a τ² reward "
        f"({sum(1 for s in done if s.reward and s.reward.value == 1.0)} with reward 1), "
        f"{len(fb)} questionnaires"
    )
    print(f"\n{'page':34} {'n':>5} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9}")
    rows = {}
    for kind in sorted(rec.lat):
        xs = rec.lat[kind]
        rows[kind] = {"n": len(xs), "p50": pct(xs, 0.5), "p95": pct(xs, 0.95), "max": max(xs)}
        print(
            f"{kind:34} {len(xs):5d} {1000 * rows[kind]['p50']:9.1f} "
            f"{1000 * rows[kind]['p95']:9.1f} {1000 * rows[kind]['max']:9.1f}"
        )
    pages = [x for k, xs in rec.lat.items() if "long-poll" not in k for x in xs]
    print(
        f"{'ALL PAGES (no long-polls)':34} {len(pages):5d} {1000 * pct(pages, 0.5):9.1f} "
        f"{1000 * pct(pages, 0.95):9.1f} {1000 * max(pages):9.1f}"
    )
    rw = rec.reply_wait
    print(
        f"{'send -> agent reply shown':34} {len(rw):5d} {1000 * pct(rw, 0.5):9.1f} "
        f"{1000 * pct(rw, 0.95):9.1f} {1000 * max(rw):9.1f}"
    )
    if args.json_out:
        Path(args.json_out).write_text(
            json.dumps(
                {
                    "participants": n,
                    "finished": len(ok),
                    "wall_s": wall,
                    "rewards_stored_s": rewards_wall,
                    "pages": rows,
                    "all_pages": {"p50": pct(pages, 0.5), "p95": pct(pages, 0.95)},
                    "reply_wait": {"p50": pct(rw, 0.5), "p95": pct(rw, 0.95)},
                    "sessions_done": len(done),
                    "questionnaires": len(fb),
                },
                indent=2,
            )
        )
    return 0 if len(ok) == n and len(done) == n and len(fb) == n else 1


if __name__ == "__main__":
    raise SystemExit(main())
