"""The import graph of a package, read from its source (nothing is imported): which module imports
which, at module level and inside functions alike (a function's import runs too, later), leaving out
only `if TYPE_CHECKING:` blocks (they never run). Used by tests/test_architecture.py to keep the
package's floors: no circles, and every import going to its own floor or one below."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


def module_name(package_dir: Path, path: Path) -> str:
    """`hazflow.plan.jobs` for `<package_dir>/plan/jobs.py`; a package's `__init__.py` is the package."""
    parts = path.relative_to(package_dir.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(tree: ast.AST) -> Iterable[str]:
    """Every absolute module name an import in `tree` may load (`from a import b`: `a` and `a.b`)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (name for child in node.orelse for name in _imported(ast.Module([child], [])))
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)
        yield from _imported(node)


def import_graph(package_dir: Path) -> dict[str, set[str]]:
    """module -> the modules of the same package it imports."""
    paths = {module_name(package_dir, p): p for p in sorted(package_dir.rglob("*.py"))}
    return {
        name: {m for m in _imported(ast.parse(path.read_text(), str(path))) if m in paths and m != name}
        for name, path in paths.items()
    }


def circles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


@dataclass(frozen=True)
class Climb:
    """An import from a lower floor to a higher one."""

    importer: str
    imported: str
    floors: tuple[str, str]

    def __str__(self) -> str:
        return f"{self.importer} ({self.floors[0]}) imports {self.imported} ({self.floors[1]})"


def floor_of(module: str, floors: Sequence[Sequence[str]]) -> int:
    """The floor (index into `floors`, lowest first) of a module: that of its part after the package
    name (`hazflow.plan.jobs` -> `plan`); the package's own `__init__` is on the ground floor."""
    if "." not in module:
        return 0
    for i, names in enumerate(floors):
        if _stage(module) in names:
            return i
    raise ValueError(f"{module}: {_stage(module)!r} is on no floor")


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def climbs(
    graph: Mapping[str, set[str]], floors: Sequence[Sequence[str]], allowed: Iterable[tuple[str, str]] = ()
) -> list[Climb]:
    """Every import that goes to a higher floor, but the `allowed` (importer, imported) pairs."""
    allow = set(allowed)
    out = []
    for importer, imported in sorted((a, b) for a, bs in graph.items() for b in bs):
        lower, upper = floor_of(importer, floors), floor_of(imported, floors)
        if upper > lower and (importer, imported) not in allow:
            out.append(Climb(importer, imported, (_stage(importer), _stage(imported))))
    return out
