"""The gold-outcome cache: computed once, shared on disk, never trusted when stale or broken."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pytest

from simgap.domains import gold, load_tasks, tau2_runtime
from simgap.domains.fast_env import env_domain_name
from simgap.domains.tasks import tau2_task

DOMAIN = "mock"  # small database: these tests are about the cache, not the domain


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    d = tmp_path / "gold"
    monkeypatch.setenv(gold.CACHE_ENV, str(d))
    gold.clear_memory()
    yield d
    gold.clear_memory()


def _task(i: int = 0) -> Any:
    return tau2_task(load_tasks(DOMAIN)[i])


def _ctor() -> Any:
    return tau2_runtime.registry().get_env_constructor(env_domain_name(DOMAIN))


def _count_computes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = gold.compute_gold

    def counting(task: Any, constructor: Any) -> gold.GoldOutcome:
        calls.append(1)
        return real(task, constructor)

    monkeypatch.setattr(gold, "compute_gold", counting)
    return calls


def test_computed_once_then_from_memory_then_from_disk(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _count_computes(monkeypatch)
    first = gold.gold_outcome(DOMAIN, _task(), _ctor())
    assert gold.gold_outcome(DOMAIN, _task(), _ctor()) == first
    assert len(calls) == 1
    files = list(cache_dir.glob("*.json"))
    assert len(files) == 1 and not list(cache_dir.glob(".gold-*"))  # no temp file left
    gold.clear_memory()  # a new process: memory empty, disk warm
    assert gold.gold_outcome(DOMAIN, _task(), _ctor()) == first
    assert len(calls) == 1


def test_equals_tau2s_own_gold_environment() -> None:
    t = _task()
    env = _ctor()()
    init = t.initial_state
    env.set_state(
        initialization_data=init.initialization_data if init else None,
        initialization_actions=init.initialization_actions if init else None,
        message_history=(init.message_history or []) if init else [],
    )
    for a in t.evaluation_criteria.actions or []:
        env.make_tool_call(tool_name=a.name, requestor=a.requestor, **a.arguments)
    got = gold.gold_outcome(DOMAIN, t, _ctor())
    assert got == gold.GoldOutcome(env.get_db_hash(), env.get_user_db_hash())


@pytest.mark.parametrize(
    "content", ["", "{not json", "[]", '{"key": 1}', '{"key": null, "agent_db_hash": 3}']
)
def test_corrupt_file_is_recomputed_and_rewritten(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch, content: str
) -> None:
    good = gold.gold_outcome(DOMAIN, _task(), _ctor())
    (path,) = cache_dir.glob("*.json")
    path.write_text(content)
    gold.clear_memory()
    calls = _count_computes(monkeypatch)
    assert gold.gold_outcome(DOMAIN, _task(), _ctor()) == good
    assert len(calls) == 1
    assert json.loads(path.read_text())["agent_db_hash"] == good.agent_db_hash


def test_wrong_values_under_a_matching_key_are_rejected(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = gold.gold_outcome(DOMAIN, _task(), _ctor())
    (path,) = cache_dir.glob("*.json")
    data = json.loads(path.read_text())
    data["agent_db_hash"] = ["not", "a", "hash"]
    path.write_text(json.dumps(data))
    gold.clear_memory()
    assert gold.gold_outcome(DOMAIN, _task(), _ctor()) == good


def test_new_tau2_version_or_changed_database_invalidates(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gold.gold_outcome(DOMAIN, _task(), _ctor())
    calls = _count_computes(monkeypatch)
    gold.clear_memory()
    monkeypatch.setattr(gold, "tau2_version", lambda: "99.0")
    gold.gold_outcome(DOMAIN, _task(), _ctor())
    assert len(calls) == 1
    gold.clear_memory()
    monkeypatch.setattr(gold, "initial_db_hash", lambda domain, ctor: "edited-data")
    gold.gold_outcome(DOMAIN, _task(), _ctor())
    assert len(calls) == 2
    assert len(list(cache_dir.glob("*.json"))) == 3  # each key its own file


def test_tasks_do_not_share_entries() -> None:
    a, b = _task(0), _task(1)
    assert gold.task_digest(a) != gold.task_digest(b)
    gold.gold_outcome(DOMAIN, a, _ctor())
    gold.gold_outcome(DOMAIN, b, _ctor())


def test_unwritable_cache_still_gives_the_outcome(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv(gold.CACHE_ENV, str(blocker / "sub"))  # a directory under a file
    assert gold.gold_outcome(DOMAIN, _task(), _ctor()).agent_db_hash


def test_cache_off_keeps_nothing_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(gold.CACHE_ENV, "off")
    assert gold.cache_dir() is None
    assert gold.gold_outcome(DOMAIN, _task(), _ctor()).agent_db_hash
    monkeypatch.delenv(gold.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert gold.cache_dir() == tmp_path / "simgap" / "gold"


def _in_worker(cache: str, i: int) -> tuple[str | None, str | None]:
    os.environ[gold.CACHE_ENV] = cache
    g = gold.gold_outcome(DOMAIN, _task(i % 2), _ctor())
    return g.agent_db_hash, g.user_db_hash


def test_concurrent_processes_agree_and_leave_whole_files(cache_dir: Path) -> None:
    with ProcessPoolExecutor(max_workers=3, mp_context=get_context("spawn")) as ex:
        got = list(ex.map(_in_worker, [str(cache_dir)] * 6, range(6)))
    assert got[0::2] == [got[0]] * 3 and got[1::2] == [got[1]] * 3
    files = list(cache_dir.glob("*.json"))
    assert len(files) == 2 and not list(cache_dir.glob(".gold-*"))
    for f in files:
        assert set(json.loads(f.read_text())) == {"key", "agent_db_hash", "user_db_hash"}
