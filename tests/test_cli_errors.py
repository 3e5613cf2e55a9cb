"""Bad input as a user sees it, for every command: through the real entry point (`main()`, the
`simgap` script), status 2, one line `error: ...` naming the file, field or flag, no traceback.

Each case fails before any model runs (a case that got as far as running sessions would show
up as a slow test, not a pass: the fixtures give no model).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from simgap.store import Store
from tests.fakes.cli import run_main, run_script

# (argv with {t} for the test's folder, what the one line must name)
CASES: list[tuple[str, list[str], list[str]]] = [
    # simgap run
    ("run-bad-domain", ["run", "-d", "nope"], ["unknown domain 'nope'"]),
    ("run-bad-task-id", ["run", "--task-ids", "99999"], ["'99999'", "airline"]),
    ("run-tasks-0", ["run", "--tasks", "0"], ["--tasks", "0"]),
    ("run-tasks-negative", ["run", "--tasks", "-3"], ["--tasks", "-3"]),
    ("run-concurrency-0", ["run", "--concurrency", "0"], ["concurrency"]),
    ("run-concurrency-text", ["run", "-c", "many"], ["'--concurrency'", "integer"]),
    ("run-trials-0", ["run", "--trials", "0"], ["trials"]),
    ("run-max-steps-0", ["run", "--max-steps", "0"], ["max_steps"]),
    ("run-temperature-text", ["run", "--agent-temperature", "hot"], ["--agent-temperature"]),
    ("run-unknown-flag", ["run", "--bogus-flag"], ["--bogus-flag", "simgap run --help"]),
    ("run-engine", ["run", "--engine", "spark"], ["engine"]),
    ("run-split", ["run", "--split", "nosplit"], ["nosplit", "base"]),
    ("run-simulator", ["run", "-u", "nosuchsim"], ["nosuchsim"]),
    (
        "run-config-missing",
        ["run", "--config", "{t}/missing.yaml"],
        ["missing.yaml", "cannot read"],
    ),
    ("run-config-folder", ["run", "--config", "{t}/adir"], ["adir", "cannot read"]),
    ("run-config-not-utf8", ["run", "--config", "{t}/binary.yaml"], ["binary.yaml", "UTF-8"]),
    ("run-config-bad-yaml", ["run", "--config", "{t}/bad.yaml"], ["bad.yaml:2", "YAML"]),
    ("run-config-unknown-key", ["run", "--config", "{t}/unknown.yaml"], ["unknown.yaml", "nope"]),
    ("run-store-is-folder", ["run", "-n", "1", "-o", "{t}/adir"], ["adir"]),
    ("run-profile-missing", ["run", "-u", "grounded", "--user-profile", "{t}/p.json"], ["p.json"]),
    # simgap sweep
    ("sweep-no-file", ["sweep"], ["'config'", "simgap sweep --help"]),
    ("sweep-missing", ["sweep", "{t}/missing.yaml"], ["missing.yaml"]),
    ("sweep-not-utf8", ["sweep", "{t}/binary.yaml"], ["binary.yaml", "UTF-8"]),
    (
        "sweep-concurrency-0",
        ["sweep", "{t}/conc0.yaml", "--dry-run"],
        ["conc0.yaml", "concurrency"],
    ),
    ("sweep-typo", ["sweep", "{t}/typo.yaml", "--dry-run"], ["typo.yaml", "trails"]),
    # simgap feedback / annotate / fit
    ("feedback-simulator", ["feedback", "--db", "{t}/x.db", "-s", "nosuchsim"], ["nosuchsim"]),
    (
        "feedback-concurrency-0",
        ["feedback", "--db", "{t}/x.db", "-s", "local", "-c", "0"],
        ["--concurrency"],
    ),
    ("feedback-store-folder", ["feedback", "--db", "{t}/adir", "-s", "local"], ["adir"]),
    (
        "annotate-annotator",
        ["annotate", "--db", "{t}/x.db", "-a", "magic"],
        ["'rules' or 'llm:<model>'"],
    ),
    (
        "annotate-user-kind",
        ["annotate", "--db", "{t}/x.db", "--user-kind", "alien"],
        ["--user-kind", "alien"],
    ),
    ("annotate-concurrency-0", ["annotate", "--db", "{t}/x.db", "-c", "0"], ["--concurrency"]),
    ("fit-missing-store", ["fit", "-r", "{t}/missing.db", "-o", "{t}/p.json"], ["missing.db"]),
    ("fit-empty-store", ["fit", "-r", "{t}/x.db", "-o", "{t}/p.json"], ["x.db", "no session"]),
    # simgap score / report
    (
        "score-missing",
        ["score", "-r", "{t}/missing.db", "-c", "{t}/x.db", "-o", "{t}/o"],
        ["missing.db"],
    ),
    (
        "score-set-filter",
        ["score", "-r", "{t}/x.db:user_kind=alien", "-c", "{t}/x.db", "-o", "{t}/o"],
        ["user_kind"],
    ),
    (
        "score-ci",
        ["score", "-r", "{t}/x.db", "-c", "{t}/x.db", "--ci", "2", "-o", "{t}/o"],
        ["--ci"],
    ),
    (
        "score-bootstrap",
        ["score", "-r", "{t}/x.db", "-c", "{t}/x.db", "-B", "-1", "-o", "{t}/o"],
        ["--bootstrap"],
    ),
    (
        "score-bad-line",
        ["score", "-r", "{t}/badline.jsonl", "-c", "{t}/x.db", "-o", "{t}/o"],
        ["badline.jsonl:1"],
    ),
    (
        "score-difficulty",
        [
            "score",
            "-r",
            "{t}/x.db",
            "-c",
            "{t}/x.db",
            "--difficulty",
            "{t}/bad.json",
            "-o",
            "{t}/o",
        ],
        ["bad.json"],
    ),
    ("report-no-score", ["report"], ["'--score'"]),
    ("report-missing", ["report", "--score", "{t}/missing.json"], ["missing.json"]),
    ("report-not-json", ["report", "--score", "{t}/bad.json"], ["bad.json", "JSON"]),
    ("report-not-a-score", ["report", "--score", "{t}/other.json"], ["other.json", "schema"]),
    (
        "report-format",
        ["report", "--score", "{t}/bad.json", "--format", "pdf"],
        ["--format", "pdf"],
    ),
    # simgap export / import
    ("export-to-folder", ["export", "--db", "{t}/x.db", "--out", "{t}/adir"], ["adir"]),
    (
        "export-user-kind",
        ["export", "--db", "{t}/x.db", "--out", "{t}/o.jsonl", "--user-kind", "alien"],
        ["--user-kind"],
    ),
    ("import-missing", ["import", "{t}/missing.jsonl", "--db", "{t}/x.db"], ["missing.jsonl"]),
    ("import-bad-line", ["import", "{t}/badline.jsonl", "--db", "{t}/x.db"], ["badline.jsonl:1"]),
    (
        "import-not-utf8",
        ["import", "{t}/binary.json", "--db", "{t}/x.db"],
        ["binary.json", "UTF-8"],
    ),
    ("import-format", ["import", "{t}/badline.jsonl", "--db", "{t}/x.db", "-f", "xml"], ["'xml'"]),
    # simgap demo / study / simulators / unknown command
    ("demo-tasks-0", ["demo", "--tasks", "0", "--out", "{t}/demo"], ["--tasks"]),
    ("demo-max-steps-1", ["demo", "--max-steps", "1", "--out", "{t}/demo"], ["--max-steps"]),
    ("study-serve-nothing", ["study", "serve", "--db", "{t}/s.db"], ["--config", "--demo"]),
    ("study-serve-missing", ["study", "serve", "-c", "{t}/missing.yaml"], ["missing.yaml"]),
    ("study-serve-not-utf8", ["study", "serve", "-c", "{t}/binary.yaml"], ["binary.yaml", "UTF-8"]),
    ("study-serve-bad-yaml", ["study", "serve", "-c", "{t}/bad.yaml"], ["bad.yaml:2"]),
    (
        "study-serve-unknown-key",
        ["study", "serve", "-c", "{t}/unknown.yaml"],
        ["unknown.yaml", "nope"],
    ),
    ("study-init-exists", ["study", "init", "{t}/bad.yaml"], ["bad.yaml", "exists"]),
    ("study-tokens-no-config", ["study", "tokens", "-n", "3"], ["'--config'"]),
    (
        "study-export-store-folder",
        ["study", "export", "--db", "{t}/adir", "--out", "{t}/s.jsonl"],
        ["adir"],
    ),
    ("simulators-show", ["simulators", "show", "nope"], ["unknown user simulator 'nope'"]),
    ("unknown-command", ["bake"], ["'bake'"]),
]


@pytest.fixture
def inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Bad input files of every kind; the folder is also the working directory, so defaults
    such as runs.db land there."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "adir").mkdir()
    (tmp_path / "bad.yaml").write_text("tasks: [1\n")
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe tasks: 1\n")
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe{}")
    (tmp_path / "unknown.yaml").write_text("nope: 1\n")
    (tmp_path / "typo.yaml").write_text("domain: airline\ntrails: 3\n")
    (tmp_path / "conc0.yaml").write_text("users: [behavior]\nconcurrency: 0\n")
    (tmp_path / "bad.json").write_text('{"not": "closed"\n')
    (tmp_path / "other.json").write_text('{"x": 1}\n')
    (tmp_path / "badline.jsonl").write_text('{"record": "session"}\n')
    Store(tmp_path / "x.db").close()
    return tmp_path


@pytest.mark.parametrize(("argv", "needles"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_status_2(
    argv: list[str], needles: list[str], inputs: Path
) -> None:
    args = [a.replace("{t}", str(inputs)) for a in argv]
    run_main(args).one_line_error(*needles)


def test_every_command_has_a_case() -> None:
    from simgap.cli.app import app

    commands = {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}
    covered = {c[1][0] for c in CASES}
    assert commands <= covered, commands - covered


def test_the_installed_script_prints_one_line(tmp_path: Path) -> None:
    """The same through the `simgap` script in a process of its own: a SimgapError, a click
    usage error and a file error."""
    (tmp_path / "bad.json").write_text("{")
    run_script(["run", "-d", "nope"], cwd=tmp_path).one_line_error("unknown domain 'nope'")
    run_script(["run", "-c", "many"], cwd=tmp_path).one_line_error("'--concurrency'")
    r = run_script(["report", "--score", "bad.json"], cwd=tmp_path)
    r.one_line_error("bad.json")


def test_help_and_version_still_exit_0(tmp_path: Path) -> None:
    r = run_main(["--version"])
    assert r.code in (0, None) and r.out.strip()
    r = run_main(["run", "--help"])
    assert r.code in (0, None) and "--concurrency" in r.out and not r.err
