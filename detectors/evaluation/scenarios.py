"""Scenario families: seeded, labelled synthetic series of the shapes real operations series have.

Each family draws a few series from a seed. A series has real epoch times at
a realistic sampling interval (10 s for service metrics, 60 s for capacity,
5 min for the seasonal, cloud-like ones), one value per row, and the rows in
which an alert finds its anomaly: from the anomaly's start to
``detect_within`` points after it (the stated delay). Every other row after
the family's ``settle`` rows (a new series' learning time) is clean: an
episode opening there is a false alarm, including a second page for an
anomaly already paged. A family also states the bounds a product promises
an SRE on it: false-alarm episodes per 10,000 clean points, the share of
anomalies found within the stated delay and their median delay in points.

>>> fam = FAMILIES["level_shift_up"]
>>> runs = fam.generate(seed=0)
>>> len(runs), runs[0].X.shape[1], int(runs[0].labels.sum()) == fam.detect_within
(4, 1, True)
>>> [fam.name for fam in FAMILIES.values()][:3]
['level_shift_up', 'level_shift_down', 'bursty_counts']
>>> family("nope")
Traceback (most recent call last):
...
ValueError: unknown scenario family 'nope'; known: level_shift_up, level_shift_down, ...
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Callable, NamedTuple

import numpy as np

T0 = 1793577600.0  # Monday 2026-11-02 00:00:00 UTC: seasonal families start at a midnight, on a Monday
DAY = 86400.0
N_FAST = 3000  # points of a 10 s series: 8 h 20 min


class Draw(NamedTuple):
    """What a generator draws: epoch times, values and the rows where anomalies start."""

    times: np.ndarray
    values: np.ndarray
    onsets: tuple[int, ...]


@dataclass(frozen=True)
class Scenario:
    """One labelled series of a family; ``labels`` marks the rows in which an alert finds an anomaly."""

    series_id: str
    times: np.ndarray
    X: np.ndarray
    labels: np.ndarray
    onsets: tuple[int, ...]


def _grid(n: int, interval: float) -> np.ndarray:
    return T0 + interval * np.arange(n, dtype=float)


def _onset(rng: np.random.Generator, n: int, after: int, before_end: int) -> int:
    """A row at least ``after`` points in and at least ``before_end`` points before the end."""
    return int(rng.integers(after, n - before_end))


# -- level shifts ---------------------------------------------------------------------------------

def level_shift_up(rng: np.random.Generator) -> Draw:
    """Latency at 10 s (3% noise) that moves up for good by 5-8 sd (a slower dependency).

    >>> d = level_shift_up(np.random.default_rng(0))
    >>> at = d.onsets[0]
    >>> bool(d.values[at:].mean() - d.values[:at].mean() > 4 * d.values[:at].std())
    True
    """
    base = rng.uniform(20.0, 200.0)
    sd = 0.03 * base
    x = base + sd * rng.normal(size=N_FAST)
    at = _onset(rng, N_FAST, 1200, 1100)
    x[at:] += rng.uniform(5.0, 8.0) * sd
    return Draw(_grid(N_FAST, 10.0), x, (at,))


def level_shift_down(rng: np.random.Generator) -> Draw:
    """Throughput at 10 s (4% noise) that drops for good by 5-8 sd (a lost replica).

    >>> d = level_shift_down(np.random.default_rng(0))
    >>> at = d.onsets[0]
    >>> bool(d.values[:at].mean() - d.values[at:].mean() > 4 * d.values[:at].std())
    True
    """
    base = rng.uniform(100.0, 1000.0)
    sd = 0.04 * base
    x = base + sd * rng.normal(size=N_FAST)
    at = _onset(rng, N_FAST, 1200, 1100)
    x[at:] -= rng.uniform(5.0, 8.0) * sd
    return Draw(_grid(N_FAST, 10.0), x, (at,))


# -- heavy tails ----------------------------------------------------------------------------------

def _bursts(rng: np.random.Generator, n: int, every: int = 200) -> np.ndarray:
    """Rate multipliers: natural bursts of 1-3 points at 2-4 times the rate, about one per ``every`` points."""
    mult = np.ones(n)
    for start in np.flatnonzero(rng.random(n) < 1.0 / every):
        mult[start:start + int(rng.integers(1, 4))] = rng.uniform(2.0, 4.0)
    return mult


def _counts(rng: np.random.Generator, rate: float, heavy: bool) -> Draw:
    """Counts per 10 s at ``rate`` with natural bursts, and an error storm of 8 times the rate for an hour."""
    mean = rate * _bursts(rng, N_FAST)
    at = _onset(rng, N_FAST, 1200, 1100)
    mean[at:at + 360] *= 8.0
    counts = rng.negative_binomial(3, 3.0 / (3.0 + mean)) if heavy else rng.poisson(mean)
    return Draw(_grid(N_FAST, 10.0), counts.astype(float), (at,))


def bursty_counts(rng: np.random.Generator) -> Draw:
    """Error counts per 10 s, negative-binomial with natural bursts; the anomaly is an error storm.

    The counts have mean 5-15 and dispersion 3 (heavy-tailed).

    An SRE is not paged for a burst of a few points at 2-4 times the usual
    rate, about one every half hour: that is what such counts do. A rate that
    stays 8 times higher for an hour is an incident.

    >>> d = bursty_counts(np.random.default_rng(0))
    >>> at = d.onsets[0]
    >>> bool(d.values[at:at + 360].mean() > 5 * d.values[:at].mean()), bool((d.values == np.round(d.values)).all())
    (True, True)
    """
    return _counts(rng, rng.uniform(5.0, 15.0), heavy=True)


def sparse_counts(rng: np.random.Generator) -> Draw:
    """Error counts per 10 s, Poisson at 0.3-1 per interval with natural bursts; the anomaly is an error storm.

    The same bursts and storm as ``bursty_counts``, on a rate so low that most
    intervals count nothing and a single 3 is not news.

    >>> d = sparse_counts(np.random.default_rng(0))
    >>> at = d.onsets[0]
    >>> bool((d.values[:at] == 0).mean() > 0.3), bool(d.values[at:at + 360].mean() > 5 * d.values[:at].mean())
    (True, True)
    """
    return _counts(rng, rng.uniform(0.3, 1.0), heavy=False)


def lognormal_latency(rng: np.random.Generator) -> Draw:
    """Lognormal latency at 10 s (log sd 0.6: a long right tail); the anomaly is all of it times 4 for an hour.

    >>> d = lognormal_latency(np.random.default_rng(0))
    >>> at = d.onsets[0]
    >>> bool(np.median(d.values[at:at + 360]) > 3 * np.median(d.values[:at]))
    True
    """
    log_x = np.log(rng.uniform(20.0, 200.0)) + 0.6 * rng.normal(size=N_FAST)
    at = _onset(rng, N_FAST, 1200, 1100)
    log_x[at:at + 360] += np.log(4.0)
    return Draw(_grid(N_FAST, 10.0), np.exp(log_x), (at,))


# -- flat lines and quantised values ---------------------------------------------------------------

def flat_then_step(rng: np.random.Generator) -> Draw:
    """A constant at 10 s (a replica count, a config value) that steps once, for good: one alert.

    >>> d = flat_then_step(np.random.default_rng(0))
    >>> at = d.onsets[0]
    >>> len(set(d.values[:at])), len(set(d.values[at:])), bool(d.values[at] != d.values[at - 1])
    (1, 1, True)
    """
    level = float(rng.choice([1.0, 2.0, 3.0, 4.0, 8.0, 100.0]))
    step = float(rng.choice([-1.0, 1.0, 2.0])) * max(1.0, level / 4.0)
    at = _onset(rng, N_FAST, 1200, 1100)
    x = np.full(N_FAST, level)
    x[at:] += step
    return Draw(_grid(N_FAST, 10.0), x, (at,))


def quantised(rng: np.random.Generator) -> Draw:
    """Readings at 10 s rounded to a quantum, blipping by one quantum now and then; the anomaly is a jump of 4 quanta.

    The noise is 0.2-0.45 of a quantum and the level sits anywhere between two
    quanta, so some draws blip rarely and others flip between two values all
    the time: neither is an anomaly.

    >>> d = quantised(np.random.default_rng(0))
    >>> q = np.diff(np.unique(d.values)).min()
    >>> at = d.onsets[0]
    >>> jump = np.median(d.values[at:]) - np.median(d.values[:at])
    >>> bool(np.allclose(d.values / q, np.round(d.values / q))), bool(jump >= 3 * q)
    (True, True)
    """
    quantum = float(rng.choice([0.5, 1.0, 5.0]))
    base = quantum * (rng.integers(10, 60) + rng.uniform(0.0, 1.0))
    raw = base + quantum * rng.uniform(0.2, 0.45) * rng.normal(size=N_FAST)
    at = _onset(rng, N_FAST, 1200, 1100)
    raw[at:] += 4.0 * quantum
    return Draw(_grid(N_FAST, 10.0), quantum * np.round(raw / quantum), (at,))


def goes_flat(rng: np.random.Generator) -> Draw:
    """A live, noisy gauge at 10 s (two decimals) that goes flat for good: a stuck exporter repeating its last value.

    >>> d = goes_flat(np.random.default_rng(0))
    >>> at = d.onsets[0]
    >>> len(set(d.values[at - 1:])), len(set(d.values[at - 200:at])) > 150
    (1, True)
    """
    base = rng.uniform(20.0, 80.0)
    x = np.round(base + rng.uniform(1.0, 4.0) * rng.normal(size=N_FAST), 2)
    at = _onset(rng, N_FAST, 1200, 1100)
    x[at:] = x[at - 1]
    return Draw(_grid(N_FAST, 10.0), x, (at,))


# -- known states ---------------------------------------------------------------------------------

def _dwell_series(rng: np.random.Generator, levels: list[float], dwells: list[int], sd: float) -> np.ndarray:
    """Rows that stay at each level for its dwell; a row that straddles a switch (half the time) mixes both."""
    parts = []
    for i, (level, dwell) in enumerate(zip(levels, dwells)):
        part = np.full(dwell, level)
        if i and rng.random() < 0.5:
            w = rng.uniform(0.2, 0.8)
            part[0] = w * levels[i - 1] + (1.0 - w) * level
        parts.append(part)
    x = np.concatenate(parts)
    return x + sd * rng.normal(size=len(x))


def square_wave(rng: np.random.Generator) -> Draw:
    """A cron-driven load at 10 s: 20 minutes idle, 20 minutes busy; the anomaly is 10 minutes at a level never seen.

    A sample that straddles a switch lies between the states: that is not an
    anomaly. The unseen state is halfway between idle and busy, 10 minutes long,
    after which the wave goes on.

    >>> d = square_wave(np.random.default_rng(0))
    >>> at = d.onsets[0]
    >>> lo, hi = np.percentile(d.values[:at], [10, 90])
    >>> bool(abs(np.median(d.values[at:at + 60]) - (lo + hi) / 2) < 0.1 * (hi - lo))
    True
    """
    idle = rng.uniform(2.0, 20.0)
    busy = idle + rng.uniform(40.0, 70.0)
    n = N_FAST
    at = 120 * int(rng.integers(10, 15))  # at a switch, after 10-15 switches
    levels, dwells, row = [], [], 0
    while row < n:
        if row == at:
            levels.append((idle + busy) / 2.0)
            dwells.append(60)
        else:
            levels.append(busy if (row // 120) % 2 else idle)
            dwells.append(120 - row % 120)
        row += dwells[-1]
    x = _dwell_series(rng, levels, dwells, sd=0.03 * (busy - idle))[:n]
    return Draw(_grid(n, 10.0), x, (at,))


def switching_states(rng: np.random.Generator) -> Draw:
    """A worker at 10 s switching at random between three known states (dwell 5-40 min); the anomaly is a fourth.

    The first three dwells visit each known state once; the unseen state lies
    halfway between two known ones and lasts 10 minutes.

    >>> d = switching_states(np.random.default_rng(0))
    >>> at = d.onsets[0]
    >>> known = np.round(np.percentile(d.values[:at], [5, 50, 95]))
    >>> bool(np.abs(np.median(d.values[at:at + 60]) - known).min() > 5)
    True
    """
    states = sorted(rng.uniform(0.0, 100.0) + np.array([0.0, 1.0, 2.0]) * rng.uniform(25.0, 40.0))
    n = N_FAST
    order = list(rng.permutation(3))
    levels, dwells, row, inserted = [], [], 0, False
    at = 0
    while row < n:
        if not inserted and row >= 1500:
            at, inserted = row, True
            levels.append((states[0] + states[1]) / 2.0 if rng.random() < 0.5 else (states[1] + states[2]) / 2.0)
            dwells.append(60)
        else:
            state = order.pop(0) if order else int(rng.choice([s for s in range(3) if states[s] != levels[-1]]))
            levels.append(states[state])
            dwells.append(int(rng.integers(30, 240)))
        row += dwells[-1]
    x = _dwell_series(rng, levels, dwells, sd=1.0)[:n]
    return Draw(_grid(n, 10.0), x, (at,))


# -- seasonality ----------------------------------------------------------------------------------

def _day_shape(hours: np.ndarray) -> np.ndarray:
    """0 at night (22:00-06:00), rising to 1 at 14:00.

    >>> _day_shape(np.array([3.0, 14.0, 23.0])).round(2).tolist()
    [0.0, 1.0, 0.0]
    """
    return np.clip(np.sin(np.pi * (hours - 6.0) / 16.0), 0.0, None) ** 1.5


def daily_seasonal(rng: np.random.Generator) -> Draw:
    """Requests per 5 min over 12 days, 3-5 times busier by day; the anomaly is a daytime level for 2 h at night.

    >>> d = daily_seasonal(np.random.default_rng(0))
    >>> at = d.onsets[0]
    >>> hour = (d.times[at] - T0) % DAY / 3600
    >>> bool(0 <= hour < 4), bool(d.values[at:at + 24].mean() > 2 * d.values[at - 288:at - 264].mean())
    (True, True)
    """
    n = 12 * 288
    times = _grid(n, 300.0)
    night = rng.uniform(50.0, 150.0)
    peak = night * rng.uniform(3.0, 5.0)
    hours = (times - T0) % DAY / 3600.0
    level = night + (peak - night) * _day_shape(hours)
    day = int(rng.integers(8, 11))
    at = day * 288 + int(rng.integers(12, 36))  # 01:00-03:00
    daytime = night + (peak - night) * _day_shape(hours[at:at + 24] + rng.uniform(8.0, 10.0))
    level[at:at + 24] = daytime
    return Draw(times, level * (1.0 + 0.04 * rng.normal(size=n)), (at,))


def weekly_seasonal(rng: np.random.Generator) -> Draw:
    """Logins per 5 min over 3 weeks, busy working days, quiet weekends; the anomaly: a weekday level at a weekend.

    The Saturday (or Sunday) of the third week follows the weekday curve for
    3 hours from 10:00-12:00.

    >>> d = weekly_seasonal(np.random.default_rng(0))
    >>> at = d.onsets[0]
    >>> weekday = int((d.times[at] - T0) // DAY) % 7
    >>> weekday in (5, 6), bool(d.values[at:at + 36].mean() > 2 * d.values[at - 2016:at - 1980].mean())
    (True, True)
    """
    n = 21 * 288
    times = _grid(n, 300.0)
    night = rng.uniform(20.0, 80.0)
    peak = night * rng.uniform(4.0, 8.0)
    hours = (times - T0) % DAY / 3600.0
    weekend = ((times - T0) // DAY).astype(int) % 7 >= 5
    shape = _day_shape(hours) * np.where(weekend, 0.15, 1.0)
    day = 14 + int(rng.integers(5, 7))
    at = day * 288 + int(rng.integers(120, 144))  # 10:00-12:00
    shape[at:at + 36] = _day_shape(hours[at:at + 36])
    level = night + (peak - night) * shape
    return Draw(times, level * (1.0 + 0.04 * rng.normal(size=n)), (at,))


# -- trends, drift and rates ----------------------------------------------------------------------

def trend_with_drift(rng: np.random.Generator) -> Draw:
    """Disk use per minute filling at 0.3-0.6 %/h: the trend is normal; the fill rate turning 6 times faster is not.

    Even draws keep filling at the faster rate to the end (a log flood); odd
    draws have no trend and drift away slowly instead: 8 sd over 2 hours, then
    stay there (a leak that stopped).

    >>> d = trend_with_drift(np.random.default_rng(0))
    >>> at = d.onsets[0]
    >>> slope = lambda y: np.polyfit(np.arange(len(y)), y, 1)[0]
    >>> bool(slope(d.values[at:at + 120]) > 4 * max(slope(d.values[:at]), 1e-9))
    True
    """
    n = N_FAST
    sd = rng.uniform(0.1, 0.3)
    at = _onset(rng, n, 1500, 600)
    steps = np.arange(n, dtype=float)
    if rng.random() < 0.5:
        per_point = rng.uniform(0.3, 0.6) / 60.0
        level = rng.uniform(10.0, 40.0) + per_point * steps + 5.0 * per_point * np.clip(steps - at, 0.0, None)
    else:
        level = rng.uniform(20.0, 60.0) + 8.0 * sd * np.clip((steps - at) / 120.0, 0.0, 1.0)
    return Draw(_grid(n, 60.0), level + sd * rng.normal(size=n), (at,))


def rising_spike_rate(rng: np.random.Generator) -> Draw:
    """Latency at 10 s with GC-pause spikes about every 5 minutes (normal); the anomaly: their rate tripled for 90 min.

    >>> d = rising_spike_rate(np.random.default_rng(0))
    >>> at = d.onsets[0]
    >>> spikes = d.values > np.median(d.values) + 6 * (np.percentile(d.values, 75) - np.median(d.values)) / 0.674
    >>> bool(spikes[at:at + 540].mean() > 2 * spikes[:at].mean() > 0)
    True
    """
    n = N_FAST
    base = rng.uniform(20.0, 200.0)
    sd = 0.03 * base
    x = base + sd * rng.normal(size=n)
    at = _onset(rng, n, 1200, 1100)
    rate = np.full(n, 1.0 / 30.0)
    rate[at:at + 540] *= 3.0
    spikes = rng.random(n) < rate
    x[spikes] += sd * rng.uniform(8.0, 15.0, size=int(spikes.sum()))
    return Draw(_grid(n, 10.0), x, (at,))


# -- timing ---------------------------------------------------------------------------------------

def irregular_gaps(rng: np.random.Generator) -> Draw:
    """A gauge at about 10 s with jitter, four gaps of 5-90 minutes, and 1% of points arriving late (out of order).

    The anomaly is a level shift of 6-8 sd right after the third gap (a
    service back from a restart at another level). Rows are in arrival order.

    >>> d = irregular_gaps(np.random.default_rng(0))
    >>> gaps = np.diff(np.sort(d.times))
    >>> after_gap = d.times[d.onsets[0]] - d.times[d.onsets[0] - 1] > 300
    >>> int((gaps > 300).sum()), bool((np.diff(d.times) < 0).any()), bool(after_gap)
    (4, True, True)
    """
    n = N_FAST
    step = rng.uniform(9.0, 11.0, size=n)
    gap_rows = np.sort(rng.choice(np.arange(400, n - 1100), size=4, replace=False))
    step[gap_rows] += rng.uniform(300.0, 5400.0, size=4)
    times = T0 + np.cumsum(step)
    base = rng.uniform(20.0, 200.0)
    sd = 0.03 * base
    x = base + sd * rng.normal(size=n)
    at = int(gap_rows[2])
    x[at:] += rng.uniform(6.0, 8.0) * sd
    late = rng.choice(np.flatnonzero(np.diff(times) < 60.0), size=n // 100, replace=False)
    late = late[(late != at - 1) & (late != at)]
    order = np.arange(n)
    order[late], order[late + 1] = late + 1, late
    return Draw(times[order], x[order], (at,))


def early_outlier(rng: np.random.Generator) -> Draw:
    """Latency at 10 s, one of its first points 1000 times too large (a unit mix-up); later a level shift of 6 sd.

    The outlier must not blind the detector: the shift is still found, and the
    outlier causes at most one episode.

    >>> d = early_outlier(np.random.default_rng(0))
    >>> bool(d.values[:10].max() > 500 * np.median(d.values)), d.onsets[0] > 1000
    (True, True)
    """
    n = N_FAST
    base = rng.uniform(20.0, 200.0)
    sd = 0.03 * base
    x = base + sd * rng.normal(size=n)
    x[int(rng.integers(1, 10))] = 1000.0 * base
    at = _onset(rng, n, 1200, 1100)
    x[at:] += 6.0 * sd
    return Draw(_grid(n, 10.0), x, (at,))


# -- the registry ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Family:
    """A generator with its label window, learning time and the bounds promised on it.

    ``detect_within``: points after an anomaly's start in which an alert finds
    it; ``settle``: first points of each series not counted as clean (a new
    series' learning time); ``max_settle_episodes``: episodes allowed per series
    in those points (None: not bounded); ``max_median_delay`` in points.
    """

    name: str
    make: Callable[[np.random.Generator], Draw]
    series: int
    detect_within: int
    settle: int
    max_false_per_10k: float
    max_median_delay: float
    min_recall: float = 1.0
    max_settle_episodes: int | None = None

    def generate(self, seed: int = 0) -> list[Scenario]:
        """The family's series for ``seed`` (a non-negative int): the same arrays for the same seed, on any machine."""
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        out = []
        for i in range(self.series):
            rng = np.random.default_rng([seed, zlib.crc32(self.name.encode()), i])
            draw = self.make(rng)
            labels = np.zeros(len(draw.values), dtype=bool)
            for at in draw.onsets:
                labels[at:at + self.detect_within] = True
            out.append(Scenario(f"family={self.name}#{i}", draw.times, draw.values.reshape(-1, 1), labels,
                                draw.onsets))
        return out


_SETTLE_10S = 200  # 33 minutes of a new 10 s series

FAMILIES: dict[str, Family] = {f.name: f for f in [
    Family("level_shift_up", level_shift_up, 4, detect_within=6, settle=_SETTLE_10S, max_false_per_10k=1.0,
           max_median_delay=2),
    Family("level_shift_down", level_shift_down, 4, detect_within=6, settle=_SETTLE_10S, max_false_per_10k=1.0,
           max_median_delay=2),
    # heavy tails: a few points of evidence are needed to tell a storm from a burst (paged within a minute, median)
    Family("bursty_counts", bursty_counts, 4, detect_within=18, settle=_SETTLE_10S, max_false_per_10k=2.0,
           max_median_delay=6),
    Family("sparse_counts", sparse_counts, 4, detect_within=18, settle=_SETTLE_10S, max_false_per_10k=2.0,
           max_median_delay=6),
    Family("lognormal_latency", lognormal_latency, 4, detect_within=18, settle=_SETTLE_10S, max_false_per_10k=2.0,
           max_median_delay=6),
    Family("flat_then_step", flat_then_step, 4, detect_within=3, settle=_SETTLE_10S, max_false_per_10k=0.0,
           max_median_delay=1),
    Family("quantised", quantised, 4, detect_within=3, settle=_SETTLE_10S, max_false_per_10k=1.0,
           max_median_delay=1),
    Family("goes_flat", goes_flat, 4, detect_within=30, settle=_SETTLE_10S, max_false_per_10k=1.0,
           max_median_delay=12),
    Family("square_wave", square_wave, 4, detect_within=6, settle=480, max_false_per_10k=1.0, max_median_delay=3),
    Family("switching_states", switching_states, 4, detect_within=6, settle=720, max_false_per_10k=1.0,
           max_median_delay=3),
    Family("daily_seasonal", daily_seasonal, 4, detect_within=3, settle=3 * 288, max_false_per_10k=1.0,
           max_median_delay=1),
    Family("weekly_seasonal", weekly_seasonal, 3, detect_within=6, settle=7 * 288, max_false_per_10k=1.0,
           max_median_delay=2),
    # a drift of 0.07 sd per point needs some 25 points to stand out at 1 false episode per 10k
    Family("trend_with_drift", trend_with_drift, 4, detect_within=60, settle=240, max_false_per_10k=1.0,
           max_median_delay=30),
    # a spike rate tripling from 1 in 30 points gains about 0.05 nats of evidence per point: half an hour
    Family("rising_spike_rate", rising_spike_rate, 4, detect_within=360, settle=360, max_false_per_10k=1.0,
           max_median_delay=180),
    Family("irregular_gaps", irregular_gaps, 4, detect_within=6, settle=_SETTLE_10S, max_false_per_10k=1.0,
           max_median_delay=2),
    Family("early_outlier", early_outlier, 4, detect_within=6, settle=30, max_false_per_10k=1.0,
           max_median_delay=2, max_settle_episodes=1),
]}


def family(name: str) -> Family:
    """The registered family called ``name``."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown scenario family {name!r}; known: {', '.join(FAMILIES)}") from None
