"""Shared test setup: fixtures of the fake OpenAI-compatible server (tests/fakes/fixtures.py)."""

from collections.abc import Iterator

import pytest

pytest_plugins = ["tests.fakes.fixtures"]


@pytest.fixture(scope="session", autouse=True)
def _gold_cache_in_tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """τ² gold outcomes are cached on disk (simgap.domains.gold): in tests, never in ~/.cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SIMGAP_GOLD_CACHE", str(tmp_path_factory.mktemp("gold-cache")))
        yield
