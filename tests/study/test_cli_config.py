"""`simgap study ...` commands and the study config: examples in --help, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simgap.cli.app import app
from simgap.errors import ConfigError
from simgap.models import AgentSpec, Feedback, Session, SessionStatus, UserKind
from simgap.store import Store
from simgap.study.assignment import Assigner
from simgap.study.config import demo_config, load_study_config
from simgap.study.security import hash_password, verify_password

runner = CliRunner()


@pytest.mark.parametrize("cmd", ["serve", "init", "export", "hash-password", "tokens"])
def test_every_command_has_an_example(cmd: str) -> None:
    r = runner.invoke(app, ["study", cmd, "--help"])
    assert r.exit_code == 0, r.output
    assert "Example" in r.output and f"simgap study {cmd}" in r.output


def test_init_writes_a_valid_commented_config(tmp_path: Path) -> None:
    p = tmp_path / "study.yaml"
    r = runner.invoke(app, ["study", "init", str(p)])
    assert r.exit_code == 0, r.output
    cfg = load_study_config(p)
    assert cfg.name == "pilot" and cfg.cell_targets() == {"batch1": 1, "batch2": 1, "batch3": 1}
    assert "# " in p.read_text()
    r = runner.invoke(app, ["study", "init", str(p)])
    assert isinstance(r.exception, ConfigError) and "exists" in str(r.exception)


@pytest.mark.parametrize(
    ("yaml_text", "needle"),
    [
        ("tasks: []\n", "field tasks: "),
        ("people_per_task: 1\nbatches: [a, b]\n", "field (config): "),
        ("batches: [a, a]\n", "field batches: batch names must be unique"),
        ("agent: {model: local, colour: red}\n", "field agent.colour: "),
        ("domain: airlines\n", "unknown domain 'airlines'"),
        ("name: 'bad name!'\n", "field name: "),
        ("access: {mode: email}\n", "field access.mode: "),
        ("tasks: [\n", "not valid YAML"),
    ],
)
def test_config_errors_are_one_line_naming_file_and_field(
    tmp_path: Path, yaml_text: str, needle: str
) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(yaml_text)
    with pytest.raises(ConfigError) as e:
        load_study_config(p)
    msg = str(e.value)
    assert "\n" not in msg and str(p) in msg and needle in msg, msg


def test_serve_needs_a_config_or_demo(tmp_path: Path) -> None:
    r = runner.invoke(app, ["study", "serve"])
    assert isinstance(r.exception, ConfigError) and "--demo" in str(r.exception)
    r = runner.invoke(app, ["study", "serve", "--demo", "--config", str(tmp_path / "x.yaml")])
    assert isinstance(r.exception, ConfigError)
    assert demo_config().agent.model == "local" and demo_config().batches == ["demo"]


def test_hash_password_round_trip() -> None:
    r = runner.invoke(app, ["study", "hash-password", "--password", "s3cret"])
    assert r.exit_code == 0
    h = r.output.strip()
    assert h.startswith("scrypt$") and "s3cret" not in h
    assert verify_password("s3cret", h) and not verify_password("s3creT", h)
    assert not verify_password("s3cret", "garbage") and hash_password("x") != hash_password("x")


def test_tokens_and_export(tmp_path: Path) -> None:
    cfg = tmp_path / "study.yaml"
    cfg.write_text("name: tok\naccess: {mode: token}\n")
    db = tmp_path / "s.db"
    r = runner.invoke(app, ["study", "tokens", "-c", str(cfg), "--db", str(db), "-n", "3"])
    assert r.exit_code == 0, r.output
    links = r.output.split()
    assert len(links) == 3 and all("/start?token=" in x for x in links)
    crowd = tmp_path / "crowd.yaml"
    crowd.write_text("name: c\n")
    r = runner.invoke(app, ["study", "tokens", "-c", str(crowd), "--db", str(db)])
    assert isinstance(r.exception, ConfigError) and "access.mode" in str(r.exception)

    # export: only the study's sessions, with their feedback
    store = Store(db)
    a = Assigner(store, "tok", ["1"], {"b": 1})
    x = a.assign("p1")
    assert x is not None
    store.save_session(
        Session(
            session_id=x.session_id,
            task_id="1",
            domain="airline",
            user_kind=UserKind.HUMAN,
            user_id="p1",
            agent=AgentSpec(),
            batch="b",
            status=SessionStatus.DONE,
        )
    )
    store.save_session(
        Session(
            session_id="sim-1",
            task_id="1",
            domain="airline",
            user_kind=UserKind.SIMULATOR,
            user_id="local",
        )
    )
    store.put_feedback(
        Feedback(session_id=x.session_id, respondent_kind=UserKind.HUMAN, respondent_id="p1")
    )
    out = tmp_path / "out.jsonl"
    r = runner.invoke(app, ["study", "export", "--db", str(db), "--out", str(out)])
    assert r.exit_code == 0, r.output
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(x["record"], x["session_id"]) for x in recs] == [
        ("session", x.session_id),
        ("feedback", x.session_id),
    ]
    r = runner.invoke(app, ["study", "export", "--db", str(db), "--out", str(out), "--study", "no"])
    assert isinstance(r.exception, ConfigError) and "studies: tok" in str(r.exception)
