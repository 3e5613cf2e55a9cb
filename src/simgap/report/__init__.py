"""Stage: report. The `simgap report` HTML page and Markdown summary, built from the score JSON.

Entry points: `load_score` (read and check a `simgap.score/1` file), `render_html`,
`render_markdown`, and `read_capability` / `join_capability` for USI vs a capability score.
"""

from simgap.report.capability import (
    CapabilityEntry,
    CapabilityError,
    CapabilityJoin,
    join_capability,
    pearson,
    read_capability,
    spearman,
)
from simgap.report.html import SECTIONS, Rendered, render_html
from simgap.report.markdown import render_markdown
from simgap.report.scorefile import ScoreDoc, ScoreFileError, load_score, parse_score

__all__ = [
    "SECTIONS",
    "CapabilityEntry",
    "CapabilityError",
    "CapabilityJoin",
    "Rendered",
    "ScoreDoc",
    "ScoreFileError",
    "join_capability",
    "load_score",
    "parse_score",
    "pearson",
    "read_capability",
    "render_html",
    "render_markdown",
    "spearman",
]
