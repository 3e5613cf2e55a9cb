"""`simgap score` writes the report's `details` (answer distributions, example conversations)
from a SYNTHETIC store, and `--examples 0` keeps conversation text out of the file."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from simgap.cli.app import app
from simgap.report import load_score
from tests.fakes.cli import run_main
from tests.score.test_score_cli import _store


def _score(db: str, out: Path, *extra: str) -> dict:
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
            "50",
            "--permutations",
            "0",
            *extra,
        ],
    )
    assert r.exit_code == 0, r.output
    return json.loads((out / "usi_scores.json").read_text())


def test_score_writes_details_for_the_report(tmp_path: Path) -> None:
    db = _store(tmp_path)
    doc = _score(db, tmp_path / "a")
    d = doc["details"]
    assert d["version"] == 1 and doc["settings"]["n_examples"] == 3
    assert set(d["answers"]["candidates"]) == {"synthetic-llm", "synthetic-mimic"}
    assert d["answers"]["reference"]["n_sessions"] == 18
    assert d["examples"]["synthetic-llm"], "an example where the polite simulator differs"
    assert doc["reference"]["synthetic"] is True and doc["reference"]["synthetic_sessions"] == 18
    # the report reads it back
    assert load_score(tmp_path / "a" / "usi_scores.json").details is not None

    quiet = _score(db, tmp_path / "b", "--examples", "0")
    assert quiet["details"]["examples"] == {} and quiet["settings"]["n_examples"] == 0
    assert "cancel my order" not in (tmp_path / "b" / "usi_scores.json").read_text()


def test_negative_examples_is_an_error(tmp_path: Path) -> None:
    db = _store(tmp_path)
    r = run_main(
        ["score", "-r", db, "-c", db, "--out-dir", str(tmp_path / "o"), "--examples", "-1"]
    )
    r.one_line_error("--examples")
