"""`--engine ray` pieces that need no cluster: where workers go, what environment they get,
token auth, the address check, the embedded model's threads. The engine itself runs against a
real two-node cluster in test_ray_cluster.py (inside a loopback-only network namespace, since
Ray listens on every interface)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from simgap.errors import ConfigError
from simgap.llm.base import ModelConfig
from simgap.llm.local import default_threads
from simgap.sessions.ray_cluster import (
    check_reachable,
    plan_slots,
    prepare_auth,
    worker_environment,
)


def node(nid: str, cpus: float, *, alive: bool = True) -> dict[str, object]:
    return {
        "NodeID": nid * 8,
        "Alive": alive,
        "NodeManagerAddress": "10.0.0.1",
        "Resources": {"CPU": cpus} if cpus else {},
    }


def test_one_worker_per_cpu_of_every_live_node_interleaved() -> None:
    nodes = [node("a", 0), node("b", 2), node("c", 3), node("d", 8, alive=False)]
    slots = plan_slots(nodes, worker_cpus=1)
    # the head without CPUs runs none, the dead node none; b, c, b, c, c
    assert [s.node_id[0] for s in slots] == ["b", "c", "b", "c", "c"]
    assert slots[0].node_label == "10.0.0.1/bbbbbbbb"
    # a cap on workers still spreads them over the nodes
    assert [s.node_id[0] for s in plan_slots(nodes, worker_cpus=1, max_workers=2)] == ["b", "c"]
    # two CPUs a worker: b 1, c 1 (floor)
    assert [s.node_id[0] for s in plan_slots(nodes, worker_cpus=2)] == ["b", "c"]
    assert plan_slots([node("a", 0)], worker_cpus=1) == []


def test_the_sweeps_keys_and_settings_reach_workers_secrets_apart() -> None:
    agent = ModelConfig(model="openai/agent", api_key_env="MY_PROVIDER", api_base_env="MY_BASE")
    user = ModelConfig(model="hosted_vllm/Qwen/Qwen3-8B")
    env = {
        "MY_PROVIDER": "k-1",
        "MY_BASE": "http://10.0.0.9/v1",
        "OPENAI_API_KEY": "k-2",
        "OPENAI_BASE_URL": "http://10.0.0.8/v1",
        "HOSTED_VLLM_API_BASE": "http://10.0.0.7/v1",
        "ANTHROPIC_API_KEY": "not-named-by-the-sweep",
        "SIMGAP_FAST_EVAL": "1",
        "SIMGAP_ADMIN_PASSWORD": "pw",
        "SIMGAP_LOCAL_THREADS": "16",
        "LITELLM_LOG": "ERROR",
        "HOME": "/root",
    }
    settings, secrets = worker_environment([agent, user, ModelConfig(model="local")], env)
    assert secrets == {"MY_PROVIDER": "k-1", "OPENAI_API_KEY": "k-2", "SIMGAP_ADMIN_PASSWORD": "pw"}
    assert settings == {
        "MY_BASE": "http://10.0.0.9/v1",
        "OPENAI_BASE_URL": "http://10.0.0.8/v1",
        "HOSTED_VLLM_API_BASE": "http://10.0.0.7/v1",
        "SIMGAP_FAST_EVAL": "1",
        "LITELLM_LOG": "ERROR",
    }


def test_a_token_on_this_machine_turns_token_auth_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert prepare_auth() is None  # no token: Ray's default, nothing set
    assert "RAY_AUTH_MODE" not in __import__("os").environ
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("0123456789abcdef\n")
    assert prepare_auth() == "token"
    assert __import__("os").environ["RAY_AUTH_MODE"] == "token"
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # an explicit choice is kept
    assert prepare_auth() == "disabled"


def test_an_address_nobody_listens_on_fails_in_seconds() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        t0 = time.monotonic()
        with pytest.raises(ConfigError, match=f"cannot reach the Ray cluster at 127.0.0.1:{port}"):
            check_reachable(f"127.0.0.1:{port}")
    assert time.monotonic() - t0 < 5
    with pytest.raises(ConfigError, match="expected HOST:PORT"):
        check_reachable("localhost")
    check_reachable("auto")  # resolved by Ray itself


def test_the_embedded_model_gets_at_most_its_slots_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIMGAP_LOCAL_THREADS", raising=False)
    all_cores = default_threads()
    monkeypatch.setenv("SIMGAP_LOCAL_THREADS", "1")
    assert default_threads() == 1
    from simgap.llm.local import LocalClient

    assert LocalClient(ModelConfig(model="local")).n_threads == 1  # what its worker is given
    monkeypatch.setenv("SIMGAP_LOCAL_THREADS", "4096")
    assert default_threads() == all_cores


def test_an_auth_refusal_is_named_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What Ray's C++ client printed while it retried decides the message (its exception only
    says "Failed to connect")."""
    from simgap.sessions.ray_cluster import _init_error

    for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    printed = (
        "W gcs_client.cc:210: ... RPC error: InvalidAuthToken: Authentication token is missing"
    )
    e = ConnectionError("Failed to connect to Ray cluster at 10.0.0.5:6379")
    msg = str(_init_error(e, "10.0.0.5:6379", None, printed))
    assert msg.startswith("cannot connect to Ray at 10.0.0.5:6379: the cluster uses token")
    assert "no token" in msg and "\n" not in msg
    assert "refused this machine's Ray token" in str(_init_error(e, "h:1", "token", printed))
    other = str(_init_error(e, "h:1", None, "W something else"))
    assert other == "cannot start Ray at h:1: Failed to connect to Ray cluster at 10.0.0.5:6379"
