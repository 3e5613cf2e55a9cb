"""`annotate_store` and `simgap annotate`: resumable, interruption-safe, filtered."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from simgap.annotate.base import Annotator
from simgap.annotate.rules import RuleAnnotator
from simgap.annotate.runner import annotate_store
from simgap.cli import annotate_cmd
from simgap.models import Annotation, Session, SessionStatus, UserKind
from simgap.store import SessionFilter, Store
from tests.fakes.cli import run_main
from tests.metrics.synth import session


def _store(tmp_path: Path, n: int = 6) -> Store:
    store = Store(tmp_path / "runs.db")
    for i in range(n):
        kind = UserKind.HUMAN if i % 2 else UserKind.SIMULATOR
        store.save_session(
            session(f"synthetic-{i}", ["hi, cancel order #W1", "thanks"], task=str(i), kind=kind)
        )
    store.save_session(
        session("synthetic-running", ["hello"], task="9", status=SessionStatus.RUNNING)
    )
    return store


class _Crash(Exception):
    """Stands in for Ctrl-C or a crash mid-run (KeyboardInterrupt itself would stop pytest)."""


class _Interrupting(Annotator):
    """The rule annotator, but the run dies at the `stop_at`-th session."""

    def __init__(self, stop_at: int) -> None:
        self.inner = RuleAnnotator()
        self.codebook = self.inner.codebook
        self.name = self.inner.name
        self.stop_at = stop_at
        self.seen = 0

    async def annotate(self, s: Session) -> list[Annotation]:
        await asyncio.sleep(0.01)  # like a model call: a point where the run can be cancelled
        self.seen += 1
        if self.seen == self.stop_at:
            raise _Crash
        return await self.inner.annotate(s)


async def test_resumes_and_skips_done_sessions(tmp_path: Path) -> None:
    store = _store(tmp_path)
    first = await annotate_store(store, RuleAnnotator(), concurrency=1)
    assert (first.selected, first.annotated, first.already_done) == (6, 6, 0)
    assert first.turns == 12 and first.missing_turns == 0
    assert "synthetic-running" not in store.annotated_session_ids("rules", "1")
    again = await annotate_store(store, RuleAnnotator())
    assert (again.annotated, again.already_done) == (0, 6)
    assert len(store.get_annotations(annotator="rules")) == 6 * 3  # 2 turns + 1 session row


async def test_interruption_keeps_finished_sessions(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with pytest.raises(_Crash):
        await annotate_store(store, _Interrupting(stop_at=4), concurrency=1)
    done = store.annotated_session_ids("rules", "1")
    assert len(done) == 3  # the three finished before the interruption are stored whole
    for sid in done:
        rows = store.get_annotations([sid], annotator="rules")
        assert len(rows) == 3
    rest = await annotate_store(store, RuleAnnotator())
    assert (rest.annotated, rest.already_done) == (3, 3)


async def test_filter_selects_sessions(tmp_path: Path) -> None:
    store = _store(tmp_path)
    out = await annotate_store(store, RuleAnnotator(), SessionFilter(user_kind=UserKind.HUMAN))
    assert out.annotated == 3


def _app() -> typer.Typer:
    app = typer.Typer()
    annotate_cmd.register(app)

    @app.callback()
    def _root() -> None:  # keep "annotate" as a sub-command
        pass

    return app


def test_cli_annotate_is_resumable(tmp_path: Path) -> None:
    _store(tmp_path).close()
    db = str(tmp_path / "runs.db")
    r = CliRunner().invoke(_app(), ["annotate", "--db", db], terminal_width=120)
    assert r.exit_code == 0, r.output
    assert "6 annotated now, 0 earlier" in r.output
    r = CliRunner().invoke(_app(), ["annotate", "--db", db], terminal_width=120)
    assert r.exit_code == 0, r.output
    assert "resuming: 6 of 6 sessions already annotated" in r.output
    assert "0 annotated now, 6 earlier" in r.output


def test_cli_rejects_unknown_annotator(tmp_path: Path) -> None:
    _store(tmp_path).close()
    r = run_main(["annotate", "--db", str(tmp_path / "runs.db"), "--annotator", "magic"])
    r.one_line_error("'rules' or 'llm:<model>'")


def test_cli_llm_annotator_through_fake_server(tmp_path: Path, fake_openai: object) -> None:
    from tests.annotate.test_llm_annotator import _answer
    from tests.fakes.openai_server import FakeOpenAIServer

    assert isinstance(fake_openai, FakeOpenAIServer)
    fake_openai.responder = _answer
    _store(tmp_path, n=2).close()
    r = CliRunner(env={"OPENAI_API_KEY": "sk-test"}).invoke(
        _app(),
        [
            "annotate",
            "--db",
            str(tmp_path / "runs.db"),
            "--annotator",
            "llm:openai/fake-model",
            "--api-base",
            fake_openai.base_url,
            "--no-cache",
        ],
        terminal_width=120,
    )
    assert r.exit_code == 0, r.output
    assert "llm:openai/fake-model" in r.output
    assert "4 coded, 0 missing" in r.output
