"""Hold leases while OpenQuake computes (`hazflow.store.leases` says why and how they work).

`held` takes a lease on each key, keeps them alive with a heartbeat thread (every third of the
time to live) and gives them up on the way out. Keys whose lease another live process holds come
back as `LeaseHeld` errors, so that a batch runs the rest and fails those as transient.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

from hazflow.store import Store
from hazflow.store.leases import Lease, LeaseHeld, LeaseLost, holder_id

logger = logging.getLogger(__name__)

DEFAULT_TTL_S = 60.0  # a killed holder's lease is free this long after its last heartbeat (aws store)


class Heartbeat:
    """The leases of one computation, renewed on a daemon thread until `stop`."""

    def __init__(self, store: Store, leases: dict[str, Lease], ttl_s: float) -> None:
        self.store, self.leases, self.ttl_s = store, leases, ttl_s
        self.lost: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="hazflow-lease-heartbeat", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            for key, lease in list(self.leases.items()):
                if key in self.lost:
                    continue
                try:
                    self.leases[key] = self.store.lease_renew(lease, self.ttl_s)
                except LeaseLost:
                    logger.error("lease on %s lost: another copy took it over; this copy's results will not be recorded", key)
                    self.lost.add(key)
                except Exception as e:  # noqa: BLE001 - a missed beat is retried at the next one
                    logger.warning("could not renew the lease on %s: %s", key, e)

    def fence(self, key: str) -> Lease:
        """The lease to fence `key`'s ledger writes with (its current token)."""
        return self.leases[key]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        release(self.store, self.leases.values())


def release(store: Store, leases: Iterable[Lease]) -> None:
    """Give the leases up; one that cannot be released expires by itself."""
    for lease in leases:
        try:
            store.lease_release(lease)
        except Exception as e:  # noqa: BLE001
            logger.warning("could not release the lease on %s: %s", lease.key, e)


@contextmanager
def held(store: Store, keys: Sequence[str], ttl_s: float = DEFAULT_TTL_S) -> Iterator[tuple[Heartbeat, dict[str, LeaseHeld]]]:
    """Leases on `keys` for this process while the block runs: the heartbeat of those taken, and
    the `LeaseHeld` error of each key another live process holds."""
    holder, leases, refused = holder_id(), {}, {}
    try:
        for key in dict.fromkeys(keys):
            try:
                leases[key] = store.lease_acquire(key, holder, ttl_s)
            except LeaseHeld as e:
                logger.warning("%s", e)
                refused[key] = e
    except BaseException:
        release(store, leases.values())  # those taken before the store failed
        raise
    beat = Heartbeat(store, leases, ttl_s)
    beat.start()
    try:
        yield beat, refused
    finally:
        beat.stop()
