"""Pytest fixtures around the fake OpenAI-compatible server (registered by tests/conftest.py).

- `fake_openai`: a started `FakeOpenAIServer`, fresh for each test.
- `fake_model_config`: a `ModelConfig` for `openai/fake-model` at that server, with tiny
  backoff and a short timeout, so retry paths run in milliseconds.
- `fake_openai_factory`: call it (same keyword arguments as `FakeOpenAIServer`) to start more
  servers, e.g. one per provider; all are stopped after the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from simgap.llm.base import ModelConfig
from tests.fakes.openai_server import FakeOpenAIServer


@pytest.fixture
def fake_openai_factory() -> Iterator[Callable[..., FakeOpenAIServer]]:
    servers: list[FakeOpenAIServer] = []

    def start(**kwargs: Any) -> FakeOpenAIServer:
        srv = FakeOpenAIServer(**kwargs).start()
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.stop()


@pytest.fixture
def fake_openai(fake_openai_factory: Callable[..., FakeOpenAIServer]) -> FakeOpenAIServer:
    return fake_openai_factory()


@pytest.fixture
def fake_model_config(fake_openai: FakeOpenAIServer) -> ModelConfig:
    return ModelConfig(
        model="openai/fake-model",
        api_base=fake_openai.base_url,
        api_key="sk-test",
        timeout_s=5.0,
        max_retries=3,
        backoff_base_s=0.01,
        backoff_max_s=0.05,
    )
