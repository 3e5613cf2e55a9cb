"""The report shows the resampling unit, ΔSR with its interval, failure attribution, the noise
floor and the 'not distinguishable' verdicts (SYNTHETIC score file), and still renders files
written before those fields existed."""

from __future__ import annotations

from typing import Any

from simgap.report import parse_score, render_html, render_markdown


def _with_verdicts(doc: dict[str, Any]) -> dict[str, Any]:
    """Give the first comparison a hand-set noise floor and verdict, as `simgap score` writes."""
    c = doc["comparisons"][0]
    for me, other in ((c["a"], c["b"]), (c["b"], c["a"])):
        row = next(r for r in doc["rows"] if r["label"] == me)
        row["not_distinguishable"] = [{"label": other, "diff": 5.0, "p_value": 0.41}]
    c.update(
        noise_floor=99.0,
        distinguishable=False,
        verdict="not distinguishable: |ΔUSI| 5.0 is within the run-to-run noise floor 99.0",
    )
    return doc


def test_markdown_has_the_new_columns_and_sections(doc: dict[str, Any]) -> None:
    md = render_markdown(parse_score(_with_verdicts(doc)))
    head = next(ln for ln in md.splitlines() if ln.startswith("| #"))
    for col in ("ΔSR 95% CI", "user-caused fails", "SR excl. user-caused", "USI noise floor"):
        assert col in head
    assert "resampling tasks (each with all its sessions: sessions are nested in tasks)" in md
    assert "## Who caused the failures" in md
    assert "run-to-run SR range" in md and " pt (2 runs))" in md  # fixtures: 2 trials each
    assert "≈ " in md and "within the run-to-run noise floor 99.0" in md
    assert "not distinguishable from" in head and md.count("(p = 0.41)") == 2
    # every failing simulator row names its failures and the success rate without them
    assert md.count("success excluding user-caused failures") == sum(
        1 for r in doc["rows"] if r["failures"]["n_failed"]
    )


def test_html_has_the_new_columns_sections_and_verdicts(doc: dict[str, Any]) -> None:
    r = render_html(parse_score(_with_verdicts(doc)))
    html = r.html
    assert "failures" in r.sections and 'id="failures"' in html
    assert 'id="resampling-unit"' in html and "sessions are nested in tasks" in html
    for head in ("ΔSR CI", "user-caused fails", "SR excl.", "USI noise"):
        assert head in html
    assert 'class="not-distinguishable"' in html and "noise floor 99.0" in html
    assert html.count("(p = 0.41)</td>") == 2  # the tie, on both rows of the leaderboard
    assert "Who caused the failures?" in html
    # one evidence list per simulator with failures, evidence turns shown
    n_failing = sum(1 for row in doc["rows"] if row["failures"]["n_failed"])
    assert html.count('class="failure-evidence"') == n_failing
    assert ", turn " in html


def test_old_score_files_say_n_a_for_the_new_parts(doc: dict[str, Any]) -> None:
    for row in doc["rows"]:
        row.pop("failures")
        row.pop("noise_floor")
    for key in ("resampling", "resampling_detail", "repeats", "alpha"):
        doc["settings"].pop(key)
    for c in doc["comparisons"]:
        for key in ("noise_floor", "distinguishable", "verdict", "sr_p_value", "sr_diff"):
            c.pop(key)
    sd = parse_score(doc)
    assert sd.settings.resampling == "tasks"  # older files resampled tasks too
    md = render_markdown(sd)
    assert "score file without failure attribution" in md
    assert "no verdict in this file" in md
    html = render_html(sd).html
    assert "this score file has no failure attribution" in html
    assert "no verdict in this score file" in html
