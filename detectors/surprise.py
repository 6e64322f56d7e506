"""The surprise of each point given its series' past: what ``anomaly_score`` reports.

Per feature, four forecasts of the next value compete: a slow robust level,
a fast level, a daily profile (per 5 minutes of the day) and a weekly one
(per hour of the week), each profile a line through its buckets' values
with an offset that follows level changes. The profiles take part once the
series has spanned two days (a week). The forecast whose recent absolute
errors are smallest is trusted; the point's standardised error against it
becomes a tail probability ``p`` under the series' own streamed tail of
such errors (a generalised Pareto above their running 95th percentile, so a
heavy-tailed, bursty series learns how wild it usually is), and the surprise
is ``S = -log10 p`` decades. A point is only as surprising as its best
explanation: a jump into one of the states a switching series often sits in
is not news, however large. A live series that goes flat for longer than it
ever has is surprising once, at the point where the run becomes unusual.

Beside the point's own surprise, evidence accumulates for what no single
point shows: a small sustained shift (a CUSUM of the errors), a stay in a
state the series rarely visits, and recurring spikes coming more often than
they do (a Bernoulli CUSUM of the spike rate). Each is judged against this
series' own recent peaks and opens episodes; the score shows it only where
it first reaches the bar that opens one (then halving a point).

Everything learns from every point, anomalies included, with bounded weight
(errors clipped at a few scales), so no baseline freezes: a level that
moves and stays re-bases the slow level after a few errors in a row on one
side (a change point); the surprise rises at the onset and decays as the
forecasts adapt. A point is scored before it is learned, so its score never
depends on later points.

``anomaly_score = S / (S + 2)``: 0.5 is a 1-in-100 point, 0.67 1 in 10^4,
0.75 1 in 10^6, 0.8 1 in 10^8; it never reaches 1, and a larger surprise
always scores higher.

>>> import numpy as np
>>> track = SurpriseTrack()
>>> rng = np.random.default_rng(1)
>>> x = 10 + rng.normal(size=400)
>>> x[300:] += 8.0                       # a level shift that stays
>>> S = np.array([track.step(["s"], np.array([[v]]), np.array([float(t)]))[0][0] for t, v in enumerate(x)])
>>> bool(S[300] > 4 and S[200:300].max() < 4)   # the onset is rarer than anything before it
True
>>> bool(S[310:].max() < 3)               # the new level became the normal within a few points
True
>>> score = anomaly_score(S)
>>> bool(0 <= score.min() and score.max() < 1 and score[300] == score.max())
True
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy.special import erfc

from aiops.detectors.core.shapes import SCORE_HALF
from aiops.detectors.slots import SlotStore

DAY_S = 86_400.0
WEEK_S = 7 * DAY_S
FORECASTS = ("slow", "fast", "daily", "weekly")
_Z95 = 1.959964
#: Visits of a profile's phase are counted up to this: past ``1 / alpha_season`` visits the count no longer
#: changes the phase's weight, so one byte per phase is enough
VISITS_CAP = 100


def anomaly_score(surprise: np.ndarray) -> np.ndarray:
    """Map surprise in decades (``-log10 p``) to a bounded, ranked score in [0, 1).

    >>> anomaly_score(np.array([0.0, 2.0, 4.0, 1e6])).round(4).tolist()
    [0.0, 0.5, 0.6667, 1.0]
    >>> bool(anomaly_score(np.array([1e12]))[0] < 1.0)
    True
    """
    s = np.maximum(surprise, 0.0)
    return s / (s + SCORE_HALF)


def _cusum_surprise(c: np.ndarray, k: float) -> np.ndarray:
    """Decades of surprise of a CUSUM at ``c``: about ``-log10`` of its per-point rate of reaching that height.

    Siegmund's approximation of the in-control run length, ``exp(2k(c + 1.166)) / (2k^2)``, for errors of unit
    scale with reference value ``k``: 3 decades at ``c = 5``, 4.3 at 8, 6 at 12 (``k = 0.5``).
    """
    return np.where(c > 0, (2.0 * k * (c + 1.166)) / math.log(10.0) - math.log10(2.0 * k * k), 0.0)


def _recent_peak(peak: np.ndarray, value: np.ndarray, ok: np.ndarray, memory: int) -> np.ndarray:
    """The recent peak of an accumulated statistic (the current value included), decaying over ``memory`` points.

    An accumulation is judged against this series' own recent peaks: what a
    series that keeps wandering or switching reaches all the time is ordinary
    for it, and only what beats its recent record by a margin is evidence.

    >>> peak = _recent_peak(np.array([4.0]), np.array([1.0]), np.array([True]), 1000)
    >>> round(float(peak[0]), 3), float(_recent_peak(peak, np.array([6.0]), np.array([True]), 1000)[0])
    (3.996, 6.0)
    """
    return np.where(ok, np.maximum(peak * (1.0 - 1.0 / memory), value), peak)


def _phases(times: np.ndarray, period: float, buckets: int, f: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each time's bucket of a profile of ``period``, the bucket after it, and how far it is towards that one."""
    pos = np.mod(times, period) / period * buckets
    low = np.floor(pos)
    phase = low.astype(np.intp) % buckets
    frac = pos - low if buckets > 1 else np.zeros_like(pos)
    shape = (len(times), f)
    return (np.broadcast_to(phase[:, None], shape), np.broadcast_to(((phase + 1) % buckets)[:, None], shape),
            np.broadcast_to(frac[:, None], shape))


class SurpriseTrack:
    """Per-series, per-feature forecasts and tail calibration; ``step`` scores a step's rows, then learns them.

    The constructor's arguments are kept as attributes of the same name; the
    state of a series is a few hundred floats per feature in a ``SlotStore``.
    """

    def __init__(self, *, alpha_slow: float = 0.02, alpha_fast: float = 0.3, alpha_dev: float = 0.02,
                 alpha_season: float = 0.15, alpha_offset: float = 0.1, daily_buckets: int = 288,
                 weekly_buckets: int = 168, rebase_run: int = 4, rebase_z: float = 2.5, huber: float = 4.0,
                 tail_quantile: float = 0.95, tail_rate: float = 0.01, min_count: int = 10,
                 rel_floor: float = 1e-6, abs_floor: float = 1e-9, excess_cap: float = 20.0,
                 cusum_k: float = 0.5, peak_memory: int = 2000,
                 alpha_select: float = 0.005, states: int = 8, state_width: float = 4.0,
                 state_k: float = 1.0, state_run: int = 6, cusum_clip: float = 3.0, spike_z: float = 4.0,
                 rate_ratio: float = 3.0, min_rate: float = 0.005, recent_rate: float = 0.01,
                 state_dwell: float = 10.0, state_jumps: float = 2.0, evidence_bar: float = 4.0,
                 pulse_decay: float = 0.5) -> None:
        self.alpha_slow, self.alpha_fast, self.alpha_dev = alpha_slow, alpha_fast, alpha_dev
        self.alpha_season, self.alpha_offset = alpha_season, alpha_offset
        self.daily_buckets, self.weekly_buckets = daily_buckets, weekly_buckets
        self.rebase_run, self.rebase_z, self.huber = rebase_run, rebase_z, huber
        self.tail_quantile, self.tail_rate, self.min_count = tail_quantile, tail_rate, min_count
        self.rel_floor, self.abs_floor, self.excess_cap = rel_floor, abs_floor, excess_cap
        self.cusum_k, self.peak_memory, self.cusum_clip = cusum_k, peak_memory, cusum_clip
        self.alpha_select = alpha_select
        self.states, self.state_width, self.state_k, self.state_run = states, state_width, state_k, state_run
        self.evidence_bar, self.pulse_decay = evidence_bar, pulse_decay
        self.state_dwell, self.state_jumps = state_dwell, state_jumps
        self.spike_z, self.rate_ratio, self.min_rate, self.recent_rate = spike_z, rate_ratio, min_rate, recent_rate
        self.features: int | None = None
        self.store: SlotStore | None = None

    def _bind(self, f: int) -> SlotStore:
        if self.store is None:
            self.features = f
            k = len(FORECASTS)
            d, w, c = self.daily_buckets, self.weekly_buckets, self.states
            self.store = SlotStore({
                # counts, the first time, resolution and the flat-run record
                "n": ((f,), 0), "first": ((), np.nan), "prev": ((f,), np.nan), "step": ((f,), 0.0),
                "same": ((f,), 0), "longest": ((f,), 0), "repeat": ((f,), 0.0),
                # the forecasts and their errors
                "slow": ((f,), 0.0), "fast": ((f,), 0.0), "run": ((f,), 0),
                # the row's accumulated evidence at its last point, and the surprise of its last crossing of the bar
                "eprev": ((), 0.0), "epulse": ((), 0.0),
                "dev": ((f, k), 0.0), "err": ((f, k), 0.0), "judged": ((f, k), 0), "offset": ((f, 2), 0.0),
                "daily": ((f, d), np.float32(0.0)), "dvisits": ((f, d), np.int8(0)),
                "weekly": ((f, w), np.float32(0.0)), "wvisits": ((f, w), np.int8(0)),
                # the tail of the errors, and the accumulated evidence with its recent peaks
                "u": ((f,), 0.0), "tail": ((f, 3), 0.0), "cusum": ((f, 2), 0.0), "cpeak": ((f,), 0.0),
                "centers": ((f, c), 0.0), "weights": ((f, c), 0.0), "novelty": ((f,), 0.0),
                "nstate": ((f,), np.nan), "npeak": ((f,), 0.0), "nrun": ((f,), 0.0),
                "ntypical": ((f,), 0.0), "nlen": ((f,), 0),
                # how often the series spikes, and the evidence that it now spikes more often
                "srate": ((f,), 0.0), "srecent": ((f,), 0.0), "sover": ((f,), 0), "scusum": ((f,), 0.0),
                "srun": ((f,), 0.0), "speak": ((f,), 0.0), "jumps": ((f,), 0.0),
            })
        elif f != self.features:
            raise ValueError(f"surprise track holds {self.features} features, got {f}")
        return self.store

    def export(self, series_id: str) -> dict[str, np.ndarray] | None:
        """The series' arrays (None when unknown), for a state record."""
        return None if self.store is None else self.store.export(series_id)

    def load(self, series_id: str, state: dict[str, np.ndarray], features: int) -> None:
        """Restore a series from ``export``'s arrays; arrays of another name, kind or shape are refused."""
        store = self._bind(features)
        wanted = {name: (arr.shape[1:], arr.dtype.kind) for name, arr in store.arrays.items()}
        for name, value in state.items():
            shape, kind = wanted.get(name, (None, None))
            if shape is None or np.shape(value) != shape or np.asarray(value).dtype.kind != kind:
                raise ValueError(f"surprise state field {name!r} does not fit")
        state = {k: (np.minimum(v, VISITS_CAP) if k in ("dvisits", "wvisits") else v) for k, v in state.items()}
        if "judged" not in state and "n" in state:  # a record written before forecasts kept their own counts
            state = dict(state, judged=np.repeat(np.asarray(state["n"])[:, None], len(FORECASTS), axis=1))
        if "nrun" not in state and "novelty" in state:  # a record written before novelty runs kept their peak
            state = dict(state, nrun=np.asarray(state["novelty"], dtype=float).copy(),
                         ntypical=np.zeros_like(np.asarray(state["novelty"], dtype=float)),
                         nlen=np.zeros(np.shape(state["novelty"]), dtype=np.int64))
        if "srate" not in state and "n" in state:  # a record written before spike rates were followed
            shape = np.shape(state["n"])
            state = dict(state, sover=np.zeros(shape, dtype=np.int64),
                         **{k: np.zeros(shape) for k in ("srate", "srecent", "scusum", "srun", "speak", "jumps")})
        if "epulse" not in state and "n" in state:  # a record written before crossings of the bar were scored
            state = dict(state, eprev=np.zeros(()), epulse=np.zeros(()))
        if set(state) != set(wanted):
            raise ValueError(f"surprise state lacks {sorted(set(wanted) - set(state))}")
        store.load(series_id, state)

    def accept(self, series_ids: Sequence[str]) -> None:
        """The series' current behaviour is its new normal (an accepted episode): its spike rate is the recent one.

        The forecasts re-base themselves; the spike-rate CUSUM, which learns its
        rate over ``peak_memory`` points, would otherwise keep reporting a
        raised rate that was accepted.
        """
        if self.store is None:
            return
        rows = self.store.rows([sid for sid in series_ids if sid in self.store])
        a = self.store.arrays
        a["srate"][rows] = np.maximum(a["srate"][rows], a["srecent"][rows])
        a["scusum"][rows] = 0.0
        a["srun"][rows] = 0.0

    def forget(self, series_ids: Sequence[str]) -> None:
        if self.store is not None:
            for sid in series_ids:
                if sid in self.store:
                    self.store.drop(sid)

    # -- one step ----------------------------------------------------------------------------------
    def step(self, series: Sequence[str], X: np.ndarray, times: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Surprise (decades) of each row, and the evidence behind it as it is and corrected; then learn the rows.

        Each series at most once per step.

        The surprise is the point's own; the evidence is the larger of it and
        what a CUSUM of the recent errors has accumulated (a small shift or a
        slow drift, which no single point shows). Where the accumulated part
        first reaches ``evidence_bar`` (where it may open an episode on its
        own), the surprise is at least that evidence, and the pulse decays by
        ``pulse_decay`` a point: the score rises where a lasting change became
        clear and falls after it, and a page never shows an ordinary score.
        A row's surprise is its most surprising feature's, less ``log10`` of
        the number of features, so a many-sensor series is not more alarming
        for having more sensors. The evidence comes as it is (the most
        surprising feature's: what to ask of a point the detectors already
        flagged) and with that same correction (what a point must show on its
        own).
        """
        store = self._bind(X.shape[1])
        rows = store.rows(series)
        a = store.arrays
        m, f = X.shape
        ok = np.isfinite(X)
        x = np.where(ok, X, 0.0)
        n = a["n"][rows]
        first = a["first"][rows]
        first = np.where(np.isnan(first), times, first)
        a["first"][rows] = first
        span = (times - first)[:, None]
        idx = np.arange(m)[:, None]
        feat = np.arange(f)[None, :]
        dphase, dnext, dfrac = _phases(times, DAY_S, self.daily_buckets, f)
        wphase, wnext, wfrac = _phases(times, WEEK_S, self.weekly_buckets, f)
        slow, fast, offset = a["slow"][rows], a["fast"][rows], a["offset"][rows]
        daily_all, weekly_all = a["daily"][rows], a["weekly"][rows]
        dvisits_all, wvisits_all = a["dvisits"][rows], a["wvisits"][rows]
        daily, weekly = daily_all[idx, feat, dphase], weekly_all[idx, feat, wphase]
        dvisits, wvisits = dvisits_all[idx, feat, dphase], wvisits_all[idx, feat, wphase]
        # a profile is a line through its buckets' values: between two known buckets the forecast slides from one
        # to the next, so a ramp inside a bucket (an hour of the week) is not a staircase of errors
        daily_next, dvisits_next = daily_all[idx, feat, dnext], dvisits_all[idx, feat, dnext]
        weekly_next, wvisits_next = weekly_all[idx, feat, wnext], wvisits_all[idx, feat, wnext]
        dfrac = np.where((dvisits >= 1) & (dvisits_next >= 1), dfrac, 0.0)
        wfrac = np.where((wvisits >= 1) & (wvisits_next >= 1), wfrac, 0.0)
        daily_line = daily + dfrac * (daily_next - daily)
        weekly_line = weekly + wfrac * (weekly_next - weekly)
        dev = a["dev"][rows]                                          # (m, f, k)
        floor = np.maximum(0.5 * a["step"][rows], self.rel_floor * np.abs(slow) + self.abs_floor)
        pred = np.stack([slow, fast, daily_line + offset[..., 0], weekly_line + offset[..., 1]], axis=2)
        resid = x[..., None] - pred
        scale = np.maximum(1.25 * dev, floor[..., None])
        z = np.abs(resid) / scale
        usable = np.stack([np.ones_like(ok), np.ones_like(ok), (span >= 2 * DAY_S) & (dvisits >= 2),
                           (span >= WEEK_S) & (wvisits >= 1)], axis=2)
        best = np.argmin(np.where(usable, a["err"][rows], np.inf), axis=2)
        zb = np.take_along_axis(z, best[..., None], axis=2)[..., 0]
        young = n < self.min_count
        u, tail = a["u"][rows], a["tail"][rows]
        # the CUSUM follows the errors of the trusted forecast other than the fast level, which follows every
        # drift: a slow drift shows against the slow level, a seasonal series is judged against its profile
        steady = np.argmin(np.where(usable & (np.arange(len(FORECASTS)) != 1), a["err"][rows], np.inf), axis=2)
        signed = (np.take_along_axis(resid, steady[..., None], axis=2)[..., 0]
                  / np.take_along_axis(scale, steady[..., None], axis=2)[..., 0])
        cusum = self._cusum(a["cusum"][rows], signed, ok & ~young)
        spread = np.maximum(1.25 * dev[..., 1], floor)
        # the series' known states and each value's distance to them, in spreads (read by both state judgements)
        centers, weights = a["centers"][rows], a["weights"][rows]      # (m, f, K)
        apart = np.abs(x[..., None] - centers) / spread[..., None]
        # a jump into a state the series often sits in is what a switching series does: a point is only as
        # surprising as its best explanation, the forecast's or (unless a season is trusted) the known states'
        point = self._tail_surprise(zb, u, tail)
        expected = np.take_along_axis(pred, best[..., None], axis=2)[..., 0]
        switch = self._state_surprise(weights, apart, x, expected, spread)
        # only a series that has made such jumps before switches: one that roams a continuum (a slow wave) meets
        # a known state anywhere, and a spike into its range is news
        jumps = a["jumps"][rows]
        point = np.where((best < 2) & (jumps >= self.state_jumps), np.minimum(point, switch), point)
        a["jumps"][rows] = np.where(ok & ~young, jumps * (1.0 - 1.0 / self.peak_memory) + np.isfinite(switch), jumps)
        S = np.maximum(point, self._flat_surprise(a, rows, x, ok))
        S = np.where(ok & ~young, S, 0.0)
        # the CUSUM's surprise, less what this series' own recent CUSUM peaks show is ordinary for it (a series
        # that switches between states piles up errors at every switch)
        peak = a["cpeak"][rows]
        ordinary = np.maximum(_cusum_surprise(peak, self.cusum_k) - np.log10(np.clip(n, 1, self.peak_memory)), 0.0)
        sustained = np.maximum(_cusum_surprise(cusum.max(axis=2), self.cusum_k) - ordinary, 0.0)
        off = np.abs(signed) > 2.0
        novelty, npeak = self._state_novelty(a, rows, centers, weights, apart, x, ok, off, off | (steady < 2), spread)
        unusual = np.maximum(novelty - np.maximum(npeak - np.log10(np.clip(n, 1, self.peak_memory)), 0.0), 0.0)
        oftener = self._spike_rate(a, rows, zb, ok & ~young, n)
        lasting = np.where(ok & ~young, np.maximum(sustained, np.maximum(unusual, oftener)), 0.0)
        evidence = np.maximum(S, lasting)  # both are 0 where the point is missing or the series young
        a["cpeak"][rows] = _recent_peak(peak, cusum.max(axis=2), ok, self.peak_memory)
        # -- learn (after scoring) ---------------------------------------------------------------
        n1 = n + ok
        limit = self.huber * scale
        clipped = np.where(young[..., None], resid, np.clip(resid, -limit, limit))
        first_point = ok & (n == 0)
        w_slow = np.maximum(self.alpha_slow, 1.0 / np.maximum(n1, 1))
        w_fast = np.maximum(self.alpha_fast, 1.0 / np.maximum(n1, 1))
        step_slow = np.where(ok, w_slow * clipped[..., 0], 0.0)
        new_slow = np.where(first_point, x, slow + step_slow)
        new_fast = np.where(first_point, x, fast + np.where(ok, w_fast * resid[..., 1], 0.0))
        # a change point: errors in a row far on one side re-base the slow level on the fast one
        side = np.sign(resid[..., 0]) * (z[..., 0] > self.rebase_z) * ok
        run = a["run"][rows]
        run = np.where(side == 0, 0, np.where(np.sign(run) == side, run + side, side)).astype(np.int64)
        rebase = ~young & (np.abs(run) >= self.rebase_run)
        new_slow = np.where(rebase, new_fast, new_slow)
        a["cusum"][rows] = cusum
        a["run"][rows] = np.where(rebase, 0, run)
        w_dev = np.where(ok, np.maximum(self.alpha_dev, 1.0 / np.maximum(n1, 1)), 0.0)[..., None]
        a["dev"][rows] = np.where(first_point[..., None], 0.0, dev + w_dev * (np.abs(clipped) - dev))
        # the trusted forecast is the one with the smallest errors over a longer memory (days of a season)
        # a profile is judged only at the phases it has seen (before, it has no opinion), each forecast on its own
        # count, so a weekly profile that starts to know the week competes on its errors since, not on a week of
        # guesses at phases it had never seen
        known = n > 0
        opinion = ok[..., None] & np.stack([known, known, dvisits >= 1, wvisits >= 1], axis=2)
        judged = a["judged"][rows] + opinion
        w_err = np.where(opinion, np.maximum(self.alpha_select, 1.0 / np.maximum(judged, 1)), 0.0)
        a["err"][rows] = a["err"][rows] + w_err * (np.abs(clipped) - a["err"][rows])
        a["judged"][rows] = judged
        # the profiles learn the value at their phase; their offsets follow level changes
        # (each of the two buckets a forecast slid between learns its share of the error)
        for name, visits_name, phase, nxt, frac, prof, visits, prof_next, visits_next, j in (
                ("daily", "dvisits", dphase, dnext, dfrac, daily, dvisits, daily_next, dvisits_next, 2),
                ("weekly", "wvisits", wphase, wnext, wfrac, weekly, wvisits, weekly_next, wvisits_next, 3)):
            table, seen = (daily_all, dvisits_all) if j == 2 else (weekly_all, wvisits_all)
            w_next = np.where(ok & (frac > 0), np.maximum(self.alpha_season, 1.0 / (visits_next + 1.0)), 0.0)
            table[idx, feat, nxt] = prof_next + w_next * frac * clipped[..., j]
            w = np.where(ok, np.maximum(self.alpha_season, 1.0 / (visits + 1.0)), 0.0)
            table[idx, feat, phase] = prof + w * np.where(visits == 0, x - prof, (1.0 - frac) * clipped[..., j])
            seen[idx, feat, phase] = np.minimum(visits + ok, VISITS_CAP)
            a[name][rows], a[visits_name][rows] = table, seen
        w_off = np.where(ok, self.alpha_offset, 0.0)[..., None]
        a["offset"][rows] = offset + w_off * (clipped[..., 2:] - offset)
        self._learn_tail(a, rows, zb, u, tail, ok & ~young, ok & young)
        a["slow"][rows], a["fast"][rows], a["n"][rows] = new_slow, new_fast, n1
        many = math.log10(f) if f > 1 else 0.0
        pulse = self._pulse(a, rows, np.maximum(lasting.max(axis=1) - many, 0.0), ok.any(axis=1))
        strongest = evidence.max(axis=1)
        return np.maximum(np.maximum(S.max(axis=1) - many, 0.0), pulse), strongest, np.maximum(strongest - many, 0.0)

    # -- pieces --------------------------------------------------------------------------------------
    def _pulse(self, a: dict[str, np.ndarray], rows: np.ndarray, lasting: np.ndarray, seen: np.ndarray) -> np.ndarray:
        """What a row's accumulated evidence adds to its score: itself where it crosses the bar, then decaying.

        Only evidence that accumulates (a CUSUM, a stay, a spike rate) counts: a single spike's own surprise is
        its score already and must not echo into the points after it. A row with no value keeps its last evidence.
        """
        prev = a["eprev"][rows]
        crossed = seen & (lasting >= self.evidence_bar) & (prev < self.evidence_bar)
        pulse = np.where(crossed, lasting, a["epulse"][rows] * self.pulse_decay)
        a["eprev"][rows], a["epulse"][rows] = np.where(seen, lasting, prev), pulse
        return pulse

    def _tail_surprise(self, z: np.ndarray, u: np.ndarray, tail: np.ndarray) -> np.ndarray:
        """-log10 of the tail probability of ``z``: Gaussian-like below ``u``, the streamed Pareto above it."""
        q = 1.0 - self.tail_quantile
        u = np.maximum(u, 1e-6)
        below = -np.log10(np.maximum(erfc(np.minimum(z, u) * (_Z95 / math.sqrt(2.0)) / u), 1e-300))
        # a young tail leans on an exponential prior with the scale of Gaussian excesses over u
        prior_weight = 20.0
        w = tail[..., 0] / (tail[..., 0] + prior_weight)
        prior_m1 = 0.5 * u / _Z95
        m1 = w * tail[..., 1] + (1 - w) * prior_m1
        m2 = w * tail[..., 2] + (1 - w) * 2 * prior_m1 * prior_m1
        var = np.maximum(m2 - m1 * m1, 1e-300)
        xi = np.clip(0.5 * (1.0 - m1 * m1 / var), 0.0, 0.45)
        sigma = np.maximum(m1 * (1.0 - xi), 1e-9)
        y = np.maximum(z - u, 0.0) / sigma
        small = xi < 1e-6
        nats = np.where(small, y, np.log1p(np.where(small, 0.0, xi) * y) / np.where(small, 1.0, xi))
        above = -math.log10(q) + nats / math.log(10.0)
        return np.where(z > u, above, np.minimum(below, -math.log10(q)))

    def _cusum(self, sums: np.ndarray, z: np.ndarray, warm: np.ndarray) -> np.ndarray:
        """Two-sided CUSUM of standardised errors, each counted at most ``cusum_clip``.

        The clip is lower than the forecasts' (``huber``): a sustained shift
        adds up at any clip, while two spikes close together (what a bursty or
        spiky series does) must not add up to a shift.
        """
        z = np.clip(np.where(warm, z, 0.0), -self.cusum_clip, self.cusum_clip)[..., None] * np.array([1.0, -1.0])
        return np.where(warm[..., None], np.maximum(sums + z - self.cusum_k, 0.0), 0.0)

    def _spike_rate(self, a: dict[str, np.ndarray], rows: np.ndarray, z: np.ndarray, warm: np.ndarray,
                    n: np.ndarray) -> np.ndarray:
        """Evidence that a series' recurring spikes come more often than they usually do.

        A spike is where a run of errors beyond ``spike_z`` scales starts (a
        level that moves and stays is one spike, not one per point).

        A series that spikes at least ``min_rate`` of its points, at a rate
        ``r`` learned over ``peak_memory`` points, keeps a Bernoulli CUSUM of
        the log-likelihood ratio of ``rate_ratio`` times that rate: a spike
        adds ``ln rate_ratio`` nats, any other point takes a little away. An
        excursion that starts on a spike reaches ``c`` nats at most ``e**-c``
        of the time (Wald), so the height is worth ``c / ln 10 - log10(ratio *
        r)`` decades, less what this series' recent peaks show is ordinary
        for it (the peak of its excursions before this one). An excursion's
        evidence holds at its peak until it ends, so a raised rate is one
        episode. No single spike is news here; a rate that triples from one in
        30 points is, within some 150 points. Learns after scoring.
        """
        rate, c, peak, run_peak = a["srate"][rows], a["scusum"][rows], a["speak"][rows], a["srun"][rows]
        over = warm & (z > self.spike_z)
        spike = over & (a["sover"][rows] == 0)
        a["sover"][rows] = np.where(warm, over, a["sover"][rows])
        ratio = self.rate_ratio
        r = np.clip(rate, self.min_rate, 0.9 / ratio)
        active = warm & (rate >= self.min_rate) & (n >= 2.0 / self.min_rate)
        llr = np.where(spike, math.log(ratio), np.log1p(-ratio * r) - np.log1p(-r))
        c = np.where(active, np.maximum(c + llr, 0.0), 0.0)
        height = np.where(c > 0, np.maximum(c / math.log(10.0) - np.log10(ratio * r), 0.0), 0.0)
        ordinary = np.maximum(peak - np.log10(np.clip(n, 1, self.peak_memory)), 0.0)
        w = np.where(warm, np.maximum(1.0 / self.peak_memory, 1.0 / np.maximum(n + 1.0, 1.0)), 0.0)
        a["srate"][rows] = rate + w * (spike - rate)
        recent = a["srecent"][rows]
        a["srecent"][rows] = recent + np.where(warm, np.maximum(self.recent_rate, 1.0 / np.maximum(n + 1.0, 1.0)),
                                               0.0) * (spike - recent)
        a["scusum"][rows] = c
        ended = warm & (c <= 0)
        a["speak"][rows] = _recent_peak(peak, np.where(ended, run_peak, 0.0), warm, self.peak_memory)
        a["srun"][rows] = np.where(ended, 0.0, np.maximum(run_peak, height))
        held = np.where(c > 0, np.maximum(run_peak, height), 0.0)  # an excursion's evidence holds until it ends
        return np.maximum(held - ordinary, 0.0)

    def _state_surprise(self, weights: np.ndarray, apart: np.ndarray, x: np.ndarray, expected: np.ndarray,
                        spread: np.ndarray) -> np.ndarray:
        """Decades of surprise of a jump into another of the series' known states (inf if it is no such jump).

        The state's share of the recent points, times a Gaussian tail within
        it (``spread`` wide, at most ``state_width`` spreads from its centre):
        a value in a state that holds a third of the points is half a decade.
        Only a jump (``state_width`` spreads from the ``expected`` value; the
        forecast judges the rest) into a state the series sat in
        (``state_dwell`` points' weight) is explained: one into a state never
        visited, or only by a spike or two, has no explanation here. ``apart``:
        each value's distance to each state's centre, in spreads.
        """
        d = np.where(weights >= self.state_dwell, apart, np.inf)
        near = np.argmin(d, axis=2)
        dist = np.take_along_axis(d, near[..., None], axis=2)[..., 0]
        share = np.take_along_axis(weights, near[..., None], axis=2)[..., 0] / (weights.sum(axis=2) + 1.0)
        within = -np.log10(np.maximum(erfc(np.minimum(dist, self.state_width) / math.sqrt(2.0)), 1e-300))
        jump = np.abs(x - expected) > self.state_width * spread
        return np.where((dist <= self.state_width) & jump, within - np.log10(np.maximum(share, 1e-300)), np.inf)

    def _state_novelty(self, a: dict[str, np.ndarray], rows: np.ndarray, centers: np.ndarray, weights: np.ndarray,
                       apart: np.ndarray, x: np.ndarray, ok: np.ndarray, off: np.ndarray, unexplained: np.ndarray,
                       spread: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Evidence that the series sits in a state it rarely or never visits, accumulated over the points there.

        The series' recent values are summarised by a few states (centres with
        decayed weights, ``spread`` wide); a point in a state of share ``p``
        has ``-log10 p`` decades of novelty, and a CUSUM adds the excess over
        what this series' points typically show plus ``state_k`` per point: one
        sample between two known states is not news, a minute at a level never
        seen is. A run starts only on a point ``off`` its steady forecast (a
        trend or a season explains new values) and goes on while the series
        stays in that state and no season explains it; it is judged on its first
        ``state_run`` points, each by the share its state had before the run
        (a level that stays is news once, at its onset). Returns the CUSUM after
        this point and the recent peak of the runs before this one (what is
        ordinary here). ``centers`` and ``weights`` are the rows' states (learned
        here, in place, then stored), ``apart`` each value's distance to them in
        spreads.
        """
        d = np.where(weights > 0, apart, np.inf)
        near = np.argmin(d, axis=2)
        member = np.take_along_axis(d, near[..., None], axis=2)[..., 0] <= self.state_width
        total = weights.sum(axis=2)
        share = np.where(member, np.take_along_axis(weights, near[..., None], axis=2)[..., 0], 0.0)
        surprise = -np.log10((share + 0.5) / (total + 1.0))
        # a series that roams a continuum of values finds some novelty at every point: only the novelty beyond
        # what its points typically show is evidence
        typical = a["ntypical"][rows]
        a["ntypical"][rows] = np.where(ok, typical + np.maximum(1.0 / np.maximum(total + 1.0, 1.0),
                                                                1.0 / self.peak_memory) * (surprise - typical), typical)
        # a run of novelty starts on a point off its forecast and goes on while the series stays in that state
        # and is judged on its first ``state_run`` points, by the share its state had before the run joined it
        before, anchor, length = a["novelty"][rows], a["nstate"][rows], a["nlen"][rows]
        staying = np.isfinite(anchor) & (np.abs(x - anchor) <= self.state_width * spread)
        counts = ok & (off | (staying & unexplained)) & (length < self.state_run)
        prior = -np.log10((np.maximum(share - length, 0.0) + 0.5) / (total + 1.0))
        cusum = np.where(ok, np.maximum(before + np.where(counts, prior - typical, 0.0) - self.state_k, 0.0),
                         before)
        a["nlen"][rows] = np.where(cusum > 0, length + counts, 0)
        a["nstate"][rows] = np.where(cusum > 0, np.where(np.isfinite(anchor) & (before > 0), anchor, x), np.nan)
        # what is ordinary here is the peak of the runs before this one: a run measured against its own first
        # points would only ever show its latest increments
        peak, run_peak = a["npeak"][rows], a["nrun"][rows]
        # learn: the point joins its state (or replaces the lightest one), every weight decays
        slot = np.where(member, near, np.argmin(weights, axis=2))
        weights *= np.where(ok, 1.0 - 1.0 / self.peak_memory, 1.0)[..., None]
        idx = np.arange(len(rows))[:, None]
        feat = np.arange(x.shape[1])[None, :]
        w_old = np.where(member, weights[idx, feat, slot], 0.0)
        c_old = centers[idx, feat, slot]
        gain = 1.0 / np.minimum(w_old + 1.0, 50.0)
        centers[idx, feat, slot] = np.where(ok, np.where(member, c_old + gain * (x - c_old), x), c_old)
        weights[idx, feat, slot] = np.where(ok, w_old + 1.0, weights[idx, feat, slot])
        a["centers"][rows], a["weights"][rows] = centers, weights
        a["novelty"][rows] = cusum
        ended = ok & (cusum <= 0)
        a["npeak"][rows] = _recent_peak(peak, np.where(ended, run_peak, 0.0), ok, self.peak_memory)
        a["nrun"][rows] = np.where(ended, 0.0, np.maximum(run_peak, cusum))
        return cusum, peak

    def _flat_surprise(self, a: dict[str, np.ndarray], rows: np.ndarray, x: np.ndarray, ok: np.ndarray) -> np.ndarray:
        """Surprise of a series that stopped moving, once: where the run of equal values becomes unusual.

        ``repeat`` is the share of points equal to their predecessor; a run of
        ``k`` repeats has probability ``repeat**k``, and the run is judged on the
        two points where it reaches, then passes, twice the longest run seen
        before (at least 3): its onset, not every point of a flat stretch.
        """
        prev, same, longest, repeat = a["prev"][rows], a["same"][rows], a["longest"][rows], a["repeat"][rows]
        equal = ok & (x == prev)
        same = np.where(equal, same + 1, 0)
        mark = np.maximum(2 * longest, 3)
        judged = equal & (same >= mark) & (same <= mark + 1)
        S = np.where(judged, same * -np.log10(np.clip(repeat, 1e-3, 1.0)), 0.0)
        # learn: the share of repeats, the longest run once it ends, the resolution of moves
        moved = ok & np.isfinite(prev) & ~equal
        a["repeat"][rows] = np.where(ok & np.isfinite(prev), repeat + 0.01 * (equal - repeat), repeat)
        a["longest"][rows] = np.where(moved, np.maximum(longest, a["same"][rows]), longest)
        a["same"][rows] = same
        step = a["step"][rows]
        move = np.abs(x - prev)
        a["step"][rows] = np.where(moved, np.where(step > 0, np.minimum(step, move), move), step)
        a["prev"][rows] = np.where(ok, x, prev)
        return S

    def _learn_tail(self, a: dict[str, np.ndarray], rows: np.ndarray, z: np.ndarray, u: np.ndarray,
                    tail: np.ndarray, warm: np.ndarray, young: np.ndarray) -> None:
        """Move the running quantile ``u`` and the moments of the excesses over it."""
        q = 1.0 - self.tail_quantile
        gain = 0.02 * np.maximum(u, 1.0)  # stochastic approximation: a share q of errors settles above u
        a["u"][rows] = np.maximum(np.where(warm, u + gain * ((z > u) - q), np.where(young, _Z95, u)), 0.1)
        above = warm & (z > u)
        # an excess counts at most ``excess_cap`` scales: one wild point (a constant's first step, an early
        # outlier) must not make every later excess look ordinary
        excess = np.where(above, np.minimum(z - u, self.excess_cap), 0.0)
        cnt = tail[..., 0] + above
        wt = np.where(above, np.maximum(self.tail_rate, 1.0 / np.maximum(cnt, 1.0)), 0.0)
        tail[..., 1] += wt * (excess - tail[..., 1])
        tail[..., 2] += wt * (excess * excess - tail[..., 2])
        tail[..., 0] = cnt
        a["tail"][rows] = tail
