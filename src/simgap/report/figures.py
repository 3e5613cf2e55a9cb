"""The report's Plotly figures, each built from the score file alone.

Every string that reaches Plotly is HTML-escaped first: Plotly renders a subset of HTML in
labels and hover text, and labels come from simulator names and participants' data. Colours are
the Okabe–Ito palette (`fmt.SIM_COLOURS`), people in near-black, the same colour per simulator
in every figure; heat maps use Cividis, which reads the same under colour-vision deficiencies.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from simgap.annotate.features import DIMENSIONS, FEATURE_NAMES
from simgap.report.capability import CapabilityJoin
from simgap.report.fmt import (
    COMPONENT_TITLES,
    FEATURE_TITLES,
    FIELD_TITLES,
    PEOPLE_COLOUR,
    ci,
    feature_value,
    num,
    wrap,
)
from simgap.report.scorefile import Distribution, FieldInfo, RowDoc, ScoreDoc

FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'
HEAT_SCALE = "Cividis"
CEILING_BAND = "rgba(0, 0, 0, 0.10)"


def esc(text: str) -> str:
    """Text shown by Plotly, escaped so names can never inject markup."""
    return html.escape(text, quote=False)


def _layout(fig: go.Figure, *, height: int, **kw: Any) -> go.Figure:
    fig.update_layout(
        template="plotly_white",
        height=height,
        font={"family": FONT, "size": 13, "color": "#1d2330"},
        margin={"l": 10, "r": 20, "t": 40, "b": 40},
        hoverlabel={"font": {"family": FONT}},
        **kw,
    )
    return fig


def _err(rows: Sequence[RowDoc]) -> tuple[list[float], list[float]]:
    plus: list[float] = []
    minus: list[float] = []
    for r in rows:
        u = r.usi
        if u.value is None or u.ci_low is None or u.ci_high is None:
            plus.append(0.0)
            minus.append(0.0)
        else:
            plus.append(max(0.0, u.ci_high - u.value))
            minus.append(max(0.0, u.value - u.ci_low))
    return plus, minus


def _ceiling_band(doc: ScoreDoc) -> tuple[float, float, float, str] | None:
    """(value, low, high, how the band is defined) of the human ceiling USI, if any."""
    c = doc.ceiling
    if c is None or c.usi.value is None:
        return None
    u = c.usi
    value = c.usi.value
    if u.ci_low is not None and u.ci_high is not None:
        lvl = round(100 * doc.settings.ci_level)
        return value, u.ci_low, u.ci_high, f"{lvl}% CI"
    if u.std is not None:
        return value, value - u.std, value + u.std, "± sd over pairs"
    return value, value, value, ""


def leaderboard_figure(
    doc: ScoreDoc, colours: Mapping[str, str], ceiling_name: str = "people vs people"
) -> go.Figure:
    """USI per simulator with its interval, and the people-vs-people ceiling as a line + band.

    Synthetic candidates are hatched when they sit next to real ones (when all are synthetic
    the labels and the banner say so, and hatching would only hurt legibility).
    """
    rows = doc.rows
    hatch = any(r.synthetic for r in rows) and not all(r.synthetic for r in rows)
    labels = [esc(r.label) + (" (synthetic)" if r.synthetic else "") for r in rows]
    plus, minus = _err(rows)
    lvl = round(100 * doc.settings.ci_level)
    fig = go.Figure(
        go.Bar(
            orientation="h",
            y=labels,
            x=[r.usi.value for r in rows],
            marker={
                "color": [colours[r.label] for r in rows],
                "pattern": {"shape": ["/" if r.synthetic and hatch else "" for r in rows]},
            },
            error_x={
                "type": "data",
                "array": plus,
                "arrayminus": minus,
                "color": "#222",
                "thickness": 1.6,
                "width": 7,
            },
            text=[num(r.usi.value) for r in rows],
            textposition="inside",
            insidetextanchor="start",
            textfont={"color": "white", "size": 14},
            customdata=[[ci(r.usi), num(r.usi.std), r.n_tasks] for r in rows],
            hovertemplate=(
                "<b>%{y}</b><br>USI %{x:.1f}<br>"
                + f"{lvl}% CI "
                + "%{customdata[0]}<br>± sd over batches %{customdata[1]}"
                "<br>%{customdata[2]} tasks<extra></extra>"
            ),
            name="USI",
        )
    )
    band = _ceiling_band(doc)
    if band is not None:
        value, lo, hi, how = band
        if hi > lo:
            fig.add_vrect(x0=lo, x1=hi, fillcolor=CEILING_BAND, line_width=0, layer="below")
        fig.add_vline(
            x=value,
            line={"color": "#000", "dash": "dash", "width": 2},
            annotation_text=f"{ceiling_name} ceiling {value:.1f}"
            + (f" (band: {how})" if how else ""),
            annotation_position="top",
            annotation_font={"size": 12},
        )
    for i, r in enumerate(rows):
        if r.usi.value is None:
            fig.add_annotation(x=1, y=labels[i], text="USI n/a", showarrow=False, xanchor="left")
    _layout(
        fig,
        height=110 + 46 * max(1, len(rows)),
        showlegend=False,
        xaxis={
            "title": "User-Sim Index (0–100, higher = closer to the reference)",
            "range": [0, 101],
        },
        yaxis={"autorange": "reversed", "automargin": True},
    )
    fig.update_layout(margin={"t": 50})
    return fig


def _heat(
    z: list[list[float | None]],
    x: list[str],
    y: list[str],
    text: list[list[str]],
    hover: list[list[str]],
    *,
    zmin: float,
) -> go.Heatmap:
    return go.Heatmap(
        z=z,
        x=x,
        y=y,
        text=text,
        customdata=hover,
        texttemplate="%{text}",
        textfont={"size": 13},
        hovertemplate="%{customdata}<extra></extra>",
        colorscale=HEAT_SCALE,
        zmin=zmin,
        zmax=100,
        xgap=2,
        ygap=2,
        colorbar={"title": {"text": "0–100"}, "thickness": 12},
    )


def _zmin(values: Sequence[float | None]) -> float:
    ok = [v for v in values if v is not None]
    return 0.0 if not ok else max(0.0, min(50.0, 10 * math.floor(min(ok) / 10)))


def dimensions_figure(doc: ScoreDoc, ceiling_name: str = "people vs people") -> go.Figure:
    """Rows: ceiling then simulators; columns: the six USI components and the USI itself."""
    rows = ([doc.ceiling] if doc.ceiling is not None else []) + list(doc.rows)
    comps = [c for c in doc.components]
    cols = [*comps, "USI"]
    x = ["<br>".join(wrap(COMPONENT_TITLES.get(c, c), 12)) for c in comps] + ["<b>USI</b>"]
    y = [f"<i>{ceiling_name}</i>" if r.kind == "ceiling" else esc(r.label) for r in rows]
    z: list[list[float | None]] = []
    text: list[list[str]] = []
    hover: list[list[str]] = []
    for i, r in enumerate(rows):
        ests = [r.components.get(c) for c in comps] + [r.usi]
        vals = [None if e is None else e.value for e in ests]
        z.append(vals)
        text.append([num(v) for v in vals])
        hover.append(
            [
                f"{y[i]}<br>{COMPONENT_TITLES.get(c, c)}: {num(v)}"
                + ("" if e is None else f"<br>CI {ci(e)}")
                for c, v, e in zip(cols, vals, ests, strict=True)
            ]
        )
    fig = go.Figure(_heat(z, x, y, text, hover, zmin=_zmin([v for rz in z for v in rz])))
    _layout(
        fig,
        height=150 + 44 * max(1, len(rows)),
        yaxis={"autorange": "reversed", "automargin": True},
        xaxis={"side": "top"},
    )
    fig.update_layout(margin={"t": 70})
    return fig


def features_figure(doc: ScoreDoc, ref_name: str = "people") -> go.Figure:
    """Dice closeness ×100 of each of the 19 features: which behaviours drive a dimension."""
    rows = list(doc.rows)
    x = [
        f"{d} · {FEATURE_TITLES.get(f, f)}"
        for d, feats in DIMENSIONS.items()
        for f in feats
        if f in FEATURE_NAMES
    ]
    feats = [f for fs in DIMENSIONS.values() for f in fs]
    z: list[list[float | None]] = []
    text: list[list[str]] = []
    hover: list[list[str]] = []
    for r in rows:
        zr: list[float | None] = []
        tr: list[str] = []
        hr: list[str] = []
        for f in feats:
            v = r.features.get(f)
            d = None if v is None or v.dice is None else 100 * v.dice
            zr.append(d)
            tr.append("" if d is None else f"{d:.0f}")
            cand = feature_value(f, None if v is None else v.candidate)
            ref = feature_value(f, None if v is None else v.reference)
            hr.append(
                f"{esc(r.label)} · {f}<br>simulator {cand} vs {ref_name} {ref}"
                f"<br>closeness {num(d, 0)}"
            )
        z.append(zr)
        text.append(tr)
        hover.append(hr)
    fig = go.Figure(_heat(z, x, [esc(r.label) for r in rows], text, hover, zmin=0.0))
    fig.update_traces(textfont={"size": 11})
    _layout(
        fig,
        height=190 + 36 * max(1, len(rows)),
        yaxis={"autorange": "reversed", "automargin": True},
        xaxis={"tickangle": -40, "automargin": True},
    )
    return fig


def sr_figure(doc: ScoreDoc, colours: Mapping[str, str], ref_name: str = "people") -> go.Figure:
    """Success rate of people and of each simulator on the same tasks, joined by a line."""
    rows = [r for r in doc.rows if r.sr_sim.value is not None or r.sr_human.value is not None]
    labels = [esc(r.label) for r in rows]
    fig = go.Figure()
    xs: list[float | None] = []
    ys: list[str | None] = []
    for r, y in zip(rows, labels, strict=True):
        if r.sr_sim.value is not None and r.sr_human.value is not None:
            xs += [100 * r.sr_human.value, 100 * r.sr_sim.value, None]
            ys += [y, y, None]
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="lines",
            line={"color": "#9aa3b2", "width": 4},
            hoverinfo="skip",
            showlegend=False,
        )
    )
    lvl = round(100 * doc.settings.ci_level)
    fig.add_trace(
        go.Scatter(
            x=[None if r.sr_human.value is None else 100 * r.sr_human.value for r in rows],
            y=labels,
            mode="markers",
            name=f"{ref_name} (same tasks)",
            marker={"color": PEOPLE_COLOUR, "size": 13, "symbol": "circle"},
            hovertemplate="%{y}<br>" + ref_name + ": %{x:.0f}%<extra></extra>",
        )
    )
    text = []
    positions = []
    for r in rows:
        d = r.sr_inflation.value
        text.append("" if d is None else f"{100 * d:+.0f} pt")
        up = d is None or d >= 0
        positions.append("middle right" if up else "middle left")
    fig.add_trace(
        go.Scatter(
            x=[None if r.sr_sim.value is None else 100 * r.sr_sim.value for r in rows],
            y=labels,
            mode="markers+text",
            name="simulator",
            marker={
                "color": [colours[r.label] for r in rows],
                "size": 15,
                "symbol": "diamond",
                "line": {"color": "#222", "width": 1},
            },
            text=text,
            textposition=positions,
            textfont={"size": 13},
            customdata=[[ci(r.sr_inflation, 0, scale=100, signed=True)] for r in rows],
            hovertemplate=(
                "%{y}<br>simulator: %{x:.0f}%<br>inflation %{text} "
                + f"({lvl}% CI "
                + "%{customdata[0]} pt)<extra></extra>"
            ),
        )
    )
    _layout(
        fig,
        height=130 + 46 * max(1, len(rows)),
        xaxis={"title": "τ² success rate", "range": [-4, 112], "ticksuffix": "%"},
        yaxis={"autorange": "reversed", "automargin": True},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
    )
    fig.update_layout(margin={"t": 50})
    return fig


def _shares(dist: Distribution, field: str, n_levels: int) -> tuple[list[float], int]:
    counts = dist.counts.get(field, [0] * n_levels)
    total = sum(counts)
    if total == 0:
        return [0.0] * n_levels, 0
    return [100.0 * c / total for c in counts], total


def ratings_figure(
    fields: Sequence[FieldInfo],
    sets: Sequence[tuple[str, Distribution, str]],
) -> go.Figure:
    """Small multiples: per questionnaire field, the share of answers per level, per set.

    `sets` is (name, distribution, colour), people first.
    """
    ncols = 2
    nrows = max(1, math.ceil(len(fields) / ncols))
    titles = [esc(FIELD_TITLES.get(f.field, f.field)) for f in fields]
    fig = make_subplots(
        rows=nrows,
        cols=ncols,
        subplot_titles=titles,
        vertical_spacing=0.32 / nrows,
        horizontal_spacing=0.08,
    )
    for k, f in enumerate(fields):
        row, col = k // ncols + 1, k % ncols + 1
        ticks = ["<br>".join(esc(p) for p in wrap(level, 13)) for level in f.levels]
        for j, (name, dist, colour) in enumerate(sets):
            shares, total = _shares(dist, f.field, len(f.levels))
            fig.add_trace(
                go.Bar(
                    x=list(range(len(f.levels))),
                    y=shares,
                    name=esc(name),
                    legendgroup=esc(name),
                    showlegend=k == 0,
                    marker={"color": colour, "line": {"color": "#222", "width": 0.5}},
                    customdata=[
                        [esc(level), esc(name), c]
                        for level, c in zip(
                            f.levels,
                            dist.counts.get(f.field, [0] * len(f.levels)),
                            strict=False,
                        )
                    ],
                    hovertemplate=(
                        "%{customdata[1]}<br>%{customdata[0]}: %{y:.0f}% "
                        "(%{customdata[2]} of " + str(total) + ")<extra></extra>"
                    ),
                    offsetgroup=str(j),
                ),
                row=row,
                col=col,
            )
        fig.update_xaxes(
            tickmode="array",
            tickvals=list(range(len(f.levels))),
            ticktext=ticks,
            tickfont={"size": 11},
            row=row,
            col=col,
        )
        fig.update_yaxes(range=[0, 100], ticksuffix="%", row=row, col=col, nticks=4)
    _layout(
        fig,
        height=90 + 300 * nrows,
        barmode="group",
        bargap=0.25,
        bargroupgap=0.05,
        legend={"orientation": "h", "y": 0.995, "yanchor": "top", "x": 0, "yref": "container"},
    )
    fig.update_annotations(font={"size": 14})
    fig.update_layout(margin={"t": 85})
    return fig


def capability_figure(
    doc: ScoreDoc,
    join: CapabilityJoin,
    colours: Mapping[str, str],
    ceiling_name: str = "people vs people",
) -> go.Figure:
    """USI (with its interval) against the capability score, one labelled point per simulator."""
    pts = join.points
    xs = [p.score for p in pts]
    lo_x, hi_x = (min(xs), max(xs)) if xs else (0.0, 1.0)
    mid = (lo_x + hi_x) / 2
    pad = 0.08 * (hi_x - lo_x) if hi_x > lo_x else 1.0
    fig = go.Figure()
    plus = [0.0 if p.ci_high is None else max(0.0, p.ci_high - p.usi) for p in pts]
    minus = [0.0 if p.ci_low is None else max(0.0, p.usi - p.ci_low) for p in pts]
    fig.add_trace(
        go.Scatter(
            x=[p.score for p in pts],
            y=[p.usi for p in pts],
            mode="markers+text",
            text=[esc(p.name) for p in pts],
            # beside the point, away from its vertical error bar and from the plot's edge
            textposition=["middle left" if p.score > mid else "middle right" for p in pts],
            marker={
                "size": 13,
                "color": [colours.get(p.row, PEOPLE_COLOUR) for p in pts],
                "line": {"color": "#222", "width": 1},
            },
            error_y={"type": "data", "array": plus, "arrayminus": minus, "color": "#555"},
            customdata=[[esc(p.row), ci_text(p.ci_low, p.ci_high)] for p in pts],
            hovertemplate=(
                "%{customdata[0]}<br>capability %{x}<br>USI %{y:.1f} %{customdata[1]}"
                "<extra></extra>"
            ),
            showlegend=False,
        )
    )
    band = _ceiling_band(doc)
    if band is not None:
        value, lo, hi, _ = band
        if hi > lo:
            fig.add_hrect(y0=lo, y1=hi, fillcolor=CEILING_BAND, line_width=0, layer="below")
        fig.add_hline(
            y=value,
            line={"color": "#000", "dash": "dash", "width": 2},
            annotation_text=f"{ceiling_name} ceiling {value:.1f}",
            annotation_position="bottom right",
        )
    ys = [p.usi for p in pts] + ([band[0]] if band else [])
    lo_y = min([p.ci_low if p.ci_low is not None else p.usi for p in pts] + ys, default=0.0)
    _layout(
        fig,
        height=460,
        xaxis={
            "title": esc(f"capability score ({join.source})" if join.source else "capability"),
            "range": [lo_x - pad, hi_x + pad],
        },
        yaxis={"title": "USI", "range": [max(0.0, lo_y - 8), 101]},
    )
    return fig


def ci_text(lo: float | None, hi: float | None) -> str:
    return "" if lo is None or hi is None else f"[{lo:.1f}, {hi:.1f}]"
