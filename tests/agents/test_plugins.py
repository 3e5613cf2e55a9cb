"""A user's own agent and simulator from a separately installed package (entry points and
import paths), τ²'s agents by name, and bad plugins as one clear line (issue 16)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simgap.cli.app import app
from simgap.errors import SimgapError
from simgap.store import Store

BIN = Path(sys.executable).parent

AGENTS = '''
from simgap.agents import Agent, AgentContext, AgentReply


class TinyAgent(Agent):
    """Answers every message the same way; looks up the customer once."""

    needs_model = False

    def __init__(self, ctx: AgentContext) -> None:
        self.spec = ctx.spec
        self.policy_words = len(ctx.policy.split())
        self.tool_names = [t["function"]["name"] for t in ctx.tools]

    async def reply(self, history, *, seed=None):
        return AgentReply(content=f"Noted ({self.policy_words} policy words). Anything else?")
'''

SIMS = '''
from simgap.users import UserReply, UserSimulator


class Parrot(UserSimulator):
    """SYNTHETIC: states the reason for the call, then leaves."""

    synthetic = True
    family = "tiny"

    def __init__(self, ctx):
        self.name = ctx.preset.name
        self.reason = ctx.task.reason_for_call or "Hello."

    async def reply(self, history, *, seed=None):
        said = sum(1 for t in history if t.role.value == "user")
        if said == 0:
            return UserReply(content=self.reason)
        return UserReply(content="Thanks, bye. ###STOP###")
'''

ENTRY_POINTS = """\
[simgap.agents]
tiny-agent = tinyplug.agents:TinyAgent

[simgap.users]
tiny-sim = tinyplug.sims:Parrot
"""


def make_wheel(folder: Path) -> Path:
    """A wheel of the `tinyplug` package, written by hand (no build backend, no network)."""
    wheel = folder / "tinyplug-0.1-py3-none-any.whl"
    info = "tinyplug-0.1.dist-info"
    files = {
        "tinyplug/__init__.py": "",
        "tinyplug/agents.py": textwrap.dedent(AGENTS),
        "tinyplug/sims.py": textwrap.dedent(SIMS),
        f"{info}/METADATA": "Metadata-Version: 2.1\nName: tinyplug\nVersion: 0.1\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
        f"{info}/entry_points.txt": ENTRY_POINTS,
    }
    with zipfile.ZipFile(wheel, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
        z.writestr(f"{info}/RECORD", "".join(f"{n},,\n" for n in [*files, f"{info}/RECORD"]))
    return wheel


def simgap(args: list[str], *, site: Path | None, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if site is not None:
        env["PYTHONPATH"] = str(site)
    return subprocess.run(
        [str(BIN / "simgap"), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=600
    )


@pytest.mark.slow
def test_plugin_agent_and_simulator_from_a_separately_installed_package(tmp_path: Path) -> None:
    """pip installs the plugin wheel into its own folder (no index, no network); simgap then
    runs a sweep with its agent and simulator, by entry point name and by import path."""
    site = tmp_path / "site"
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
         "--target", str(site), str(make_wheel(tmp_path))],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stderr
    assert (site / "tinyplug-0.1.dist-info" / "entry_points.txt").is_file()

    # not installed where simgap runs: a clear error, not a traceback
    r = simgap(["run", "-d", "airline", "-n", "1", "-u", "tiny-sim", "--agent", "probe",
                "-o", "none.db"], site=None, cwd=tmp_path)  # fmt: skip
    assert r.returncode == 2 and r.stderr.count("\n") <= 1, r.stderr
    assert "unknown user simulator 'tiny-sim'" in r.stderr

    db = tmp_path / "runs.db"
    by_name = ["run", "-d", "airline", "-n", "2", "-u", "tiny-sim", "--agent", "tiny-agent",
               "-o", str(db)]  # fmt: skip
    by_path = ["run", "-d", "airline", "-n", "2", "-u", "tinyplug.sims:Parrot",
               "--agent", "tinyplug.agents:TinyAgent", "-o", str(db)]  # fmt: skip
    for args in (by_name, by_path):
        r = simgap(args, site=site, cwd=tmp_path)
        assert r.returncode == 0, r.stdout + r.stderr

    store = Store(db)
    sessions = list(store.iter_sessions())
    store.close()
    assert len(sessions) == 4
    pairs = sorted({(s.agent.name, s.user_id) for s in sessions})
    assert pairs == [
        ("tiny-agent", "tiny-sim"),
        ("tinyplug.agents:TinyAgent", "tinyplug.sims:Parrot"),
    ]
    for s in sessions:
        assert s.agent.model == "none"  # needs_model = False: no model recorded or built
        assert s.meta["synthetic"] is True  # the plugin says it is synthetic
        assert s.termination is not None and s.termination.value == "user_stop"
        assert s.reward is not None
        words = s.turns[2].content or ""
        assert words.startswith("Noted (") and "policy words" in words


BAD = {
    "badplug/__init__.py": "",
    "badplug/broken.py": "X = 1 / 0\n",
    "badplug/wrong.py": "def agent():\n    return 1\n\nclass NotAnAgent:\n    pass\n",
    "badplug/abstract.py": "from simgap.agents import Agent\n\nclass Half(Agent):\n    pass\n",
}


@pytest.mark.parametrize(
    ("flag", "ref", "message"),
    [
        (
            "--agent",
            "badplug.missing:A",
            "plugin agent 'badplug.missing:A': cannot import module 'badplug.missing'",
        ),
        (
            "--agent",
            "badplug.broken:X",
            "plugin agent 'badplug.broken:X': importing badplug.broken raised ZeroDivisionError: division by zero (broken.py:1)",
        ),
        (
            "--agent",
            "badplug.wrong:agent",
            "plugin agent 'badplug.wrong:agent' is a function, not a subclass of simgap.agents.Agent",
        ),
        (
            "--agent",
            "badplug.wrong:NotAnAgent",
            "plugin agent 'badplug.wrong:NotAnAgent' is a class NotAnAgent, not a subclass of simgap.agents.Agent",
        ),
        (
            "--agent",
            "badplug.wrong:Nope",
            "plugin agent 'badplug.wrong:Nope': badplug.wrong has no attribute 'Nope'",
        ),
        (
            "--agent",
            "badplug.abstract:Half",
            "plugin agent 'badplug.abstract:Half': Half does not implement reply",
        ),
        (
            "-u",
            "badplug.wrong:NotAnAgent",
            "plugin user simulator 'badplug.wrong:NotAnAgent' is a class NotAnAgent, not a subclass of simgap.users.UserSimulator",
        ),
        (
            "-u",
            "badplug.broken:X",
            "plugin user simulator 'badplug.broken:X': importing badplug.broken raised ZeroDivisionError",
        ),
    ],
)
def test_a_bad_plugin_is_one_clear_line(
    flag: str, ref: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, text in BAD.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    for mod in [m for m in sys.modules if m.startswith("badplug")]:
        monkeypatch.delitem(sys.modules, mod)
    other = ["--agent", "probe"] if flag == "-u" else ["-u", "behavior"]
    args = ["run", "-d", "airline", "-n", "1", flag, ref, *other, "-o", str(tmp_path / "x.db")]
    r = CliRunner().invoke(app, args)
    # `simgap` (cli.app.main) prints a SimgapError as one `error: ...` line and exits 2
    assert isinstance(r.exception, SimgapError), r.output
    text = str(r.exception)
    assert "\n" not in text and message in text, text
    assert not (tmp_path / "x.db").exists()  # nothing started


def test_tau2_agents_by_name(tmp_path: Path) -> None:
    """τ²'s registered agents are names simgap knows: llm_agent and llm_agent_gt build on a
    model; llm_agent_solo is refused with τ²'s own reason where the domain has no tickets."""
    from simgap.agents.registry import agent_names, task_problem
    from simgap.agents.tau2_agents import gt_system_prompt
    from simgap.domains import DomainEnvironment, load_tasks

    assert {"llm_agent", "llm_agent_gt", "llm_agent_solo", "probe", "llm"} <= set(agent_names())
    tasks = load_tasks("airline")
    assert task_problem("llm_agent_gt", tasks[0]) is not None  # no gold action: τ² skips it
    assert task_problem("llm_agent_gt", tasks[1]) is None
    prompt = gt_system_prompt(DomainEnvironment(tasks[1]).policy, tasks[1])
    assert "<resolution_steps>" in prompt and "get_user_details(user_id=raj_sanchez_7340)" in prompt
    r = CliRunner().invoke(
        app,
        [
            "run",
            "-d",
            "airline",
            "-n",
            "1",
            "--agent",
            "llm_agent_solo",
            "-o",
            str(tmp_path / "x.db"),
        ],
    )
    assert isinstance(r.exception, SimgapError)
    assert "has no ticket" in str(r.exception)
