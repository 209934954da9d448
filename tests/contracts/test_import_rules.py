"""The layers as documented (STYLE.md), asserted on the import graph of the source tree.

- `src/watchkeeper` never imports prefect, mlflow, `flows` or `tasks` (the library runs anywhere);
- `tasks/` never imports `flows/` (flows are wiring over tasks, not the other way round);
- no import circles among the project's modules.

Every import statement counts, at module level or inside a function (a lazy import that dodges a
circle still is one); only `if TYPE_CHECKING:` blocks are left out, since they never run. Importing
`a.b.c` from outside package `a.b` also runs `a/b/__init__.py`, so it is an edge to that package
too: a package whose `__init__` re-exports modules that import the importer closes a circle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
PROJECT_PACKAGES = ("watchkeeper", "flows", "tasks")


def _module_name(path: Path) -> str:
    base = SRC if path.is_relative_to(SRC) else ROOT
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _project_modules() -> dict[str, Path]:
    files = [*SRC.joinpath("watchkeeper").rglob("*.py"), *ROOT.joinpath("flows").glob("*.py")]
    files += ROOT.joinpath("tasks").glob("*.py")
    return {_module_name(p): p for p in files}


MODULES = _project_modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    """Every module named by an import statement that can run."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield target
            for alias in node.names:  # `from pkg import submodule` imports the submodule
                if f"{target}.{alias.name}" in MODULES:
                    yield f"{target}.{alias.name}"
        stack.extend(ast.iter_child_nodes(node))


def _edges(module: str) -> set[str]:
    path = MODULES[module]
    tree = ast.parse(path.read_text(), filename=str(path))
    out: set[str] = set()
    for target in _imports(tree, module, path.name == "__init__.py"):
        parts = target.split(".")
        # The imported module and, for packages the importer is not inside, their __init__.
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            if prefix in MODULES and prefix != module and not module.startswith(prefix + "."):
                out.add(prefix)
            elif prefix not in MODULES and i == len(parts):
                out.add(target)  # a third-party module (kept for the layer rules)
    return out


GRAPH = {m: _edges(m) for m in MODULES}


def _violations(layer: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{m} imports {t}"
        for m, targets in GRAPH.items()
        if m == layer or m.startswith(layer + ".")
        for t in targets
        if any(t == f or t.startswith(f + ".") for f in forbidden)
    )


def test_the_graph_covers_the_tree() -> None:
    # Guards the test itself: the walk found the library, the flows and the tasks.
    assert {"watchkeeper.monitoring", "watchkeeper.checks", "flows.monitor", "tasks.check_tasks"} <= set(
        GRAPH
    )
    assert "watchkeeper.checks" in GRAPH["watchkeeper.monitoring"]


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        # The library is pure: no orchestrator, no tracking client, no wiring.
        ("watchkeeper", ("prefect", "mlflow", "flows", "tasks")),
        # Tasks are wrapped by flows; a task that starts a flow belongs in flows/.
        ("tasks", ("flows",)),
    ],
)
def test_layers(layer: str, forbidden: tuple[str, ...]) -> None:
    assert _violations(layer, forbidden) == []


def test_packages_import_their_names_eagerly() -> None:
    # A module-level `__getattr__` that imports on first use hides its edges from this graph (and
    # is the usual way to paper over a circle): the library has none.
    lazy = sorted(
        m
        for m, path in MODULES.items()
        if m.startswith("watchkeeper")
        and any(
            isinstance(node, ast.FunctionDef) and node.name == "__getattr__"
            for node in ast.parse(path.read_text()).body
        )
    )
    assert lazy == []


def test_no_import_circles() -> None:
    project = {m: {t for t in ts if t in GRAPH} for m, ts in GRAPH.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(project[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for module in sorted(project):
        if module not in state:
            visit(module)
    assert [" → ".join(c) for c in cycles] == []
