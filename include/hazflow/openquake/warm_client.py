"""This process's side of the warm OpenQuake process (`hazflow.openquake.warm`, whose docstring says
why and how): started once per OpenQuake venv on first use, asked for runs over its Unix socket.

The warm process must die with this process, as every OpenQuake run must. The kernel's
PR_SET_PDEATHSIG (the runner's shim) fires when the *thread* that started it ends, so it is started
from a thread of its own, which waits for it: the thread ends only when this process does (and the
warm process with it) or when the warm process died first. A warm process that cannot start, or
dies, is reported and the runner runs cold (a fresh OpenQuake process per run), as before. Its
folder is removed at exit, and the folders of processes gone without exit handlers (an Airflow task
ends with `os._exit`) are swept by the next warm process on the host.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

FOLDER_PREFIX = "hazflow-warm-openquake-"  # then the starting process's pid, "-" and mkdtemp's letters
SOCKET_PATH_MAX = 100  # bytes: Linux's sun_path holds 108, the terminating NUL included
START_TIMEOUT_S = 900.0  # the first import on a fresh numba cache compiles its kernels (about 80 s)


class WarmUnavailable(Exception):
    """The warm process could not take the run (it did not start, or died): run cold instead."""


class WarmRunLost(Exception):
    """The warm process died during a run, and the run with it (PR_SET_PDEATHSIG)."""


@dataclass(frozen=True)
class WarmRun:
    """What a run of the warm process reported: its wait status and resource usage."""

    status: int
    cpu_seconds: float  # the run's own
    max_rss_kb: int
    startup_cpu_seconds: float  # the warm process's start-up, counted with its first run only (else 0)


class WarmOpenQuake:
    """One warm OpenQuake process: `start` it (idempotent), then `run` modules in forks of it."""

    def __init__(self, key: tuple[str, ...]) -> None:
        self.key = key
        self.folder: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.lock = threading.Lock()
        self.failed = False
        self.socket: Path | None = None  # set for a warm process another process owns (`attached`)

    def socket_path(self) -> Path:
        if self.socket is not None:
            return self.socket
        assert self.folder is not None
        return self.folder / "socket"

    def start(self, command: Callable[[Path], tuple[list[str], dict[str, str]]]) -> None:
        """Start the warm process once: `command(folder)` gives its command line and environment."""
        with self.lock:
            if self.failed:
                raise WarmUnavailable("the warm OpenQuake process failed before")
            if self.process is not None and self.process.poll() is None:
                return
            prefix = f"{FOLDER_PREFIX}{os.getpid()}-"
            folder = Path(tempfile.mkdtemp(prefix=prefix))
            if len(str(folder / "socket")) > SOCKET_PATH_MAX:  # a long TMPDIR: a Unix socket's path is short
                folder.rmdir()
                folder = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
            for parent in {Path(tempfile.gettempdir()), folder.parent}:
                sweep_folders_of_gone_processes(parent)
            self.folder = folder
            atexit.register(shutil.rmtree, folder, True)
            cmd, env = command(folder)
            started = threading.Event()
            box: dict[str, object] = {}

            def keeper() -> None:
                try:
                    with (folder / "warm.log").open("wb") as log:  # the warm process keeps its own copy
                        process = subprocess.Popen(
                            cmd, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=log, start_new_session=True
                        )
                except OSError as error:
                    box["error"] = error
                    started.set()
                    return
                box["process"] = process
                started.set()
                process.wait()  # lives as long as the warm process (which dies with it), then reaps it

            threading.Thread(target=keeper, name="hazflow-warm-openquake", daemon=True).start()
            started.wait()
            process = box.get("process")
            if not isinstance(process, subprocess.Popen):
                self.failed = True
                raise WarmUnavailable(f"the warm OpenQuake process did not start: {box.get('error')}")
            ready = _readline(process, START_TIMEOUT_S)
            if ready.strip() != b"ready":
                process.kill()
                self.failed = True
                tail = (folder / "warm.log").read_text(errors="replace")[-2000:]
                raise WarmUnavailable(f"the warm OpenQuake process did not start: {tail}")
            self.process = process
            logger.info("warm OpenQuake process %d started in %s", process.pid, self.folder)

    def run(
        self,
        module: str,
        argv: Sequence[str],
        cwd: Path,
        env: dict[str, str],
        log: Path,
        started: Callable[[int], None],
        *,
        name: str | None = None,
        replace_env: bool = False,
        prefix: str | None = None,
    ) -> WarmRun:
        """Run `python -m module *argv` in `cwd` as a fork of the warm process, its output to `log`;
        `started(pid)` is called once it runs (its pid is the leader of its own process group). The
        fork's process name is `name` (default `oq-` and the module's last part); its environment is
        the warm process's plus `env`, or `env` alone with `replace_env`. With `prefix` (a Python
        environment's folder), a warm process of another environment refuses the run (WarmUnavailable)."""
        request = {
            "module": module, "argv": list(argv), "cwd": str(cwd), "env": env, "log": str(log),
            "name": name or "oq-" + module.rsplit(".", 1)[-1].replace("commands", "engine"), "replace_env": replace_env,
            "prefix": prefix,
        }  # fmt: skip
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            try:
                conn.connect(str(self.socket_path()))
            except OSError as error:
                raise WarmUnavailable(f"the warm OpenQuake process is gone: {error}") from None
            reader = conn.makefile("rb")
            conn.sendall(json.dumps(request).encode() + b"\n")
            line = reader.readline()
            if not line:
                raise WarmUnavailable("the warm OpenQuake process closed the connection before the run started")
            answer = json.loads(line)
            if "error" in answer:
                raise WarmUnavailable(f"the warm OpenQuake process refused the run: {answer['error']}")
            started(int(answer["pid"]))
            try:
                line = reader.readline()
            except OSError as error:
                raise WarmRunLost(f"the warm OpenQuake process died during the run: {error}") from None
            if not line:
                raise WarmRunLost("the warm OpenQuake process died during the run")
            result = json.loads(line)
        finally:
            conn.close()
        return WarmRun(
            int(result["status"]), float(result["cpu_seconds"]), int(result["max_rss_kb"]), float(result["startup_cpu_seconds"])
        )


def sweep_folders_of_gone_processes(parent: Path) -> list[Path]:
    """Remove the warm processes' folders in `parent` whose starting process is gone (an Airflow
    task ends with `os._exit`, and a killed one runs no exit handler either); those removed."""
    removed = []
    for folder in parent.glob(f"{FOLDER_PREFIX}*-*"):
        pid = folder.name[len(FOLDER_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    return True


def _readline(process: subprocess.Popen[bytes], timeout_s: float) -> bytes:
    """The first line of `process`'s stdout, or b"" if none came within `timeout_s`."""
    assert process.stdout is not None
    box: list[bytes] = []
    reader = threading.Thread(target=lambda: box.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout_s)
    return box[0] if box else b""


_WARM: dict[tuple[str, ...], WarmOpenQuake] = {}
_WARM_LOCK = threading.Lock()


def warm_process(key: tuple[str, ...]) -> WarmOpenQuake:
    """This process's warm OpenQuake process for `key` (the venv's python and numba cache). A forked
    copy of this process gets one of its own: the parent's would die with the parent, not with it."""
    key = (*key, str(os.getpid()))
    with _WARM_LOCK:
        return _WARM.setdefault(key, WarmOpenQuake(key))


def attached(socket: Path) -> WarmOpenQuake:
    """A warm OpenQuake process another process started and owns, serving on `socket`
    (HAZFLOW_OQ_WARM_SOCKET): this process only asks it for runs, never starts or stops it. Each run
    still dies with its client (the warm process kills a run whose connection closed)."""
    warm = WarmOpenQuake(("attached", str(socket)))
    warm.socket = socket
    return warm
