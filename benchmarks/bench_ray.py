"""Benchmark: sessions/min of the local engine against `--engine ray` on one and on two nodes,
same sessions, same fake-latency model server, same PostgreSQL store, in one run; then what
the measured costs mean for N machines.

What runs: N sessions of τ² airline task 19 (the scripted conversation of bench_harness.py:
the customer asks `--turns` questions, then has the reservation cancelled; 3·turns+4 model
calls per session), the agent and the customer served by the project's fake OpenAI-compatible
server (tests/fakes) in a process of its own with a fixed latency per call. Each system runs
in a fresh subprocess (the driver), at the same concurrency (sessions in flight in total):

* `local`: the asyncio engine, one process;
* `ray-1`: a Ray cluster of one node (the head, `--ray-worker-cpus`·1 CPU: one worker);
* `ray-2`: the same cluster after a second node joined (`ray start --address`): two workers.

Ray listens on every interface (2.60 rewrites 127.0.0.1 to the host's address), so the whole
benchmark runs in a loopback-only network namespace (and a PID namespace, so every process
it starts dies with it): the script re-runs itself under `unshare --net --pid` (root).

Measured per system: wall time of the sweep (start of the engine to its summary: includes the
Ray workers' start, which imports τ²), sessions/min over that wall time and in the steady state
(between the first and the last finished session), and CPU seconds per session on each side:
the driver, the nodes (raylets with their reaped workers), PostgreSQL (postmaster with its
reaped backends) and the model server. Printed with the machine's load average, which matters
on a shared machine.

Then a model, not a measurement: throughput of N nodes of `--node-cores` cores is the least of
what the nodes' CPU allows (N·cores ÷ node CPU per session), what the store allows (its cores
÷ store CPU per session), what the driver allows (1 core ÷ driver CPU per session), what the
model endpoint allows (its calls/min ÷ calls per session) and what the latency allows
(concurrency ÷ seconds per session). Each limit comes from this run's numbers.

Run (as root): `.venv/bin/python benchmarks/bench_ray.py [--sessions 48] [--concurrency 16]
[--latency 0.1] [--turns 3]`
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT, ROOT / "benchmarks"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

NETNS_ENV = "SIMGAP_IN_NETNS"
CLK = os.sysconf("SC_CLK_TCK")


# -- process CPU (this PID namespace holds only the benchmark's processes) --------------------
def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def cpu_s(pid: int, *, children: bool = True) -> float:
    """utime + stime (+ reaped children's) of a process, in seconds."""
    f = _stat(pid)
    if f is None:
        return 0.0
    ticks = int(f[11]) + int(f[12]) + ((int(f[13]) + int(f[14])) if children else 0)
    return ticks / CLK


def pids_named(name: str) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if Path(f"/proc/{d}/comm").read_text().strip() == name:
                    out.append(int(d))
            except OSError:
                pass
    return out


class WorkerCPU:
    """CPU of Ray's worker processes (`ray::...`), sampled while a sweep runs: they are killed
    at its end, and a killed worker's CPU is not reliably added to its raylet's children
    time. A process that dies between two samples loses at most one interval of CPU."""

    def __init__(self, every_s: float = 0.25) -> None:
        import threading

        self.every_s = every_s
        self.last: dict[int, float] = {}
        self.start: dict[int, float] = self._sample()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    @staticmethod
    def _sample() -> dict[int, float]:
        out = {}
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                if not Path(f"/proc/{d}/cmdline").read_bytes().startswith(b"ray::"):
                    continue
            except OSError:
                continue
            out[int(d)] = cpu_s(int(d), children=False)
        return out

    def _loop(self) -> None:
        while not self._stop.is_set():
            for pid, v in self._sample().items():
                if v:
                    self.last[pid] = max(v, self.last.get(pid, 0.0))
            self._stop.wait(self.every_s)

    def stop(self) -> float:
        """CPU seconds the workers spent since this object was made."""
        self._stop.set()
        self._thread.join()
        return sum(v - self.start.get(pid, 0.0) for pid, v in self.last.items())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- PostgreSQL ------------------------------------------------------------------------------
@contextmanager
def postgres() -> Iterator[tuple[str, int]]:
    """A throwaway server on 127.0.0.1 (Debian's binaries), as the tests start one. Yields its
    URL (no database) and the postmaster's pid."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise SystemExit("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    bindir = Path(found[-1]).parent
    base = Path(tempfile.mkdtemp(prefix="simgap-bench-pg-", dir="/tmp"))
    base.chmod(0o755)
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    data, sock, port = base / "data", base / "sock", free_port()

    def run(*a: str) -> None:
        subprocess.run([*prefix, *a], check=True, capture_output=True, timeout=120)

    run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    run("mkdir", "-p", str(sock))
    opts = (
        f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={sock} "
        "-c max_connections=200"
    )
    run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(base / "log"), "-o", opts, "-w", "start")
    pid = int((data / "postmaster.pid").read_text().split()[0])
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}", pid
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(base, ignore_errors=True)


def new_database(server: str) -> str:
    import psycopg

    name = "bench_" + uuid.uuid4().hex[:8]
    dsn = server.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server}/{name}"


# -- Ray nodes -------------------------------------------------------------------------------
RAY = str(Path(sys.executable).with_name("ray"))


class Cluster:
    def __init__(self, root: Path, cpus: int) -> None:
        self.root, self.cpus, self.port = root, cpus, free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.nodes: list[subprocess.Popen[bytes]] = []

    def env(self) -> dict[str, str]:
        return {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}

    def add_node(self) -> None:
        head = not self.nodes
        args = [RAY, "start", "--block", "--node-ip-address=127.0.0.1", f"--num-cpus={self.cpus}",
                f"--temp-dir={self.root / f'node{len(self.nodes)}'}", "--disable-usage-stats"]  # fmt: skip
        args += (
            [f"--port={self.port}", "--head", "--include-dashboard=false"]
            if head
            else [f"--address={self.address}"]
        )
        log = (self.root / f"node{len(self.nodes)}.log").open("wb")
        self.nodes.append(
            subprocess.Popen(args, env=self.env(), stdout=log, stderr=subprocess.STDOUT)
        )
        want = len(self.nodes)
        deadline = time.monotonic() + 300
        while len(pids_named("raylet")) < want:
            if time.monotonic() > deadline:
                raise SystemExit(f"node {want} did not start: see {log.name}")
            time.sleep(0.5)
        time.sleep(5)  # let it register with the GCS

    def cpu(self) -> float:
        return sum(cpu_s(p) for p in pids_named("raylet"))

    def stop(self) -> None:
        for p in reversed(self.nodes):
            p.send_signal(signal.SIGTERM)
        for p in self.nodes:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()


# -- one system, in its own process (the driver) --------------------------------------------
def drive(args: argparse.Namespace) -> None:
    """Run the sweep on one engine and print what it measured as JSON (last line)."""
    import resource

    from bench_harness import TASK_ID

    from simgap.domains import load_tasks
    from simgap.llm.base import ModelConfig
    from simgap.models import AgentSpec
    from simgap.sessions import RunOptions, plan_sessions, run_sweep
    from simgap.store import Store
    from simgap.users import UserPreset

    def cfg(name: str) -> ModelConfig:
        return ModelConfig(
            model=f"openai/{name}", api_base=args.url, api_key="sk-bench", timeout_s=120
        )

    agent_cfg = cfg("bench-agent")
    preset = UserPreset(name="bench-user", kind="tau2", model=cfg("bench-user"))
    tasks = load_tasks("airline", task_ids=[TASK_ID])
    spec = AgentSpec(name="llm", model=agent_cfg.model, settings=agent_cfg.public())
    plans = plan_sessions(tasks, [preset], agent=spec, trials=args.sessions)
    store = Store(args.store)
    options = RunOptions(concurrency=args.concurrency, use_cache=False)
    finished: list[float] = []

    class Sink:
        def sweep_started(self, *a: Any, **k: Any) -> None:
            pass

        def session_finished(self, outcome: Any) -> None:
            finished.append(time.perf_counter())

    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    if args.drive == "local":
        summary = run_sweep(store, plans, agent_config=agent_cfg, options=options, progress=Sink())
    else:
        from simgap.sessions.ray_engine import RayEngine

        summary = RayEngine(
            store, agent_config=agent_cfg, options=options, address=args.address
        ).run(plans, Sink())
    wall = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (ru.ru_utime + ru.ru_stime) - (ru0.ru_utime + ru0.ru_stime)  # the sweep, not imports
    steady = (len(finished) - 1) / (finished[-1] - finished[0]) * 60 if len(finished) > 1 else None
    store.close()
    print(
        json.dumps(
            {
                "done": summary.done,
                "failed": summary.failed,
                "wall_s": wall,
                "first_done_s": finished[0] - t0 if finished else None,
                "steady_per_min": steady,
                "driver_cpu_s": cpu,
                "per_node": summary.per_node,
            }
        )
    )


def run_system(
    name: str, args: argparse.Namespace, url: str, pg: str, pg_pid: int, srv_pid: int,
    cluster: Cluster | None,
) -> dict[str, Any]:  # fmt: skip
    store = new_database(pg)
    cmd = [sys.executable, __file__, "--drive", "local" if cluster is None else "ray",
           "--url", url, "--store", store, "--sessions", str(args.sessions),
           "--concurrency", str(args.concurrency)]  # fmt: skip
    if cluster is not None:
        cmd += ["--address", cluster.address]
    before = (cpu_s(pg_pid), cpu_s(srv_pid, children=False), cluster.cpu() if cluster else 0.0)
    workers = WorkerCPU()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=os.environ)
    worker_cpu = workers.stop()
    if r.returncode != 0:
        raise SystemExit(f"{name} failed:\n{r.stderr[-3000:]}")
    time.sleep(2)  # connections closed, backends reaped
    res: dict[str, Any] = json.loads(r.stdout.strip().splitlines()[-1])
    n = res["done"]
    res.update(
        system=name,
        per_min=n / res["wall_s"] * 60,
        pg_cpu_per_session=(cpu_s(pg_pid) - before[0]) / n,
        server_cpu_per_session=(cpu_s(srv_pid, children=False) - before[1]) / n,
        # the nodes: Ray's workers (sampled) + the raylets (with what they reaped)
        node_cpu_per_session=((worker_cpu + cluster.cpu() - before[2]) / n) if cluster else None,
        driver_cpu_per_session=res["driver_cpu_s"] / n,
    )
    return res


# -- the report ----------------------------------------------------------------------------------
SCENARIOS = (
    # name, model latency per session (s), endpoint calls/min (None: scales with the nodes)
    (
        "hosted API: 60 s of model latency a session, one endpoint at 30,000 calls/min",
        60.0,
        30_000.0,
    ),
    ("self-hosted models scaled with the nodes: 13 s of latency a session", 13.0, None),
)


def model_table(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> list[str]:
    """N nodes of `--node-cores` cores, `--node-concurrency` sessions in flight each: the least
    of what the nodes' CPU, the store's, the driver's, the endpoint and the latency allow."""
    from bench_harness import calls_per_session

    calls = calls_per_session(args.turns)
    # Harness + client CPU per session in the steady state: what the local engine's process
    # spent on the sweep (the same work a worker does). The nodes' measured CPU per session is
    # larger in a short run: it also holds the workers' start (importing τ²) and Ray's agents.
    two = results["ray-2"]
    work = results["local"]["driver_cpu_per_session"]
    pg_cpu = two["pg_cpu_per_session"]
    drv_cpu = two["driver_cpu_per_session"]
    lines = [
        "",
        f"Model (not measured): N nodes of {args.node_cores} cores with {args.node_concurrency} "
        f"sessions in flight each; the store on {args.store_cores} cores; one driver process "
        f"(1 core). Per session, from this run: {work * 1e3:.0f} ms of worker CPU, "
        f"{pg_cpu * 1e3:.0f} ms of PostgreSQL CPU, {drv_cpu * 1e3:.0f} ms of driver CPU; "
        f"{calls} model calls.",
    ]
    for name, latency, rpm in SCENARIOS:
        lines += [
            "",
            f"*{name}*",
            "",
            "| nodes | nodes' CPU | store | driver | endpoint | latency | sessions/min | limit |",
            "|---:|---:|---:|---:|---:|---:|---:|:---|",
        ]
        for n in (1, 2, 4, 8, 16, 32, 64, 128):
            limits = {
                "nodes' CPU": n * args.node_cores / work * 60,
                "store": args.store_cores / pg_cpu * 60,
                "driver": 1 / drv_cpu * 60,
                "endpoint": math.inf if rpm is None else rpm / calls,
                "latency": n * args.node_concurrency / latency * 60,
            }
            which = min(limits, key=lambda k: limits[k])
            cells = " | ".join("∞" if math.isinf(v) else f"{v:,.0f}" for v in limits.values())
            lines.append(f"| {n} | {cells} | **{limits[which]:,.0f}** | {which} |")
    return lines


def report(
    results: dict[str, dict[str, Any]], args: argparse.Namespace, load: tuple[float, ...]
) -> None:
    base = results["local"]
    print()
    print(
        f"{args.sessions} sessions of airline task {19}, {args.turns} questions "
        f"({3 * args.turns + 4} calls of {args.latency:.2f} s), concurrency {args.concurrency}, "
        f"PostgreSQL store; load average before {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}, "
        f"after {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)"
    )
    print()
    print("| system | sessions/min (wall) | × local | steady sessions/min | × local | first done (s) "
          "| node CPU/session | driver CPU/session | store CPU/session | per node |")  # fmt: skip
    print("|:---|---:|---:|---:|---:|---:|---:|---:|---:|:---|")
    for name, r in results.items():
        node = (
            "-"
            if r["node_cpu_per_session"] is None
            else f"{r['node_cpu_per_session'] * 1e3:.0f} ms"
        )
        steady = r["steady_per_min"] or float("nan")
        print(
            f"| {name} | {r['per_min']:.1f} | {r['per_min'] / base['per_min']:.2f} | {steady:.1f} | "
            f"{steady / (base['steady_per_min'] or math.nan):.2f} | {r['first_done_s']:.1f} | {node} | "
            f"{r['driver_cpu_per_session'] * 1e3:.0f} ms | {r['pg_cpu_per_session'] * 1e3:.0f} ms | "
            f"{', '.join(f'{k} {v}' for k, v in r['per_node'].items()) or '-'} |"
        )
    for line in model_table(results, args):
        print(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=48)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--turns", type=int, default=3)
    ap.add_argument("--node-cpus", type=int, default=1, help="CPUs each Ray node offers")
    ap.add_argument("--node-cores", type=int, default=8, help="model: cores per node")
    ap.add_argument("--store-cores", type=int, default=8, help="model: cores of the store")
    ap.add_argument("--node-concurrency", type=int, default=256, help="model: in flight per node")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--from-json", type=Path, help="print the report of a saved run, run nothing")
    # internal
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--drive", choices=["local", "ray"], help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--store", help=argparse.SUPPRESS)
    ap.add_argument("--address", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        from bench_harness import serve

        serve(args.latency, args.turns)
        return
    if args.drive:
        drive(args)
        return
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        for k in ("sessions", "concurrency", "latency", "turns"):
            setattr(args, k, saved["args"][k])
        report(saved["results"], args, tuple(saved["load"]))
        return
    if os.environ.get(NETNS_ENV) != "1":
        load = os.getloadavg()
        inner = (
            f"ip link set lo up && exec {sys.executable} {Path(__file__).resolve()} "
            + " ".join(sys.argv[1:])
        )
        env = {**os.environ, NETNS_ENV: "1", "SIMGAP_BENCH_LOAD": ",".join(map(str, load))}
        r = subprocess.run(
            ["unshare", "--net", "--pid", "--fork", "--mount-proc", "sh", "-c", inner], env=env
        )
        sys.exit(r.returncode)
    load = tuple(float(x) for x in os.environ.get("SIMGAP_BENCH_LOAD", "0,0,0").split(","))

    from bench_harness import start_server

    srv, url = start_server(args.latency, args.turns)
    root = Path(tempfile.mkdtemp(prefix="simgap-bench-ray-"))
    results: dict[str, dict[str, Any]] = {}
    cluster = Cluster(root, args.node_cpus)
    try:
        with postgres() as (pg, pg_pid):
            results["local"] = run_system("local", args, url, pg, pg_pid, srv.pid, None)
            print("local done", flush=True)
            cluster.add_node()
            results["ray-1"] = run_system("ray-1", args, url, pg, pg_pid, srv.pid, cluster)
            print("ray-1 done", flush=True)
            cluster.add_node()
            results["ray-2"] = run_system("ray-2", args, url, pg, pg_pid, srv.pid, cluster)
            print("ray-2 done", flush=True)
    finally:
        cluster.stop()
        if srv.stdin:
            srv.stdin.close()
        srv.wait(timeout=30)
    report(results, args, load)
    if args.json:
        args.json.write_text(
            json.dumps(
                {"args": vars(args) | {"json": str(args.json)}, "load": load, "results": results},
                indent=2,
                default=str,
            )
        )


if __name__ == "__main__":
    main()
