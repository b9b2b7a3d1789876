"""Leases: at most one live copy of an OpenQuake pass (or job) at a time, whichever backend.

A retry can start while the copy it replaces still runs (a task marked failed whose worker lives on,
a zombie the scheduler gave up on, two triggers of one request). Each computation therefore holds a
lease on its key in the store before it starts OpenQuake:
- the lease has a holder (`host/pid/start time` of the process), an expiry that a heartbeat thread
  pushes forward (`hazflow.run.lease.held`), and a fencing token that grows with every acquisition;
- a copy that meets a live lease held by another fails at once with `LeaseHeld`, a `TransientError`:
  Airflow retries it with backoff, and by then the ledger has the work as done, so it is skipped. It
  does not wait in the slot it holds;
- a lease past its expiry is taken over. On the local store a holder on this host whose process is
  gone (its pid dead, or reused by another process) is taken over at once;
- the ledger records of a computation are written fenced: only while its token is still the
  lease's. A copy that lost its lease (it stalled past the expiry and another took over) gets
  `LeaseLost` and writes nothing.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from functools import lru_cache

from hazflow.exceptions import TransientError


@dataclass(frozen=True)
class Lease:
    """A held lease: the key leased (a pass or job key), who holds it, its fencing token and expiry."""

    key: str
    holder: str
    token: int
    expires_at: float  # seconds since the epoch


class LeaseHeld(TransientError):
    """Another live process holds the lease: retried later (by then the work is done and skipped)."""


class LeaseLost(TransientError):
    """The lease passed to another holder: this copy's results are not recorded."""


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22); None if gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # fields after the command name, which may hold spaces


@lru_cache(maxsize=1)
def _host() -> str:
    return socket.gethostname()


def holder_id(pid: int | None = None) -> str:
    """Who holds a lease: `host/pid/start time`, so that a reused pid is not taken for the holder."""
    pid = os.getpid() if pid is None else pid
    return f"{_host()}/{pid}/{_start_time(pid) or '?'}"


def holder_alive(holder: str) -> bool | None:
    """Whether the holder's process lives: True or False on this host, None on another (unknown)."""
    host, _, rest = holder.partition("/")
    pid_text, _, started = rest.partition("/")
    if host != _host() or not pid_text.isdigit():
        return None
    now = _start_time(int(pid_text))
    return now is not None and now == started


def describe(holder: str, seconds_left: float) -> str:
    """A lease's holder and expiry as an error shows them."""
    alive = holder_alive(holder)
    state = "" if alive is None else " (alive)" if alive else " (gone)"
    return f"held by {holder}{state}, expiring in {max(seconds_left, 0):.0f} s"
