"""Run one OpenQuake job, isolated and offline, as a subprocess of the OpenQuake venv.

Each job gets its own folder, database, config and data directory and runs in a single process
(FIELD_NOTES.md), so jobs on one host neither queue behind each other nor share state. The same
function runs in a local worker and in the production container.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from hazflow.exceptions import OpenQuakeError

# What OpenQuake says when every source is beyond the distance cut-off: an empty, valid result.
NO_RUPTURE_MARKERS = (
    "The site is far from all seismic sources",  # OpenQuake 3.26 (exit code 0, no curves)
    "There are no ruptures close to the site",
    "Filtered away all ruptures",
    "Filtered away all sources",
    "There are no sources close to the site",
)


@dataclass(frozen=True)
class OpenQuakeConfig:
    """Where the OpenQuake venv is and how long a job may take."""

    python: Path
    timeout_s: float = 3600.0
    numba_cache_dir: Path | None = None

    def __post_init__(self) -> None:
        if not Path(self.python).exists():
            raise OpenQuakeError(f"OpenQuake python not found at {self.python}: run `make setup`")


@dataclass(frozen=True)
class RunResult:
    state: Literal["done", "no_ruptures"]
    hdf5: Path | None  # may be None when there were no ruptures
    log: Path
    seconds: float


@lru_cache(maxsize=4)
def engine_version(python: Path) -> str:
    """The openquake.engine version installed in the venv of `python` (no OpenQuake import)."""
    out = subprocess.run(
        [str(python), "-c", "from importlib.metadata import version; print(version('openquake.engine'))"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return out.stdout.strip()


def _environment(jobdir: Path, config: OpenQuakeConfig) -> dict[str, str]:
    cfg = jobdir / "openquake.cfg"
    (jobdir / "tmp").mkdir(exist_ok=True)
    (jobdir / "oqdata").mkdir(exist_ok=True)
    cfg.write_text(
        "[distribution]\noq_distribute = no\nserialize_jobs = 0\n"
        f"[dbserver]\nfile = {jobdir / 'db.sqlite3'}\n"
        f"[directory]\ncustom_tmp = {jobdir / 'tmp'}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OQ_", "PYTHONPATH", "VIRTUAL_ENV"))}
    env.update(
        OQ_CONFIG_FILE=str(cfg),
        OQ_DATADIR=str(jobdir / "oqdata"),
        OQ_DISTRIBUTE="no",
        CI="1",  # skips the online version check
        MPLCONFIGDIR=str(jobdir / "tmp"),
        OMP_NUM_THREADS="1",
    )
    if config.numba_cache_dir:
        env["NUMBA_CACHE_DIR"] = str(config.numba_cache_dir)
    return env


def _tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def run_job(job_ini: Path, config: OpenQuakeConfig) -> RunResult:
    """Run `oq engine --run job.ini` in the job's folder; raise `OpenQuakeError` with the log tail on failure."""
    jobdir = job_ini.parent
    log = jobdir / "oq.log"
    cmd = [str(config.python), "-m", "openquake.commands", "engine", "--run", str(job_ini)]
    start = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.Popen(
            cmd, cwd=jobdir, env=_environment(jobdir, config), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            code = proc.wait(timeout=config.timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise OpenQuakeError(f"OpenQuake job {job_ini} timed out after {config.timeout_s:g} s", _tail(log)) from None
    seconds = time.monotonic() - start
    text = log.read_text(errors="replace")
    hdf5 = jobdir / "oqdata" / "calc_1.hdf5"
    if any(marker in text for marker in NO_RUPTURE_MARKERS):
        return RunResult("no_ruptures", hdf5 if hdf5.exists() else None, log, seconds)  # kept as provenance
    if code != 0 or not hdf5.exists():
        tail = _tail(log)
        last = next((line for line in reversed(tail.splitlines()) if line.strip()), "no output")
        raise OpenQuakeError(f"OpenQuake job {job_ini} failed with exit code {code}: {last.strip()}", tail)
    return RunResult("done", hdf5, log, seconds)
