"""The preset zoo: every entry loads, every LLM preset reaches its model through litellm."""

from __future__ import annotations

import asyncio

import pytest
from typer.testing import CliRunner

from simgap.cli.app import app
from simgap.domains import DomainEnvironment, load_tasks
from simgap.llm.factory import make_client
from simgap.models import Role, Turn
from simgap.users import UserContext, build_user, presets
from simgap.users.zoo import readiness
from tests.fakes.openai_server import FakeOpenAIServer

FAMILIES = {"proprietary", "open", "specialised", "local", "synthetic", "grounded"}


def test_zoo_covers_the_papers_families() -> None:
    ps = presets()
    assert {p.family for p in ps.values()} >= FAMILIES
    for name in ("local", "persona", "behavior", "standin", "grounded", "userlm-8b"):
        assert name in ps
    assert ps["behavior"].synthetic and ps["standin"].synthetic
    assert not ps["local"].synthetic


NATIVE_PROTOCOL = {"anthropic", "gemini", "ollama_chat", "ollama"}
LLM_PRESETS = [n for n, p in presets().items() if p.model is not None and not p.model.is_local]


@pytest.mark.parametrize("name", LLM_PRESETS)
def test_each_hosted_preset_builds_a_request_through_litellm(
    name: str, fake_openai: FakeOpenAIServer
) -> None:
    import litellm

    preset = presets()[name]
    assert preset.model is not None
    # litellm must know the provider of every preset's model id
    _, provider, _, _ = litellm.get_llm_provider(preset.model.model)
    model = preset.model.model
    if provider in NATIVE_PROTOCOL:  # their own wire protocol: same request, OpenAI-style
        model = f"openai/{model.split('/', 1)[1]}"
    cfg = preset.model.model_copy(
        update={
            "model": model,
            "api_base": fake_openai.base_url,
            "api_key": "sk-test",
            "max_retries": 0,
        }
    )
    task = load_tasks("airline", task_ids=["0"])[0]
    env = DomainEnvironment(task)

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
    assert content and content.startswith("echo:")
    body = fake_openai.requests[-1]
    wire_model = cfg.model.split("/", 1)[1] if "/" in cfg.model else cfg.model
    assert body["model"].endswith(wire_model.split("/")[-1])
    assert body["messages"][0]["role"] == "system"
    assert "EHGLP3" in body["messages"][0]["content"] or "Emma" in body["messages"][0]["content"]


def test_readiness_reports_missing_keys_and_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("SIMGAP_USERLM_API_BASE", raising=False)
    ps = presets()
    assert readiness(ps["local"]).ready and readiness(ps["standin"]).ready
    r = readiness(ps["gpt-4o"])
    assert not r.ready and "OPENAI_API_KEY" in r.detail
    r = readiness(ps["userlm-8b"])
    assert not r.ready and "SIMGAP_USERLM_API_BASE" in r.detail
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    assert readiness(ps["gpt-4o"]).ready


def test_simulators_list_and_show_cli() -> None:
    r = CliRunner().invoke(app, ["simulators", "list"])
    assert r.exit_code == 0, r.output
    assert "standin" in r.output and "userlm-8b" in r.output and "synthetic" in r.output
    r = CliRunner().invoke(app, ["simulators", "show", "standin"])
    assert r.exit_code == 0 and "politeness: 0.35" in r.output
