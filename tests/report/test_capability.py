"""USI vs capability: CSV parsing with line-numbered errors, the join, and the correlations
checked against values computed by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from simgap.report import (
    CapabilityError,
    join_capability,
    parse_score,
    pearson,
    read_capability,
    spearman,
)


def test_pearson_and_spearman_by_hand() -> None:
    # x = 1..4, y = 2, 4, 5, 4: Σdxdy = 3.5, Σdx² = 5, Σdy² = 4.75 -> r = 3.5/√23.75
    x, y = [1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 5.0, 4.0]
    assert pearson(x, y) == pytest.approx(0.718184, abs=1e-6)
    # ranks of y with the tie averaged: 1, 2.5, 4, 2.5 -> Σ = 3, Σdy² = 4.5 -> 3/√22.5
    assert spearman(x, y) == pytest.approx(0.632456, abs=1e-6)
    assert pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert pearson([1, 2], [1, 2]) is None  # fewer than three points
    assert pearson([1, 2, 3], [5, 5, 5]) is None  # no spread
    from scipy import stats

    assert pearson(x, y) == pytest.approx(stats.pearsonr(x, y)[0])
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y)[0])


def _set_usi(doc: dict[str, Any], values: dict[str, float | None]) -> None:
    for row in doc["rows"]:
        row["usi"]["value"] = values[row["label"]]


def test_join_matches_names_and_lists_the_rest(doc: dict[str, Any], elo_csv: Path) -> None:
    _set_usi(
        doc, {"synthetic-gpt-polite": 50.0, "synthetic-persona": 60.0, "synthetic-mimic": 58.0}
    )
    j = join_capability(parse_score(doc).rows, read_capability(elo_csv), source="elo.csv")
    assert {p.row: p.score for p in j.points} == {
        "synthetic-gpt-polite": 1310.0,
        "synthetic-persona": 1250.0,  # matched ignoring case
        "synthetic-mimic": 1190.0,
    }
    assert {p.row: p.name for p in j.points}["synthetic-gpt-polite"] == "polite (1310)"
    assert j.unmatched_entries == ["synthetic-not-scored"] and j.rows_without_score == []
    # x = 1310, 1250, 1190 (evenly spaced), y = 50, 60, 58: Σdxdy = 60·(50−56) + (−60)·(58−56)
    # = −480, Σdx² = 7200, Σdy² = 36 + 16 + 4 = 56 -> r = −480/√403200 = −0.75593
    assert j.pearson == pytest.approx(-0.755929, abs=1e-6)
    # ranks x 3, 2, 1; y 1, 3, 2 -> Σdxdy = (1)(−1) + 0 + (−1)(0) = −1, Σ = 2 · 2 -> −0.5
    assert j.spearman == pytest.approx(-0.5)
    assert j.n == 3 and j.pearson_p is not None and 0 < j.pearson_p < 1


def test_join_with_missing_rows_and_na_usi(doc: dict[str, Any], tmp_path: Path) -> None:
    _set_usi(
        doc, {"synthetic-gpt-polite": None, "synthetic-persona": 60.0, "synthetic-mimic": 58.0}
    )
    p = tmp_path / "c.csv"
    p.write_text("score,simulator\n1,synthetic-gpt-polite\n2,synthetic-mimic\n")
    j = join_capability(parse_score(doc).rows, read_capability(p))
    assert j.rows_without_usi == ["synthetic-gpt-polite"]
    assert j.rows_without_score == ["synthetic-persona"]
    assert j.n == 1 and j.pearson is None and j.spearman is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty; expected a header"),
        ("name,elo\na,1\n", "line 1: header 'name,elo' lacks the columns"),
        ("simulator,score,colour\na,1,red\n", "line 1: unknown column 'colour'"),
        ("simulator,score\na,1\nb,abc\n", "line 3: score 'abc' is not a number"),
        ("simulator,score\n\n# comment\na,1,2\n", "line 4: 3 field(s), expected 2"),
        ("simulator,score\na,1\nA,2\n", "line 3: simulator 'A' already given on line 2"),
        ("simulator,score\n,1\n", "line 2: empty simulator name"),
        ("simulator,score\na,nan\n", "line 2: score 'nan' is not a finite number"),
        ("simulator,score\n", "no data lines"),
    ],
)
def test_bad_csv_names_the_line(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / "elo.csv"
    p.write_text(text)
    with pytest.raises(CapabilityError) as e:
        read_capability(p)
    assert message in str(e.value) and str(p) in str(e.value)
    assert "\n" not in str(e.value)


def test_missing_csv(tmp_path: Path) -> None:
    with pytest.raises(CapabilityError, match="no such capability file"):
        read_capability(tmp_path / "nope.csv")


def test_p_values_are_exact_for_few_points() -> None:
    from simgap.report.capability import p_value

    # three points in a line: 2 of the 3! orderings are as extreme (the line and its mirror)
    assert p_value([1, 2, 3], [1, 2, 3], 1.0) == pytest.approx(2 / 6)
    x, y = [1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 5.0, 4.0]
    # by enumeration: |r| ≥ 0.718 for 8 of the 24 orderings of y
    assert p_value(x, y, pearson(x, y)) == pytest.approx(8 / 24)
    # many points: the t approximation, as scipy
    from scipy import stats

    xs = [float(i) for i in range(12)]
    ys = [0.0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12]
    r = pearson(xs, ys)
    assert p_value(xs, ys, r) == pytest.approx(stats.pearsonr(xs, ys)[1])
