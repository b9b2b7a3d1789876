"""The package's floors (docs/ARCHITECTURE.md, "Floors"): no import circles, and every import going
to its own floor or one below, read from the source (tests/support/import_graph.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hazflow.config import PROJECT_ROOT
from tests.support.import_graph import circles, climbs, import_graph

PACKAGE = PROJECT_ROOT / "include" / "hazflow"

# Lowest first. A module may import its own floor and those below, never above.
FLOORS: tuple[tuple[str, ...], ...] = (
    ("exceptions", "choices", "limits", "retries"),  # and the package's own __init__ (its version)
    ("remote",),  # where bytes live: a path or s3:// URI, one AWS client factory, AWS errors classed
    ("config",),
    ("model",),
    ("store",),
    ("aggregate",),  # numerics over the logic tree
    ("openquake",),
    ("plan",),
    ("run",),
    ("ingest",),
    ("report",),
    ("export",),
    ("extract",),
    ("results",),  # what the UI's views show, read from the store
    ("steps",),  # what the DAG tasks and the CLI call
    ("cli", "__main__"),
)

# `Config` is read on every floor and builds the edge objects its settings name, importing them when
# asked (never at import): the store, the THS curves reader, the OpenQuake venv's settings.
CONFIG_FACTORIES = (
    ("hazflow.config", "hazflow.store"),
    ("hazflow.config", "hazflow.plan.ths"),
    ("hazflow.config", "hazflow.openquake.runner"),
)


def test_no_import_circles() -> None:
    assert circles(import_graph(PACKAGE)) == []


def test_imports_go_down_the_floors() -> None:
    assert [str(c) for c in climbs(import_graph(PACKAGE), FLOORS, CONFIG_FACTORIES)] == []


def test_every_folder_is_on_a_floor() -> None:
    stages = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}
    placed = {name for floor in FLOORS for name in floor}
    assert stages - {"__init__"} <= placed


def _package(root: Path, modules: dict[str, str]) -> Path:
    for name, text in modules.items():
        path = root / "pkg" / Path(*name.split(".")).with_suffix(".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / "__init__.py").touch()
        path.write_text(text)
    return root / "pkg"


@pytest.mark.parametrize(
    ("modules", "circle"),
    [
        ({"low.a": "from pkg.low import b\n", "low.b": "import pkg.low.a\n"}, ["pkg.low.a", "pkg.low.b"]),
        (  # through a function's import, as `plan.jobs` -> `openquake.inputs` was
            {
                "low.a": "def f():\n    from pkg.high.b import g\n",
                "high.b": "from pkg.low.c import h\n",
                "low.c": "import pkg.low.a\n",
            },
            ["pkg.high.b", "pkg.low.a", "pkg.low.c"],
        ),
    ],
)
def test_a_planted_circle_is_found(tmp_path: Path, modules: dict[str, str], circle: list[str]) -> None:
    assert circles(import_graph(_package(tmp_path, modules))) == [circle]


def test_a_planted_climb_is_found_and_type_checking_imports_are_not(tmp_path: Path) -> None:
    graph = import_graph(
        _package(
            tmp_path,
            {
                "low.a": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.high.b import T\n",
                "low.c": "def f():\n    from pkg.high.b import g\n",
                "high.b": "from pkg.low.a import x\n",
            },
        )
    )
    assert [str(c) for c in climbs(graph, (("low",), ("high",)))] == ["pkg.low.c (low) imports pkg.high.b (high)"]
    assert [str(c) for c in climbs(graph, (("low",), ("high",)), [("pkg.low.c", "pkg.high.b")])] == []
