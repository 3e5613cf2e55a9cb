"""Shared test setup: fixtures of the fake OpenAI-compatible server (tests/fakes/fixtures.py)."""

pytest_plugins = ["tests.fakes.fixtures"]
