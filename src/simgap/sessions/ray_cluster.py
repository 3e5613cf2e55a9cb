"""Reaching a Ray cluster for `--engine ray`: connection, token auth, worker slots, environment.

Kept apart from the engine (ray_engine.py) because each of these is a pitfall met in practice
(issue 19), with a one-line error instead of Ray's tracebacks and warnings:

* **Address.** `--ray-address host:port` (or `$RAY_ADDRESS`) is checked with a plain TCP
  connect first, so an address nobody listens on fails in a second, not after Ray's 30 s of
  retries.
* **Token auth.** Ray ≥ 2.5x turns token authentication on for a cluster started while a token
  exists (`~/.ray/auth_token`, `$RAY_AUTH_TOKEN_PATH`, `$RAY_AUTH_TOKEN`), but a client that
  names an explicit address never turns it on by itself and then fails with "Failed to
  connect". simgap sets `RAY_AUTH_MODE=token` for itself when a token is available and the
  variable is unset (a client sending a token to a cluster without auth still connects).
* **Slots.** One worker per `worker_cpus` CPUs of each live node, pinned to that node, so a
  sweep uses every node instead of packing tiny actors onto the driver's node.
* **Environment.** What a sweep's models need (the variables its configs name, the provider
  variables litellm reads, `SIMGAP_*`, `LITELLM_*`) is read on the driver and handed to the
  workers: settings through Ray's runtime environment, secrets through the worker's
  constructor, because Ray's runtime-env agent writes the runtime environment, values
  included, to its log file (`runtime_env_agent.log`: "Creating runtime env: {...}").
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import re
import socket
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simgap.errors import ConfigError
from simgap.llm.base import ModelConfig
from simgap.llm.local import THREADS_ENV

LOCAL_THREADS_ENV = THREADS_ENV

# Environment variables of simgap's own and of litellm that change what a worker does.
OWN_PREFIXES = ("SIMGAP_", "LITELLM_")
# Set per worker from its slot, never copied from the driver.
_NOT_FORWARDED = frozenset({LOCAL_THREADS_ENV})
# A variable whose name says it holds a credential never goes into Ray's runtime environment.
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH", re.IGNORECASE)
# Environment variable prefixes litellm reads per provider (its keys, endpoints, regions).
PROVIDER_PREFIXES: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_",),
    "text-completion-openai": ("OPENAI_",),
    "azure": ("AZURE_",),
    "anthropic": ("ANTHROPIC_",),
    "gemini": ("GEMINI_", "GOOGLE_"),
    "vertex_ai": ("VERTEX", "GOOGLE_"),
    "bedrock": ("AWS_",),
    "together_ai": ("TOGETHER",),
    "deepseek": ("DEEPSEEK_",),
    "mistral": ("MISTRAL_",),
    "groq": ("GROQ_",),
    "fireworks_ai": ("FIREWORKS",),
    "openrouter": ("OPENROUTER_", "OR_"),
    "xai": ("XAI_",),
    "cohere": ("COHERE_", "CO_"),
    "hosted_vllm": ("HOSTED_VLLM_",),
    "ollama": ("OLLAMA_",),
    "ollama_chat": ("OLLAMA_",),
    "huggingface": ("HUGGINGFACE_", "HF_"),
    "nvidia_nim": ("NVIDIA_NIM_",),
    "cerebras": ("CEREBRAS_",),
    "perplexity": ("PERPLEXITY",),
}
AUTH_MODE_ENV = "RAY_AUTH_MODE"


def ray_module() -> Any:
    """Ray, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "--engine ray needs Ray: pip install 'simgap[ray]' (or 'ray[default]')"
        ) from None
    return ray


# -- connecting -----------------------------------------------------------------------------
def token_available() -> bool:
    """Whether Ray would find an auth token (same places and order as Ray's token loader)."""
    if os.environ.get("RAY_AUTH_TOKEN", "").strip():
        return True
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if path:
        with contextlib.suppress(OSError):
            return bool(Path(path).expanduser().read_text().strip())
        return False
    with contextlib.suppress(OSError, RuntimeError):
        return bool((Path.home() / ".ray" / "auth_token").read_text().strip())
    return False


def prepare_auth() -> str | None:
    """Set `RAY_AUTH_MODE=token` for this process when a token exists and the mode is unset.

    Returns the mode now in force (None: Ray's default). An explicit mode is never changed.
    """
    mode = os.environ.get(AUTH_MODE_ENV)
    if mode is None and token_available():
        os.environ[AUTH_MODE_ENV] = "token"
        return "token"
    return mode


def _host_port(address: str) -> tuple[str, int] | None:
    """`host:port` of a GCS address; None for forms Ray resolves itself (`auto`, `ray://`)."""
    if address in ("auto", "local") or "://" in address:
        return None
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"--ray-address {address!r}: expected HOST:PORT (e.g. 10.0.0.5:6379)")
    return host.strip("[]") or "127.0.0.1", int(port)


def check_reachable(address: str, timeout_s: float = 3.0) -> None:
    """A TCP connect to the cluster's GCS port, so a wrong address fails in seconds."""
    hp = _host_port(address)
    if hp is None:
        return
    try:
        with socket.create_connection(hp, timeout=timeout_s):
            pass
    except OSError as e:
        why = e.strerror or type(e).__name__
        raise ConfigError(
            f"cannot reach the Ray cluster at {address} ({why}): start it with "
            "`ray start --head` there, or check --ray-address / $RAY_ADDRESS"
        ) from None


def _route_ip(host: str, port: int) -> str | None:
    """This machine's address on the route to `host` (what the cluster can reach us at).

    Ray's own guess asks for a route to 8.8.8.8, which is wrong on a private network and
    prints a warning where there is none (a loopback-only namespace)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((socket.gethostbyname(host), port))
            return str(s.getsockname()[0])
    except OSError:
        return None


@contextlib.contextmanager
def _stderr_to(sink: Any) -> Iterator[None]:
    """Send this process's file descriptor 2 to `sink` for a while: Ray's C++ client prints
    a warning a second while it retries (e.g. `InvalidAuthToken`), which would bury the one
    line simgap prints; what it printed is read back to name the cause."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        os.dup2(sink.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def connect(address: str | None = None, *, num_cpus: int | None = None) -> Any:
    """Connect to `address` (else `$RAY_ADDRESS`), or start a local Ray instance; one-line
    errors for an unreachable address and for a token the cluster wants but we lack."""
    addr = address or os.environ.get("RAY_ADDRESS") or None
    kwargs: dict[str, Any] = {
        "ignore_reinit_error": True,
        "include_dashboard": False,
        "log_to_driver": False,
        "configure_logging": True,
        "logging_level": "ERROR",
    }
    if addr is not None:
        hp = _host_port(addr)
        check_reachable(addr)
        before = os.environ.get(AUTH_MODE_ENV)
        mode = prepare_auth()
        if hp is not None and (ip := _route_ip(*hp)) is not None:
            kwargs["_node_ip_address"] = ip
    else:
        before = mode = os.environ.get(AUTH_MODE_ENV)
        if num_cpus is not None:
            kwargs["num_cpus"] = num_cpus
    ray = ray_module()
    if ray.is_initialized():
        return ray
    if mode != before:  # Ray read its config at import: make it see the new mode
        with contextlib.suppress(Exception):
            importlib.import_module("ray._raylet").Config.initialize("")
    with tempfile.TemporaryFile() as sink:
        try:
            with _stderr_to(sink):
                ray.init(address=addr, **kwargs)
        except Exception as e:
            sink.seek(0)
            printed = sink.read().decode("utf-8", "replace")
            raise _init_error(e, addr, mode, printed) from None
    return ray


def _init_error(e: Exception, addr: str | None, mode: str | None, printed: str) -> ConfigError:
    where = addr or "a local instance"
    first = (str(e).strip().splitlines() or [type(e).__name__])[0]
    if "InvalidAuthToken" in first + printed or "auth" in type(e).__name__.lower():
        if mode == "token":
            hint = (
                "the cluster refused this machine's Ray token (~/.ray/auth_token, "
                "$RAY_AUTH_TOKEN_PATH or $RAY_AUTH_TOKEN): use the token the cluster was "
                "started with"
            )
        elif token_available():
            hint = f"the cluster uses token authentication: set RAY_AUTH_MODE=token (not {mode})"
        else:
            hint = (
                "the cluster uses token authentication and this machine has no token: copy the "
                "cluster's token to ~/.ray/auth_token (or set $RAY_AUTH_TOKEN_PATH / "
                "$RAY_AUTH_TOKEN)"
            )
        return ConfigError(f"cannot connect to Ray at {where}: {hint}")
    return ConfigError(f"cannot start Ray at {where}: {first[:300]}")


# -- where workers go -------------------------------------------------------------------------
@dataclass(frozen=True)
class Slot:
    """Room for one worker on one node."""

    node_id: str
    node_label: str  # "10.0.0.5/ab12cd34": address and the node id's first 8 hex digits


def node_label(node: dict[str, Any]) -> str:
    nid = str(node.get("NodeID", ""))
    addr = node.get("NodeManagerAddress") or node.get("NodeName") or "?"
    return f"{addr}/{nid[:8]}"


def plan_slots(
    nodes: Iterable[dict[str, Any]], *, worker_cpus: float, max_workers: int | None = None
) -> list[Slot]:
    """One slot per `worker_cpus` CPUs of each live node, interleaved across nodes (node A, B,
    A, B, ...) so that a cap on workers still spreads them."""
    per_node: list[list[Slot]] = []
    for n in nodes:
        if not n.get("Alive"):
            continue
        cpus = float((n.get("Resources") or {}).get("CPU", 0.0))
        k = math.floor(cpus / worker_cpus + 1e-9) if worker_cpus > 0 else 0
        slot = Slot(node_id=str(n["NodeID"]), node_label=node_label(n))
        per_node.append([slot] * k)
    out: list[Slot] = []
    depth = max((len(x) for x in per_node), default=0)
    for i in range(depth):
        out.extend(x[i] for x in per_node if i < len(x))
    return out if max_workers is None else out[: max(0, max_workers)]


# -- what the workers need from the driver's environment --------------------------------------
def _provider(model: str) -> str | None:
    if "/" in model:
        return model.split("/", 1)[0]
    try:
        import litellm

        return str(litellm.get_llm_provider(model=model)[1])
    except Exception:  # an id litellm cannot place: nothing provider-specific to forward
        return None


def is_secret(name: str, *, key_names: Iterable[str] = ()) -> bool:
    return name in set(key_names) or bool(_SECRET_NAME.search(name))


def worker_environment(
    configs: Iterable[ModelConfig], environ: dict[str, str] | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    """(settings, secrets): the driver's variables a sweep over `configs` needs on workers.

    Named by a config (`api_key_env`, `api_base_env`), read by litellm for the configs'
    providers, or simgap's / litellm's own. Secrets are the key variables and anything whose
    name says credential; they must not travel in Ray's runtime environment (it is logged).
    """
    env = dict(os.environ if environ is None else environ)
    names: set[str] = set()
    key_names: set[str] = set()
    prefixes: set[str] = set(OWN_PREFIXES)
    for c in configs:
        if c.is_local:
            continue
        if c.api_key_env:
            names.add(c.api_key_env)
            key_names.add(c.api_key_env)
        if c.api_base_env:
            names.add(c.api_base_env)
        prov = _provider(c.model)
        if prov is not None:
            prefixes.update(PROVIDER_PREFIXES.get(prov, ()))
    picked = {
        k: v
        for k, v in env.items()
        if (k in names or k.startswith(tuple(prefixes))) and k not in _NOT_FORWARDED
    }
    settings = {k: v for k, v in picked.items() if not is_secret(k, key_names=key_names)}
    secrets = {k: v for k, v in picked.items() if k not in settings}
    return settings, secrets
