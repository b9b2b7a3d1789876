"""OpenQuake processes of a test, found by the folder they work in (their cwd under its work dir) and
by their command line or, for a fork of the warm OpenQuake process, their process name (`oq-engine`,
`oq-onepass`, `oq-association`: see `hazflow.openquake.warm`)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

ANY_OPENQUAKE = ("openquake", "oq-")  # `oq engine --run` (openquake.commands) and hazflow.openquake.onepass alike
ONE_PASS = ("hazflow.openquake.onepass", "oq-onepass")


def parent_of(pid: int) -> int:
    """The parent pid of `pid` (/proc/PID/stat; 0 if it is gone)."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def openquake_processes(work: Path, markers: tuple[str, ...] = ANY_OPENQUAKE) -> list[int]:
    """Pids of processes whose command line or name holds one of `markers` and whose cwd is under `work`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cmdline += " " + (entry / "comm").read_text().strip()
            cwd = os.readlink(entry / "cwd")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if any(m in cmdline for m in markers) and cwd.startswith(str(work)):
            pids.append(int(entry.name))
    return pids


def wait_for_openquake(
    work: Path, starter: subprocess.Popen, markers: tuple[str, ...] = ONE_PASS, timeout_s: float = 120
) -> list[int]:
    """The OpenQuake processes `starter` started under `work`, once there are any (AssertionError if
    none came before it ended or the time ran out)."""
    deadline = time.monotonic() + timeout_s
    while not (found := openquake_processes(work, markers)) and starter.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert found, "no OpenQuake process started"
    return found
