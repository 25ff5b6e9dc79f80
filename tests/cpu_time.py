"""CPU time, for tests that compare how much work two inputs cost.

The wall clock reads a busy machine as work: a long call is preempted by other processes where
a short one slips through between them. The CPU time of the calling thread counts only what
the call itself did, so a ratio of two of them holds on a loaded CI machine as on a laptop.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def least_cpu_times(*calls: Callable[[], object], rounds: int = 5) -> list[float]:
    """The least CPU time each call took over ``rounds`` runs, the calls taken in turn."""
    best = [float("inf")] * len(calls)
    for _ in range(rounds):
        for i, call in enumerate(calls):
            started = time.thread_time()
            call()
            best[i] = min(best[i], time.thread_time() - started)
    return best
