"""Series sharing one profile and one feature layout: their banks, calibration rings, and each step's scoring.

Per step: score with every bank, calibrate each detector against the
series' own past, combine, threshold (never during warm-up), track episodes,
then learn from the rows that were not flagged (now, or ``learn_delay``
steps later). The banks' capabilities (``aiops.detectors.base.BankBase``)
decide which bank a group gets, which rows it sees and how it learns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import structlog

from aiops.detectors.base import BankBase, undeclared
from aiops.detectors.calibration import calibrate_ranked, learn_tail, order_dtype, remember_ranked
from aiops.detectors.config import DetectionConfig, DetectorSpec, EnsembleConfig, MatchRule
from aiops.detectors.core.errors import ConfigError
from aiops.detectors.ensemble import combine, combine_present
from aiops.detectors.episodes import ACCEPTED, EpisodeRules, Episodes
from aiops.detectors.explain import contributions, implicated
from aiops.detectors.learn_delay import LearnDelay
from aiops.detectors.registry import BANKS
from aiops.detectors.ring_keys import KEY_DTYPE, KEY_INF
from aiops.detectors.slots import SlotStore
from aiops.detectors.surprise import SurpriseTrack, anomaly_score

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Profile:
    """The settings one series runs with (the top level, or the first profile that matched)."""

    name: str
    match: MatchRule | None
    detectors: tuple[DetectorSpec, ...]
    threshold: float
    warmup: int
    ensemble: EnsembleConfig


@dataclass
class Member:
    """One detector of a group: its label, settings digest, bank and ensemble weight."""

    key: str
    digest: str
    bank: Any
    weight: float


@dataclass
class StepResult:
    """Per-row arrays of scored rows (the engine's internal form; ``Score`` objects are built from it)."""

    score: np.ndarray
    threshold: np.ndarray
    flagged: np.ndarray
    learned: np.ndarray
    calibrated: np.ndarray
    raw: np.ndarray
    contributions: np.ndarray
    low: np.ndarray | None
    high: np.ndarray | None
    anomaly_score: np.ndarray | None = None  # the point's surprise given the past, in [0, 1)
    alert: np.ndarray | None = None  # an episode opened here
    episode: np.ndarray | None = None  # the episode a row belongs to (0: none); ``flagged`` says it is in one
    ended: np.ndarray | None = None  # why an episode ended here (``episodes.END_REASONS``)
    hot: np.ndarray | None = None  # the detectors' own verdict, which decides what they learn


def build_members(profile: Profile, features: tuple[str, ...], config: DetectionConfig) -> list[Member]:
    """The detectors of a profile that apply to this feature layout, each with a fresh bank.

    A bank ``multivariate_only`` skips one-feature layouts; ``applies_to`` may
    skip others by its settings. A bank that does not declare its
    capabilities is refused with a ``ConfigError``, as bad settings are.
    """
    members = []
    for spec in profile.detectors:
        cls: type[BankBase] = BANKS.load(spec.type)
        missing = undeclared(cls)
        if missing:
            raise ConfigError(f"detector {spec.key}: {cls.__name__} does not declare {', '.join(missing)} "
                              "(inherit aiops.detectors.base.BankBase)")
        if cls.multivariate_only and len(features) < 2:
            continue
        params = config.bank_params(spec)
        if not cls.applies_to(len(features), params):
            continue
        try:
            bank = cls(**params)
        except TypeError as exc:
            raise ConfigError(f"detector {spec.key}: {exc}") from None
        digest = DetectorSpec.model_construct(type=spec.type, params=params).digest()
        members.append(Member(spec.key, digest, bank, spec.weight))
    return members


class SeriesGroup:
    """Series sharing one profile and one feature layout, with their banks and calibration rings."""

    def __init__(self, profile: Profile, features: tuple[str, ...], config: DetectionConfig) -> None:
        self.profile = profile
        self.features = features
        self.config = config
        self.members = build_members(profile, features, config)
        if not self.members:
            raise ConfigError(f"profile {profile.name}: no detector applies to features {list(features)}")
        self.keys = tuple(m.key for m in self.members)  # the detectors' labels, in column order
        self.weights = np.array([m.weight for m in self.members], dtype=float)
        window = config.calibration.window
        self.impute = any(not m.bank.accepts_missing for m in self.members)
        fields: dict[str, tuple[tuple[int, ...], Any]] = {"count": ((), 0), "notches": ((), 0), "run": ((), 0)}
        if self.impute:
            fields["last"] = ((len(features),), 0.0)
        d = len(self.members)
        fields["seen"] = ((d,), 0)
        fields["ring"] = ((d, window), KEY_DTYPE.type(KEY_INF))  # scores as 16-bit keys; +inf: a free slot
        fields["order"] = ((d, window), np.arange(window, dtype=order_dtype(window)))  # the ring's sorted view
        fields["tail"] = ((d, 3), 0.0)
        # banks that can learn a row after later rows came; the others learn at once, as with no delay
        self._late = np.array([m.bank.learns_late for m in self.members])
        # banks whose learn_late moves only the features a row has: a flagged row teaches them its bystanders
        self._partial = ([j for j, m in enumerate(self.members) if m.bank.learns_partial]
                         if config.partial_learning is not None and len(features) > 1 else [])
        self.lag = (LearnDelay(config.learn_delay, n_features=len(features), n_detectors=d, impute=self.impute,
                               start=2 * window) if config.learn_delay and self._late.any() else None)
        if self.lag is not None:
            fields.update(self.lag.fields())
        self.episodes = Episodes(EpisodeRules(**config.episodes.model_dump()))
        fields.update(self.episodes.fields())
        self._rebased = ("count", "run", "seen", "ring", "order", "tail", *(self.lag.fields() if self.lag else ()))
        self.store = SlotStore(fields)
        self.surprise = SurpriseTrack(**config.surprise.model_dump(), evidence_bar=config.episodes.open_surprise)
        self._joint = (np.array([m.bank.joint for m in self.members])
                       if len(features) > 1 else np.zeros(d, dtype=bool))
        self._ranged = next((j for j, m in enumerate(self.members) if m.bank.shows_expected_range), None)
        self._complete = [not m.bank.accepts_missing for m in self.members]
        # banks that abstain (left out of the ensemble) until warm, rather than saying 0.5 like the others
        self._abstaining = np.array([m.bank.abstains_when_cold for m in self.members])
        self.bulk_plans: dict[Any, Any] = {}  # how records of one layout are restored at once (``engine_state``)
        self.key: Any = None  # the engine's key of this group, shared by its series' entries

    def run(self, series: Sequence[str], X: np.ndarray, times: np.ndarray, learn: np.ndarray,
            bounds: Sequence[tuple[int, int]], quiet: np.ndarray | None = None) -> StepResult:
        """Score rows ordered by step (``bounds``: each step's slice), learning as it goes.

        ``quiet`` rows (replayed history) are scored and learned but open no episode.
        """
        m_rows, d, f = len(series), len(self.members), len(self.features)
        out = StepResult(
            score=np.empty(m_rows), threshold=np.empty(m_rows), flagged=np.empty(m_rows, dtype=bool),
            learned=np.empty(m_rows, dtype=bool), calibrated=np.empty((m_rows, d)), raw=np.empty((m_rows, d)),
            contributions=np.empty((m_rows, f)), low=None, high=None, anomaly_score=np.empty(m_rows),
            alert=np.empty(m_rows, dtype=bool), episode=np.empty(m_rows, dtype=np.int64),
            ended=np.empty(m_rows, dtype=np.int8), hot=np.empty(m_rows, dtype=bool))
        shares: list[np.ndarray | None] = [None] * d
        cfg, prof, feats = self.config, self.profile, self.features
        arrays = self.store.arrays
        tail = 1.0 - prof.threshold
        notch = cfg.feedback.notch
        adapt = cfg.adapt_after if cfg.adapt_after is not None else np.iinfo(np.int64).max
        min_history, tail_k = cfg.calibration.min_history, cfg.calibration.tail_k
        tail_min, tail_rate = cfg.calibration.tail_min, cfg.calibration.tail_rate
        shape_max = cfg.calibration.tail_shape_max
        window = cfg.calibration.window
        ranged = self._ranged
        release = cfg.release
        method, quorum, warmup = prof.ensemble.method, prof.ensemble.quorum, prof.warmup
        banks = [m.bank for m in self.members]
        complete = self._complete
        warm = np.empty((0, d), dtype=bool)
        for a, b in bounds:
            s = series[a:b]
            x, t = X[a:b], times[a:b]
            rows = self.store.rows(s)
            m = b - a
            filled = x
            if self.impute:
                if np.isnan(x).any():
                    filled = np.where(np.isnan(x), arrays["last"][rows], x)
                arrays["last"][rows] = filled
            R = out.raw[a:b]
            if warm.shape[0] != m:
                warm = np.empty((m, d), dtype=bool)
            for j, bank in enumerate(banks):
                warm[:, j] = bank.warm(s)
                scored = bank.score(s, filled if complete[j] else x, feats, t)
                R[:, j] = scored.raw
                if scored.per_feature is not None:
                    if shares[j] is None:
                        shares[j] = np.zeros((m_rows, f))
                    shares[j][a:b] = scored.per_feature  # type: ignore[index]
                if scored.expected_low is not None and (ranged is None or ranged == j):
                    ranged = j
                    if out.low is None or out.high is None:
                        out.low, out.high = np.full((m_rows, f), np.nan), np.full((m_rows, f), np.nan)
                    out.low[a:b], out.high[a:b] = scored.expected_low, scored.expected_high
            cells = (rows[:, None] * d + np.arange(d)).reshape(-1)
            P, level = calibrate_ranked(arrays["order"].reshape(-1, window), arrays["ring"].reshape(-1, window), cells,
                                        arrays["seen"].reshape(-1)[cells], R.reshape(-1), min_history=min_history,
                                        tail_k=tail_k, tail=arrays["tail"].reshape(-1, 3)[cells], tail_min=tail_min,
                                        shape_max=shape_max)
            P = P.reshape(m, d)
            out.calibrated[a:b] = P
            combined = combine(P, self.weights, method, quorum=quorum)
            if self._abstaining.any():  # such a detector has no say until its model and calibration are ready
                present = warm | ~self._abstaining
                present[:, self._abstaining] &= arrays["seen"][rows][:, self._abstaining] >= min_history
                cold = ~present.all(axis=1)
                if cold.any():
                    combined[cold] = combine_present(P[cold], present[cold], self.weights, method, quorum=quorum)
            threshold = 1.0 - tail * notch ** arrays["notches"][rows]
            count, run = arrays["count"][rows], arrays["run"][rows]
            hot = combined >= threshold
            if release is not None:
                hot |= (run > 0) & (combined >= np.minimum(release, threshold))
            flagged = hot & (count >= warmup)
            # a flagged run longer than the history before it is the new normal: a young baseline that
            # flags everything after it (a level it never saw while warming up) must not lock itself in
            mask = learn[a:b] & (~flagged | (run >= np.minimum(adapt, count - run)))
            surprise, evidence, alone = self.surprise.step(s, x, t)
            if quiet is not None:
                # replayed history is the series' past as it was: a flagged point of it that the surprise track
                # finds ordinary (a joint detector's window that lags a moving load) is learned, an outlier is not
                mask |= learn[a:b] & quiet[a:b] & (evidence < self.episodes.rules.open_surprise)
            if self._partial:
                bystanders = learn[a:b] & flagged & ~mask
                if bystanders.any():
                    self._learn_bystanders(s, x, t, P, shares, a, np.flatnonzero(bystanders))
            if self.lag is not None:
                self._learn_delayed(s, rows, count, x, filled, t, R, level.reshape(m, d), warm, mask, flagged,
                                    tail_rate)
            else:
                for j, bank in enumerate(banks):
                    bank.learn(s, filled if complete[j] else x, feats, t, mask)
                keep = mask[:, None] & warm
                if keep.any():
                    self._remember(rows, keep, R, level, tail_rate)
            arrays["count"][rows] = count + 1
            arrays["run"][rows] = np.where(flagged, run + 1, 0)
            vouched = flagged & (P[:, self._joint] >= threshold[:, None]).any(axis=1) if self._joint.any() else None
            may_open = count >= warmup if quiet is None else (count >= warmup) & ~quiet[a:b]
            ep = self.episodes.step(arrays, rows, t, flagged, evidence, may_open, vouched, alone)
            out.score[a:b], out.threshold[a:b], out.flagged[a:b], out.learned[a:b] = combined, threshold, ep.open, mask
            out.anomaly_score[a:b], out.alert[a:b], out.episode[a:b], out.ended[a:b], out.hot[a:b] = (
                anomaly_score(surprise), ep.alert, ep.episode, ep.ended, flagged)
            accepted = ep.ended == ACCEPTED
            if accepted.any():
                self._rebase([s[i] for i in np.flatnonzero(accepted)], rows[accepted])
        out.contributions[:] = contributions(shares, out.calibrated, self.weights, f)
        return out

    def _rebase(self, series: list[str], rows: np.ndarray) -> None:
        """Start the detectors of series whose episode was accepted afresh: the new behaviour is their normal.

        Feedback notches and the episode count stay; the series warms up again
        (never flagged meanwhile), while the surprise track, which never froze,
        goes on scoring it, its spike rate now the recent one.
        """
        self.surprise.accept(series)
        for m in self.members:
            for sid in series:
                m.bank.forget(sid)
        arrays, fields = self.store.arrays, self.store.fields
        for name in self._rebased:
            arrays[name][rows] = fields[name][1]
        log.info("new behaviour accepted as normal", series=series[:10], count=len(series))

    def _learn_bystanders(self, s: Sequence[str], x: np.ndarray, t: np.ndarray, P: np.ndarray,
                          shares: list[np.ndarray | None], start: int, pick: np.ndarray) -> None:
        """Teach the partial-learning banks the features of flagged rows that did not make them unusual.

        The rest of the row is hidden (NaN): a temperature drifting through a flow anomaly stays tracked, so
        the end of the anomaly is not followed by alarms on the temperature its frozen baseline no longer fits.
        """
        at = start + pick
        C = contributions([None if sh is None else sh[at] for sh in shares], P[pick], self.weights,
                          len(self.features))
        hide = implicated(C, self.config.partial_learning)  # type: ignore[arg-type]
        some = ~hide.all(axis=1)
        if not some.any():
            return
        pick, hide = pick[some], hide[some]
        xp = np.where(hide, np.nan, x[pick])
        sp = [s[i] for i in pick]
        for j in self._partial:
            self.members[j].bank.learn_late(sp, xp, self.features, t[pick])

    def _learn_delayed(self, s: Sequence[str], rows: np.ndarray, count: np.ndarray, x: np.ndarray, filled: np.ndarray,
                       t: np.ndarray, R: np.ndarray, level: np.ndarray, warm: np.ndarray, mask: np.ndarray,
                       flagged: np.ndarray, rate: float) -> None:
        """Advance every bank with the step's rows, learn the rows whose delay is over, hold the new ones."""
        lag, arrays, late = self.lag, self.store.arrays, self._late
        assert lag is not None
        void = flagged & ~mask
        if void.any():
            lag.void(arrays, rows[void])
        due = lag.take(arrays, rows, count)
        # a young series (its calibration history not yet refilled twice) learns at once: held points would thin
        # that history further, a false alarm there would drop them and feed on itself, and rings filled while
        # learning at once would take the larger residuals of a late baseline for anomalies
        held = count >= lag.start
        young = mask & ~held
        for j, m in enumerate(self.members):
            complete = self._complete[j]
            m.bank.learn(s, filled if complete else x, self.features, t, young if late[j] else mask)
            if due is not None and late[j]:
                m.bank.learn_late([s[i] for i in due.pick], due.filled if complete else due.x, self.features,
                                  due.times)
        now = np.where(late[None, :], young[:, None], mask[:, None]) & warm
        if now.any():
            self._remember(rows, now, R, level, rate)
        if due is not None:
            then = due.warm & late
            if then.any():
                self._remember(rows[due.pick], then, due.raw, due.level, rate)
        if held.all():  # a young series' slots stay empty: nothing in them is ever due
            lag.hold(arrays, rows, count, x, filled, t, R, level, warm, mask)
        elif held.any():
            lag.hold(arrays, rows[held], count[held], x[held], filled[held], t[held], R[held], level[held], warm[held],
                     mask[held])

    def _remember(self, rows: np.ndarray, keep: np.ndarray, R: np.ndarray, level: np.ndarray, rate: float) -> None:
        """Add the kept raw scores to their rings and tail moments, touching only those cells."""
        arrays = self.store.arrays
        r, j = np.nonzero(keep)
        slots = rows[r]
        raw = R[r, j]
        tails = arrays["tail"][slots, j]
        learn_tail(tails, raw, level.reshape(keep.shape)[r, j], rate=rate)
        arrays["tail"][slots, j] = tails
        ring, d = arrays["ring"], arrays["ring"].shape[1]
        remember_ranked(arrays["order"].reshape(-1, ring.shape[2]), ring.reshape(-1, ring.shape[2]),
                        arrays["seen"].reshape(-1), slots * d + j, raw)
