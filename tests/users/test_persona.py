"""`persona`: a persona sampled from the session seed, reproducible, added to τ²'s prompt and
stored with every user turn."""

from __future__ import annotations

import asyncio

from simgap.domains import DomainEnvironment, load_tasks
from simgap.llm.base import ModelConfig
from simgap.llm.factory import make_client
from simgap.models import Role, Turn
from simgap.users import UserContext, build_user, get_preset, sample_persona
from simgap.users.persona import PERSONA_AXES
from tests.fakes.openai_server import FakeOpenAIServer


def test_persona_is_reproducible_per_seed_and_varies_across_seeds() -> None:
    a = sample_persona(1234)
    assert a == sample_persona(1234)
    assert set(a) == set(PERSONA_AXES)
    assert all(a[k] in PERSONA_AXES[k] for k in a)
    seen = {tuple(sample_persona(s).values()) for s in range(50)}
    assert len(seen) > 40  # 3^9 combinations: 50 seeds almost never repeat


def test_persona_preset_prompts_the_model_and_records_the_persona(
    fake_openai: FakeOpenAIServer,
) -> None:
    task = load_tasks("airline", task_ids=["0"])[0]
    env = DomainEnvironment(task)
    cfg = ModelConfig(model="openai/persona-model", api_base=fake_openai.base_url, api_key="k")
    preset = get_preset("persona").model_copy(update={"model": cfg})

    async def one(seed: int) -> tuple[str, dict[str, object]]:
        client = make_client(cfg)
        try:
            user = build_user(preset, UserContext(task, env, client, seed=seed))
            r = await user.reply([Turn(idx=0, role=Role.AGENT, content="Hi!")], seed=seed)
            return fake_openai.requests[-1]["messages"][0]["content"], r.meta
        finally:
            await client.aclose()

    prompt, meta = asyncio.run(one(77))
    persona = sample_persona(77)
    assert meta["persona"] == persona and meta["persona_version"] == 2
    assert "## Your persona" in prompt and "EHGLP3" in prompt  # τ²'s scenario stays
    for value in persona.values():
        assert value in prompt
    again, meta2 = asyncio.run(one(77))
    assert again == prompt and meta2 == meta
    other, _ = asyncio.run(one(78))
    assert other != prompt
