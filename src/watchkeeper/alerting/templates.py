"""Annotation templates: `{value}`, `{threshold:.2f}`, `{drift.share:.0%}` in a rule's summary.

Not `str.format`: figure names are dotted, which `str.format` would read as attribute access (and
attribute access on user-provided templates is the classic format-string injection). Placeholders
are checked at config load against the variables below and the field registry. `${VAR}` is
refused: environment variables are not expanded in alert texts (they would carry secrets into every
notification). Format widths and precisions are capped (`MAX_WIDTH`, `MAX_PRECISION`): a
`{value:>50000000}` must not render a 50 MB string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from watchkeeper.alerting.fields import match_field

VARIABLES: tuple[str, ...] = (
    "value",
    "threshold",
    "metric",
    "metric_name",
    "op",
    "model",
    "version",
    "rule",
    "severity",
    "window_start",
    "window_end",
)

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.\-]*)(?::([^{}]*))?\}")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")
# [[fill]align][sign][z][#][0][width][grouping][.precision][type] (Python's format mini-language)
_SPEC = re.compile(r"^(?:.?[<>=^])?[+\- ]?z?#?0?(?P<width>\d*)[,_]?(?:\.(?P<precision>\d+))?[a-zA-Z%]?$")

MAX_WIDTH = 200
MAX_PRECISION = 20


def _spec_problem(spec: str) -> str | None:
    match = _SPEC.match(spec)
    if match is None:
        return None  # format() itself judges it
    width, precision = match.group("width"), match.group("precision")
    if width and int(width) > MAX_WIDTH:
        return f"width {int(width)} exceeds {MAX_WIDTH}"
    if precision and int(precision) > MAX_PRECISION:
        return f"precision {int(precision)} exceeds {MAX_PRECISION}"
    return None


def check_template(text: str) -> None:
    """Raise ValueError naming the first placeholder that is neither a variable nor a figure."""
    env = _ENV_REF.search(text)
    if env is not None:
        raise ValueError(
            f"${{{env.group(1)}}}: environment variables are not expanded in alert texts "
            "(a secret there would go out with every notification)"
        )
    for match in _PLACEHOLDER.finditer(text):
        name, spec = match.group(1), match.group(2)
        if name not in VARIABLES and match_field(name) is None:
            raise ValueError(
                f"unknown placeholder {{{name}}}; use one of {', '.join(VARIABLES)} or a figure name"
            )
        if spec:
            problem = _spec_problem(spec)
            if problem is not None:
                raise ValueError(f"format {spec!r} in placeholder {{{name}:{spec}}}: {problem}")
            try:
                format(1.0, spec)
            except ValueError:
                raise ValueError(f"invalid format {spec!r} in placeholder {{{name}:{spec}}}") from None


def _format(value: object, spec: str | None) -> str:
    if value is None:
        return "n/a"
    if spec and _spec_problem(spec) is None:
        try:
            return format(value, spec)
        except (ValueError, TypeError):
            return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def render_template(text: str, variables: Mapping[str, object], figures: Mapping[str, float]) -> str:
    """Fill placeholders; a figure missing from this window renders as `n/a`."""

    def repl(match: re.Match[str]) -> str:
        name, spec = match.group(1), match.group(2)
        value = variables[name] if name in variables else figures.get(name)
        return _format(value, spec)

    return _PLACEHOLDER.sub(repl, text)
