"""The steps: what the DAG tasks and the command line call, one module per DAG, on the top floor of
the package (docs/ARCHITECTURE.md, "Floors").

Each step is one domain call: it validates its Params, does its work through the floors below
(`plan`, `run`, `ingest`, `aggregate`, `report`, `export`, `extract`) and returns the value its task
pushes as XCom (JSON: dicts, lists, strings, numbers), so a DAG task and `python -m hazflow` get the
same thing from the same code. A step's `config` is the deployment's (`Config.from_env()`, the
task's environment) unless the caller gives one, as the CLI and the tests do.
"""

from __future__ import annotations

from typing import Any

from hazflow.config import Config

XCom = dict[str, Any]


def deployment(config: Config | None) -> Config:
    """`config`, or the deployment's configuration read from the environment when None."""
    return config if config is not None else Config.from_env()
