"""Annotation templates: `{value}`, `{threshold:.2f}`, `{drift.share:.0%}` in a rule's summary.

Parsed with Python's own grammar (`string.Formatter().parse`: `{{` is a literal brace, a lone `{`
is an error), but not rendered by `str.format`: figure names are dotted, which `str.format` would
read as attribute access (and attribute access on user-provided templates is the classic
format-string injection). Placeholders are checked at config load against the variables below and
the field registry; conversions (`!r`) and nested fields in a spec are refused. `${VAR}` is refused:
environment variables are not expanded in alert texts (they would carry secrets into every
notification).

A spec is read by the format-spec mini-language (`parse_format_spec`), whose fill may be any
character, a newline included, and its width and precision are capped (`MAX_WIDTH`,
`MAX_PRECISION`): a `{value:\\n>8000000}` must not render an 8 MB string. A template is at most
`MAX_TEMPLATE_CHARS` long and renders to at most `MAX_RENDERED_CHARS`.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

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

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")

MAX_WIDTH = 200
MAX_PRECISION = 20
MAX_TEMPLATE_CHARS = 2000
MAX_RENDERED_CHARS = 4000
# Longest digit run read as a number: past it the width is over the cap anyway, and `int()` of a
# very long digit string is itself slow (CPython refuses past 4300 digits).
_MAX_DIGITS = 6


@dataclass(frozen=True)
class FormatSpec:
    """A spec as Python reads it:
    `[[fill]align][sign]["z"]["#"]["0"][width][grouping]["." precision][type]`."""

    fill: str | None
    align: str | None
    sign: str | None
    width: int | None
    precision: int | None
    type: str | None


class TemplateError(ValueError):
    """A template breaks a rule; the message names the placeholder, its spec and the rule."""


def _digits(spec: str, i: int) -> tuple[str, int]:
    j = i
    while j < len(spec) and spec[j].isdigit():
        j += 1
    return spec[i:j], j


def _number(digits: str, cap: int, what: str, spec: str) -> int | None:
    if not digits:
        return None
    if len(digits) > _MAX_DIGITS or int(digits) > cap:
        raise TemplateError(f"format {spec!r}: {what} exceeds {cap} (the cap)")
    return int(digits)


def parse_format_spec(spec: str) -> FormatSpec:
    """Read a format spec by Python's format-spec mini-language; `TemplateError` when it is not
    one, or when its width or precision is past the caps.

    >>> parse_format_spec("\\n>12.3f")
    FormatSpec(fill='\\n', align='>', sign=None, width=12, precision=3, type='f')
    """
    i, fill, align, sign = 0, None, None, None
    if len(spec) >= 2 and spec[1] in "<>=^":
        fill, align, i = spec[0], spec[1], 2
    elif spec[:1] and spec[0] in "<>=^":
        align, i = spec[0], 1
    if spec[i : i + 1] in ("+", "-", " "):
        sign, i = spec[i], i + 1
    for flag in ("z", "#"):
        if spec[i : i + 1] == flag:
            i += 1
    width_digits, i = _digits(spec, i)  # a leading "0" (zero padding) is part of the digit run
    width = _number(width_digits, MAX_WIDTH, "width", spec)
    if spec[i : i + 1] in (",", "_"):
        i += 1
    precision = None
    if spec[i : i + 1] == ".":
        precision_digits, i = _digits(spec, i + 1)
        if not precision_digits:
            raise TemplateError(f"format {spec!r}: '.' without a precision")
        precision = _number(precision_digits, MAX_PRECISION, "precision", spec)
    kind = None
    if i < len(spec) and spec[i] in "bcdeEfFgGnosxX%":
        kind, i = spec[i], i + 1
    if i != len(spec):
        raise TemplateError(f"format {spec!r} is not a format spec (unexpected text at character {i + 1})")
    return FormatSpec(fill, align, sign, width, precision, kind)


def _fields(text: str) -> Iterator[tuple[str, str | None, str | None, str | None]]:
    """(literal, field name, spec, conversion) per piece, by `string.Formatter().parse`."""
    try:
        yield from string.Formatter().parse(text)
    except ValueError as exc:  # "Single '}' encountered in format string", …
        raise TemplateError(f"{exc} (write {{{{ or }}}} for a literal brace)") from None


def check_template(text: str) -> None:
    """Raise `TemplateError` (a ValueError) naming the first placeholder that is neither a variable
    nor a figure, or whose format breaks a rule."""
    if len(text) > MAX_TEMPLATE_CHARS:
        raise TemplateError(f"a template of {len(text)} characters exceeds {MAX_TEMPLATE_CHARS} (the cap)")
    env = _ENV_REF.search(text)
    if env is not None:
        raise TemplateError(
            f"${{{env.group(1)}}}: environment variables are not expanded in alert texts "
            "(a secret there would go out with every notification)"
        )
    for _, name, spec, conversion in _fields(text):
        if name is None:
            continue
        if not _NAME.match(name) or (name not in VARIABLES and match_field(name) is None):
            raise TemplateError(
                f"unknown placeholder {{{name}}}; use one of {', '.join(VARIABLES)} or a figure name"
            )
        if conversion is not None:
            raise TemplateError(
                f"placeholder {{{name}!{conversion}}}: conversions (!r, !s, !a) are not allowed"
            )
        if spec:
            if "{" in spec or "}" in spec:
                raise TemplateError(
                    f"format {spec!r} in placeholder {{{name}}}: nested fields are not allowed"
                )
            try:
                parse_format_spec(spec)
                format(1.0, spec)
            except TemplateError as exc:
                raise TemplateError(f"placeholder {{{name}}}: {exc}") from None
            except ValueError:
                raise TemplateError(f"invalid format {spec!r} in placeholder {{{name}}}") from None


def _format(value: object, spec: str | None) -> str:
    if value is None:
        return "n/a"
    if spec:
        try:
            parse_format_spec(spec)
            return format(value, spec)
        except (ValueError, TypeError):
            pass  # past a cap, or not a spec for this value: the default rendering below
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def render_template(text: str, variables: Mapping[str, object], figures: Mapping[str, float]) -> str:
    """Fill placeholders; a figure missing from this window renders as `n/a`. A template that
    skipped the load check (built in code) still renders within the caps."""
    out: list[str] = []
    size = 0
    try:
        for literal, name, spec, _ in _fields(text):
            piece = literal
            if name is not None:
                piece += _format(variables[name] if name in variables else figures.get(name), spec)
            out.append(piece)
            size += len(piece)
            if size > MAX_RENDERED_CHARS:  # the rest would be cut anyway
                break
    except TemplateError:
        out = [text]  # not a template by Python's grammar: the text as written, capped below
    rendered = "".join(out)
    return rendered if len(rendered) <= MAX_RENDERED_CHARS else rendered[: MAX_RENDERED_CHARS - 1] + "…"
