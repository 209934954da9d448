"""One self-contained HTML page per model: the story of its windows over time, readable offline.

Panels (each a `<div class="panel" id="panel-…">`): the verdict per window with its reasons, drift
per feature as a heatmap over windows, estimated vs realized quality with the reference band, label
coverage, latency and error rate, and alerts fired and resolved. Retraining, promotions and
rollbacks are marked on every time axis; the model version of each window is written on its
verdict bar. plotly.js is inlined (`plotly.offline.get_plotlyjs()`): no CDN, no network. The data
behind the charts is embedded as JSON (`<script id="watchkeeper-data">`), so a test or a person can
check the page against MLflow.
"""

from __future__ import annotations

import html
import json
from typing import Any

from watchkeeper.dashboard.data import ALERT_FIRED, ALERT_RESOLVED, DashboardData, DashboardWindow
from watchkeeper.presentation import round_figure, versions_label, window_name, window_span

VERDICT_COLORS = {"ok": "#2e7d32", "warning": "#f9a825", "critical": "#c62828"}
# After the verdict of a window judged with every label on disk (`--hindsight`), not those known then.
HINDSIGHT_MARK = " (hindsight)"
PANELS = ("verdict", "drift", "performance", "labels", "serving", "alerts")
# Figures the charts draw, besides drift per column and the primary metric's family.
_SERVING = ("serving.latency_p50_ms", "serving.latency_p95_ms", "serving.latency_p99_ms")
_PREFERRED_METRICS = ("roc_auc", "accuracy", "f1", "rmse", "mae")


def _x(window: DashboardWindow) -> str:
    return window.start.isoformat()


def _series(windows: tuple[DashboardWindow, ...], name: str) -> list[float | None]:
    return [round_figure(w.figures.get(name), 6) for w in windows]


def primary_metric(windows: tuple[DashboardWindow, ...]) -> str | None:
    """The metric the performance panel shows: the first of the usual ones the windows have."""
    names = {
        k.split(".")[2]
        for w in windows
        for k in w.figures
        if k.startswith(("perf.estimated.", "perf.realized."))
    }
    return next((m for m in _PREFERRED_METRICS if m in names), min(names) if names else None)


def drifted_columns(windows: tuple[DashboardWindow, ...]) -> list[str]:
    """Feature columns with a drift score in any window (``drift.<column>.score``), most impact over
    the windows shown first, then by name.

    A window's impact rank (``drift.impact.<column>.rank``, 1 = most impact) orders its own columns
    only; over the windows, columns are ordered by their mean rank across the windows that ranked
    any, a column unranked in such a window counting one past that window's last rank. So a feature
    that moved the model for days stays on top when the newest window ranks others first.
    """
    out = set()
    for w in windows:
        for key in w.figures:
            parts = key.split(".")
            if len(parts) == 3 and parts[0] == "drift" and parts[2] == "score":
                out.add(parts[1])
    # The sum of ranks orders as their mean does: every column gets a rank in every ranking window.
    totals = dict.fromkeys(out, 0.0)
    for w in windows:
        ranks = {c: w.figures[f"drift.impact.{c}.rank"] for c in out if f"drift.impact.{c}.rank" in w.figures}
        if not ranks:
            continue
        unranked = max(ranks.values()) + 1
        for c in out:
            totals[c] += ranks.get(c, unranked)
    return sorted(out, key=lambda c: (totals[c], c))


def _lifecycle_marks(data: DashboardData) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    by_x: dict[str, list[str]] = {}
    for e in data.events:
        if e.kind not in (ALERT_FIRED, ALERT_RESOLVED):
            by_x.setdefault(e.at.isoformat(), []).append(f"{e.kind} {e.label}".strip())
    shapes, annotations = [], []
    for x, labels in by_x.items():
        shapes.append(
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": x,
                "x1": x,
                "y0": 0,
                "y1": 1,
                "line": {"color": "#6a1b9a", "width": 2, "dash": "dash"},
            }
        )
        annotations.append(
            {
                "x": x,
                "xref": "x",
                "yref": "paper",
                "y": 1.02,
                "yanchor": "bottom",
                "showarrow": False,
                "text": ", ".join(labels),
                "font": {"color": "#6a1b9a", "size": 11},
            }
        )
    return shapes, annotations


def _layout(title: str, data: DashboardData, x_range: list[str], **extra: Any) -> dict[str, Any]:
    shapes, annotations = _lifecycle_marks(data)
    layout: dict[str, Any] = {
        "title": {"text": title, "x": 0, "font": {"size": 15}},
        "height": 300,
        "margin": {"l": 150, "r": 60, "t": 60, "b": 40},
        "xaxis": {"type": "date", "range": x_range},
        "shapes": shapes + extra.pop("shapes", []),
        "annotations": annotations,
        "legend": {"orientation": "h", "y": -0.18},
        "hovermode": "closest",
    }
    layout.update(extra)
    return layout


def build_figures(data: DashboardData) -> dict[str, dict[str, Any]]:
    """Each panel's plotly figure as a plain dict (``{"data": [...], "layout": {...}}``)."""
    ws = data.windows
    xs = [_x(w) for w in ws]
    half_day = None
    if ws:
        width = ws[0].end - ws[0].start
        half_day = width / 2
        x_range = [(ws[0].start - half_day).isoformat(), (ws[-1].start + half_day).isoformat()]
    else:
        x_range = [data.generated_at.isoformat(), data.generated_at.isoformat()]
    figures: dict[str, dict[str, Any]] = {}

    hover = [
        f"<b>{window_span(w.start, w.end, data.timezone)}</b>: {w.verdict}{HINDSIGHT_MARK if w.hindsight else ''}<br>"
        + "<br>".join(html.escape(r[:160]) for r in w.reasons[:6])
        for w in ws
    ]
    figures["verdict"] = {
        "data": [
            {
                "type": "bar",
                "x": xs,
                "y": [1] * len(ws),
                "name": "verdict",
                "marker": {"color": [VERDICT_COLORS.get(w.verdict, "#9e9e9e") for w in ws]},
                "text": [
                    f"{w.verdict}{HINDSIGHT_MARK if w.hindsight else ''}<br>"
                    f"{versions_label(w.model_versions) if w.model_versions else ''}"
                    for w in ws
                ],
                "textposition": "inside",
                "insidetextanchor": "middle",
                "hovertext": hover,
                "hoverinfo": "text",
            }
        ],
        "layout": _layout(
            "Verdict per window (hover for the reasons; model version on each bar)",
            data,
            x_range,
            yaxis={"visible": False},
            height=220,
            showlegend=False,
        ),
    }

    columns = drifted_columns(ws)
    z = [[w.figures.get(f"drift.{c}.drifted") for w in ws] for c in columns]
    scores = [[round_figure(w.figures.get(f"drift.{c}.score"), 4) for w in ws] for c in columns]
    figures["drift"] = {
        "data": [
            {
                "type": "heatmap",
                "x": xs,
                "y": columns,
                "z": z,
                "customdata": scores,
                "zmin": 0,
                "zmax": 1,
                "colorscale": [[0, "#e8f5e9"], [1, "#c62828"]],
                "showscale": False,
                "xgap": 2,
                "ygap": 2,
                "hovertemplate": "%{y} on %{x|%Y-%m-%d}: score %{customdata}, drifted %{z}<extra></extra>",
            },
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": xs,
                "y": _series(ws, "drift.share"),
                "name": "share of features drifted",
                "yaxis": "y2",
                "line": {"color": "#1565c0"},
            },
        ],
        "layout": _layout(
            "Drift per feature (red: drifted; top row: most impact on the model) and the share of "
            "drifted features",
            data,
            x_range,
            height=80 + 26 * max(len(columns), 4),
            yaxis={"automargin": True, "autorange": "reversed"},
            yaxis2={"overlaying": "y", "side": "right", "range": [0, 1.05], "title": "share"},
        ),
    }

    metric = primary_metric(ws)
    perf_traces: list[dict[str, Any]] = []
    if metric is not None:
        band_lo, band_hi = _series(ws, f"perf.band.{metric}.lower"), _series(ws, f"perf.band.{metric}.upper")
        est_lo = _series(ws, f"perf.estimated.{metric}.lower")
        est_hi = _series(ws, f"perf.estimated.{metric}.upper")
        perf_traces = [
            {
                "type": "scatter",
                "x": xs,
                "y": band_hi,
                "mode": "lines",
                "line": {"width": 0},
                "showlegend": False,
                "hoverinfo": "skip",
            },
            {
                "type": "scatter",
                "x": xs,
                "y": band_lo,
                "mode": "lines",
                "line": {"width": 0},
                "fill": "tonexty",
                "fillcolor": "rgba(46,125,50,0.15)",
                "name": "reference band",
            },
            {
                "type": "scatter",
                "x": xs,
                "y": _series(ws, f"perf.estimated.{metric}"),
                "mode": "lines+markers",
                "name": f"estimated {metric} (CBPE)",
                "line": {"color": "#1565c0"},
                "error_y": {
                    "type": "data",
                    "symmetric": False,
                    "array": [
                        None if h is None or e is None else round(h - e, 6)
                        for h, e in zip(est_hi, _series(ws, f"perf.estimated.{metric}"), strict=True)
                    ],
                    "arrayminus": [
                        None if lo is None or e is None else round(e - lo, 6)
                        for lo, e in zip(est_lo, _series(ws, f"perf.estimated.{metric}"), strict=True)
                    ],
                    "color": "#90caf9",
                },
            },
            {
                "type": "scatter",
                "x": xs,
                "y": _series(ws, f"perf.realized.{metric}"),
                "mode": "lines+markers",
                "name": f"realized {metric} (labels)",
                "line": {"color": "#000000"},
            },
            {
                "type": "scatter",
                "x": xs,
                "y": [1.0 if w.figures.get("perf.concept_drift") else None for w in ws],
                "mode": "markers",
                "name": "concept drift",
                "yaxis": "y2",
                "marker": {"symbol": "x", "size": 12, "color": "#c62828"},
            },
        ]
    figures["performance"] = {
        "data": perf_traces,
        "layout": _layout(
            f"Estimated vs realized {metric or 'quality'}, with the reference band",
            data,
            x_range,
            yaxis2={"overlaying": "y", "side": "right", "range": [0, 1.2], "visible": False},
        ),
    }

    figures["labels"] = {
        "data": [
            {
                "type": "bar",
                "x": xs,
                "y": _series(ws, "window.label_coverage"),
                "name": "label coverage",
                "marker": {"color": "#6d4c41"},
            },
        ],
        "layout": _layout(
            "Label coverage (share of the window's rows with ground truth so far)",
            data,
            x_range,
            yaxis={"range": [0, 1.05], "tickformat": ".0%"},
            height=240,
            showlegend=False,
        ),
    }

    serving: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "x": xs,
            "y": _series(ws, name),
            "mode": "lines+markers",
            "name": name.removeprefix("serving.latency_").replace("_ms", " latency (ms)"),
        }
        for name in _SERVING
    ]
    serving.append(
        {
            "type": "bar",
            "x": xs,
            "y": _series(ws, "serving.error_rate"),
            "name": "error rate",
            "yaxis": "y2",
            "marker": {"color": "rgba(198,40,40,0.35)"},
        }
    )
    figures["serving"] = {
        "data": serving,
        "layout": _layout(
            "Latency and error rate",
            data,
            x_range,
            yaxis={"title": "ms", "rangemode": "tozero"},
            yaxis2={
                "overlaying": "y",
                "side": "right",
                "title": "error rate",
                "tickformat": ".1%",
                "rangemode": "tozero",
            },
        ),
    }

    alert_traces = []
    for kind, symbol, color in (
        (ALERT_FIRED, "triangle-up", "#c62828"),
        (ALERT_RESOLVED, "triangle-down", "#2e7d32"),
    ):
        events = [e for e in data.events if e.kind == kind]
        alert_traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "x": [e.at.isoformat() for e in events],
                "y": [e.label for e in events],
                "name": kind.removeprefix("alert."),
                "text": [html.escape(e.detail) for e in events],
                "hovertemplate": "%{y}: %{text}<extra></extra>",
                "marker": {"symbol": symbol, "size": 13, "color": color},
            }
        )
    rules = sorted({e.label for e in data.events if e.kind in (ALERT_FIRED, ALERT_RESOLVED)})
    figures["alerts"] = {
        "data": alert_traces,
        "layout": _layout(
            "Alerts fired and resolved (on the window whose evaluation changed them)",
            data,
            x_range,
            height=100 + 30 * max(len(rules), 3),
            yaxis={"type": "category", "categoryarray": rules, "automargin": True},
        ),
    }
    return figures


def _reasons_table(data: DashboardData) -> str:
    rows = []
    for w in reversed(data.windows):
        if not w.reasons:
            continue
        color = VERDICT_COLORS.get(w.verdict, "#9e9e9e")
        reasons = "".join(f"<li>{html.escape(r)}</li>" for r in w.reasons)
        versions = versions_label(w.model_versions)
        rows.append(
            f"<tr><td>{window_span(w.start, w.end, data.timezone)}{HINDSIGHT_MARK if w.hindsight else ''}</td>"
            f'<td><span class="badge" style="background:{color}">'
            f"{w.verdict}</span></td><td>{versions}</td><td><ul>{reasons}</ul></td></tr>"
        )
    if not rows:
        return "<p>No window raised anything.</p>"
    return (
        '<table class="reasons"><thead><tr><th>window</th><th>verdict</th><th>version</th><th>reasons</th>'
        "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _json_for_script(value: Any) -> str:
    # Inside <script>, "</" would end the element early.
    return json.dumps(value, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")


def render_dashboard(data: DashboardData, *, plotly_js: str | None = None) -> str:
    """The page as one HTML string, plotly.js inlined (`plotly_js`, default: the installed plotly's
    bundle), so it opens offline and from an MLflow artifact alike."""
    if plotly_js is None:
        from plotly.offline import get_plotlyjs

        plotly_js = get_plotlyjs()
    figures = build_figures(data)
    counts = {v: sum(w.verdict == v for w in data.windows) for v in VERDICT_COLORS}
    latest = data.windows[-1] if data.windows else None
    headline = (
        f"latest window <b>{html.escape(window_name(data.model, latest.start, latest.end, data.timezone))}</b> "
        f'({versions_label(latest.model_versions)}): <span class="badge" '
        f'style="background:{VERDICT_COLORS.get(latest.verdict, "#9e9e9e")}">{latest.verdict}</span>'
        if latest
        else "no window evaluated yet"
    )
    span = (
        f"{window_span(data.windows[0].start, data.windows[0].end, data.timezone)} to "
        f"{window_span(latest.start, latest.end, data.timezone)}"
        if latest
        else ""
    )
    panels = "\n".join(f'<div class="panel" id="panel-{name}"></div>' for name in PANELS)
    title = f"{html.escape(data.model)} — Watchkeeper"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; margin: 16px 24px; color: #212121; }}
h1 {{ font-size: 22px; margin: 0 0 4px; }}
.sub {{ color: #616161; margin-bottom: 12px; }}
.badge {{ color: #fff; padding: 1px 8px; border-radius: 10px; font-weight: 600; }}
.panel {{ border: 1px solid #e0e0e0; border-radius: 6px; margin: 10px 0; }}
table.reasons {{ border-collapse: collapse; width: 100%; font-size: 13px; }}
table.reasons td, table.reasons th {{ border-top: 1px solid #e0e0e0; padding: 4px 8px; vertical-align: top;
  text-align: left; }}
table.reasons ul {{ margin: 0; padding-left: 16px; }}
</style>
<script>{plotly_js}</script>
</head><body>
<h1>{html.escape(data.model)}</h1>
<div class="sub">{headline} · {len(data.windows)} windows ({span}): {counts["ok"]} ok, {counts["warning"]} warning,
{counts["critical"]} critical · generated {data.generated_at:%Y-%m-%d %H:%M} UTC · dashed purple lines:
retraining, promotions, rollbacks</div>
{panels}
<h2 style="font-size:16px">Why: the reasons of each window (newest first)</h2>
{_reasons_table(data)}
<script type="application/json" id="watchkeeper-data">{_json_for_script(data.to_dict())}</script>
<script type="application/json" id="watchkeeper-figures">{_json_for_script(figures)}</script>
<script>
(function () {{
  var figures = JSON.parse(document.getElementById("watchkeeper-figures").textContent);
  var names = {json.dumps(list(PANELS))};
  var done = 0;
  names.forEach(function (name) {{
    var f = figures[name];
    Plotly.newPlot("panel-" + name, f.data, f.layout, {{responsive: true, displaylogo: false}}).then(function () {{
      done += 1;
      document.body.setAttribute("data-panels-rendered", String(done));
    }});
  }});
}})();
</script>
</body></html>
"""
