"""The work folders OpenQuake runs in, under `Config.work_dir`: one per job or batch of passes, named
after it, holding an `.owner` file with its process (`hazflow.store.leases.holder_id`).

A process killed with SIGKILL (a task killed by Airflow, an OOM kill) cannot delete its folder: it
holds the job's inputs, OpenQuake's database and a datastore, often hundreds of MB. Every new work
folder therefore first sweeps the folders whose owner on this host is gone (`sweep`); a folder of a
live process, or of one on another host sharing the disk, is left alone.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hazflow.store.leases import holder_alive, holder_id

logger = logging.getLogger(__name__)

OWNER = ".owner"


def sweep(work_dir: Path) -> list[Path]:
    """Delete the work folders under `work_dir` whose owning process is gone; the folders deleted."""
    swept = []
    for owner in sorted(work_dir.glob(f"*/{OWNER}")):
        try:
            holder = owner.read_text().strip()
        except OSError:  # its owner is deleting it
            continue
        if holder_alive(holder) is False:
            shutil.rmtree(owner.parent, ignore_errors=True)
            swept.append(owner.parent)
    if swept:
        logger.info("swept %d work folder(s) of processes gone: %s", len(swept), ", ".join(p.name for p in swept))
    return swept


@contextmanager
def work_folder(work_dir: Path, name: str) -> Iterator[Path]:
    """A new folder `<name>.<random>` under `work_dir`, owned by this process, deleted on the way out;
    folders of processes gone are swept first."""
    work_dir.mkdir(parents=True, exist_ok=True)
    sweep(work_dir)
    with tempfile.TemporaryDirectory(prefix=f"{name}.", dir=work_dir) as tmp:
        folder = Path(tmp)
        (folder / OWNER).write_text(holder_id() + "\n")
        yield folder
