"""Base class and small parsers shared by every configuration model.

Kept apart from `config.py` so that section models living next to their code (drift, performance,
alerting) can import it without a cycle.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Frozen, rejects unknown keys: a typo in YAML is an error, never silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str | int | float | timedelta) -> timedelta:
    """Parse ``"15m"``, ``"1h"``, ``"1d"``, ``"2w"`` (or seconds as a number) into a timedelta."""
    if isinstance(text, timedelta):
        return text
    if isinstance(text, int | float):
        return timedelta(seconds=float(text))
    match = _DURATION.match(text)
    if not match:
        raise ValueError(
            f"invalid duration {text!r}: expected a number and a unit s, m, h, d or w (e.g. '1d', '15m')"
        )
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])


# Bounds on what a YAML file may make the loader build (`load_yaml_file`). A model config is a few
# KB and a few hundred nodes; a suite a few thousand. Aliases are counted as the copies they stand
# for, so a "billion laughs" file (nested aliases, a few hundred bytes) is refused at the alias that
# crosses the budget, before anything is expanded.
MAX_YAML_BYTES = 1024 * 1024
MAX_YAML_NODES = 100_000
MAX_YAML_DEPTH = 64
# A key shown in an error's key path; anything else (a line of some other file, a secret pasted
# as a key) is shown as "?" — the line and column say where it is.
_SHOWN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,39}$")
# A quoted token in a parser's problem text ("found character '\\t' ..."): kept when it is one
# character or one escape (`\\t`, `\\x00`), since longer ones would be file content.
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_ONE_CHARACTER = re.compile(r"^(?:.|\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|.))$", re.DOTALL)


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, counting nodes as the fully expanded document would hold them.

    The composer hands back the anchored node itself for an alias (no copy), so the expanded size of
    every node is known when it is finished: 1 + its children's sizes. An alias charges its target's
    size to the running total; past `MAX_YAML_NODES` the alias is refused where it stands. A node
    aliased from inside itself (a recursive document) is refused too: nothing in a config needs one.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._sizes: dict[int, int] = {}
        self._nodes: list[yaml.Node | None] = []  # keeps ids in `_sizes` from being reused
        self._total = 0
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            node = super().compose_node(parent, index)
            size = self._sizes.get(id(node))
            if size is None:
                raise yaml.composer.ComposerError(
                    None, None, "an alias refers to the node that contains it (recursive)", mark
                )
            self._charge(size, mark, alias=True)
            return node
        mark = self.peek_event().start_mark
        self._depth += 1
        if self._depth > MAX_YAML_DEPTH:
            raise yaml.composer.ComposerError(
                None, None, f"nested deeper than {MAX_YAML_DEPTH} levels (the limit)", mark
            )
        node = super().compose_node(parent, index)
        self._depth -= 1
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            children = []
        # Children are finished (or refused) before their parent, so their sizes are known.
        self._sizes[id(node)] = 1 + sum(self._sizes[id(c)] for c in children)
        self._nodes.append(node)
        self._charge(1, mark, alias=False)
        return node

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        # Python's own limits surface here as plain exceptions (an integer of 5000 digits, the
        # 13th month): give them the node's position like any other YAML error.
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"cannot read this value ({type(exc).__name__}: {str(exc)[:200]})",
                node.start_mark,
            ) from None

    def _charge(self, size: int, mark: yaml.Mark, *, alias: bool) -> None:
        self._total += size
        if self._total > MAX_YAML_NODES:
            what = f"an alias standing for {size} nodes" if alias else "this node"
            raise yaml.composer.ComposerError(
                None,
                None,
                f"{what} takes the document past {MAX_YAML_NODES} nodes "
                "(the node budget, aliases counted as the copies they stand for)",
                mark,
            )


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML file: its data, and its node tree for naming where a key path is."""

    path: Path
    data: Any
    root: yaml.Node | None

    def position(self, loc: Sequence[str | int]) -> tuple[int, int] | None:
        """(line, column), 1-based, of the deepest node along `loc` (a pydantic error location:
        segments that are not keys, such as a union's tag, are skipped)."""
        node, found = self.root, None
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                        found, node = key.start_mark, value
                        break
            elif (
                isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value)
            ):
                node = node.value[part]
                found = node.start_mark
        return None if found is None else (found.line + 1, found.column + 1)


def looks_like_name(text: str) -> bool:
    """Whether a word from a config file may be quoted in an error: a key or a registry name
    (`window`, `slack`), not a line of text or a long token."""
    return _SHOWN_KEY.match(text) is not None


def format_key_path(loc: Sequence[str | int]) -> str:
    """A key path for an error message: `alerts.channels.0.url_env`; keys that do not look like
    names are shown as `?` (the position says where), so no file content reaches the message."""
    shown = [str(p) if isinstance(p, int) or looks_like_name(p) else "?" for p in loc]
    return ".".join(shown) or "<root>"


def _describe_yaml_error(path: Path, exc: yaml.YAMLError) -> str:
    """`path: line L, column C: not valid YAML: problem`, without the snippet of the file that PyYAML
    appends to its message, and without quoted tokens longer than one character."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}: line {mark.line + 1}, column {mark.column + 1}" if mark is not None else f"{path}"
        problem = exc.problem or exc.context or "parse error"
    elif isinstance(exc, yaml.reader.ReaderError):
        where, problem = f"{path}: character {exc.position}", "unacceptable character"
    else:
        where, problem = f"{path}", type(exc).__name__
    problem = _QUOTED.sub(lambda m: m.group() if _ONE_CHARACTER.match(m.group()[1:-1]) else "'…'", problem)
    return f"{where}: not valid YAML: {' '.join(problem.split())}"


def load_yaml_file(path: Path, *, what: str, error: type[Exception]) -> YamlDocument:
    """Parse a YAML file within the bounds above; `error` (with the path first, and the line and
    column when known) says whether it is missing, unreadable, too big or not YAML. `what` names
    the file in the message ("config", "suite"). No message quotes the file's content."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_YAML_BYTES + 1)
    except FileNotFoundError:
        raise error(f"{path}: {what} file not found") from None
    except OSError as exc:
        raise error(f"{path}: cannot read {what} file: {exc.strerror or type(exc).__name__}") from None
    if len(raw) > MAX_YAML_BYTES:
        raise error(f"{path}: {what} file is larger than {MAX_YAML_BYTES} bytes (the limit)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: byte {exc.start}: {what} file is not UTF-8 text") from None
    loader = _BoundedLoader(text)
    try:
        root = loader.get_single_node()
        data = None if root is None else loader.construct_document(root)
    except yaml.YAMLError as exc:
        raise error(_describe_yaml_error(path, exc)) from None
    finally:
        loader.dispose()
    return YamlDocument(path, data, root)


def read_yaml_file(path: Path, *, what: str, error: type[Exception]) -> Any:
    """The data of a YAML file (`load_yaml_file`, without the node tree)."""
    return load_yaml_file(path, what=what, error=error).data
