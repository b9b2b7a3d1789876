"""A warm OpenQuake process: OpenQuake imported once, every run a fork of it. Runs in the OpenQuake
venv, as a subprocess (`hazflow.openquake.warm_client` starts it and talks to it):

    python -m hazflow.openquake.warm SOCKET [MODULE ...]

Starting OpenQuake is most of a small run: `oq engine --run` imports every calculator, scipy, pandas,
matplotlib and numba's cached kernels, 4-5 s of CPU before it reads the job (the reference mini job
takes 4.8 s cold and 1.4 s as a fork of this process). This process pays that once, then serves runs
on a Unix socket, one connection each:

- the client sends one JSON line: `module` (run as `python -m module`), `argv`, `cwd`, `env`, `log`
  and `name`, and optionally `replace_env` (the run's environment is `env` alone, not this process's
  plus `env`) and `prefix` (the Python environment the run is for: another is refused, with an
  `error`, so a shared warm process never runs a job with another venv's OpenQuake);
- this process forks a child, which starts a session of its own (so a time-out can kill its process
  group), asks the kernel for SIGKILL when this process dies (PR_SET_PDEATHSIG), takes `name` as its
  process name (`ps`, /proc/PID/comm), moves to `cwd`, sends its stdout and stderr to `log`, adds
  `env` to its environment and runs `module` as `__main__`, exactly as `python -m` would;
- this process answers `{"pid": ...}` at once, and when the child ends, its wait status and resource
  usage (`cpu_seconds`, `max_rss_kb`) plus, on the first run only, the CPU seconds of this process's
  own start-up (`startup_cpu_seconds`), so that the runs' CPU still sums to what was spent;
- the child ends with what a process of its own does at exit that its outputs depend on (threads
  joined, exit handlers run, HDF5 files left open closed, output flushed), then `os._exit`: it does
  not finalise the objects it inherited, which cost a fork of this process 1-2 s of CPU (`leave`);
- a connection closed before its child ended (the client's thread or process died) kills the child.

Why a fork is the same run: OpenQuake's configuration is read at import, so every run of one warm
process reads the same file. hazflow writes it with relative paths (`db.sqlite3`, `tmp`), which each
child resolves in its own folder, and sets the rest (OQ_DATADIR, MPLCONFIGDIR, TMPDIR) per run in the
environment, which OpenQuake reads when it runs. The tests run jobs both ways and compare them.

The modules imported first are OpenQuake's (PRELOAD) unless others are named after SOCKET: the test
suite serves `airflow dags test` runs the same way, from a process that imported Airflow once.

Imports only the standard library and OpenQuake: it must run in OpenQuake's own Python.
"""

from __future__ import annotations

import atexit
import ctypes
import importlib
import json
import os
import runpy
import selectors
import signal
import socket
import sys
import tempfile
import threading
import traceback
from typing import Any, NoReturn

# What the runs need, imported before the first fork: the engine's command line (which imports every
# calculator) and what the one-pass and association scripts use beyond it.
PRELOAD = (
    "openquake.commands.__main__",
    "openquake.commands.engine",
    "openquake.calculators",
    "openquake.engine.engine",
    "openquake.commonlib.readinput",
    "openquake.hazardlib.calc.disagg",
    "openquake.hazardlib.site",
)
READY = "ready"
ORPHANED_EXIT = 70  # the child's exit status when this process died before it could ask to die with it
PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def _exit_code(exit: SystemExit) -> int:
    """What `python -m` exits with for this SystemExit (a message is printed and exits 1)."""
    if exit.code is None:
        return 0
    if isinstance(exit.code, int):
        return exit.code
    print(exit.code, file=sys.stderr)
    return 1


def _close_hdf5_files() -> None:
    """Close every HDF5 file still open in this process (flushing what was written), as HDF5's own
    exit handler would; nothing to do if the run never imported h5py."""
    h5py = sys.modules.get("h5py")
    if h5py is None:
        return
    for file_id in h5py.h5f.get_obj_ids(types=h5py.h5f.OBJ_FILE):
        if file_id.valid:
            h5py.File(file_id).close()


def leave(code: int) -> NoReturn:
    """End a forked child with `code`: first what the interpreter's exit does that a run's outputs
    depend on, in its order (non-daemon threads joined, then the exit handlers, which shut down
    logging and remove temporary files), then the HDF5 files left open closed and the output
    flushed, then `os._exit`, which skips finalising every object the child inherited.

    A fork of a process that imported OpenQuake (530 MB resident) spent 1.0-1.1 s of CPU finalising
    those objects at `sys.exit` (89,000 shared pages copied as their reference counts were written),
    against 0.02 s for `os._exit` (`bench/warm_exit.py`); more after a run, whose own objects are
    finalised too: a DEMO engine run as a fork took 4.46 s of CPU, 2.53 s with `leave`
    (`bench/warm_openquake.py`, back to back, 2026-12-08). `os._exit` is the way to end a fork's child
    (Python's `os._exit` docs; `multiprocessing` ends its forked processes
    so, after `threading._shutdown`)."""
    # what Py_FinalizeEx does first (threading._shutdown), then the exit handlers, then HDF5's own
    # exit handler's work; each done even if one before it failed (a success then exits 1)
    for step in (threading._shutdown, atexit._run_exitfuncs, _close_hdf5_files):  # type: ignore[attr-defined]
        try:
            step()
        except BaseException:
            traceback.print_exc()
            code = code or 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code)


def run_child(request: dict[str, Any], parent: int) -> NoReturn:
    """In the forked child: become the run `request` describes, then `leave` with the exit code
    `python -m` would give; never returns."""
    code = 1
    try:
        os.setsid()
        if sys.platform.startswith("linux"):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            libc.prctl(PR_SET_NAME, ctypes.c_char_p(request["name"].encode()[:15]))
        if os.getppid() != parent:
            os._exit(ORPHANED_EXIT)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        os.chdir(request["cwd"])
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.close(null)
        if request.get("replace_env"):
            os.environ.clear()
        os.environ.update(request["env"])
        tempfile.tempdir = None  # TMPDIR is the run's
        sys.argv = [request["module"], *request["argv"]]
        code = 0
        try:
            runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
        except SystemExit as exit:
            code = _exit_code(exit)
    except BaseException:
        traceback.print_exc()
        code = 1
    leave(code)


def serve(path: str, preload: tuple[str, ...] = PRELOAD) -> None:
    """Import `preload` (OpenQuake), print READY, then serve runs on the Unix socket at `path` until killed."""
    started = _cpu_seconds()
    ready = os.dup(1)  # the client reads READY there; whatever else this process prints goes to its log
    os.dup2(2, 1)
    for module in preload:
        importlib.import_module(module)
    startup = _cpu_seconds() - started
    me = os.getpid()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    pending: dict[socket.socket, bytes] = {}  # connections whose request is still arriving
    child_of: dict[socket.socket, int] = {}
    connection_of: dict[int, socket.socket] = {}
    os.write(ready, f"{READY}\n".encode())
    os.close(ready)

    def close(conn: socket.socket) -> None:
        selector.unregister(conn)
        pending.pop(conn, None)
        conn.close()

    while True:
        for key, _ in selector.select(timeout=0.05):
            if key.fileobj is listener:
                conn, _ = listener.accept()
                selector.register(conn, selectors.EVENT_READ)
                pending[conn] = b""
                continue
            conn = key.fileobj  # type: ignore[assignment]
            data = conn.recv(1 << 16)
            if not data:  # the client is gone: so is its run
                pid = child_of.pop(conn, None)
                if pid is not None:
                    try:
                        os.killpg(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    connection_of.pop(pid, None)
                close(conn)
                continue
            if conn not in pending:
                continue  # a started run's client sends nothing more
            pending[conn] += data
            if b"\n" not in pending[conn]:
                continue
            request = json.loads(pending.pop(conn).split(b"\n", 1)[0])
            wanted = request.get("prefix")
            if wanted and os.path.realpath(wanted) != os.path.realpath(sys.prefix):  # another venv's run
                conn.sendall(json.dumps({"error": f"this warm process runs {sys.prefix}, not {wanted}"}).encode() + b"\n")
                close(conn)
                continue
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                selector.close()
                listener.close()
                for other in (*pending, *child_of, conn):
                    other.close()
                run_child(request, me)
            child_of[conn] = pid
            connection_of[pid] = conn
            conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
        while True:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid not in connection_of:
                continue
            conn = connection_of.pop(pid)
            child_of.pop(conn, None)
            result = {
                "status": status,
                "cpu_seconds": usage.ru_utime + usage.ru_stime,
                "max_rss_kb": usage.ru_maxrss,
                "startup_cpu_seconds": startup,
            }
            startup = 0.0  # counted once, with the first run
            try:
                conn.sendall(json.dumps(result).encode() + b"\n")
            except OSError:
                pass
            close(conn)


if __name__ == "__main__":
    serve(sys.argv[1], tuple(sys.argv[2:]) or PRELOAD)
