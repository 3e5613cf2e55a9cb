"""The preset zoo: every entry loads, every LLM preset reaches its model through litellm."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from simgap.cli.app import app
from simgap.domains import DomainEnvironment, load_tasks
from simgap.llm.factory import make_client
from simgap.models import Role, Task, Turn
from simgap.users import UserContext, build_user, get_preset, presets
from simgap.users.zoo import known_to_litellm, readiness, zoo_rows
from tests.fakes.cli import run_main
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
# Providers with their own wire protocol: the same request goes OpenAI-style to the fake server.
NATIVE_PROTOCOL = {"anthropic", "gemini", "vertex_ai", "bedrock", "ollama", "ollama_chat"}
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


@pytest.mark.parametrize("name", LLM_PRESETS)
def test_each_hosted_preset_builds_a_request_through_litellm(
    name: str, fake_openai: FakeOpenAIServer, airline_task: tuple[Task, DomainEnvironment]
) -> None:
    import litellm

    preset = presets()[name]
    assert preset.model is not None
    _, provider, _, _ = litellm.get_llm_provider(preset.model.model)
    model = preset.model.model
    if provider in NATIVE_PROTOCOL:
        model = f"openai/{model.split('/', 1)[1]}"
    cfg = preset.model.model_copy(
        update={
            "model": model,
            "api_base": fake_openai.base_url,
            "api_key": "sk-test",
            "max_retries": 0,
        }
    )
    task, env = airline_task

    async def go() -> str | None:
        client = make_client(cfg)
        try:
            user = build_user(
                preset.model_copy(update={"model": cfg}), UserContext(task, env, client, seed=1)
            )
            agent_turn = Turn(idx=0, role=Role.AGENT, content="Hi! How can I help you today?")
            return (await user.reply([agent_turn], seed=1)).content
        finally:
            await client.aclose()

    content = asyncio.run(go())
    assert content == "echo: Hi! How can I help you today?"
    body = fake_openai.requests[-1]
    assert body["model"] == model.split("/", 1)[1] if "/" in model else model
    system, first = body["messages"][0], body["messages"][-1]
    assert system["role"] == "system" and "EHGLP3" in system["content"]  # τ²'s scenario
    assert first == {"role": "user", "content": "Hi! How can I help you today?"}


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
