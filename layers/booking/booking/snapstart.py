"""Lambda SnapStart (template parameter ``SnapStart``): what a snapshot keeps, and what every
restored container must make anew.

Before the snapshot the function's init has already built what a booking needs (clients,
connection pool, validation models, booking logic: ``container.prime``); the hook primes again in
case the snapshot is taken from a container whose configuration failed at init. After a restore,
each container is one of many copies of that snapshot, so what is unique or time-bound is made
again: the HTTP connections (a snapshot's sockets are dead), the cached secrets and Oliver token
(read again at once, on a thread, while the first request is on its way: ``container.
start_read_ahead``), the random state, and the fallback throttle key.

The hooks go through the runtime's own module (``snapshot_restore_py``, present in Lambda's Python
3.12+ runtimes); where it is absent (tests, the local stack, a function without SnapStart on an
older runtime) nothing is registered and the code runs unchanged.
"""

from __future__ import annotations

from collections.abc import Callable


def install(before_snapshot: Callable[[], None], after_restore: Callable[[], None]) -> bool:
    """Register the hooks with the runtime; False where the runtime has no hook module."""
    try:
        from snapshot_restore_py import (  # type: ignore[import-not-found]
            register_after_restore,
            register_before_snapshot,
        )
    except ImportError:
        return False
    register_before_snapshot(before_snapshot)
    register_after_restore(after_restore)
    return True
