"""The cyclic garbage collector set for a worker that makes and drops hundreds of thousands of objects a batch.

CPython runs a young collection every 700 net container allocations, and
the older generations every 10 young ones. A worker batch of 200,000 points
allocates about three containers per point (the event, its labels, its
features) on each of the two hops, so thousands of collections per batch
walk the batch that is still alive, and the full ones walk everything the
process holds (Faust, the detectors, torch's modules). Almost none of it
is cyclic: reference counting frees it. Measured in process on the
default stack (1,000 series, 200 points a message), the collector took
about a quarter of the worker's CPU time.

``tune_for_batches`` moves what is alive after start-up into the permanent
generation (``gc.freeze``: no collection walks it again) and collects the
young generation every ``YOUNG_THRESHOLD`` allocations instead. Cycles are
still collected, less often.

>>> import gc
>>> before = gc.get_threshold()
>>> tune_for_batches()
>>> gc.get_threshold()[0] == YOUNG_THRESHOLD and gc.get_freeze_count() > 0
True
>>> gc.unfreeze(); gc.set_threshold(*before)
"""

from __future__ import annotations

import gc

#: Net container allocations between two young collections (CPython's default is 700).
YOUNG_THRESHOLD = 50_000
#: Young collections between two of the middle generation, and those between two full ones.
OLDER_THRESHOLDS = (20, 100)


def tune_for_batches() -> None:
    """Freeze what start-up made, then collect at ``YOUNG_THRESHOLD`` allocations (call once, after start-up)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
