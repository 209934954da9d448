"""Quoting data in what a run writes: one huge value must not grow a run's artifacts without bound.

A value read from the data (a category, a segment, an unexpected value in a GX result, a message that
quotes one) may be any size: a 10 MB category once grew what a window's run writes from 4.3 MB to 264 MB
(report JSON, GX's result, its HTML page, Evidently's page, tables, figure names). Every place that
quotes data caps it with these:

- `cap_text`: at most `MAX_QUOTED_CHARS` characters, then ``… (N more characters)``;
- `cap_label`: a value used as a *name* (a segment in a figure name) keeps its first characters and a
  short hash of the whole, so two long values stay two names;
- lists of examples keep `MAX_EXAMPLES` items and say how many more there were (GX's result:
  `watchkeeper.validation.report.make_json_safe`);
- a sentence that quotes values (a finding, a note, an alert's summary) stops at `MAX_TEXT_CHARS`
  (the report's JSON, alert payloads).
"""

from __future__ import annotations

import hashlib

MAX_QUOTED_CHARS = 200
# A sentence that may quote several values (a finding, a note, an error): the report's own cap.
MAX_TEXT_CHARS = 2000
# A name built from a value (a segment of a figure name, an MLflow key) stays short enough for a key.
MAX_LABEL_CHARS = 64
# Lists in a document (GX's observed distinct values, a suite's value sets): beyond this, a count.
MAX_EXAMPLES = 1000


def cap_text(text: str, limit: int = MAX_QUOTED_CHARS) -> str:
    """`text` up to `limit` characters, then how many more there were."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


def cap_label(text: str, limit: int = MAX_LABEL_CHARS) -> str:
    """`text` as a name: unchanged when short, else its start and a hash of the whole (stable, and
    distinct values keep distinct names)."""
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    suffix = f"…[{len(text)} chars #{digest}]"
    return text[: max(limit - len(suffix), 0)] + suffix
