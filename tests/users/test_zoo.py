"""The preset zoo: every entry loads, every LLM preset reaches its model through litellm."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from typer.testing import CliRunner

from simgap.cli.app import app
from simgap.domains import DomainEnvironment, load_tasks
from simgap.llm.base import ModelConfig
from simgap.llm.factory import make_client
from simgap.models import Role, Task, Turn
from simgap.users import UserContext, UserPreset, build_user, get_preset, presets
from simgap.users.zoo import known_to_litellm, readiness, zoo_rows
from tests.fakes.cli import run_main
from tests.fakes.native_server import NativeServer, reply_text
from tests.fakes.openai_server import FakeOpenAIServer

FAMILIES = {"proprietary", "open", "specialised", "local", "persona", "synthetic", "grounded"}
# The paper's simulator families (arXiv 2603.11245) each need at least these presets.
REQUIRED = (
    "local",
    "tau2",
    "persona",
    "behavior",
    "standin",
    "grounded",
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-5",
    "gpt-5-mini",
    "claude-sonnet-4",
    "claude-3.7-sonnet",
    "claude-opus-4",
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "llama-3.3-70b",
    "llama-3.1-8b",
    "qwen-2.5-72b",
    "qwen3-next-80b",
    "deepseek-v3",
    "deepseek-r1",
    "mistral-large",
    "gemma-3-27b",
    "userlm-8b",
)
# Providers with their own wire protocol: served by tests/fakes/native_server.py, so litellm's
# own request builder for each runs and its request is checked; the rest speak OpenAI's.
NATIVE_PROTOCOL = {"anthropic", "gemini", "vertex_ai", "bedrock", "ollama_chat"}
GREETING = "Hi! How can I help you today?"
SCENARIO_MARK = "EHGLP3"  # in airline task 0's scenario, which the simulator's prompt carries
# Presets whose temperature litellm leaves out of the request, and why (checked: it is absent).
TEMPERATURE_DROPPED = {
    "kimi-k2.5": "Moonshot's reasoning models reject every temperature (litellm's moonshot "
    "transformation removes it)",
}
LLM_PRESETS = [n for n, p in presets().items() if p.model is not None and not p.model.is_local]


def test_zoo_covers_the_papers_families() -> None:
    ps = presets()
    assert {p.family for p in ps.values()} >= FAMILIES
    missing = [n for n in REQUIRED if n not in ps]
    assert not missing, missing
    for name in ("behavior", "standin", "grounded"):
        assert ps[name].synthetic and ps[name].model is None
    assert not ps["local"].synthetic and not ps["persona"].synthetic
    assert ps["userlm-8b"].model is not None
    assert ps["userlm-8b"].model.api_base_env == "SIMGAP_USERLM_API_BASE"
    assert ps["userlm-8b"].model.model.startswith("hosted_vllm/")
    assert ps["persona"].model is not None and ps["persona"].model.is_local


@pytest.mark.parametrize("name", LLM_PRESETS)
def test_every_llm_preset_names_a_model_litellm_knows(name: str) -> None:
    import litellm

    preset = presets()[name]
    assert preset.model is not None
    litellm.get_llm_provider(preset.model.model)  # raises for an id litellm cannot place
    assert known_to_litellm(preset.model.model), preset.model.model


@pytest.fixture(scope="module")
def airline_task() -> Iterator[tuple[Task, DomainEnvironment]]:
    task = load_tasks("airline", task_ids=["0"])[0]
    yield task, DomainEnvironment(task)


@pytest.fixture(scope="module")
def native() -> Iterator[NativeServer]:
    with NativeServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def vertex_credentials(native: NativeServer) -> str:
    """A Google service account whose token endpoint is the fake server: litellm's Vertex AI
    path signs a JWT with it, gets a token from 127.0.0.1, and sends the request."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "simgap-test",
            "private_key_id": "k1",
            "private_key": pem,
            "client_email": "simulator@simgap-test.iam.gserviceaccount.com",
            "client_id": "1",
            "token_uri": f"{native.base_url}/token",
        }
    )


def _reply(
    preset: UserPreset, cfg: ModelConfig, airline_task: tuple[Task, DomainEnvironment]
) -> str | None:
    """The simulator of `preset`, on `cfg`, answers the agent's greeting."""
    task, env = airline_task

    async def go() -> str | None:
        client = make_client(cfg)
        try:
            user = build_user(
                preset.model_copy(update={"model": cfg}), UserContext(task, env, client, seed=1)
            )
            agent_turn = Turn(idx=0, role=Role.AGENT, content=GREETING)
            return (await user.reply([agent_turn], seed=1)).content
        finally:
            await client.aclose()

    return asyncio.run(go())


def _native_config(
    model: ModelConfig, provider: str, srv: NativeServer, vertex_credentials: str
) -> ModelConfig:
    """The preset's model config aimed at the fake server, credentials as each provider takes
    them: a key (Anthropic, Gemini, Ollama), AWS keys signing the request with SigV4 (Bedrock,
    at its runtime endpoint: no api_base, as in production), a service account (Vertex AI)."""
    update: dict[str, Any] = {"max_retries": 0, "timeout_s": 30.0}
    if provider == "bedrock":
        update["extra"] = {
            **model.extra,
            "aws_region_name": "us-east-1",
            "aws_access_key_id": "AKIAFAKEFAKEFAKEFAKE",
            "aws_secret_access_key": "fake-secret",
            "aws_bedrock_runtime_endpoint": srv.base_url,
        }
        update["api_key_env"] = None
    elif provider == "vertex_ai":
        update["api_base"] = srv.base_url
        update["extra"] = {
            **model.extra,
            "vertex_project": "simgap-test",
            "vertex_location": "us-central1",
            "vertex_credentials": vertex_credentials,
        }
    else:
        update.update(api_base=srv.base_url, api_key="sk-test")
    return model.model_copy(update=update)


def _text_parts(value: Any) -> str:
    """Every text in a (nested) request body, joined: where a provider put the prompt."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return " ".join(_text_parts(v) for v in value.values())
    if isinstance(value, list):
        return " ".join(_text_parts(v) for v in value)
    return ""


def _check_native_request(provider: str, model_id: str, preset: UserPreset, req: Any) -> None:
    """The request each provider's API expects, built by litellm from simgap's messages."""
    body, headers = req.body, req.headers
    temperature = preset.model.temperature if preset.model is not None else None
    if provider == "anthropic":
        assert req.path == "/v1/messages"
        assert headers["x-api-key"] == "sk-test" and headers["anthropic-version"]
        assert body["model"] == model_id
        assert SCENARIO_MARK in _text_parts(body["system"])
        assert body["messages"] == [
            {"role": "user", "content": [{"type": "text", "text": GREETING}]}
        ]
        assert body["max_tokens"] > 0
        assert body.get("temperature") == temperature
    elif provider == "gemini":
        assert req.path == f"/models/{model_id}:generateContent"
        assert headers["x-goog-api-key"] == "sk-test"
        if "system_instruction" in body:
            assert SCENARIO_MARK in _text_parts(body["system_instruction"])
            assert body["contents"] == [{"role": "user", "parts": [{"text": GREETING}]}]
        else:  # models without system instructions (Gemma): the prompt opens the user turn
            assert [c["role"] for c in body["contents"]] == ["user"]
            assert SCENARIO_MARK in body["contents"][0]["parts"][0]["text"]
            assert body["contents"][0]["parts"][-1] == {"text": GREETING}
        assert body["generationConfig"].get("temperature") == temperature
    elif provider == "vertex_ai":
        assert req.path == (
            "/v1/projects/simgap-test/locations/us-central1/publishers/google/models/"
            f"{model_id}:generateContent"
        )
        assert headers["authorization"] == "Bearer ya29.fake-token"  # from the token endpoint
        assert SCENARIO_MARK in _text_parts(body.get("system_instruction") or body["contents"])
        assert body["contents"][-1]["role"] == "user"
        assert body["contents"][-1]["parts"][-1] == {"text": GREETING}
        assert body["generationConfig"].get("temperature") == temperature
    elif provider == "bedrock":
        assert req.path == f"/model/{quote(model_id, safe='')}/converse"
        auth = headers["authorization"]
        assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIAFAKEFAKEFAKEFAKE/"), auth
        assert "/us-east-1/bedrock/aws4_request" in auth
        assert SCENARIO_MARK in _text_parts(body["system"])
        assert body["messages"] == [{"role": "user", "content": [{"text": GREETING}]}]
        assert body["inferenceConfig"].get("temperature") == temperature
    elif provider == "ollama_chat":
        assert req.path == "/api/chat"
        assert body["model"] == model_id and body["stream"] is False
        assert body["messages"][0]["role"] == "system"
        assert SCENARIO_MARK in body["messages"][0]["content"]
        last = body["messages"][-1]
        assert (last["role"], last["content"]) == ("user", GREETING)
        assert body["options"].get("temperature") == temperature
    else:  # pragma: no cover - a new native provider needs its own check here
        raise AssertionError(f"no request check for provider {provider}")


@pytest.mark.parametrize("name", LLM_PRESETS)
def test_each_hosted_preset_builds_its_providers_request_through_litellm(
    name: str,
    fake_openai: FakeOpenAIServer,
    native: NativeServer,
    vertex_credentials: str,
    airline_task: tuple[Task, DomainEnvironment],
) -> None:
    """Every hosted preset's simulator answers through litellm over HTTP: OpenAI-compatible
    providers at the fake OpenAI server, the others at a fake of their own API, each request
    checked for the shape the provider expects (model, system prompt with the scenario, the
    agent's greeting as the user turn, the preset's temperature, credentials)."""
    import litellm

    preset = presets()[name]
    assert preset.model is not None
    model = preset.model.model
    _, provider, _, _ = litellm.get_llm_provider(model)
    model_id = model.split("/", 1)[1] if "/" in model else model
    if provider in NATIVE_PROTOCOL:
        cfg = _native_config(preset.model, provider, native, vertex_credentials)
        before = len(native.records)
        assert _reply(preset, cfg, airline_task) == reply_text(provider)
        sent = [r for r in native.records[before:] if r.path != "/token"]
        assert len(sent) == 1, [r.path for r in sent]
        _check_native_request(provider, model_id, preset, sent[0])
        return
    cfg = preset.model.model_copy(
        update={"api_base": fake_openai.base_url, "api_key": "sk-test", "max_retries": 0}
    )
    assert _reply(preset, cfg, airline_task) == f"echo: {GREETING}"
    assert fake_openai.calls == 1
    rec = fake_openai.records[-1]
    assert rec.path.endswith("/chat/completions")
    assert rec.headers["authorization"] == "Bearer sk-test"
    body = rec.body
    assert body is not None
    assert body["model"] == model_id
    expected = None if name in TEMPERATURE_DROPPED else preset.model.temperature
    assert body.get("temperature") == expected
    system, first = body["messages"][0], body["messages"][-1]
    assert system["role"] == "system" and SCENARIO_MARK in system["content"]  # τ²'s scenario
    assert first == {"role": "user", "content": GREETING}


def test_readiness_reports_missing_keys_and_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "SIMGAP_USERLM_API_BASE", "SIMGAP_PROFILE", "MINIMAX_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    ps = presets()
    assert readiness(ps["local"]).detail == "offline (embedded model)"
    assert readiness(ps["standin"]).detail == "offline (no model)"
    r = readiness(ps["gpt-4o"])
    assert not r.ready and r.detail == "needs $OPENAI_API_KEY"
    r = readiness(ps["userlm-8b"])
    assert not r.ready and r.detail == "needs $SIMGAP_USERLM_API_BASE"
    assert readiness(ps["minimax-m2.5"]).detail == "needs $MINIMAX_API_KEY"
    r = readiness(ps["grounded"])
    assert not r.ready and "--user-profile" in r.detail
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    monkeypatch.setenv("SIMGAP_USERLM_API_BASE", "http://127.0.0.1:9/v1")
    assert readiness(ps["gpt-4o"]).ready
    assert readiness(get_preset("userlm-8b")).ready


def test_zoo_rows_list_every_preset_in_file_order() -> None:
    rows = zoo_rows()
    assert [r.name for r in rows] == list(presets())
    standin = next(r for r in rows if r.name == "standin")
    assert standin.synthetic and standin.ready and standin.model == "-"


def test_simulators_list_and_show_cli() -> None:
    r = CliRunner().invoke(app, ["simulators", "list"])
    assert r.exit_code == 0, r.output
    for name in ("standin", "userlm-8b", "claude-3.7-sonnet", "deepseek-v3.1"):
        assert name in r.output
    assert "(synthetic)" in r.output and "configured" in r.output
    r = CliRunner().invoke(app, ["simulators", "show", "standin"])
    assert r.exit_code == 0 and "politeness: 0.15" in r.output and "synthetic: true" in r.output
    r = CliRunner().invoke(app, ["simulators", "show", "gpt-4o"])
    assert r.exit_code == 0 and "priced_by_litellm: true" in r.output
    run_main(["simulators", "show", "nope"]).one_line_error("unknown user simulator 'nope'")
