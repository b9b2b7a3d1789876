"""Run OpenQuake, isolated and offline, in the OpenQuake venv: one `oq engine --run` job, or one pass
of the one-pass disaggregation (`hazflow.openquake.onepass`).

Each run gets its own folder, database, config and data directory and runs in a single process
(FIELD_NOTES.md), so runs on one host neither queue behind each other nor share state. A run is a fork
of this process's warm OpenQuake process (`hazflow.openquake.warm`: OpenQuake's 4-5 s of imports paid
once per process, not per run), or, with `warm` off or the warm process unavailable, a process of its
own (cold). The same functions run in a local worker and in the production container. Every run
reports its wall and CPU seconds and its peak memory, read from the run's resource usage (`os.wait4`);
the warm process's start-up CPU is counted with its first run.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from hazflow.exceptions import OpenQuakeError
from hazflow.openquake.engines import NO_RUPTURE_MARKERS, PASS_RESULT
from hazflow.openquake.warm_client import WarmOpenQuake, WarmRunLost, WarmUnavailable, attached, warm_process

logger = logging.getLogger(__name__)

SiteState = Literal["done", "no_ruptures"]


@dataclass(frozen=True)
class OpenQuakeConfig:
    """Where the OpenQuake venv is and how long a run may take."""

    python: Path
    timeout_s: float = 3600.0
    numba_cache_dir: Path | None = None
    warm: bool = True  # runs fork a warm OpenQuake process (hazflow.openquake.warm), or start cold
    # A warm process another process owns (its socket), which runs fork instead of this process's own.
    warm_socket: Path | None = None

    def __post_init__(self) -> None:
        if not Path(self.python).exists():
            raise OpenQuakeError(f"OpenQuake python not found at {self.python}: run `make setup`")


@dataclass(frozen=True)
class Usage:
    """What a run cost: wall seconds, CPU seconds (user + system) and peak resident memory (MB)."""

    seconds: float
    cpu_seconds: float
    max_rss_mb: float


@dataclass(frozen=True)
class RunResult:
    state: SiteState
    hdf5: Path | None  # may be None when there were no ruptures
    log: Path
    seconds: float
    usage: Usage


@dataclass(frozen=True)
class SiteResult:
    """One site of a pass: its state and its datastore (None when there were no ruptures)."""

    code: str
    state: SiteState
    hdf5: Path | None


@dataclass(frozen=True)
class PassResult:
    sites: tuple[SiteResult, ...]
    log: Path
    usage: Usage


@lru_cache(maxsize=4)
def engine_version(python: Path) -> str:
    """The openquake.engine version installed in the venv of `python` (no OpenQuake import)."""
    out = subprocess.run(
        [str(python), "-c", "from importlib.metadata import version; print(version('openquake.engine'))"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return out.stdout.strip()


# What OpenQuake inherits of this process's environment: an allowlist, so that AWS keys, the Airflow
# database URL and hazflow's own settings never reach it. The rest it needs is set here.
INHERITED_ENV = frozenset({"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "NUMBA_CACHE_DIR"})
INHERITED_PREFIXES = ("LC_",)

# OpenQuake runs in its own session (so that a time-out kills its process group), which Airflow's
# supervisor, killing the task's process group, would miss. So each OpenQuake command starts through
# this shim, in OpenQuake's Python: it asks the kernel for SIGKILL when the thread that started it
# dies (PR_SET_PDEATHSIG, kept across execve; not `preexec_fn`, unsafe with threads), exits if that
# parent died before the request took effect (the race: its parent is no longer the pid given), then
# becomes the command. Killing the task, or `kill -9` of the CLI, kills its OpenQuake at once.
DIE_WITH_PARENT = (
    "import ctypes, os, signal, sys\n"
    "if sys.platform.startswith('linux'):\n"
    "    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    os._exit(70)\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)
ORPHANED_EXIT = 70  # the shim's exit status when its parent was gone before it could ask to die with it


def with_parent(cmd: Sequence[str], python: Path) -> list[str]:
    """`cmd` started through the shim that makes it die with this process (see DIE_WITH_PARENT)."""
    return [str(python), "-S", "-c", DIE_WITH_PARENT, str(os.getpid()), *cmd]


# OpenQuake's configuration, the same for every run: its paths are relative to the run's folder (the
# process's cwd), so that a warm process, which reads it once at import, serves every run with it.
OPENQUAKE_CFG = (
    "[distribution]\noq_distribute = no\nserialize_jobs = 0\n[dbserver]\nfile = db.sqlite3\n[directory]\ncustom_tmp = tmp\n"
)


def _environment(jobdir: Path, config: OpenQuakeConfig) -> dict[str, str]:
    cfg = jobdir / "openquake.cfg"
    (jobdir / "tmp").mkdir(exist_ok=True)
    (jobdir / "oqdata").mkdir(exist_ok=True)
    cfg.write_text(OPENQUAKE_CFG)
    env = {k: v for k, v in os.environ.items() if k in INHERITED_ENV or k.startswith(INHERITED_PREFIXES)}
    env.update(
        OQ_CONFIG_FILE=str(cfg),
        OQ_DATADIR=str(jobdir / "oqdata"),
        OQ_DISTRIBUTE="no",
        CI="1",  # skips the online version check
        MPLCONFIGDIR=str(jobdir / "tmp"),
        TMPDIR=str(jobdir / "tmp"),
        OMP_NUM_THREADS="1",
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),  # hazflow's own package, for OpenQuake's Python
    )
    if config.numba_cache_dir:
        env["NUMBA_CACHE_DIR"] = str(config.numba_cache_dir)
    return env


def host_warm_command(folder: Path, config: OpenQuakeConfig) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of a warm OpenQuake process serving on `folder`/socket, run in
    `folder` (its OpenQuake configuration is written there): what a host runs for every process on it
    (HAZFLOW_OQ_WARM_SOCKET names the socket; `make airflow` runs one for its tasks)."""
    cmd = [str(config.python), "-m", "hazflow.openquake.warm", str(folder / "socket")]
    return cmd, _environment(folder, config)


def _warm_command(config: OpenQuakeConfig) -> Callable[[Path], tuple[list[str], dict[str, str]]]:
    """This process's own warm process's command line and environment, in its folder: it dies with this process."""

    def command(folder: Path) -> tuple[list[str], dict[str, str]]:
        cmd, env = host_warm_command(folder, config)
        return with_parent(cmd, config.python), env

    return command


def _tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _run(cmd: Sequence[str], jobdir: Path, env: dict[str, str], config: OpenQuakeConfig, what: str) -> tuple[int, Usage]:
    """Run `cmd` (`python -m module ...` of the OpenQuake venv) in `jobdir`, output to `oq.log`,
    killed (with its process group) at the time limit: a fork of the warm process, or a fresh
    process when warm runs are off or the warm process is unavailable."""
    log = jobdir / "oq.log"
    start = time.monotonic()
    timed_out = threading.Event()
    timers: list[threading.Timer] = []

    def started(pid: int) -> None:
        def kill() -> None:
            timed_out.set()
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timers.append(timer := threading.Timer(config.timeout_s, kill))
        timer.start()

    try:
        ran = _run_warm(cmd, jobdir, env, config, log, started) if config.warm else None
        code, cpu, rss_kb = ran if ran is not None else _run_cold(cmd, jobdir, env, log, started)
    finally:
        for timer in timers:
            timer.cancel()
    if timed_out.is_set():
        raise OpenQuakeError(f"OpenQuake {what} timed out after {config.timeout_s:g} s", _tail(log))
    return code, Usage(time.monotonic() - start, cpu, rss_kb / 1024)


def _run_cold(
    cmd: Sequence[str], jobdir: Path, env: dict[str, str], log: Path, started: Callable[[int], None]
) -> tuple[int, float, float]:
    """`cmd` as a process of its own: (exit code, CPU seconds, peak RSS KiB) from `os.wait4`."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            with_parent(cmd, Path(cmd[0])), cwd=jobdir, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        started(proc.pid)
        _, status, rusage = os.wait4(proc.pid, 0)  # the child's own resource usage, whatever else runs
        proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, rusage.ru_utime + rusage.ru_stime, rusage.ru_maxrss


def own_warm_process(config: OpenQuakeConfig) -> WarmOpenQuake:
    """This process's warm OpenQuake process for `config`'s venv, started if it is not running
    (WarmUnavailable if it cannot start). Its `socket_path()` is what HAZFLOW_OQ_WARM_SOCKET would
    name for other processes."""
    warm = warm_process((str(config.python), str(config.numba_cache_dir)))
    warm.start(_warm_command(config))
    return warm


def _run_warm(
    cmd: Sequence[str], jobdir: Path, env: dict[str, str], config: OpenQuakeConfig, log: Path, started: Callable[[int], None]
) -> tuple[int, float, float] | None:
    """`cmd` as a fork of this process's warm OpenQuake process, or of the one at `config.warm_socket`;
    None if that is unavailable (run cold)."""
    prefix = str(Path(config.python).parent.parent)  # the venv: a shared warm process of another refuses
    try:
        warm = attached(config.warm_socket) if config.warm_socket is not None else own_warm_process(config)
        ran = warm.run(cmd[2], cmd[3:], jobdir, env, log, started, prefix=prefix)
    except WarmUnavailable as error:  # the run did not start
        logger.warning("running OpenQuake cold: %s", error)
        return None
    except WarmRunLost as error:
        raise OpenQuakeError(f"OpenQuake run in {jobdir} lost: {error}", _tail(log)) from None
    return os.waitstatus_to_exitcode(ran.status), ran.cpu_seconds + ran.startup_cpu_seconds, ran.max_rss_kb


def _failure(what: str, code: int, log: Path) -> OpenQuakeError:
    tail = _tail(log)
    last = next((line for line in reversed(tail.splitlines()) if line.strip()), "no output")
    return OpenQuakeError(f"OpenQuake {what} failed with exit code {code}: {last.strip()}", tail)


def run_job(job_ini: Path, config: OpenQuakeConfig) -> RunResult:
    """Run `oq engine --run job.ini` in the job's folder; raise `OpenQuakeError` with the log tail on failure."""
    jobdir = job_ini.parent
    cmd = [str(config.python), "-m", "openquake.commands", "engine", "--run", str(job_ini)]
    code, usage = _run(cmd, jobdir, _environment(jobdir, config), config, f"job {job_ini}")
    log = jobdir / "oq.log"
    text = log.read_text(errors="replace")
    hdf5 = jobdir / "oqdata" / "calc_1.hdf5"
    if any(marker in text for marker in NO_RUPTURE_MARKERS):
        return RunResult("no_ruptures", hdf5 if hdf5.exists() else None, log, usage.seconds, usage)  # kept as provenance
    if code != 0 or not hdf5.exists():
        raise _failure(f"job {job_ini}", code, log)
    return RunResult("done", hdf5, log, usage.seconds, usage)


def run_passes(pass_files: Sequence[Path], workdir: Path, config: OpenQuakeConfig) -> list[PassResult | OpenQuakeError]:
    """Run one-pass disaggregations (`hazflow.openquake.onepass`) in turn in one OpenQuake process
    started in `workdir` (OpenQuake's start-up paid once); per pass its result, or the error that
    stopped it (with its traceback, or the process's log tail). The process's CPU seconds are
    apportioned: each pass its own, plus an equal share of the start-up."""
    env = _environment(workdir, config)
    cmd = [str(config.python), "-m", "hazflow.openquake.onepass", *map(str, pass_files)]
    limit = replace(config, timeout_s=config.timeout_s * len(pass_files))  # per pass
    what = f"pass {pass_files[0].parent.name}" + (f" and {len(pass_files) - 1} more" if len(pass_files) > 1 else "")
    code, usage = _run(cmd, workdir, env, limit, what)
    log = workdir / "oq.log"
    results = [json.loads(r.read_text()) if (r := f.parent / PASS_RESULT).exists() else None for f in pass_files]
    finished = [r for r in results if r is not None and "sites" in r]
    startup = max(0.0, usage.cpu_seconds - sum(r["cpu_seconds"] for r in finished)) / len(pass_files)
    out: list[PassResult | OpenQuakeError] = []
    for pass_file, result in zip(pass_files, results, strict=True):
        wanted = [site["code"] for site in json.loads(pass_file.read_text())["sites"]]
        if result is None or "sites" not in result or [s["code"] for s in result["sites"]] != wanted:
            error = _failure(f"pass {pass_file.parent.name}", code, log)
            out.append(OpenQuakeError(error.message, (result or {}).get("error") or error.log_tail))
            continue
        sites = tuple(
            SiteResult(s["code"], s["state"], Path(s["datastore"]) if s["datastore"] else None) for s in result["sites"]
        )
        share = Usage(result["seconds"], result["cpu_seconds"] + startup, usage.max_rss_mb)
        out.append(PassResult(sites, log, share))
    return out


def run_association(request: dict[str, Any], workdir: Path, config: OpenQuakeConfig) -> dict[str, Any]:
    """Associate an exposure with candidate sites by OpenQuake's own rule (`hazflow.openquake.
    association`, whose docstring gives `request` and the result) in a process of the OpenQuake venv
    started in `workdir`; `OpenQuakeError` with the log tail if it wrote no result."""
    from hazflow.openquake.association import REQUEST, RESULT

    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / RESULT).unlink(missing_ok=True)
    (workdir / REQUEST).write_text(json.dumps(request))
    env = _environment(workdir, config)
    cmd = [str(config.python), "-m", "hazflow.openquake.association", str(workdir / REQUEST)]
    code, _ = _run(cmd, workdir, env, config, "exposure association")
    result = workdir / RESULT
    if code != 0 or not result.exists():
        raise _failure("exposure association", code, workdir / "oq.log")
    return dict(json.loads(result.read_text()))


def run_pass(pass_file: Path, config: OpenQuakeConfig) -> PassResult:
    """Run the one-pass disaggregation of `pass.json` in its folder; raise `OpenQuakeError` with the
    log tail unless every site finished."""
    (result,) = run_passes([pass_file], pass_file.parent, config)
    if isinstance(result, OpenQuakeError):
        raise result
    return result
