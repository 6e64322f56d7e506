"""Small statistics shared by the log detectors: calibrated scores, running moments, robust z.

>>> round(exceedance_score(6.0, 6.0), 3), round(exceedance_score(12.0, 6.0), 3)
(0.9, 0.99)
>>> r = RobustWindow(5)
>>> for v in (10, 11, 9, 10, 100): r.add(v)
>>> r.median(), r.robust_z(10.0)
(10.0, 0.0)
"""

from __future__ import annotations

import math
from collections import deque
from statistics import median

THRESHOLD = 0.9


def exceedance_score(value: float, threshold: float) -> float:
    """Map ``value/threshold`` into [0, 1): 0.9 at the threshold, 0.99 at twice, 0.999 at three times."""
    if threshold <= 0 or value <= 0 or math.isnan(value):
        return 0.0
    return 1.0 - 0.1 ** min(value / threshold, 50.0)


class Ewm:
    """Exponentially weighted mean and variance of a stream.

    >>> e = Ewm(0.5)
    >>> for v in (1.0, 3.0): e.update(v)
    >>> e.mean, e.var, e.n
    (2.0, 1.0, 2)
    """

    __slots__ = ("alpha", "mean", "var", "n")

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha
        self.mean = 0.0
        self.var = 0.0
        self.n = 0

    def update(self, x: float) -> None:
        if self.n == 0:
            self.mean = x
        else:
            diff = x - self.mean
            incr = self.alpha * diff
            self.mean += incr
            self.var = (1 - self.alpha) * (self.var + diff * incr)
        self.n += 1

    def poisson_z(self, x: float) -> float:
        """How far a count ``x`` is above the mean, in units of max(std, sqrt(mean), 1)."""
        spread = max(math.sqrt(self.var), math.sqrt(max(self.mean, 0.0)), 1.0)
        return (x - self.mean) / spread


class RobustWindow:
    """The last ``size`` values; median and MAD give a robust z-score."""

    __slots__ = ("values",)

    def __init__(self, size: int) -> None:
        self.values: deque[float] = deque(maxlen=size)

    def add(self, x: float) -> None:
        self.values.append(x)

    def __len__(self) -> int:
        return len(self.values)

    def median(self) -> float:
        return float(median(self.values))

    def robust_z(self, x: float) -> float:
        """|x - median| / spread, the spread being 1.4826 * MAD, or when most values are equal
        (MAD 0) the mean absolute deviation of the closest nine tenths, floored at 5 % of the median so near-constant
        series stay sane."""
        if not self.values:
            return 0.0
        med = self.median()
        deviations = sorted(abs(v - med) for v in self.values)
        mad = float(median(deviations))
        kept = deviations[: max(1, int(len(deviations) * 0.9))]  # the largest tenth may be outliers
        spread = max(1.4826 * mad, 1.2533 * sum(kept) / len(kept), 0.05 * abs(med), 1e-9)
        return abs(x - med) / spread
