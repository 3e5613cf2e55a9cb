"""Every number the reports show equals the score file's, as `simgap report` renders them.

The HTML and Markdown reports are rendered by the real command, then read back as a reader
would: HTML tables parsed with the standard library's parser, Markdown tables and lines split.
The expected values come from `usi_scores.json` itself, read as plain JSON (not through the
report's own `parse_score`/formatting helpers), so a number put in the wrong column, rounded the
wrong way, scaled, signed or taken from the wrong row fails here. A displayed number agrees
when it is the JSON value rounded to the digits shown.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.cli import run_main

NUMBER = re.compile(r"[+\-−]?\d+(?:\.\d+)?")


# -- reading numbers ------------------------------------------------------------------------------
def agrees(token: str, expected: float) -> bool:
    """`token` (as shown) is `expected` rounded to the digits shown."""
    decimals = len(token.split(".")[1]) if "." in token else 0
    return abs(float(token.replace("−", "-")) - expected) <= 0.5 * 10**-decimals + 1e-9


def check(cell: str, *expected: float | None, where: str = "") -> None:
    """The numbers in `cell`, in order, are `expected`; `None` alone means the cell says n/a."""
    if expected == (None,):
        assert cell.strip() == "n/a", (where, cell)
        return
    tokens = NUMBER.findall(cell)
    assert len(tokens) == len(expected), (where, cell, expected)
    for tok, exp in zip(tokens, expected, strict=True):
        assert exp is not None and agrees(tok, exp), (where, cell, tok, exp)


def pct(x: float | None) -> float | None:
    return None if x is None else 100 * x


# -- reading the reports --------------------------------------------------------------------------
class Tables(HTMLParser):
    """Every <table>: its class, header cells and body rows (cell texts, tags stripped)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict[str, Any]] = []
        self._cell: list[str] | None = None
        self._saved: list[str] | None = None
        self._row: list[str] | None = None
        self._head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self.tables.append({"class": a.get("class") or "", "head": [], "rows": []})
        elif tag == "thead":
            self._head = True
        elif tag == "tbody":
            self._head = False
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "sup":  # the footnote mark of a widened interval is not a number
            self._cell, self._saved = None, self._cell

    def handle_endtag(self, tag: str) -> None:
        if tag == "sup":
            self._cell = self._saved
        elif tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None and self.tables:
            t = self.tables[-1]
            (t["head"].extend if self._head else t["rows"].append)(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def html_table(html: str, cls: str) -> list[dict[str, str]]:
    p = Tables()
    p.feed(html)
    t = next(t for t in p.tables if t["class"] == cls)
    return [dict(zip(t["head"], row, strict=True)) for row in t["rows"]]


def md_table(md: str, after: str) -> list[dict[str, str]]:
    """The first Markdown table after the line `after`."""
    lines = md.splitlines()
    i = lines.index(after)
    while not lines[i].startswith("|"):
        i += 1
    head = [c.strip() for c in lines[i].strip("|").split("|")]
    rows = []
    for line in lines[i + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip()[1:-1])]
        rows.append(dict(zip(head, cells, strict=True)))
    return rows


def md_bullets(md: str, heading: str) -> list[str]:
    """The `- ` lines of one Markdown section."""
    section = md.split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]
    return [x for x in section.splitlines() if x.startswith("- ")]


def row_for(rows: list[dict[str, str]], label: str) -> dict[str, str]:
    found = [r for r in rows if r["simulator"].strip("*").replace("\\", "").startswith(label)]
    assert len(found) == 1, (label, [r["simulator"] for r in rows])
    return found[0]


# -- the expected values, from the JSON ---------------------------------------------------------
def leaderboard_checks(r: dict[str, Any], cells: dict[str, str], *, ceiling: bool) -> None:
    """Every number of a leaderboard line (HTML or Markdown headers) against its JSON row."""
    w = r["label"]

    def col(*names: str) -> str:
        return next(cells[n] for n in names if n in cells)

    usi = r["usi"]
    check(col("USI").strip("*"), usi["value"], where=f"{w} USI")
    check(col("95% CI"), usi["ci_low"], usi["ci_high"], where=f"{w} CI")
    check(col("± sd"), usi["std"], where=f"{w} sd")
    for c, head in [("D1", "D1"), ("D2", "D2"), ("D3", "D3"), ("D4", "D4")]:
        check(col(head), r["components"][c]["value"], where=f"{w} {c}")
    check(col("Eval"), r["components"]["Eval"]["value"], where=f"{w} Eval")
    check(col("1−ECE"), r["components"]["Cal"]["value"], where=f"{w} 1-ECE")
    check(col("SR sim"), pct(r["sr_sim"]["value"]), where=f"{w} SR sim")
    check(col("SR ref", "SR people"), pct(r["sr_human"]["value"]), where=f"{w} SR ref")
    f = r["failures"]
    if f["n_failed"]:
        share = pct(f["user_caused_share"]["value"])
        check(col("user-caused fails"), f["by_cause"]["user"], f["n_failed"], share, where=w)
    check(col("SR excl.", "SR excl. user-caused"), pct(f["sr_excl_user_caused"]["value"]), where=w)
    if ceiling:
        return
    infl = r["sr_inflation"]
    check(col("ΔSR"), pct(infl["value"]), where=f"{w} ΔSR")
    check(col("ΔSR CI", "ΔSR 95% CI"), pct(infl["ci_low"]), pct(infl["ci_high"]), where=w)
    nf = r["noise_floor"]
    check(
        col("USI noise", "USI noise floor"),
        nf["quantities"]["USI"]["range"],
        nf["n_repeats"],
        where=f"{w} noise",
    )


@pytest.fixture
def rendered(score_file: Path, tmp_path: Path) -> tuple[dict[str, Any], str, str]:
    """(the score JSON, the HTML report, the Markdown report), both written by the CLI."""
    html_path, md_path = tmp_path / "report.html", tmp_path / "report.md"
    for out in (html_path, md_path):
        r = run_main(["report", "--score", str(score_file), "--out", str(out)])
        assert r.code in (0, None), r.err
    data = json.loads(score_file.read_text(encoding="utf-8"))
    return data, html_path.read_text(encoding="utf-8"), md_path.read_text(encoding="utf-8")


def test_leaderboard_numbers_equal_the_score_file(
    rendered: tuple[dict[str, Any], str, str],
) -> None:
    data, html, md = rendered
    tables = {"HTML": html_table(html, "leaderboard"), "Markdown": md_table(md, "## Leaderboard")}
    for fmt, rows in tables.items():
        assert len(rows) == len(data["rows"]) + 1, fmt  # the ceiling, then every simulator
        ceiling = rows[0]
        assert "ceiling" in ceiling["simulator"], (fmt, ceiling)
        leaderboard_checks(data["ceiling"], ceiling, ceiling=True)
        for rank, r in enumerate(data["rows"], start=1):
            cells = row_for(rows[1:], r["label"])
            assert cells["#"] == str(rank), (fmt, r["label"])  # the score file's order
            leaderboard_checks(r, cells, ceiling=False)
    # the columns only the HTML has
    for r in data["rows"]:
        cells = row_for(tables["HTML"][1:], r["label"])
        check(cells["sess / tasks"], r["n_sessions"], r["n_tasks"])
        cats = r["sessions_by_category"]
        check(
            cells["done / model fail / pending"],
            cats.get("completed", 0),
            cats.get("model_failure", 0),
            cats.get("infra_error", 0) + cats.get("running", 0),
        )
        ex = r["excluded"]
        check(cells["excl. tasks"], ex["candidate_only_tasks"], ex["reference_only_tasks"])
    # the ceiling line under the Markdown table
    c = data["ceiling"]["usi"]
    line = next(x for x in md.splitlines() if x.startswith("**Human ceiling**"))
    shown = line.split(": USI ", 1)[1].split(". The paper", 1)[0]  # "84.1 [69.3, 84.1]"
    check(shown, c["value"], c["ci_low"], c["ci_high"])


def test_success_rate_inflation_numbers_equal_the_score_file(
    rendered: tuple[dict[str, Any], str, str],
) -> None:
    data, html, md = rendered
    sr_rows = html_table(html, "sr")
    bullets = md_bullets(md, "## Success-rate inflation")
    assert len(sr_rows) == len(bullets) == len(data["rows"])
    for r in data["rows"]:
        infl, sr_range = r["sr_inflation"], r["noise_floor"]["quantities"]["SR_sim"]["range"]
        n = r["noise_floor"]["n_repeats"]
        cells = row_for(sr_rows, r["label"])
        check(cells["SR sim"], pct(r["sr_sim"]["value"]))
        check(cells["SR ref"], pct(r["sr_human"]["value"]))
        check(cells["inflation"], pct(infl["value"]))
        check(cells["95% CI (pt)"], pct(infl["ci_low"]), pct(infl["ci_high"]))
        check(cells["run-to-run SR range"], pct(sr_range), n)
        line = next(b for b in bullets if f"**{r['label']}**" in b)
        text = line.split("**:", 1)[1]
        # "81% vs 50% for the … (+31 pt, 95% CI [+19, +46] pt; run-to-run SR range 12 pt (2 runs))"
        check(
            text.replace("95% CI", ""),
            pct(r["sr_sim"]["value"]),
            pct(r["sr_human"]["value"]),
            pct(infl["value"]),
            pct(infl["ci_low"]),
            pct(infl["ci_high"]),
            pct(sr_range),
            n,
        )


def test_pass_k_and_comparison_numbers_equal_the_score_file(
    rendered: tuple[dict[str, Any], str, str],
) -> None:
    data, html, md = rendered
    for fmt, rows in {
        "HTML": html_table(html, "pass-k"),
        "Markdown": md_table(md, "### Reliability: pass^k"),
    }.items():

        def ref_col(cells: dict[str, str], k: int) -> str:  # "people pass^k", "reference pass^k"
            return next(v for h, v in cells.items() if h.endswith(f" pass^{k}") and "Δ" not in h)

        ref = rows[0]
        for p in data["reference"]["pass_k"]:
            check(ref_col(ref, p["k"]), pct(p["sim"]["value"]), where=fmt)
        for r in data["rows"]:
            cells = row_for(rows[1:], r["label"])
            for p in r["pass_k"]:
                k = p["k"]
                check(cells[f"pass^{k}"], pct(p["sim"]["value"]), where=f"{fmt} {k}")
                check(ref_col(cells, k), pct(p["reference"]["value"]), where=fmt)
                i = p["inflation"]
                check(cells[f"Δ pass^{k}"], pct(i["value"]), pct(i["ci_low"]), pct(i["ci_high"]))
    comps = html_table(html, "comparisons")
    md_lines = md_bullets(md, "## Paired permutation tests and noise floor")
    assert len(comps) == len(md_lines) == len(data["comparisons"])
    for c in data["comparisons"]:
        cells = next(x for x in comps if (x["A"], x["B"]) == (c["a"], c["b"]))
        check(cells["USI(A) − USI(B)"], c["diff"])
        check(cells["p"], c["p_value"])
        check(cells["noise floor"], c["noise_floor"])
        check(cells["SR(A) − SR(B)"], pct(c["sr_diff"]))
        check(cells["p (SR)"], c["sr_p_value"])
        check(cells["common tasks"], c["n_tasks"])
        check(cells["permutations"], c["n_permutations"])
        line = next(x for x in md_lines if f"{c['a']} vs {c['b']}:" in x)
        numbers = line.split(":", 1)[1].split("—")[0]  # before the verdict's own words
        check(
            numbers,
            c["diff"],
            c["p_value"],
            c["noise_floor"],
            pct(c["sr_diff"]),
            c["sr_p_value"],
            c["n_tasks"],
        )
