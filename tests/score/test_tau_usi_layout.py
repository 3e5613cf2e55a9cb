"""The authors' released data layout, read without flags (issue 15 item 4), on SYNTHETIC files.

A folder laid out for their scorer: `data/tau_bench_tasks_unified.json` (people, three
batches), `data/survey_data/survey_comparable_<model>.json` (a simulator's answers, one per
batch), `..._human-eval-100.json` (a second person on batch 1), and the rollouts
`results/<model>_task_results.json` / `eval_results_<model>.json`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from simgap.cli.app import app, main
from simgap.models import Feedback, Session, SessionStatus, UserKind
from simgap.store.importers import ImportFormatError, detect_format, read_any
from tests.metrics.paper_check import HUMAN, KEYS, generator, golden
from tests.score.test_importers import usi_entry, write


def _write(folder: Path, name: str, data: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return write(folder, name, data)


def _records(path: Path, **kw: Any) -> tuple[list[Session], list[Feedback]]:
    recs = read_any(path, **kw)
    return (
        [r for r in recs if isinstance(r, Session)],
        [r for r in recs if isinstance(r, Feedback)],
    )


def test_rollout_output_is_a_simulator_named_from_the_file(tmp_path: Path) -> None:
    runs = {
        "benchmark": "tau_usi",
        "user_sim_model": "gpt-4o",
        "results": [
            {"instance_id": "retail_3_1", **usi_entry(1.0, {"reuse": "Yes"})},
            {"instance_id": "retail_3_2", **usi_entry(0.0, {})},
            {"instance_id": "airline_7", **usi_entry(0.5, {}, keep=False)},
        ],
    }
    p = write(tmp_path, "20260305_model_gpt-5.2__usersim_gpt-4o_task_results.json", runs)
    assert detect_format(p) == "tau-usi"
    # the name wins over what the caller expects (a score reference defaults to people)
    sessions, fbs = _records(p, default_kind=UserKind.HUMAN)
    label = "20260305_model_gpt-5.2__usersim_gpt-4o"  # as the authors' scorer labels it
    assert [(s.user_kind, s.user_id, s.task_id, s.trial) for s in sessions] == [
        (UserKind.SIMULATOR, label, "3", 0),
        (UserKind.SIMULATOR, label, "3", 1),
        (UserKind.SIMULATOR, label, "7", 0),
    ]
    assert sessions[2].status == SessionStatus.FAILED and sessions[2].meta["keep"] is False
    assert sessions[2].reward is not None and sessions[2].reward.value == 1.0  # reward > 0
    assert [f.answers for f in fbs] == [{"reuse": "Yes"}, {}, {}]  # no survey file: inline


def test_survey_comparable_is_joined_run_k_to_survey_k(tmp_path: Path) -> None:
    runs = {
        "results": [
            {"instance_id": f"retail_3_{k}", **usi_entry(1.0, {"reuse": "No"})} for k in (1, 2)
        ]
    }
    p = _write(tmp_path / "results", "simX_task_results.json", runs)
    survey = {
        "retail_3": {"survey": {"overall_score": {"answer": "4 (Good)"}}},
        "retail_3_ann2": {"survey": {"overall_score": {"answer": "2"}}},  # not the exact label
        "retail_3_ann3": {},  # a third survey, for a run that does not exist; no survey at all
    }
    _write(tmp_path / "results" / "survey_data", "survey_comparable_simX.json", survey)
    sessions, fbs = _records(p)
    by_sid = {f.session_id: f for f in fbs}
    s1, s2, s3 = sessions
    assert (s1.trial, s2.trial, s3.trial) == (0, 1, 2)
    assert by_sid[s1.session_id].answers == {"overall_score": 4}  # replaces the inline "No"
    assert by_sid[s2.session_id].meta["inexact"] == ["overall_score"]
    assert s3.meta["survey_only"] and s3.turns == [] and s3.reward is None
    assert by_sid[s3.session_id].answers == {}
    assert all(f.meta["survey_file"] == "survey_comparable_simX.json" for f in fbs)
    # also found in a folder the caller names (simgap score: the people's folder)
    q = _write(tmp_path / "elsewhere", "simX_task_results.json", runs)
    assert len(_records(q)[0]) == 2
    assert len(_records(q, survey_dirs=[tmp_path / "results"])[0]) == 3


def test_second_rater_joined_to_batch_one(tmp_path: Path) -> None:
    people = {
        "retail_3": usi_entry(1.0, {"overall_score": "5 (Excellent)"}),
        "retail_3_ann2": usi_entry(1.0, {}),
        "retail_4": usi_entry(0.0, {}, keep=False),
    }
    p = write(tmp_path, "tau_bench_tasks_unified.json", people)
    second = {
        "retail_9": {"survey": {}},  # no such conversation: ignored, as the scorer does
        "retail_3": {"survey": {"overall_score": {"answer": "4 (Good)"}}},
        "retail_3_ann2": {"survey": {}},  # not batch 1: ignored
    }
    _write(tmp_path / "survey_data", "survey_comparable_human-eval-100.json", second)
    sessions, fbs = _records(p)
    assert [s.batch for s in sessions] == ["b1", "b2", "b1"]
    (own, other) = [f for f in fbs if f.session_id == "tau-usi:human:retail_3"]
    assert own.answers == {"overall_score": 5} and not own.meta.get("second_rater")
    assert other.respondent_id == "human-eval-100" and other.meta["second_rater"]
    assert other.meta["order"] == 1 and other.answers == {"overall_score": 4}
    assert len(fbs) == 4  # three own (one empty) + one second rater


@pytest.mark.parametrize(
    ("name", "doc", "message"),
    [
        (
            "simX_aggregate_metrics.json",
            {"label": "simX", "model": {}, "human_inter_annotator": {}},
            "the tau-usi scorer's output (aggregate metrics), not sessions",
        ),
        (
            "tau_usi_difficulty.json",
            {"difficulty": {"airline_1": 0.5}},
            "pass it with --difficulty",
        ),
        (
            "frozen.json",
            {"source": "x", "difficulty": {"airline_1": 0.5}},
            "a frozen task-difficulty map",
        ),
        (
            "survey_comparable_simX.json",
            {"retail_3": {"survey": {}}},
            "joined automatically to simX_task_results.json or eval_results_simX.json",
        ),
        (
            "survey_comparable_human-eval-100.json",
            {"retail_3": {"survey": {}}},
            "second-rater answers on batch-1 conversations",
        ),
        ("answers.json", {"retail_3": {"survey": {}}}, "survey answers only (no conversations)"),
    ],
)
def test_the_layouts_other_files_are_one_line_errors(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    doc: Any,
    message: str,
) -> None:
    p = write(tmp_path, name, doc)
    with pytest.raises(ImportFormatError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_any(p)
    people = write(tmp_path, "tau_bench_tasks_unified.json", {"retail_3": usi_entry(1.0, {})})
    monkeypatch.setattr(
        sys, "argv", ["simgap", "score", "-r", str(people), "-c", str(p), "-o", str(tmp_path / "o")]
    )
    with pytest.raises(SystemExit) as e:
        main()
    err = capsys.readouterr().err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert e.value.code == 2 and len(lines) == 1 and lines[0].startswith("error:"), err
    assert str(p) in " ".join(err.split())


def _layout_args(root: Path) -> list[str]:
    gen = generator()
    args = ["-r", str(root / "data" / "tau_bench_tasks_unified.json")]
    for m in gen.MODELS:
        name = f"{m}_task_results.json" if m in gen.MODELS_3RUN else f"eval_results_{m}.json"
        args += ["-c", str(root / "results" / name)]
    return args


def test_simgap_score_reads_the_layout_without_flags_and_paper_mode_matches(tmp_path: Path) -> None:
    """End to end through the CLI: the default mode scores the four simulators (none is
    taken for people), and `--paper` writes the reference scorer's numbers (seed 1, its
    frozen map: the paper-mode default)."""
    generator().write_dataset(tmp_path, 1)
    common = [*_layout_args(tmp_path), "--bootstrap", "0", "--permutations", "0", "--examples", "0"]
    r = CliRunner().invoke(
        app, ["score", *common, "-o", str(tmp_path / "default")], terminal_width=240
    )
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "default" / "usi_scores.json").read_text())
    assert sorted(row["label"] for row in doc["rows"]) == ["simA", "simB", "simC", "simD"]
    assert doc["settings"]["scorer"] == "simgap"

    r = CliRunner().invoke(
        app, ["score", "--paper", *common, "-o", str(tmp_path / "paper")], terminal_width=240
    )
    assert r.exit_code == 0, r.output
    assert "paper mode" in r.output
    doc = json.loads((tmp_path / "paper" / "usi_scores.json").read_text())
    assert (
        doc["settings"]["scorer"] == "paper" and doc["settings"]["difficulty_source"] == "paper_map"
    )
    rows = {row["label"]: row for row in doc["rows"]}
    rows[HUMAN] = doc["ceiling"]
    n = 0
    for name, g in golden(1)["cases"]["frozen"].items():
        row = rows[name]
        for gk, sk in KEYS.items():
            est = (
                row["usi"] if sk == "USI" else row["ece"] if sk == "ECE" else row["components"][sk]
            )
            want = g[gk] if g[gk] is not None else [None, None]
            for a, b in zip(want, (est["value"], est["std"]), strict=True):
                n += 1
                assert (a is None and b is None) or a == pytest.approx(b, abs=1e-6), (name, gk)
    assert n == 70
