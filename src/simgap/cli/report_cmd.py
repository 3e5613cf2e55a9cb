"""`simgap report`: the HTML report (or a Markdown summary) of a `simgap score` result."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from simgap.cli.common import console
from simgap.errors import ConfigError

FORMATS = ("html", "md")


def report(
    score: Annotated[
        Path,
        typer.Option(
            "--score",
            "-s",
            help="The usi_scores.json written by `simgap score` (or its directory).",
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Where to write the report (default: report.html / report.md)."
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="html (one self-contained page with figures) or md (Markdown summary). "
            "Default: from --out's suffix, else html.",
        ),
    ] = None,
    capability: Annotated[
        Path | None,
        typer.Option(
            "--capability",
            help="CSV with columns simulator,score[,label] (e.g. Arena Elo): adds USI vs "
            "capability with Pearson and Spearman correlations.",
        ),
    ] = None,
    title: Annotated[str | None, typer.Option("--title", help="The report's title.")] = None,
) -> None:
    """Turn a score file into a report people can read: HTML with figures, or Markdown.

    The HTML page is one file that opens offline (plotly.js is embedded): leaderboard with
    intervals and the human ceiling, per-dimension heat map, success-rate inflation, rating
    distributions of people vs simulators, the largest gaps in plain words, example
    conversations side by side and the methods. The Markdown summary (leaderboard, ceiling,
    SR inflation, top gaps, notes) fits in a PR comment. See docs/report.md.

    Examples:

        simgap score -r runs.db:user_kind=human -c runs.db -o score

        simgap report --score score/usi_scores.json --out report.html

        simgap report -s score/usi_scores.json -o summary.md --format md

        simgap report -s score/usi_scores.json -o report.html --capability arena_elo.csv
    """
    from simgap.cli.score_cmd import _write_atomic
    from simgap.report import join_capability, load_score, read_capability
    from simgap.report.html import render_html
    from simgap.report.markdown import render_markdown

    if fmt is None:
        fmt = "md" if out is not None and out.suffix.lower() in (".md", ".markdown") else "html"
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise ConfigError(f"--format must be html or md, got {fmt!r}")
    if out is None:
        out = Path(f"report.{fmt}")

    doc = load_score(score)
    join = None
    if capability is not None:
        join = join_capability(doc.rows, read_capability(capability), source=capability.name)

    if fmt == "md":
        text = render_markdown(doc, capability=join, title=title)
        _write_atomic(out, text)
        console.print(f"wrote {out} (Markdown summary, {len(doc.rows)} simulator(s))")
    else:
        rendered = render_html(doc, capability=join, title=title, source=str(score))
        _write_atomic(out, rendered.html)
        size = out.stat().st_size / 1e6
        console.print(
            f"wrote {out} ({len(doc.rows)} simulator(s), {len(rendered.figure_ids)} figures, "
            f"{size:.1f} MB, opens offline)"
        )
    if doc.synthetic_reference:
        console.print("[bold yellow]note[/] the reference is SYNTHETIC (not human data)")
    if join is not None:
        if join.unmatched_entries:
            console.print(
                "[yellow]note[/] capability names not in the leaderboard: "
                + ", ".join(join.unmatched_entries),
                highlight=False,
                soft_wrap=True,
            )
        if join.rows_without_score:
            console.print(
                "[yellow]note[/] simulators without a capability score: "
                + ", ".join(join.rows_without_score),
                highlight=False,
                soft_wrap=True,
            )


def register(app: typer.Typer) -> None:
    """Add `simgap report`."""
    app.command("report")(report)
