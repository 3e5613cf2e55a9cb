"""HTML and Markdown rendering from a SYNTHETIC score file, score-file validation, and the CLI.

The browser checks (figures actually drawn, nothing fetched, no script run) are in
test_browser.py; here the page is checked as text.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from simgap.cli.app import app, main
from simgap.report import (
    SECTIONS,
    ScoreFileError,
    join_capability,
    load_score,
    parse_score,
    read_capability,
    render_html,
    render_markdown,
)

XSS = "<script>window.__pwned = 1</script><img src=x onerror=window.__pwned=2>"


def _main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["simgap", *args])
    code = 0
    try:
        main()
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def _outside_scripts(html: str) -> str:
    """The page without its <script> blocks (plotly.js and figure data)."""
    return re.sub(r"<script\b.*?</script>", "", html, flags=re.S)


def test_html_has_every_section_and_figure(doc: dict[str, Any], elo_csv: Path) -> None:
    sd = parse_score(doc)
    join = join_capability(sd.rows, read_capability(elo_csv), source="elo.csv")
    r = render_html(sd, capability=join, title="Pilot report")
    assert r.sections == [s for s, _ in SECTIONS]
    assert r.figure_ids == [
        "fig-leaderboard",
        "fig-dimensions",
        "fig-features",
        "fig-sr",
        "fig-ratings",
        "fig-capability",
    ]
    html = r.html
    for sid in [*r.sections, "header"]:
        assert f'id="{sid}"' in html, sid
    for fid in r.figure_ids:
        assert f'id="{fid}"' in html and f'Plotly.newPlot(                        "{fid}"' in html
    assert html.count("Plotly.newPlot(") == len(r.figure_ids)
    # plotly.js inlined exactly once; nothing loaded from the network
    assert html.count("window.PlotlyConfig") == 1
    assert len(re.findall(r"plotly\.js v\d", html)) == 1
    page = _outside_scripts(html)
    assert not re.search(r"<(script|img|link|iframe)[^>]+(src|href)=", page)
    assert "@import" not in page and "url(" not in page
    assert "<title>Pilot report</title>" in html
    # the synthetic reference is announced, and never called people in the prose
    assert 'id="synthetic-banner"' in html and "NOT human data" in html
    assert "behave like the synthetic reference" in html
    # the capability section names its unmatched CSV entry and both correlations
    assert "synthetic-not-scored" in page and "Pearson r =" in page and "Spearman ρ =" in page
    # the examples show text turns only
    assert "get_order_details" not in html and '"status": "pending"' not in html
    assert page.count('class="example"') == 9
    assert "seed 7" in page and "200 resamples" in page


def test_html_for_people_has_no_banner_and_no_capability(doc: dict[str, Any]) -> None:
    doc["reference"]["synthetic"] = False
    doc["reference"]["synthetic_sessions"] = 0
    r = render_html(parse_score(doc))
    assert 'id="synthetic-banner"' not in r.html and "NOT human data" not in r.html
    assert "capability" not in r.sections and 'id="capability"' not in r.html
    assert "fig-capability" not in r.figure_ids
    assert "behave like people" in r.html and "people vs people" in r.html


def test_html_escapes_people_text_and_names(doc: dict[str, Any]) -> None:
    ex = doc["details"]["examples"]["synthetic-mimic"][0]
    ex["reference"]["turns"][1]["text"] = XSS
    label = "synthetic-mimic" + XSS
    for row in doc["rows"]:
        if row["label"] == "synthetic-mimic":
            row["label"] = label
    doc["details"]["examples"][label] = doc["details"]["examples"].pop("synthetic-mimic")
    doc["details"]["answers"]["candidates"][label] = doc["details"]["answers"]["candidates"].pop(
        "synthetic-mimic"
    )
    html = render_html(parse_score(doc)).html
    assert "<script>window.__pwned" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html
    # in the figure data, Plotly's JSON escapes < and > (and the label was HTML-escaped first)
    body = html.split("</head>", 1)[1]
    assert "\\u003cscript\\u003ewindow" not in body  # labels reach Plotly HTML-escaped
    assert "\\u0026lt;script\\u0026gt;" in body or "&lt;script&gt;window" in body


def test_html_without_details_still_renders(doc: dict[str, Any]) -> None:
    del doc["details"]
    for key in ("synthetic_sessions",):
        doc["reference"].pop(key)
    r = render_html(parse_score(doc))
    assert "fig-ratings" not in r.figure_ids
    assert "rerun <code>simgap score</code>" in r.html
    assert 'id="examples"' in r.html


def test_markdown_summary(doc: dict[str, Any], elo_csv: Path) -> None:
    doc["rows"][0]["label"] = "a|b <b>c</b>"
    sd = parse_score(doc)
    join = join_capability(sd.rows, read_capability(elo_csv), source="elo.csv")
    md = render_markdown(sd, capability=join)
    lines = md.splitlines()
    assert lines[0].startswith("# User-Sim Index: 3 simulator(s)")
    assert any("NOT human data" in ln for ln in lines)
    cut = lines.index("### Reliability: pass^k")
    table = [ln for ln in lines[:cut] if ln.startswith("|")]
    assert len(table) == 2 + 1 + 3  # header, rule, ceiling, three simulators
    assert all(ln.count(" | ") == table[0].count(" | ") for ln in table[2:])
    # the pass^k table: header, rule, the reference's own line, three simulators
    pk = [ln for ln in lines[cut:] if ln.startswith("|")]
    assert len(pk) == 2 + 1 + 3 and all(ln.count(" | ") == pk[0].count(" | ") for ln in pk[2:])
    assert "a\\|b \\<b\\>c\\</b\\>" in md and "<b>c</b>" not in md
    assert "**Human ceiling**" in md and "## Success-rate inflation" in md
    assert "## Largest gaps" in md and "D1 conversation style:" in md
    assert "Pearson r =" in md and "## Notes" in md


def test_score_file_errors_name_file_and_field(doc: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(ScoreFileError, match="no such score file"):
        load_score(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ScoreFileError, match=r"bad\.json: not JSON \(line 1"):
        load_score(bad)
    cases: list[tuple[Any, str]] = [
        ([1, 2], "expected a JSON object"),
        ({**doc, "schema": "other/1"}, "field 'schema' is 'other/1'"),
        ({k: v for k, v in doc.items() if k != "rows"}, "field rows: Field required"),
    ]
    broken = json.loads(json.dumps(doc))
    broken["rows"][1]["usi"]["value"] = "high"
    cases.append((broken, "field rows[1].usi.value: Input should be a valid number"))
    broken2 = json.loads(json.dumps(doc))
    broken2["details"]["examples"]["synthetic-mimic"][0]["candidate"]["turns"][0] = {"role": "x"}
    cases.append((broken2, "details.examples.synthetic-mimic[0].candidate.turns[0].text"))
    for i, (data, message) in enumerate(cases):
        p = tmp_path / f"s{i}.json"
        p.write_text(json.dumps(data))
        with pytest.raises(ScoreFileError) as e:
            load_score(p)
        assert str(p) in str(e.value) and message in str(e.value), str(e.value)
        assert "\n" not in str(e.value)
    # a directory means its usi_scores.json; unknown (newer) fields are ignored
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "usi_scores.json").write_text(json.dumps({**doc, "future": {"x": 1}}))
    assert load_score(tmp_path / "dir").reference.label == "synthetic people"


def test_cli_writes_html_and_md(
    score_file: Path,
    elo_csv: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "r" / "report.html"
    code, stdout, err = _main(
        monkeypatch,
        capsys,
        "report",
        "--score",
        str(score_file),
        "--out",
        str(out),
        "--capability",
        str(elo_csv),
        "--title",
        "CLI report",
    )
    assert code == 0, err
    assert out.exists() and "<title>CLI report</title>" in out.read_text()
    text = " ".join(stdout.split())
    assert "6 figures" in text and "SYNTHETIC" in text and "synthetic-not-scored" in text
    md = tmp_path / "summary.md"  # format from the suffix
    code, stdout, err = _main(monkeypatch, capsys, "report", "-s", str(score_file), "-o", str(md))
    assert code == 0, err
    assert md.read_text().startswith("# ") and "Markdown summary" in stdout
    md2 = tmp_path / "summary.txt"
    code, _, err = _main(
        monkeypatch, capsys, "report", "-s", str(score_file), "-o", str(md2), "--format", "md"
    )
    assert code == 0 and md2.read_text().startswith("# ")


def test_cli_errors_are_one_line(
    score_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bad_csv = tmp_path / "elo.csv"
    bad_csv.write_text("simulator,score\nx,lots\n")
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"schema": "simgap.score/1", "reference": {}, "rows": []}))
    cases = [
        (["-s", str(tmp_path / "nope.json")], "nope.json: no such score file"),
        (["-s", str(broken)], "broken.json: field reference.label: Field required"),
        (["-s", str(score_file), "--capability", str(bad_csv)], "elo.csv line 2: score 'lots'"),
        (["-s", str(score_file), "--format", "pdf"], "--format must be html or md"),
    ]
    for args, expected in cases:
        code, _, err = _main(monkeypatch, capsys, "report", *args, "-o", str(tmp_path / "out.html"))
        assert code == 2, err
        lines = [ln for ln in err.strip().splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:"), err
        assert expected in " ".join(err.split()), err
    assert not (tmp_path / "out.html").exists()


def test_cli_help_has_an_example() -> None:
    r = CliRunner().invoke(app, ["report", "--help"], terminal_width=120)
    assert r.exit_code == 0
    assert "simgap report --score score/usi_scores.json --out report.html" in r.output
    assert "--capability" in r.output and "--format" in r.output


def test_degenerate_files_still_render(doc: dict[str, Any]) -> None:
    """No ceiling, a row with nothing computable, no rewards: n/a, never a crash."""
    doc["ceiling"] = None
    empty = doc["rows"][-1]
    for key in ("usi", "ece", "sr_sim", "sr_human", "sr_inflation"):
        empty[key] = {"value": None}
    empty["components"] = {c: {"value": None} for c in doc["components"]}
    empty["features"], empty["gaps"] = {}, []
    sd = parse_score(doc)
    r = render_html(sd)
    assert "fig-leaderboard" in r.figure_ids and "USI n\\u002fa" in r.html
    assert '<td class="usi">n/a</td>' in r.html
    assert "n/a" in render_markdown(sd)
    doc["rows"] = []
    doc["details"] = None
    sd = parse_score(doc)
    r = render_html(sd)
    assert r.figure_ids == [] and "No simulator rows" in r.html
    assert "Human ceiling**: n/a" in render_markdown(sd)
