"""`simgap score` end to end on SYNTHETIC stores and files, and its one-line errors."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simgap.cli.app import app, main
from simgap.errors import ConfigError
from simgap.metrics.inputs import load_set, parse_set_spec, split_by_user
from simgap.models import UserKind, write_jsonl
from simgap.store import Store
from tests.metrics.test_leaderboard import PEOPLE_TEXTS, SIM_TEXTS, people, simulator
from tests.score.test_importers import tau2_results, write


def _store(tmp_path: Path) -> str:
    db = tmp_path / "runs.db"
    store = Store(db)
    ref = people()
    sims = [
        simulator("synthetic-llm", SIM_TEXTS),
        simulator("synthetic-mimic", [t for ts in PEOPLE_TEXTS for t in ts]),
    ]
    for ls in (ref, *sims):
        for s in ls.sessions:
            store.save_session(s)
        for fbs in ls.feedback.values():
            for fb in fbs:
                store.put_feedback(fb)
    store.close()
    return str(db)


def test_parse_set_spec() -> None:
    s = parse_set_spec("runs.db:user_kind=human,batch=b1+b2,label=People")
    assert s.source == "runs.db" and s.label == "People" and s.user_kind == UserKind.HUMAN
    assert s.filters["batch"] == ["b1", "b2"]
    assert parse_set_spec("postgresql://u:p@host/db:user=a").source == "postgresql://u:p@host/db"
    assert parse_set_spec("people.jsonl").filters == {}
    for bad, msg in [
        ("runs.db:colour=red", "unknown filter 'colour'"),
        ("runs.db:user_kind=robot", "user_kind must be human or simulator"),
        ("runs.db:batch=", "is not KEY=VALUE"),
        ("runs.db:label=a+b", "label takes one value"),
        ("", "empty set"),
    ]:
        with pytest.raises(ConfigError, match=msg):
            parse_set_spec(bad)


def test_load_set_filters_and_splits(tmp_path: Path) -> None:
    db = _store(tmp_path)
    ref = load_set(parse_set_spec(f"{db}:batch=b1+b2"), default_kind=UserKind.HUMAN)
    assert {s.batch for s in ref.sessions} == {"b1", "b2"} and len(ref.sessions) == 12
    assert len(ref.feedback) == 12
    sims = load_set(parse_set_spec(db), default_kind=UserKind.SIMULATOR)
    parts = split_by_user(sims)
    assert [p.label for p in parts] == ["synthetic-llm", "synthetic-mimic"]
    one = load_set(parse_set_spec(f"{db}:user=synthetic-llm,label=LLM"))
    assert one.label == "LLM" and split_by_user(one) == [one]
    with pytest.raises(ConfigError, match="no such store"):
        load_set(parse_set_spec(str(tmp_path / "nope.db")))


def test_score_prints_leaderboard_and_writes_json_csv(tmp_path: Path) -> None:
    db = _store(tmp_path)
    out = tmp_path / "out"
    r = CliRunner().invoke(
        app,
        [
            "score",
            "-r",
            f"{db}:user_kind=human",
            "-c",
            db,
            "--out-dir",
            str(out),
            "--bootstrap",
            "200",
            "--permutations",
            "100",
            "--seed",
            "1",
        ],
        terminal_width=200,
    )
    assert r.exit_code == 0, r.output
    text = r.output
    assert "reference vs reference (ceiling, SYNTHETIC)" in text
    assert "people vs people" not in text and "SR ref" in text and "SR hum" not in text
    assert "synthetic-llm" in text and "synthetic-mimic" in text
    assert "SYNTHETIC reference" in text
    assert "largest gaps per dimension" in text and "D1 conversation style:" in text
    assert "paired permutation test" in text
    doc = json.loads((out / "usi_scores.json").read_text())
    assert doc["schema"] == "simgap.score/1"
    assert [row["label"] for row in doc["rows"]] == ["synthetic-mimic", "synthetic-llm"]
    assert doc["ceiling"]["kind"] == "ceiling"
    rows = list(csv.DictReader((out / "usi_scores.csv").open()))
    assert [row["label"] for row in rows] == [
        "reference vs reference (ceiling, SYNTHETIC)",
        "synthetic-mimic",
        "synthetic-llm",
    ]
    assert float(rows[1]["USI"]) == pytest.approx(doc["rows"][0]["usi"]["value"], rel=1e-5)


def test_score_from_jsonl_and_tau2_results(tmp_path: Path) -> None:
    ref = people()
    people_file = tmp_path / "people.jsonl"
    write_jsonl(people_file, [*ref.sessions, *(f for fs in ref.feedback.values() for f in fs)])
    doc = tau2_results()
    for sim in doc["simulations"]:  # the people did retail tasks 0..5
        sim["task_id"] = str(int(sim["task_id"]) - 7)
    results = write(tmp_path, "results.json", doc)
    r = CliRunner().invoke(
        app,
        [
            "score",
            "-r",
            str(people_file),
            "-c",
            f"{results}:label=tau2 gpt-4.1",
            "--out-dir",
            str(tmp_path / "o"),
            "--bootstrap",
            "50",
            "--permutations",
            "0",
        ],
        terminal_width=200,
    )
    assert r.exit_code == 0, r.output
    doc_out = json.loads((tmp_path / "o" / "usi_scores.json").read_text())
    row = doc_out["rows"][0]
    assert row["label"] == "tau2 gpt-4.1"
    assert row["n_tasks"] == 2 and row["excluded"]["reference_only_tasks"] == 4
    assert row["components"]["Eval"]["value"] is None  # τ² results carry no questionnaire


def _main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["simgap", *args])
    with pytest.raises(SystemExit) as e:
        main()
    return int(e.value.code or 0), capsys.readouterr().err


def test_bad_inputs_are_one_line_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _store(tmp_path)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"record": "session", "session_id": "x"}\n')
    broken = tmp_path / "results.json"
    doc = tau2_results()
    doc["simulations"][0]["messages"][2]["role"] = "bot"
    broken.write_text(json.dumps(doc))
    cases = [
        (["-r", str(bad), "-c", db], f"{bad}:1: field"),
        (["-r", db, "-c", str(broken)], "simulations[0].messages[2].role: unknown role 'bot'"),
        (["-r", f"{db}:colour=red", "-c", db], "unknown filter 'colour'"),
        (["-r", str(tmp_path / "missing.db"), "-c", db], "no such store"),
        (["-r", f"{db}:batch=b9", "-c", db], "selects no sessions"),
        (
            ["-r", db, "-c", f"{db}:label=x", "-c", f"{db}:label=x"],
            "two candidate rows are named 'x'",
        ),
        (["-r", db, "-c", f"{db}:user=nobody"], "selects no sessions"),
    ]
    for args, expected in cases:
        code, err = _main(monkeypatch, capsys, "score", *args, "--out-dir", str(tmp_path / "o"))
        assert code == 2, err
        lines = [ln for ln in err.strip().splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:"), err
        assert expected in " ".join(err.split()), err


def test_score_shows_inflation_ci_failures_noise_and_resampling(tmp_path: Path) -> None:
    db = _store(tmp_path)
    out = tmp_path / "out"
    args = ["score", "-r", f"{db}:user_kind=human", "-c", db, "--out-dir", str(out)]
    r = CliRunner().invoke(
        app, [*args, "--bootstrap", "100", "--permutations", "50"], terminal_width=200
    )
    assert r.exit_code == 0, r.output
    for col in ("ΔSR CI", "fails by user", "SR excl.", "USI noise"):
        assert col in r.output
    assert "resampling tasks" in r.output
    assert "distinguishable" in r.output  # the verdict of the pairwise test
    doc = json.loads((out / "usi_scores.json").read_text())
    assert doc["settings"]["resampling"] == "tasks"
    row = doc["rows"][0]
    # the fixtures' simulators run two trials per task: a noise floor from 2 repeats
    assert row["noise_floor"]["n_repeats"] == 2
    assert set(row["failures"]) >= {"n_failed", "by_cause", "user_caused_share"}
    assert row["sr_inflation"]["ci_low"] is not None
    cmp = doc["comparisons"][0]
    assert {"noise_floor", "distinguishable", "verdict", "sr_p_value"} <= set(cmp)
    header = (out / "usi_scores.csv").read_text().splitlines()[0]
    assert "SR_excl_user" in header and "USI_noise_floor" in header
    off = CliRunner().invoke(
        app, [*args, "--bootstrap", "0", "--permutations", "0", "--repeats", "0"]
    )
    assert off.exit_code == 0, off.output
    doc = json.loads((out / "usi_scores.json").read_text())
    assert doc["rows"][0]["noise_floor"] is None and doc["settings"]["repeats"] == 0


@pytest.mark.parametrize(
    ("flag", "value", "expected"),
    [("--repeats", "1", "--repeats must be 0 (off) or at least 2"), ("--alpha", "1.5", "--alpha")],
)
def test_bad_repeats_and_alpha_are_one_line_errors(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    flag: str,
    value: str,
    expected: str,
) -> None:
    db = _store(tmp_path)
    code, err = _main(monkeypatch, capsys, "score", "-r", db, "-c", db, flag, value)
    assert code == 2, err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and expected in err, err
