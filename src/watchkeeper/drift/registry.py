"""The registry of drift methods, keyed by Evidently's names.

Each method module registers its functions next to their implementation with `register_method`,
stating the column kinds it applies to, its default threshold, whether its score is a p-value or a
distance, and the comparison that turns a score into a drift decision (Evidently is not uniform
here: `ks` drifts at ``p <= threshold``, `chisquare` at ``p < threshold``, `ed` at ``d > threshold``,
`wasserstein` at ``d >= threshold``; keeping Evidently's comparison keeps its decisions).

Registry keys live in users' YAML, so they never change once published. Registering a name twice is
an error, and an unknown name is answered with the list of registered ones.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from watchkeeper.drift.samples import ColumnPair

Kind = Literal["numerical", "categorical"]
ScoreType = Literal["p_value", "distance"]
Comparison = Literal["<", "<=", ">", ">="]
KINDS: tuple[Kind, ...] = ("numerical", "categorical")

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class UnknownMethodError(ValueError):
    """A drift method name that is not registered; the message lists the registered names."""


class NotTestable(Exception):
    """Raised by a method when a column pair cannot be tested; the message is the reason."""


@dataclass(frozen=True)
class DriftMethod:
    """A registered drift method and what the engine needs to know about it."""

    name: str
    display_name: str
    kinds: frozenset[str]
    default_threshold: float
    score_type: ScoreType
    drift_when: Comparison
    symmetric: bool
    # Scores stay within [lower, upper]; None means unbounded on that side (property tests use it).
    bounds: tuple[float | None, float | None]
    compute: Callable[[ColumnPair], float]

    def is_drift(self, score: float, threshold: float) -> bool:
        """Evidently's decision for this method: NaN never drifts (every comparison is False)."""
        return bool(_COMPARE[self.drift_when](score, threshold))

    @property
    def is_p_value(self) -> bool:
        return self.score_type == "p_value"


_REGISTRY: dict[str, DriftMethod] = {}


def register_method(
    name: str,
    *,
    display_name: str,
    kinds: tuple[Kind, ...],
    default_threshold: float,
    score_type: ScoreType,
    drift_when: Comparison,
    symmetric: bool,
    bounds: tuple[float | None, float | None] | None = None,
) -> Callable[[Callable[[ColumnPair], float]], Callable[[ColumnPair], float]]:
    """Register the decorated function as drift method `name` (fails if the name is taken)."""
    unknown = set(kinds) - set(KINDS)
    if unknown or not kinds:
        raise ValueError(f"drift method {name!r}: kinds must be a non-empty subset of {KINDS}")
    if drift_when not in _COMPARE:
        raise ValueError(f"drift method {name!r}: drift_when must be one of {sorted(_COMPARE)}")
    if bounds is None:
        bounds = (0.0, 1.0) if score_type == "p_value" else (0.0, None)

    def decorator(func: Callable[[ColumnPair], float]) -> Callable[[ColumnPair], float]:
        if name in _REGISTRY:
            raise ValueError(f"drift method {name!r} is already registered")
        _REGISTRY[name] = DriftMethod(
            name=name,
            display_name=display_name,
            kinds=frozenset(kinds),
            default_threshold=default_threshold,
            score_type=score_type,
            drift_when=drift_when,
            symmetric=symmetric,
            bounds=bounds,
            compute=func,
        )
        return func

    return decorator


def get_method(name: str) -> DriftMethod:
    """The method registered as `name`; an unknown name lists the registered ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownMethodError(
            f"unknown drift method {name!r}; registered methods: {', '.join(sorted(_REGISTRY))}"
        ) from None


def registered_methods() -> tuple[str, ...]:
    """Names of every registered method, in registration order."""
    return tuple(_REGISTRY)
