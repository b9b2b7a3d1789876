"""hazflow's own models (DEMO) copied for a test that changes them: the deployment's models folder
(`HAZFLOW_MODELS_DIR`, `Config.models_dir`) pointed at the copy, so a source file edited there is
seen by the processes the test starts and by no other test running beside it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hazflow.config import Config

SLAB_BACKGROUND = Path("demo") / "sources" / "slab_background.xml"  # a source of DEMO's SLAB-1


def copied_models(dest: Path) -> Path:
    """A copy of the models folder under `dest`; its path (for HAZFLOW_MODELS_DIR)."""
    shutil.copytree(Config().models_dir, dest / "models")
    return dest / "models"


@contextmanager
def source_edited(path: Path) -> Iterator[None]:
    """A model's source file edited (a comment added) while the block runs; its bytes restored after."""
    original = path.read_bytes()
    try:
        path.write_bytes(original + b"\n<!-- edited while the campaign ran -->\n")
        yield
    finally:
        path.write_bytes(original)
