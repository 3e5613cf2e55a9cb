"""The embedded model runs in its own process (issue 9): a native crash or hang there fails one
call with a one-line cause, never the process that drives the run.

The crash is real: `SIMGAP_FAULT_LOCAL_SEGV` makes the worker read address 0 in native code
(SIGSEGV). Before the worker existed, the same crash inside llama.cpp killed the whole run
(`simgap demo` exited 139 on a fresh machine); `tests/sessions/test_local_crash.py` checks a
whole sweep through the CLI.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from simgap.llm import LLMUnavailableError, ModelConfig, make_client
from simgap.llm.local import LocalClient
from simgap.llm.local_worker import FAULT_SEGV_ENV, LLMWorkerCrash, signal_name

CHAT = [{"role": "user", "content": "Hi! Say hello back."}]

pytestmark = pytest.mark.slow


def _client(**cfg: object) -> LocalClient:
    client = make_client(ModelConfig(model="local", max_tokens=8, **cfg))  # type: ignore[arg-type]
    assert isinstance(client, LocalClient)
    return client


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_driving_process_never_loads_llama_cpp(tmp_path: Path) -> None:
    code = (
        "import asyncio, sys\n"
        "from simgap.llm import ModelConfig, make_client\n"
        "async def main():\n"
        "    c = make_client(ModelConfig(model='local', max_tokens=4))\n"
        "    r = await c.complete(c.request([{'role': 'user', 'content': 'Hi'}], seed=1))\n"
        "    await c.aclose()\n"
        "    print(bool(r.content), 'llama_cpp' in sys.modules)\n"
        "asyncio.run(main())\n"
    )
    script = tmp_path / "no_guard.py"  # a plain script, no `if __name__ == '__main__'` guard
    script.write_text(code)
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, check=True
    )
    assert out.stdout.split() == ["True", "False"], out.stderr


def test_signal_names() -> None:
    assert signal_name(-11) == "signal 11, SIGSEGV"
    assert signal_name(-6) == "signal 6, SIGABRT"
    assert signal_name(1) == "exit status 1"
    assert signal_name(None) == "no exit code"


async def test_llama_cpp_runs_in_a_fresh_worker_process_not_here() -> None:
    client = _client()
    try:
        resp = await client.complete(client.request(CHAT, seed=1))
        assert resp.content
        pid = client.worker.pid
        assert pid is not None and pid != os.getpid()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert b"-c" in cmdline  # a new interpreter, not a fork of this one
    finally:
        await client.aclose()
    assert not _pid_alive(pid)  # closing the client ends its worker


async def test_a_segfault_fails_one_call_with_a_one_line_cause_and_the_next_call_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "segv"
    marker.touch()
    monkeypatch.setenv(FAULT_SEGV_ENV, str(marker))
    client = _client()
    try:
        with pytest.raises(LLMWorkerCrash) as info:
            await client.complete(client.request(CHAT, seed=1))
        msg = str(info.value)
        assert "\n" not in msg
        assert "died (signal 11, SIGSEGV) while generating" in msg
        assert msg.startswith("model local at ") and "the next one starts a new process" in msg
        assert not marker.exists()  # one crash per marker file
        assert client.stats.failures == 1
        # this process is alive (we are here) and the next call gets a new worker
        resp = await client.complete(client.request(CHAT, seed=1))
        assert resp.content
        assert client.worker.starts == 2
    finally:
        await client.aclose()


async def test_a_hung_worker_is_stopped_after_timeout_s() -> None:
    client = _client()
    try:
        await client.complete(client.request(CHAT, seed=1))  # started, model loaded
        first_pid = client.worker.pid
        assert first_pid is not None
        client.config = client.config.model_copy(update={"timeout_s": 0.001})
        long = client.request(CHAT, seed=2, max_tokens=64)
        with pytest.raises(LLMWorkerCrash, match=r"gave no answer within 0 s and was stopped"):
            await client.complete(long)
        assert not _pid_alive(first_pid)
        client.config = client.config.model_copy(update={"timeout_s": 120.0})
        assert (await client.complete(client.request(CHAT, seed=3))).content
        assert client.worker.starts == 2
    finally:
        await client.aclose()


async def test_a_bad_gguf_is_a_one_line_unavailable_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF not really a model")
    client = make_client(ModelConfig(model=f"local:{bad}", max_tokens=8))
    try:
        with pytest.raises(LLMUnavailableError) as info:
            await client.complete(client.request(CHAT, seed=1))
        msg = str(info.value)
        assert "\n" not in msg and str(bad) in msg
        assert "cannot load the GGUF" in msg
    finally:
        await client.aclose()


async def test_two_clients_generate_from_concurrent_tasks_without_sharing_a_model() -> None:
    """The pattern that crashed llama.cpp in-process (one `Llama` from two threads fails
    GGML_ASSERT) cannot happen: each client has its own worker, calls are serialised."""
    a, b = _client(), _client()
    try:
        reqs = [(c, c.request(CHAT, seed=s)) for s in (1, 2, 3) for c in (a, b)]
        outs = await asyncio.gather(*(c.complete(r) for c, r in reqs))
        assert all(o.content for o in outs)
        assert a.worker.pid != b.worker.pid
    finally:
        await a.aclose()
        await b.aclose()
