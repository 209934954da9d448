"""A human page for a window's Great Expectations results, logged beside GX's own JSON.

GX's Data Docs need a file-backed data context and a site build per validation; this page shows
the same results (every expectation, failures first, with its severity, column, unexpected count
and percent, a sample of unexpected values and GX's observed value) from the `ValidationReport`, as
one self-contained HTML file that the MLflow UI renders.
"""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from watchkeeper.validation.report import ValidationReport

_STATUS_COLORS = {"FAILED": "#c62828", "ok": "#2e7d32", "not evaluated": "#757575"}


def render_validation_html(report: ValidationReport) -> str:
    """The results of one validation as an HTML page (no scripts, no external resources)."""
    rows = []
    for row, result in zip(report.to_table(), report.ordered_results(), strict=True):
        status = row["status"]
        observed = json.dumps(result.observed, default=str)
        percent = "" if row["unexpected_percent"] is None else f"{row['unexpected_percent']:.2f}%"
        cells = [
            f'<span class="status" style="background:{_STATUS_COLORS[status]}">{status}</span>',
            html.escape(row["severity"]),
            f"<code>{html.escape(row['expectation'])}</code>",
            html.escape(row["column"]),
            "" if row["unexpected_count"] is None else str(row["unexpected_count"]),
            percent,
            html.escape(row["sample"]),
            f"<code>{html.escape(observed[:300])}</code>",
            html.escape(row["details"] or (result.error or "")),
        ]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    success = report.success_percent
    missing = (
        f"<p><b>Missing columns:</b> {html.escape(', '.join(report.missing_columns))}</p>"
        if report.missing_columns
        else ""
    )
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "status",
            "severity",
            "expectation",
            "column",
            "unexpected",
            "unexpected %",
            "sample",
            "observed",
            "details",
        )
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Validation: {html.escape(report.suite_name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 16px; color: #212121; }}
table {{ border-collapse: collapse; font-size: 13px; }}
td, th {{ border-top: 1px solid #e0e0e0; padding: 4px 8px; text-align: left; vertical-align: top; }}
.status {{ color: #fff; border-radius: 8px; padding: 1px 6px; font-weight: 600; }}
</style></head><body>
<h1 style="font-size:20px">Suite <code>{html.escape(report.suite_name)}</code></h1>
<p>{report.rows} rows · {report.evaluated} expectations evaluated ·
{"-" if success is None else f"{success:.1f}%"} successful · <b>{report.critical_failures}</b> critical and
<b>{report.warning_failures}</b> warning failures ·
{"usable" if report.usable_for_training else "<b>not usable</b>"} for retraining</p>
{missing}
<table><thead><tr>{head}</tr></thead><tbody>
{"".join(rows)}
</tbody></table>
<p>GX's own result: <code>gx_result.json</code> beside this page.</p>
</body></html>
"""
