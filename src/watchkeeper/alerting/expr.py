"""A small, safe parser and evaluator for alert conditions (no `eval`).

Grammar (keywords are case-insensitive)::

    condition  := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" or_expr ")" | comparison
    comparison := operand ("<" | "<=" | ">" | ">=" | "==" | "!=") operand
    operand    := NUMBER | "true" | "false" | FIELD | `FIELD WITH ODD CHARACTERS`

A FIELD is a dotted figure name (`drift.share`, `perf.band.roc_auc.lower`); a column whose name holds
spaces or operators is written between backquotes. Both sides may be figures, so a condition can
compare a metric with its own band (`perf.estimated.roc_auc < perf.band.roc_auc.lower`).

Evaluation is three-valued, like SQL's NULL: a comparison whose figure is missing from the window's
report (or is NaN) is *unknown*; `and` is false if any side is false, `or` is true if any side is true,
otherwise unknown propagates. The engine treats an unknown condition as "no news": the alert keeps
its state (neither fires nor resolves). This is what lets a no-data window leave drift alerts alone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from watchkeeper.alerting.fields import match_field, suggest_fields


class ConditionError(ValueError):
    """A condition does not parse, or refers to a figure that no section produces."""


_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}
_KEYWORDS = {"and", "or", "not", "true", "false"}

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![A-Za-z_]))
  | (?P<op><=|>=|==|!=|<|>)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<quoted>`[^`]+`)
  | (?P<name>[A-Za-z_][A-Za-z0-9_.\-:/]*)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    pos: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ConditionError(f"unexpected character {text[pos]!r} at column {pos + 1}")
        kind = match.lastgroup or ""
        if kind != "ws":
            value = match.group()
            if kind == "name" and value.lower() in _KEYWORDS:
                kind = value.lower()
            elif kind == "quoted":
                kind, value = "name", value[1:-1]
            tokens.append(_Token(kind, value, pos))
        pos = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


@dataclass(frozen=True)
class Field:
    name: str

    def value(self, figures: Mapping[str, float]) -> float | None:
        raw = figures.get(self.name)
        if raw is None:
            return None
        value = float(raw)
        return None if math.isnan(value) else value

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Number:
    number: float

    def value(self, figures: Mapping[str, float]) -> float | None:
        return self.number

    def __str__(self) -> str:
        return f"{self.number:g}"


Operand = Field | Number


@dataclass(frozen=True)
class Comparison:
    left: Operand
    op: str
    right: Operand

    def evaluate(self, figures: Mapping[str, float]) -> bool | None:
        a, b = self.left.value(figures), self.right.value(figures)
        if a is None or b is None:
            return None
        return _OPS[self.op](a, b)

    def comparisons(self) -> list[Comparison]:
        return [self]

    def __str__(self) -> str:
        return f"{self.left} {self.op} {self.right}"


@dataclass(frozen=True)
class And:
    parts: tuple[Node, ...]

    def evaluate(self, figures: Mapping[str, float]) -> bool | None:
        values = [p.evaluate(figures) for p in self.parts]
        if any(v is False for v in values):
            return False
        return None if any(v is None for v in values) else True

    def comparisons(self) -> list[Comparison]:
        return [c for p in self.parts for c in p.comparisons()]

    def __str__(self) -> str:
        return " and ".join(f"({p})" if isinstance(p, Or) else str(p) for p in self.parts)


@dataclass(frozen=True)
class Or:
    parts: tuple[Node, ...]

    def evaluate(self, figures: Mapping[str, float]) -> bool | None:
        values = [p.evaluate(figures) for p in self.parts]
        if any(v is True for v in values):
            return True
        return None if any(v is None for v in values) else False

    def comparisons(self) -> list[Comparison]:
        return [c for p in self.parts for c in p.comparisons()]

    def __str__(self) -> str:
        return " or ".join(str(p) for p in self.parts)


@dataclass(frozen=True)
class Not:
    part: Node

    def evaluate(self, figures: Mapping[str, float]) -> bool | None:
        value = self.part.evaluate(figures)
        return None if value is None else not value

    def comparisons(self) -> list[Comparison]:
        return self.part.comparisons()

    def __str__(self) -> str:
        return f"not ({self.part})"


Node = Comparison | And | Or | Not


@dataclass(frozen=True)
class Condition:
    """A parsed condition: evaluate it, list its figures, describe its first comparison."""

    text: str
    root: Node

    @property
    def fields(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for comp in self.root.comparisons():
            for side in (comp.left, comp.right):
                if isinstance(side, Field):
                    seen[side.name] = None
        return tuple(seen)

    @property
    def sections(self) -> frozenset[str]:
        return frozenset(name.split(".", 1)[0] for name in self.fields)

    def evaluate(self, figures: Mapping[str, float]) -> bool | None:
        """True (holds), False (does not hold) or None (unknown: a figure is missing or NaN)."""
        return self.root.evaluate(figures)

    def primary(self, figures: Mapping[str, float]) -> tuple[str, float | None, str, float | None]:
        """The first comparison that holds (else the first one): metric, value, operator, threshold.

        This is what a notification shows as "metric vs threshold".
        """
        comps = self.root.comparisons()
        chosen = next((c for c in comps if c.evaluate(figures)), comps[0])
        metric = str(chosen.left)
        return metric, chosen.left.value(figures), chosen.op, chosen.right.value(figures)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self, kind: str) -> _Token:
        tok = self.peek()
        if tok.kind != kind:
            raise self.error(f"expected {_describe(kind)}", tok)
        self.i += 1
        return tok

    def error(self, message: str, tok: _Token) -> ConditionError:
        found = "end of condition" if tok.kind == "end" else repr(tok.text)
        return ConditionError(f"{message} at column {tok.pos + 1}, found {found}")

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise ConditionError("empty condition")
        node = self.or_expr()
        if self.peek().kind != "end":
            raise self.error("expected 'and', 'or' or the end", self.peek())
        return node

    def or_expr(self) -> Node:
        parts = [self.and_expr()]
        while self.peek().kind == "or":
            self.i += 1
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def and_expr(self) -> Node:
        parts = [self.not_expr()]
        while self.peek().kind == "and":
            self.i += 1
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def not_expr(self) -> Node:
        tok = self.peek()
        if tok.kind == "not":
            self.i += 1
            return Not(self.not_expr())
        if tok.kind == "lparen":
            self.i += 1
            node = self.or_expr()
            self.take("rparen")
            return node
        return self.comparison()

    def comparison(self) -> Comparison:
        left = self.operand()
        op = self.take("op").text
        right = self.operand()
        if isinstance(left, Number) and isinstance(right, Number):
            raise ConditionError(f"comparison '{left} {op} {right}' compares two numbers; name a figure")
        return Comparison(left, op, right)

    def operand(self) -> Operand:
        tok = self.peek()
        self.i += 1
        if tok.kind == "number":
            return Number(float(tok.text))
        if tok.kind in ("true", "false"):
            return Number(1.0 if tok.kind == "true" else 0.0)
        if tok.kind == "name":
            return Field(tok.text)
        self.i -= 1
        raise self.error("expected a figure name or a number", tok)


def _describe(kind: str) -> str:
    return {"rparen": "')'", "op": "a comparison operator (<, <=, >, >=, ==, !=)"}.get(kind, kind)


@lru_cache(maxsize=1024)
def parse_condition(text: str, *, check_fields: bool = True) -> Condition:
    """Parse `text`; with `check_fields`, every figure must match the field registry.

    Raises `ConditionError` with the column of a syntax error or the unknown figure and the
    closest known names.
    """
    condition = Condition(text, _Parser(text).parse())
    if check_fields:
        for name in condition.fields:
            if match_field(name) is None:
                hint = ", ".join(suggest_fields(name))
                raise ConditionError(f"unknown figure {name!r}; known figures include: {hint}")
    return condition
