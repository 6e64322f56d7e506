"""Is a source's stream sparse (sampled, a line now and then) or continuous? Decided online, per source.

The typical gap between a source's lines is tracked as an exponentially
weighted mean of log10(gap). Once ``min_lines`` lines are in, a source whose
typical gap exceeds ``sparse_gap_s`` is sparse; before that it is undecided. On a sparse stream
consecutive lines are not consecutive events and windows of seconds hold a
line or two: the detectors that read time windows or successions (error
bursts, template frequencies, sequences) get weight 0 there, and the line
judge (level, content, novelty), which counts lines, carries the source.

>>> from aiops.detectors.logs.config import StreamConfig
>>> p = StreamProfile(StreamConfig(min_lines=5))
>>> for i in range(10): p.observe(i * 600.0)
>>> p.sparse, p.weights()["sequence"]
(True, 0.0)
>>> q = StreamProfile(StreamConfig(min_lines=5))
>>> for i in range(10): q.observe(i * 0.5)
>>> q.sparse, round(q.typical_gap_s(), 2)
(False, 0.5)
"""

from __future__ import annotations

import math

from aiops.detectors.logs.config import StreamConfig

#: Detectors that read time windows or successions of lines: off on a sparse stream.
TIME_DETECTORS = ("error_burst", "template_frequency", "sequence")


class StreamProfile:
    """Online gap statistics of one source and the detector weights they imply."""

    __slots__ = ("config", "lines", "log_gap", "last_time", "sparse")

    def __init__(self, config: StreamConfig) -> None:
        self.config = config
        self.lines = 0
        self.log_gap = 0.0
        self.last_time: float | None = None
        self.sparse = False

    def observe(self, time: float) -> None:
        last = self.last_time
        if last is not None and time >= last:
            x = math.log10(max(time - last, 1e-3))
            alpha = max(0.02, 1.0 / max(self.lines, 1))
            self.log_gap += alpha * (x - self.log_gap)
        if last is None or time > last:
            self.last_time = time
        self.lines += 1
        if self.lines >= self.config.min_lines:
            self.sparse = self.log_gap > math.log10(self.config.sparse_gap_s)

    def typical_gap_s(self) -> float:
        return 10.0 ** self.log_gap

    @property
    def decided(self) -> bool:
        return self.lines >= self.config.min_lines

    def weights(self) -> dict[str, float]:
        """Weight per detector kind: 0 switches a detector's findings off for this source (until the
        stream is known, too: those detectors need a history first anyway)."""
        off = 0.0 if self.sparse or not self.decided else 1.0
        return {name: off for name in TIME_DETECTORS}
