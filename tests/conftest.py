"""Shared test setup: fixtures of the fake OpenAI-compatible server (tests/fakes/fixtures.py),
and an empty response cache for the whole run.

The response cache is on by default (`~/.cache/simgap`). A test run that read a developer's
warm cache would never call the embedded model for real, which once hid a segmentation fault
that every new user hit (issue 9). So every run starts from empty caches of its own: the
simgap response cache and XDG_CACHE_HOME point into a fresh temporary folder, and tests that
need a cache of their own still set SIMGAP_CACHE_DIR per test. τ²'s gold outcomes
(simgap.domains.gold) get a temporary folder too.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

pytest_plugins = [
    "tests.fakes.fixtures",
    "tests.fakes.postgres",
    "tests.plugins.counts",
    "tests.plugins.skip_policy",
    "tests.plugins.schedule",
]


@pytest.fixture(scope="session", autouse=True)
def _empty_caches() -> Iterator[str]:
    saved = {k: os.environ.get(k) for k in ("SIMGAP_CACHE_DIR", "XDG_CACHE_HOME")}
    with tempfile.TemporaryDirectory(prefix="simgap-test-cache-") as root:
        os.environ["XDG_CACHE_HOME"] = os.path.join(root, "xdg")
        os.environ["SIMGAP_CACHE_DIR"] = os.path.join(root, "simgap")
        try:
            yield root
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


@pytest.fixture(scope="session", autouse=True)
def _gold_cache_in_tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """τ² gold outcomes are cached on disk (simgap.domains.gold): in tests, never in ~/.cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SIMGAP_GOLD_CACHE", str(tmp_path_factory.mktemp("gold-cache")))
        yield
