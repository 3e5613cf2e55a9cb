"""A real two-node Ray cluster on one machine, driven through the CLI (issue 19 item 4).

Not collected by a plain `pytest` run (the file name has no `test_` prefix): it runs inside a
network namespace that holds only loopback, started by `test_ray_cluster.py`, because Ray 2.60
rewrites `--node-ip-address=127.0.0.1` to the host's address and listens on every interface.
The namespace is also a PID namespace: every process started here dies with it, and the
processes of the second node can be told apart by their session id without touching anything
else on the machine.

The cluster: a head (1 CPU) and a second node (1 CPU) joined with `ray start --address`, both
with token authentication on (a token in `$HOME/.ray/auth_token`, `RAY_AUTH_MODE=token`, as Ray
does by itself when a token exists); simgap is started WITHOUT `RAY_AUTH_MODE` and must find
the token itself. The store is PostgreSQL (SQLite is refused on two nodes). The models are
fake OpenAI-compatible servers; their key is only in the driver's environment
(`api_key_env: FAKE_PROVIDER_KEY`), never in the cluster's.

Tests run in file order and share the cluster: the node-loss test kills the second node, so
what follows it runs on the head alone.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from simgap.models import Session, SessionStatus
from simgap.store import Store
from tests.fakes.cli import as_typed_in_a_terminal
from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.sessions.helpers import n_user_turns
from tests.study.conftest import free_port

ray = pytest.importorskip("ray")

KEY_ENV = "FAKE_PROVIDER_KEY"
KEY = "sk-driver-only-" + uuid.uuid4().hex
TASKS = ["0", "1", "2", "3", "4", "5"]
TRIALS = 2
PLANNED = len(TASKS) * TRIALS
RAY_BIN = str(Path(sys.executable).with_name("ray"))
NODE_RE = re.compile(r"(\d+\.\d+\.\d+\.\d+/[0-9a-f]{8}) (\d+)")

if os.environ.get("SIMGAP_IN_NETNS") != "1":  # pragma: no cover - guarded by the outer test
    raise RuntimeError("run through tests/sessions/test_ray_cluster.py (a loopback-only netns)")


# -- scripted models -----------------------------------------------------------------------
def agent_script(req: dict[str, Any]) -> Reply:
    """Looks the user up once, then answers (deterministic: ids fixed by the script)."""
    msgs = req["messages"]
    if not any(m["role"] == "tool" for m in msgs):
        return Reply.tool_call("get_user_details", {"user_id": "mia_li_3668"}, id="call_lookup")
    return Reply.text(f"I see your profile. We have exchanged {len(msgs)} messages.")


def customer_script(req: dict[str, Any]) -> Reply:
    """Four messages, then stop: conversations long enough to be caught in flight."""
    k = n_user_turns(req)
    return Reply.text(
        "ok thanks ###STOP###" if k >= 3 else f"turn {k}: I need help with my booking"
    )


def content(s: Session) -> dict[str, Any]:
    """Everything that must match across engines (timestamps and latencies excluded)."""
    return {
        "turns": [
            (
                t.idx,
                t.role,
                t.content,
                [c.model_dump() for c in t.tool_calls],
                t.tool_call_id,
                t.tool_error,
            )
            for t in s.turns
        ],
        "reward": None if s.reward is None else (s.reward.value, s.reward.breakdown),
        "termination": s.termination,
        "status": s.status,
        "seed": s.seed,
        "agent": s.agent.model_dump(),
        "user": (s.user_id, s.meta.get("user_preset")),
        "usage": (s.agent_usage.prompt_tokens, s.agent_usage.completion_tokens, s.user_usage.calls),
    }


# -- the cluster -----------------------------------------------------------------------------
class Cluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.home = root / "home"
        (self.home / ".ray").mkdir(parents=True)
        (self.home / ".ray" / "auth_token").write_text(uuid.uuid4().hex + uuid.uuid4().hex)
        self.second: subprocess.Popen[bytes] | None = None
        self.temp_dirs = [root / "ray-head", root / "ray-n2"]

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != KEY_ENV and not k.startswith("RAY_")}
        env.update(
            HOME=str(self.home),
            RAY_AUTH_MODE="token",
            RAY_USAGE_STATS_ENABLED="0",
            # lost nodes are noticed within seconds, not the default half minute
            RAY_health_check_period_ms="1000",
            RAY_health_check_failure_threshold="3",
        )
        return env

    def start(self) -> None:
        common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats"]
        subprocess.run(
            [RAY_BIN, "start", "--head", f"--port={self.port}", "--include-dashboard=false",
             f"--temp-dir={self.temp_dirs[0]}", *common],
            env=self.env(), check=True, capture_output=True, timeout=180,
        )  # fmt: skip
        log = (self.root / "n2.log").open("wb")
        self.second = subprocess.Popen(
            [RAY_BIN, "start", f"--address={self.address}", f"--temp-dir={self.temp_dirs[1]}",
             "--block", *common],
            env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 240
        while self.alive_nodes() < 2:
            assert self.second.poll() is None, (self.root / "n2.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the second node did not join"
            time.sleep(1)

    def alive_nodes(self) -> int:
        r = subprocess.run(
            [sys.executable, "-c", "import ray, sys; ray.init(address=sys.argv[1], "
             "log_to_driver=False); print(sum(1 for n in ray.nodes() if n['Alive']))",
             self.address],
            env=self.env(), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        last = (r.stdout.strip().splitlines() or ["0"])[-1]
        return int(last) if last.isdigit() else 0

    def kill_second_node(self) -> int:
        """SIGKILL every process of the second node (its raylet, workers, agents): the
        processes whose session is the one `ray start --block` began. Returns how many."""
        assert self.second is not None
        sid = self.second.pid
        victims = [pid for pid in _pids() if _session_of(pid) == sid]
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.second.wait(timeout=30)
        return len(victims)

    def ray_logs(self) -> str:
        out = []
        for d in self.temp_dirs:
            for p in d.rglob("*"):
                if p.is_file() and not p.is_symlink() and p.suffix in (".log", ".out", ".err", ""):
                    with contextlib.suppress(OSError):
                        out.append(p.read_text(errors="replace"))
        return "\n".join(out)


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _session_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[3])


def _worker_pids() -> list[int]:
    """Processes of simgap's Ray workers (`ray::_Worker...`); this PID namespace holds only
    this test's processes."""
    out = []
    for pid in _pids():
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if cmd.startswith(b"ray::_Worker"):
            out.append(pid)
    return out


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("cluster"))
    c.start()
    yield c
    # Everything dies with the PID namespace; stop the second node's blocking command anyway.
    if c.second is not None and c.second.poll() is None:
        c.kill_second_node()


@pytest.fixture(scope="module")
def models() -> Iterator[tuple[FakeOpenAIServer, FakeOpenAIServer]]:
    with (
        FakeOpenAIServer(responder=agent_script, latency_s=0.1) as agent,
        FakeOpenAIServer(responder=customer_script, latency_s=0.1) as user,
    ):
        yield agent, user


@pytest.fixture(scope="module")
def pg(pg_server: str) -> str:
    """URL of a PostgreSQL server (no database; tests/fakes/postgres.py): the store every
    node reaches."""
    return pg_server


def new_database(pg_url: str) -> str:
    import psycopg

    name = "ray_" + uuid.uuid4().hex[:10]
    dsn = pg_url.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{pg_url}/{name}"


def sweep_file(
    tmp: Path, models: tuple[FakeOpenAIServer, FakeOpenAIServer], out: str, **over: Any
) -> Path:
    agent, user = models
    cfg: dict[str, Any] = {
        "domain": "airline",
        "tasks": TASKS,
        "trials": TRIALS,
        "users": ["tau2"],
        "user_model": {"model": "openai/user", "api_base": user.base_url, "api_key_env": KEY_ENV,
                       "timeout_s": 60, "max_retries": 2, "backoff_base_s": 0.05},
        "agent": {"model": "openai/agent", "api_base": agent.base_url, "api_key_env": KEY_ENV,
                  "timeout_s": 60, "max_retries": 2, "backoff_base_s": 0.05},
        "concurrency": 4,
        "cache": False,
        "out": out,
    }  # fmt: skip
    cfg.update(over)
    p = tmp / f"sweep-{uuid.uuid4().hex[:6]}.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def simgap_env(cluster: Cluster) -> dict[str, str]:
    """The driver: the key in its environment, the cluster's token in its HOME, and no
    RAY_AUTH_MODE (simgap must turn token auth on by itself)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(HOME=str(cluster.home), PYTHONUNBUFFERED="1", COLUMNS="250", KEY_ENV_NAME=KEY_ENV)
    env[KEY_ENV] = KEY
    return env


def simgap(
    *args: str, env: dict[str, str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simgap", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def popen_simgap(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        as_typed_in_a_terminal([sys.executable, "-m", "simgap", *args]), env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def one_line_error(r: subprocess.CompletedProcess[str], code: int = 2) -> str:
    out = r.stdout + r.stderr
    assert r.returncode == code, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    errs = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(errs) == 1 and errs[0].startswith("error: "), r.stderr[-3000:]
    return errs[0]


def per_node(stdout: str) -> dict[str, int]:
    line = next((ln for ln in stdout.splitlines() if "sessions per node" in ln), "")
    return {node: int(n) for node, n in NODE_RE.findall(line)}


def stored(url: str) -> dict[str, Session]:
    store = Store(url)
    try:
        sessions = list(store.iter_sessions())
    finally:
        store.close()
    assert len({s.session_id for s in sessions}) == len(sessions)
    return {s.session_id: s for s in sessions}


def done_count(url: str) -> int:
    store = Store(url)
    try:
        return sum(
            1 for s in store.iter_sessions(with_turns=False) if s.status == SessionStatus.DONE
        )
    finally:
        store.close()


def assert_exactly_once_and_like_local(url: str, local: dict[str, Session]) -> None:
    got = stored(url)
    assert got.keys() == local.keys() and len(got) == PLANNED
    for sid, s in got.items():
        assert s.status == SessionStatus.DONE, (sid, s.status, s.error)
        assert [t.idx for t in s.turns] == list(range(len(s.turns))), sid
        assert content(s) == content(local[sid]), sid


@pytest.fixture(scope="module")
def local_reference(
    tmp_path_factory: pytest.TempPathFactory,
    models: tuple[FakeOpenAIServer, FakeOpenAIServer],
    cluster: Cluster,
) -> dict[str, Session]:
    """The same sweep on the local engine (SQLite): what every Ray run must store."""
    tmp = tmp_path_factory.mktemp("local")
    cfg = sweep_file(tmp, models, str(tmp / "local.db"))
    r = simgap("sweep", str(cfg), "--yes", env=simgap_env(cluster))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    ref = stored(str(tmp / "local.db"))
    assert len(ref) == PLANNED and all(s.status == SessionStatus.DONE for s in ref.values())
    return ref


# -- the cases, in order -------------------------------------------------------------------------
def test_unreachable_cluster_address_is_one_line_exit_2(
    tmp_path: Path, models, cluster: Cluster
) -> None:  # type: ignore[no-untyped-def]
    dead = f"127.0.0.1:{free_port()}"
    cfg = sweep_file(tmp_path, models, str(tmp_path / "x.db"))
    t0 = time.monotonic()
    r = simgap(
        "run",
        "--config",
        str(cfg),
        "--engine",
        "ray",
        "--ray-address",
        dead,
        env=simgap_env(cluster),
    )
    line = one_line_error(r)
    assert f"cannot reach the Ray cluster at {dead}" in line
    assert time.monotonic() - t0 < 120


def test_sqlite_store_is_refused_on_two_nodes(tmp_path: Path, models, cluster: Cluster) -> None:  # type: ignore[no-untyped-def]
    cfg = sweep_file(
        tmp_path, models, str(tmp_path / "runs.db"), engine="ray", ray_address=cluster.address
    )
    r = simgap("sweep", str(cfg), "--yes", env=simgap_env(cluster))
    assert "needs a store every node reaches" in one_line_error(r)


def test_unreachable_model_endpoint_same_line_and_code_as_local(
    tmp_path: Path, models, cluster: Cluster, pg: str
) -> None:  # type: ignore[no-untyped-def]
    closed = f"http://127.0.0.1:{free_port()}/v1"
    dead_agent = {"model": "openai/agent", "api_base": closed, "api_key_env": KEY_ENV, "max_retries": 1,
                  "backoff_base_s": 0.01, "timeout_s": 10}  # fmt: skip
    lines = []
    for engine, out in (("local", str(tmp_path / "l.db")), ("ray", new_database(pg))):
        cfg = sweep_file(
            tmp_path, models, out, agent=dead_agent, engine=engine, ray_address=cluster.address
        )
        r = simgap("sweep", str(cfg), "--yes", env=simgap_env(cluster))
        lines.append(one_line_error(r))
    assert closed in lines[1]
    assert lines[0] == lines[1]


def test_sweep_spreads_over_both_nodes_keys_reach_workers_content_equals_local(  # type: ignore[no-untyped-def]
    tmp_path: Path, models, cluster: Cluster, pg: str, local_reference: dict[str, Session]
) -> None:
    agent, user = models
    agent.reset()
    user.reset()
    url = new_database(pg)
    cfg = sweep_file(tmp_path, models, url)
    r = simgap("run", "--config", str(cfg), "--engine", "ray", "--ray-address", cluster.address,
               env=simgap_env(cluster))  # fmt: skip
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    nodes = per_node(r.stdout)
    print("sessions per node:", nodes)
    assert len(nodes) == 2 and all(n > 0 for n in nodes.values()), r.stdout[-3000:]
    assert sum(nodes.values()) == PLANNED
    assert_exactly_once_and_like_local(url, local_reference)

    # The driver's key reached the workers (the cluster never had it) ...
    auth = [rec.headers.get("authorization") for srv in models for rec in srv.records]
    assert auth and all(a == f"Bearer {KEY}" for a in auth), set(auth)
    # ... and is written nowhere: not the store, not simgap's output, not Ray's logs.
    assert KEY not in out
    assert not any(KEY in s.model_dump_json() for s in stored(url).values())
    assert KEY not in cluster.ray_logs()


def test_node_killed_mid_sweep_requeues_its_sessions_each_stored_once(  # type: ignore[no-untyped-def]
    tmp_path: Path, models, cluster: Cluster, pg: str, local_reference: dict[str, Session]
) -> None:
    url = new_database(pg)
    cfg = sweep_file(tmp_path, models, url, engine="ray", ray_address=cluster.address)
    proc = popen_simgap("sweep", str(cfg), "--yes", env=simgap_env(cluster))
    deadline = time.monotonic() + 300
    while done_count(url) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, "the sweep ended before the node could be killed"
    killed = cluster.kill_second_node()
    assert killed >= 2  # at least the raylet and a worker
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stdout[-3000:] + stderr[-3000:]
    assert "Traceback" not in stdout + stderr
    notes = [ln for ln in stdout.splitlines() if "lost" in ln and "went back to the queue" in ln]
    assert len(notes) == 1, stdout[-3000:]
    requeued = int(re.search(r"(\d+) session\(s\)", notes[0]).group(1))  # type: ignore[union-attr]
    print("node loss:", notes[0].strip(), "| sessions per node:", per_node(stdout))
    assert requeued >= 1
    assert sum(per_node(stdout).values()) == PLANNED  # each session counted once, where it ended
    assert_exactly_once_and_like_local(url, local_reference)


# The interrupted sweep of the Ctrl-C test, resumed (and interrupted again) by the next one.
INTERRUPTED: dict[str, Any] = {}


def test_ctrl_c_exits_130_with_the_resume_hint(  # type: ignore[no-untyped-def]
    tmp_path: Path, models, cluster: Cluster, pg: str
) -> None:
    """After the node loss: the head alone runs the sweep; Ctrl-C mid-sweep."""
    url = new_database(pg)
    cfg = sweep_file(tmp_path, models, url, engine="ray", ray_address=cluster.address)
    proc = popen_simgap("sweep", str(cfg), "--yes", env=simgap_env(cluster))
    deadline = time.monotonic() + 300
    while done_count(url) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, "the sweep ended before Ctrl-C"
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stdout[-2000:] + stderr[-2000:]
    assert "Traceback" not in stdout + stderr and "force=True" not in stdout + stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert lines == ["interrupted: finished work is stored; rerun the same command to resume"]
    assert 2 <= done_count(url) < PLANNED
    INTERRUPTED.update(url=url, cfg=cfg)


def test_every_worker_lost_stops_with_summary_and_hint_then_resumes(  # type: ignore[no-untyped-def]
    local_reference: dict[str, Session], cluster: Cluster
) -> None:
    """The interrupted sweep, rerun: its only worker (the head's) is killed mid-sweep, so the
    sweep stops with its summary and the resume hint; the next rerun finishes it, each session
    stored once and as the local engine stores it."""
    assert INTERRUPTED, "needs the Ctrl-C test's sweep"
    url, cfg = INTERRUPTED["url"], INTERRUPTED["cfg"]
    env = simgap_env(cluster)
    before = done_count(url)
    proc = popen_simgap("sweep", str(cfg), "--yes", env=env)
    deadline = time.monotonic() + 300
    while done_count(url) < before + 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    workers = _worker_pids()
    assert proc.poll() is None and len(workers) == 1, workers
    os.kill(workers[0], signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 2, stdout[-2000:] + stderr[-2000:]
    assert "Traceback" not in stdout + stderr
    assert "resuming" in stdout  # it continued the interrupted sweep
    assert "simgap run" in stdout and "planned" in stdout  # the summary came first
    errs = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(errs) == 1 and "every Ray worker was lost" in errs[0], stderr[-2000:]
    assert "rerun the same command to resume" in errs[0]
    assert done_count(url) < PLANNED

    r = simgap("sweep", str(cfg), "--yes", env=env)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert "resuming" in r.stdout
    assert_exactly_once_and_like_local(url, local_reference)
