"""The scoring engine: events in, calibrated and explained scores out, strictly online.

A batch is cut into steps (the k-th event of each series is in step k);
series sharing a profile and a feature layout form a group whose banks score
the whole step at once. Per step: score with every bank, calibrate each
detector against the series' own past, combine, threshold (never during
warm-up), explain, then learn from the rows that were not flagged.

>>> from structlog.testing import capture_logs
>>> from aiops.detectors.core.shapes import Event
>>> with capture_logs() as logs:
...     engine = build_engine(DetectionConfig(warmup=30))
>>> logs[0]["event"], logs[0]["config_hash"] == engine.config_hash
('detection config applied', True)
>>> events = [Event("metric", "cpu|host=a", {"host": "a"}, float(t), {"user": 10.0 + (t % 7) * 0.1})
...           for t in range(200)]
>>> scores = engine.process(events)
>>> spike = engine.process([Event("metric", "cpu|host=a", {"host": "a"}, 200.0, {"user": 50.0})])[0]
>>> spike.is_anomaly, spike.learned, max(s.score for s in scores[100:]) < spike.score < 1.0
(True, False, True)
>>> low, high = spike.expected["user"]
>>> bool(low < 10.3 < high)
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from operator import itemgetter
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import structlog

from aiops.detectors.calibration import calibrate_ranked, learn_tail, rank_rings, remember_ranked
from aiops.detectors.config import DetectionConfig, DetectorSpec, EnsembleConfig, MatchRule
from aiops.detectors.core import state_codec
from aiops.detectors.core.errors import ConfigError, InputError
from aiops.detectors.core.shapes import Event, Score
from aiops.detectors.ensemble import combine, combine_present
from aiops.detectors.episodes import ACCEPTED, END_REASONS, EpisodeRules, Episodes
from aiops.detectors.explain import contributions, implicated
from aiops.detectors.learn_delay import LearnDelay
from aiops.detectors.registry import BANKS
from aiops.detectors.slots import SlotStore
from aiops.detectors.surprise import SurpriseTrack, anomaly_score
from aiops.detectors.tally import DetectorTally

log = structlog.get_logger(__name__)

STATE_VERSION = 1
VERDICTS = ("false_positive", "true_positive")
_DICT = frozenset((dict,))
_PLAIN_NUMBERS = frozenset((float, int))


@dataclass(frozen=True)
class _Profile:
    """The settings one series runs with (the top level, or the first profile that matched)."""

    name: str
    match: MatchRule | None
    detectors: tuple[DetectorSpec, ...]
    threshold: float
    warmup: int
    ensemble: EnsembleConfig


@dataclass
class _Member:
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


class _Group:
    """Series sharing one profile and one feature layout, with their banks and calibration rings."""

    def __init__(self, profile: _Profile, features: tuple[str, ...], config: DetectionConfig) -> None:
        self.profile = profile
        self.features = features
        self.config = config
        self.members: list[_Member] = []
        for spec in profile.detectors:
            cls = BANKS.load(spec.type)
            if getattr(cls, "multivariate_only", False) and len(features) < 2:
                continue
            params = config.bank_params(spec)
            applies = getattr(cls, "applies_to", None)  # a bank whose settings say which series it scores
            if applies is not None and not applies(len(features), params):
                continue
            try:
                bank = cls(**params)
            except TypeError as exc:
                raise ConfigError(f"detector {spec.key}: {exc}") from None
            digest = DetectorSpec.model_construct(type=spec.type, params=params).digest()
            self.members.append(_Member(spec.key, digest, bank, spec.weight))
        if not self.members:
            raise ConfigError(f"profile {profile.name}: no detector applies to features {list(features)}")
        self.weights = np.array([m.weight for m in self.members], dtype=float)
        window = config.calibration.window
        self.impute = any(not getattr(m.bank, "accepts_missing", False) for m in self.members)
        fields: dict[str, tuple[tuple[int, ...], Any]] = {"count": ((), 0), "notches": ((), 0), "run": ((), 0)}
        if self.impute:
            fields["last"] = ((len(features),), 0.0)
        d = len(self.members)
        fields["seen"] = ((d,), 0)
        fields["ring"] = ((d, window), np.float32(0.0))
        fields["ranked"] = ((d, window), np.float32(np.inf))  # the ring sorted, +inf past its scores
        fields["tail"] = ((d, 3), 0.0)
        # banks that can learn a row after later rows came; the others learn at once, as with no delay
        self._late = np.array([hasattr(m.bank, "learn_late") for m in self.members])
        # banks whose learn_late moves only the features a row has: a flagged row teaches them its bystanders
        self._partial = ([j for j, m in enumerate(self.members) if getattr(m.bank, "learns_partial", False)]
                         if config.partial_learning is not None and len(features) > 1 else [])
        self.lag = (LearnDelay(config.learn_delay, n_features=len(features), n_detectors=d, impute=self.impute,
                               start=2 * window) if config.learn_delay and self._late.any() else None)
        if self.lag is not None:
            fields.update(self.lag.fields())
        self.episodes = Episodes(EpisodeRules(**config.episodes.model_dump()))
        fields.update(self.episodes.fields())
        self._rebased = ("count", "run", "seen", "ring", "ranked", "tail", *(self.lag.fields() if self.lag else ()))
        self.store = SlotStore(fields)
        self.surprise = SurpriseTrack(**config.surprise.model_dump())
        self._joint = (np.array([bool(getattr(m.bank, "joint", False)) for m in self.members])
                       if len(features) > 1 else np.zeros(d, dtype=bool))
        self._ranged = next((j for j, m in enumerate(self.members) if m.bank.__class__.__name__ == "ZScoreBank"), None)
        self._complete = [not getattr(m.bank, "accepts_missing", False) for m in self.members]
        # banks that abstain (left out of the ensemble) until warm, rather than saying 0.5 like the others
        self._abstaining = np.array([bool(getattr(m.bank, "abstains_when_cold", False)) for m in self.members])

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
            P, level = calibrate_ranked(arrays["ranked"].reshape(-1, window), arrays["ring"].reshape(-1, window), cells,
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
            surprise, evidence, alone = self.surprise.step(s, x, t)
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
        goes on scoring it.
        """
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
        remember_ranked(arrays["ranked"].reshape(-1, ring.shape[2]), ring.reshape(-1, ring.shape[2]),
                        arrays["seen"].reshape(-1), slots * d + j, raw)


@dataclass
class _SeriesInfo:
    group: tuple[int, tuple[str, ...]]
    labels: dict[str, str]
    source: str


class Engine:
    """Implements ``ScoringEngine`` (see ``aiops.detectors.base``)."""

    def __init__(self, config: DetectionConfig) -> None:
        self._series: dict[str, _SeriesInfo] = {}
        self._groups: dict[tuple[int, tuple[str, ...]], _Group] = {}
        self._warned_extra: set[str] = set()
        self.tally = DetectorTally()  # per detector, for the worker's /metrics
        self._apply(config)

    # -- configuration -------------------------------------------------------------------------
    def _apply(self, config: DetectionConfig) -> None:
        self.config = config
        top = _Profile("default", None, tuple(config.detectors), config.threshold, config.warmup, config.ensemble)
        self._profiles = [
            _Profile(p.name or f"profiles.{i}", p.match, tuple(p.detectors or config.detectors),
                     p.threshold if p.threshold is not None else config.threshold,
                     p.warmup if p.warmup is not None else config.warmup, p.ensemble or config.ensemble)
            for i, p in enumerate(config.profiles)
        ] + [top]
        self.config_hash = config.digest()
        log.info("detection config applied", config_hash=self.config_hash, profiles=len(config.profiles),
                 detectors=[d.key for d in config.detectors])

    def _profile_index(self, series_id: str, labels: dict[str, str], source: str) -> int:
        for i, prof in enumerate(self._profiles[:-1]):
            assert prof.match is not None
            if prof.match.matches(series_id, labels, source):
                return i
        return len(self._profiles) - 1

    def _group(self, key: tuple[int, tuple[str, ...]]) -> _Group:
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group(self._profiles[key[0]], key[1], self.config)
        return group

    def _register(self, series_id: str, labels: dict[str, str], source: str, features: Iterable[str]) -> _SeriesInfo:
        info = self._series.get(series_id)
        if info is None:
            feats = tuple(sorted(features))
            key = (self._profile_index(series_id, labels, source), feats)
            self._group(key)
            info = self._series[series_id] = _SeriesInfo(key, dict(labels), source)
        return info

    # -- scoring -------------------------------------------------------------------------------
    def process(self, events: Sequence[Event], *, learn: Sequence[bool] | None = None) -> list[Score]:
        """One ``Score`` per event, in order; each scored before it is learned from."""
        return self._process(events, learn, notable=False)  # type: ignore[return-value]

    def process_notable(self, events: Sequence[Event], *, learn: Sequence[bool] | None = None) -> list[Score | None]:
        """``process``, with None for each event neither in an episode nor ending one.

        The same scoring and learning, the same ``Score`` for the events it
        keeps; only the objects nobody sends on are not built (most of a
        worker's events). ``process`` is this with every ``Score`` built.
        """
        return self._process(events, learn, notable=True)

    def _process(self, events: Sequence[Event], learn: Sequence[bool] | None, *, notable: bool) -> list[Score | None]:
        n = len(events)
        if learn is not None and len(learn) != n:
            raise InputError(f"learn has {len(learn)} flags for {n} events")
        if not n:
            return []
        ids, times, feats = [e.series_id for e in events], [e.time for e in events], [e.features for e in events]
        flags = np.ones(n, dtype=bool) if learn is None else np.asarray(learn, dtype=bool)
        quiet = self._replayed(events)
        group = self._single_step_group(ids)
        if group is not None:  # the steady state of a worker: each known series once, scored in batch order
            X = _layout_matrix(group.features, times, feats)
            if X is not None:
                return self._score_rows(group, ids, times, X, flags, [(0, n)], quiet, notable)
        return self._process_by_group(events, ids, times, feats, flags, quiet, notable)

    def _replayed(self, events: Sequence[Event]) -> np.ndarray | None:
        """Events older than ``detection.learn_only_older_than_s`` when ingested (replayed history); None: none."""
        limit = self.config.learn_only_older_than_s
        if limit is None:
            return None
        age = np.fromiter((e.ingest_time - e.time if e.ingest_time else 0.0 for e in events), dtype=float,
                          count=len(events))
        return age > limit

    def _single_step_group(self, ids: list[str]) -> _Group | None:
        """The group of a batch of known series all of one group, each once; None for any other batch."""
        infos = list(map(self._series.get, ids))
        if not all(infos) or len(set(ids)) != len(ids):
            return None
        key = infos[0].group
        keys = [info.group for info in infos]
        return self._groups[key] if keys.count(key) == len(keys) else None

    def _process_by_group(self, events: Sequence[Event], ids: list[str], times: list[Any],
                          feats: list[dict[str, float]], flags: np.ndarray,
                          quiet: np.ndarray | None = None, notable: bool = False) -> list[Score | None]:
        """Any batch: check it, register new series, score each group step by step, put the scores back in order."""
        n = len(events)
        plain = _plainly_valid(times, feats)
        if not plain:
            for i, event in enumerate(events):
                _check_event(i, event)
        infos = list(map(self._series.get, ids))
        if not all(infos):
            infos = [info or self._register(e.series_id, e.labels, e.source, e.features)
                     for info, e in zip(infos, events)]
        step_of = _steps(ids) if len(set(ids)) < n else None
        by_group: dict[tuple[int, tuple[str, ...]], list[int]] = {}
        for i, info in enumerate(infos):
            by_group.setdefault(info.group, []).append(i)
        results: list[Score | None] = [None] * n
        for key, idx in by_group.items():
            if step_of is None:
                order, bounds = idx, [(0, len(idx))]
            else:  # by step, then by position in the batch (idx is ascending and the sort is stable)
                order = sorted(idx, key=step_of.__getitem__)
                cuts = np.flatnonzero(np.diff([step_of[i] for i in order])) + 1
                bounds = list(zip([0, *cuts.tolist()], [*cuts.tolist(), len(order)]))
            group = self._groups[key]
            rows = [ids[i] for i in order]
            X = self._matrix(group.features, rows, [feats[i] for i in order], plain)
            scores = self._score_rows(group, rows, [times[i] for i in order], X, flags[order], bounds,
                                      None if quiet is None else quiet[order], notable)
            for pos, score in zip(order, scores):
                results[pos] = score
        return results  # type: ignore[return-value]

    def _score_rows(self, group: _Group, ids: list[str], times: list[Any], X: np.ndarray, flags: np.ndarray,
                    bounds: Sequence[tuple[int, int]], quiet: np.ndarray | None = None,
                    notable: bool = False) -> list[Score | None]:
        """Run one group on its rows (already in step order) and build their ``Score`` objects.

        ``notable``: only those of rows in an episode or ending one, None for the others.
        """
        res = group.run(ids, X, np.array(times, dtype=float), flags, bounds, quiet)
        self.tally.add([m.key for m in group.members], res.calibrated, threshold=res.threshold, alert=res.alert)
        if not notable:
            return _scores(group, ids, times, res)  # type: ignore[return-value]
        keep = np.flatnonzero(res.flagged | (res.ended != 0)).tolist()
        out: list[Score | None] = [None] * len(ids)
        if keep:
            kept = _scores(group, [ids[i] for i in keep], [times[i] for i in keep], _take(res, np.array(keep)))
            for i, score in zip(keep, kept):
                out[i] = score
        return out

    def _matrix(self, features: tuple[str, ...], ids: Sequence[str], feats: Sequence[dict[str, float]],
                plain: bool) -> np.ndarray:
        """The rows' values in the group's feature order (NaN where absent), warning once per series about extras.

        ``plain``: every row is a plain ``dict`` (no subclass whose lookups could differ from ``dict.get``).
        """
        n, f = len(feats), len(features)
        complete = plain
        if plain:
            try:  # every feature present: one pass at C speed
                X = np.array(list(map(itemgetter(*features), feats)), dtype=float).reshape(n, f)
            except KeyError:
                complete = False
        if not complete:
            nan = math.nan
            X = np.array([[d.get(k, nan) for k in features] for d in feats], dtype=float).reshape(n, f)
        # with every feature present, as many keys as features in total means no extra key anywhere
        if not complete or sum(map(len, feats)) != n * f:
            self._warn_extra(set(features), ids, feats)
        return X

    def _warn_extra(self, layout: set[str], ids: Sequence[str], feats: Sequence[dict[str, float]]) -> None:
        for sid, d in zip(ids, feats):
            if not d.keys() <= layout and sid not in self._warned_extra:
                self._warned_extra.add(sid)
                extra = sorted(set(d) - layout)
                log.warning("features not in the series layout are ignored", series_id=sid, extra=extra)

    def score_series(self, series_id: str, times: np.ndarray, X: np.ndarray, features: Sequence[str], *,
                     labels: Mapping[str, str] | None = None, source: str = "metric",
                     learn: np.ndarray | None = None) -> tuple[list[str], StepResult]:
        """Score one series' rows in time order, one step per row: the backtest's fast path.

        Gives exactly what ``process`` gives for the same events (fed at once
        or one by one), without building a ``Score`` per row. Returns the
        detector names (columns of ``calibrated``/``raw``) and the arrays.
        """
        return self.score_many_series([(series_id, times, X)], features, labels=labels, source=source,
                                      learn=None if learn is None else [learn])[0]

    def score_many_series(self, items: Sequence[tuple[str, np.ndarray, np.ndarray]], features: Sequence[str], *,
                          labels: Mapping[str, str] | None = None, source: str = "metric",
                          learn: Sequence[np.ndarray] | None = None) -> list[tuple[list[str], StepResult]]:
        """Score several series of the same features side by side (step k = the k-th row of each).

        Each ``(series_id, times, X)`` gets the same arrays it would get alone:
        series are independent, only the work is shared.
        """
        by_group: dict[tuple[int, tuple[str, ...]], list[int]] = {}
        prepared = []
        for i, (sid, times, X) in enumerate(items):
            X = np.asarray(X, dtype=float)
            if X.ndim != 2 or X.shape[1] != len(features) or len(times) != X.shape[0]:
                raise InputError(f"series {sid}: X of shape {X.shape} does not match {len(times)} times "
                                 f"and {len(features)} features")
            if np.isinf(X).any():
                raise InputError(f"series {sid}: infinite values")
            info = self._register(sid, dict(labels or {}), source, features)
            group = self._groups[info.group]
            column = {f: c for c, f in enumerate(features)}
            Xg = np.column_stack([X[:, column[f]] if f in column else np.full(len(X), np.nan)
                                  for f in group.features])
            flags = np.ones(len(X), dtype=bool) if learn is None else np.asarray(learn[i], dtype=bool)
            prepared.append((sid, np.asarray(times, dtype=float), Xg, flags))
            by_group.setdefault(info.group, []).append(i)
        out: list[tuple[list[str], StepResult] | None] = [None] * len(items)
        for key, members in by_group.items():
            group = self._groups[key]
            lengths = np.array([len(prepared[i][1]) for i in members])
            # rows ordered by (step, member): row k of every member, then row k + 1 ...
            step = np.concatenate([np.arange(n) for n in lengths])
            who = np.concatenate([np.full(n, j) for j, n in enumerate(lengths)])
            order = np.lexsort((who, step))
            series = [prepared[members[j]][0] for j in who[order].tolist()]
            X = np.concatenate([prepared[i][2] for i in members])[order]
            times = np.concatenate([prepared[i][1] for i in members])[order]
            flags = np.concatenate([prepared[i][3] for i in members])[order]
            cuts = np.flatnonzero(np.diff(step[order])) + 1
            bounds = list(zip(np.concatenate(([0], cuts)).tolist(), np.concatenate((cuts, [len(order)])).tolist()))
            res = group.run(series, X, times, flags, bounds)
            names = [m.key for m in group.members]
            offsets = np.concatenate(([0], np.cumsum(lengths)))
            inverse = np.empty_like(order)
            inverse[order] = np.arange(len(order))
            for j, i in enumerate(members):
                pick = inverse[offsets[j]:offsets[j + 1]]
                out[i] = (names, _take(res, pick))
        return out  # type: ignore[return-value]

    # -- state ---------------------------------------------------------------------------------
    def series_ids(self) -> list[str]:
        return sorted(self._series)

    def export_state(self, series_ids: Iterable[str]) -> dict[str, bytes]:
        """One state record per known series (unknown ids are left out), in the state codec (no pickle).

        The record holds every array of the series' slot (whatever fields the group keeps), each
        detector's key and settings digest, and each bank's own state. A bank whose state cannot cross
        processes (``portable_state = False``) is saved without it and starts afresh on restore.
        """
        out: dict[str, bytes] = {}
        for sid in series_ids:
            info = self._series.get(sid)
            if info is None:
                continue
            group = self._groups[info.group]
            rec = group.store.export(sid)
            assert rec is not None
            portable = [getattr(m.bank, "portable_state", True) for m in group.members]
            state = {"v": STATE_VERSION, "labels": info.labels, "source": info.source, "features": info.group[1],
                     "keys": [m.key for m in group.members],
                     "digests": [m.digest if ok else None for m, ok in zip(group.members, portable)],
                     "banks": [m.bank.export_state(sid) if ok else None for m, ok in zip(group.members, portable)],
                     "slot": rec, "surprise": group.surprise.export(sid)}
            out[sid] = state_codec.dumps(state)
        return out

    def import_state(self, states: Mapping[str, bytes]) -> None:
        """Restore series; detectors whose settings changed since the export start afresh.

        A record that cannot be read or does not fit raises ``InputError`` naming the series, which is
        then left fresh; the records before it stay restored.
        """
        for sid, blob in states.items():
            try:
                state = state_codec.loads(blob)
            except state_codec.StateError as exc:
                raise InputError(f"state of {sid!r} cannot be read: {exc}") from None
            if not isinstance(state, dict) or type(state.get("v")) is not int or state["v"] != STATE_VERSION:
                raise InputError(f"state of {sid!r} is not a version {STATE_VERSION} engine state")
            self.forget([sid])
            try:
                self._restore_series(sid, state)
            except (KeyError, TypeError, ValueError, IndexError, AttributeError, InputError) as exc:
                self.forget([sid])
                raise InputError(f"state of {sid!r} does not fit: {type(exc).__name__}: {exc}") from None

    def _restore_series(self, sid: str, state: dict[str, Any]) -> None:
        labels, source, features = state["labels"], state["source"], state["features"]
        if not (isinstance(labels, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items())
                and isinstance(source, str) and isinstance(features, (list, tuple)) and features
                and all(isinstance(f, str) for f in features) and len(set(features)) == len(features)):
            raise InputError("labels, source or features are malformed")
        keys, digests, banks, saved = state["keys"], state["digests"], state["banks"], state["slot"]
        if not (isinstance(keys, list) and isinstance(digests, list) and isinstance(banks, list)
                and len(keys) == len(digests) == len(banks) and isinstance(saved, dict)):
            raise InputError("detector lists or slot arrays are malformed")
        info = self._register(sid, dict(labels), source, tuple(features))
        group = self._groups[info.group]
        slot = group.store.rows([sid])[0]
        arrays = group.store.arrays
        current = [(m.key, m.digest) for m in group.members]
        saved = {name: np.asarray(value) for name, value in saved.items()  # numpy scalars: one-value fields
                 if name in arrays and isinstance(value, (np.ndarray, np.generic))
                 and value.dtype.kind == arrays[name].dtype.kind}
        if current == list(zip(keys, digests)):  # same detectors, same settings: every field as it was
            for name, value in saved.items():
                if value.shape == arrays[name].shape[1:]:
                    arrays[name][slot] = value
            if "ranked" in arrays:  # the sorted copy is derived: rebuilt from the ring, never trusted
                arrays["ranked"][slot] = rank_rings(arrays["ring"][slot], arrays["seen"][slot])
        else:
            self._restore_changed(group, slot, saved, keys, digests)
        surprise = state.get("surprise")
        if isinstance(surprise, dict):  # a record without it (an older one) starts the surprise track afresh
            group.surprise.load(sid, {k: np.asarray(v) for k, v in surprise.items()}, len(group.features))
        for m in group.members:
            if (m.key, m.digest) in zip(keys, digests):
                bank_state = banks[keys.index(m.key)]
                if bank_state is not None:
                    m.bank.import_state(sid, bank_state)

    @staticmethod
    def _restore_changed(group: Any, slot: int, saved: dict[str, np.ndarray], keys: list[Any],
                         digests: list[Any]) -> None:
        """Detectors changed since the export: series counters, and the columns of detectors that did not."""
        arrays = group.store.arrays

        def fits(name: str, value: np.ndarray | None, shape: tuple[int, ...]) -> bool:
            return value is not None and name in arrays and value.shape == shape

        for name in ("count", "notches", "run", "last", *Episodes.fields()):  # the series', not a detector's
            if fits(name, saved.get(name), arrays[name].shape[1:] if name in arrays else ()):
                arrays[name][slot] = saved[name]
        lag = group.lag
        waiting = False
        if lag is not None and all(f"lag_{k}" in saved for k in ("x", "t", "ok")):
            waiting = lag.restore(arrays, slot, {"delay": lag.delay, "x": saved["lag_x"], "t": saved["lag_t"],
                                                 "ok": saved["lag_ok"], "filled": saved.get("lag_filled")})
        for j, m in enumerate(group.members):
            i = next((i for i, (k, d) in enumerate(zip(keys, digests)) if k == m.key and d == m.digest), None)
            if waiting:  # the points waiting to be learned stay; a changed detector keeps them out of its ring
                columns = None
                if i is not None and all(fits(f"lag_{k}", saved.get(f"lag_{k}"), (lag.delay, len(keys)))
                                         for k in ("raw", "level", "warm")):
                    columns = lag.detector_columns(saved, i)
                lag.restore_detector(arrays, slot, j, columns)
            ring, seen, tail = saved.get("ring"), saved.get("seen"), saved.get("tail")
            if i is None or not fits("ring", ring, (len(keys), *arrays["ring"].shape[2:])) \
                    or not fits("seen", seen, (len(keys),)):
                continue
            arrays["ring"][slot, j] = ring[i]
            arrays["seen"][slot, j] = seen[i]
            arrays["ranked"][slot, j] = rank_rings(ring[i][None], np.array([seen[i]]))[0]
            if fits("tail", tail, (len(keys), *arrays["tail"].shape[2:])):
                arrays["tail"][slot, j] = tail[i]

    def forget(self, series_ids: Iterable[str]) -> None:
        for sid in list(series_ids):
            info = self._series.pop(sid, None)
            if info is None:
                continue
            group = self._groups[info.group]
            group.store.drop(sid)
            group.surprise.forget([sid])
            for m in group.members:
                m.bank.forget(sid)

    def reconfigure(self, config: DetectionConfig) -> None:
        """Apply a new configuration, keeping each series' state for detectors whose settings did not change."""
        states = self.export_state(self.series_ids())
        self._series.clear()
        self._groups.clear()
        self._apply(config)
        self.import_state(states)

    def feedback(self, series_id: str, time: float, verdict: str) -> None:
        """A false positive raises this series' threshold a notch; a true positive lowers it back one."""
        if verdict not in VERDICTS:
            raise InputError(f"verdict must be one of {', '.join(VERDICTS)}, got {verdict!r}")
        info = self._series.get(series_id)
        if info is None:
            raise InputError(f"feedback for unknown series {series_id!r}")
        group = self._groups[info.group]
        slot = group.store.rows([series_id])[0]
        notches = group.store.arrays["notches"]
        before = int(notches[slot])
        if verdict == "false_positive":
            notches[slot] = min(before + 1, self.config.feedback.max_notches)
        else:
            notches[slot] = max(before - 1, 0)
        log.info("feedback applied", series_id=series_id, time=time, verdict=verdict, notches=int(notches[slot]),
                 threshold=self.threshold_of(series_id))

    def threshold_of(self, series_id: str) -> float:
        """The threshold this series is flagged at now (its profile's, moved by feedback)."""
        info = self._series.get(series_id)
        if info is None:
            raise InputError(f"unknown series {series_id!r}")
        group = self._groups[info.group]
        notches = int(group.store.arrays["notches"][group.store.rows([series_id])[0]])
        return 1.0 - (1.0 - group.profile.threshold) * self.config.feedback.notch ** notches


def _check_event(i: int, event: Event) -> None:
    features = event.features
    if not isinstance(features, dict) or not features:
        raise InputError(f"event {i} ({event.series_id!r}) has no features")
    t = event.time
    if type(t) is not float and (type(t) is not int):
        if isinstance(t, bool) or not isinstance(t, (int, float)):
            raise InputError(f"event {i} ({event.series_id!r}) has no numeric time: {t!r}")
    if t - t != 0.0:
        raise InputError(f"event {i} ({event.series_id!r}) has no finite time: {t!r}")
    for name, value in features.items():
        kind = type(value)
        if kind is float:
            if value - value != 0.0 and value == value:
                raise InputError(f"event {i} ({event.series_id!r}) feature {name!r} is infinite")
        elif kind is not int:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InputError(f"event {i} ({event.series_id!r}) feature {name!r} is not a number: {value!r}")
            if math.isinf(value):
                raise InputError(f"event {i} ({event.series_id!r}) feature {name!r} is infinite")


def _layout_matrix(features: tuple[str, ...], times: list[Any], feats: list[Any]) -> np.ndarray | None:
    """The (rows, features) values of a batch certainly valid and carrying exactly ``features``; else None.

    Valid as ``_check_event`` means it (plain numbers, NaN but no infinity;
    finite times), checked by whole-column passes; None sends the batch down
    the general path, which checks event by event and warns about extras.

    >>> _layout_matrix(("a", "b"), [0.0, 1], [{"b": 2.0, "a": 1}, {"a": math.nan, "b": 3.0}]).tolist()
    [[1.0, 2.0], [nan, 3.0]]
    >>> [_layout_matrix(("a",), [0.0], [f]) for f in ({}, {"a": 1.0, "b": 2.0}, {"a": math.inf}, {"a": True})]
    [None, None, None, None]
    >>> _layout_matrix(("a",), [math.nan], [{"a": 1.0}]) is None
    True
    """
    n, f = len(feats), len(features)
    # valid, and exactly the layout's keys: all of them present and no more keys than that in total
    if not _plainly_valid(times, feats) or sum(map(len, feats)) != n * f:
        return None
    try:
        return np.array(list(map(itemgetter(*features), feats)), dtype=float).reshape(n, f)
    except (KeyError, OverflowError):  # a feature missing; an int beyond the floats
        return None


def _plainly_valid(times: list[Any], features: list[Any]) -> bool:
    """True when whole-batch checks show every event valid: plain dicts of plain finite numbers, finite times.

    False means "look closer", not "invalid": ``_check_event`` then decides, event by event, with its messages.

    >>> _plainly_valid([0.0, 1], [{"v": 1.0}, {"v": math.nan, "w": 2}])
    True
    >>> [_plainly_valid([0.0], [f]) for f in ({}, {"v": math.inf}, {"v": True}, {"v": "1"})]
    [False, False, False, False]
    """
    if not set(map(type, features)) <= _DICT or not all(features) or not _plain_times(times):
        return False
    values = list(chain.from_iterable(map(dict.values, features)))
    return set(map(type, values)) <= _PLAIN_NUMBERS and math.inf not in values and -math.inf not in values


def _plain_times(times: list[Any]) -> bool:
    """True when every time is a plain finite number (their sum is finite only then, or it overflowed).

    >>> [_plain_times([0.0, 1]), _plain_times([1e308, 1e308])]
    [True, False]
    >>> [_plain_times([t]) for t in (math.nan, -math.inf, "0", True, 10 ** 400)]
    [False, False, False, False, False]
    """
    if not set(map(type, times)) <= _PLAIN_NUMBERS:
        return False
    try:
        return math.isfinite(sum(times))
    except OverflowError:  # an int beyond the floats
        return False


def _steps(series_ids: Sequence[str]) -> list[int]:
    """The step of each row: how many rows of its series came before it in the batch.

    >>> _steps(["a", "b", "a", "a", "b"])
    [0, 0, 1, 2, 1]
    """
    seen: dict[str, int] = {}
    steps = []
    for sid in series_ids:
        k = seen.get(sid, 0)
        seen[sid] = k + 1
        steps.append(k)
    return steps


def _scores(group: _Group, ids: list[str], times: list[Any], res: StepResult) -> list[Score]:
    """One ``Score`` per row, its dicts built from whole columns (``tolist``) by dict displays."""
    by_detector = _dict_rows(tuple(m.key for m in group.members))
    feats = group.features
    n = len(ids)
    expected: list[dict[str, tuple[float, float]]]
    if len(feats) == 1:  # one feature: literal one-key dicts, the common metric case
        f0 = feats[0]
        contributions = [{f0: c} for c in res.contributions[:, 0].tolist()]
        if res.low is None or res.high is None:
            expected = [{} for _ in range(n)]
        else:
            expected = [{f0: (lo, hi)} if lo == lo else {}
                        for lo, hi in zip(res.low[:, 0].tolist(), res.high[:, 0].tolist())]
    else:
        by_feature = _dict_rows(feats)
        contributions = by_feature(res.contributions.tolist())
        if res.low is None or res.high is None:
            expected = [{} for _ in range(n)]
        elif not np.isnan(res.low).any():
            expected = by_feature(map(zip, res.low.tolist(), res.high.tolist()))
        else:
            expected = [{f: (a, b) for f, a, b in zip(feats, lo, hi) if a == a}
                        for lo, hi in zip(res.low.tolist(), res.high.tolist())]
    # columns (d lists of n) are cheaper to get than rows; zip turns them back into rows
    detectors = by_detector(zip(*res.calibrated.T.tolist()))
    raw = by_detector(zip(*res.raw.T.tolist()))
    return list(map(Score, ids, times, res.score.tolist(), res.threshold.tolist(), res.flagged.tolist(),
                    detectors, raw, contributions, expected, res.learned.tolist(),
                    res.anomaly_score.tolist(), res.alert.tolist(), res.episode.tolist(),
                    [END_REASONS[e] for e in res.ended.tolist()]))


@lru_cache(maxsize=1024)
def _dict_rows(keys: tuple[str, ...]) -> Callable[[Iterable[Iterable[Any]]], list[dict[str, Any]]]:
    """A function turning rows of values into dicts over ``keys``.

    Up to eight keys, a dict display written out per arity (about twice as fast as ``dict(zip)``);
    more keys, ``dict(zip)``. No code is generated at run time.

    >>> _dict_rows(("a", "b"))([[1.0, 2.0], (3.0, 4.0)])
    [{'a': 1.0, 'b': 2.0}, {'a': 3.0, 'b': 4.0}]
    >>> _dict_rows(("a",))(zip([5.0]))
    [{'a': 5.0}]
    >>> _dict_rows(tuple("abcdefghij"))([range(10)])[0]["j"]
    9
    """
    display = _DISPLAYS.get(len(keys))
    if display is not None:
        return display(*keys)
    return lambda rows: [dict(zip(keys, values)) for values in rows]


def _display1(a: str) -> Callable[[Iterable[Iterable[Any]]], list[dict[str, Any]]]:
    return lambda rows: [{a: v0} for v0, in rows]


def _display2(a: str, b: str) -> Callable[[Iterable[Iterable[Any]]], list[dict[str, Any]]]:
    return lambda rows: [{a: v0, b: v1} for v0, v1 in rows]


def _display3(a: str, b: str, c: str) -> Callable[[Iterable[Iterable[Any]]], list[dict[str, Any]]]:
    return lambda rows: [{a: v0, b: v1, c: v2} for v0, v1, v2 in rows]


def _display4(a: str, b: str, c: str, d: str) -> Callable[[Iterable[Iterable[Any]]], list[dict[str, Any]]]:
    return lambda rows: [{a: v0, b: v1, c: v2, d: v3} for v0, v1, v2, v3 in rows]


def _display5(a: str, b: str, c: str, d: str, e: str) -> Callable[[Iterable[Iterable[Any]]], list[dict[str, Any]]]:
    return lambda rows: [{a: v0, b: v1, c: v2, d: v3, e: v4} for v0, v1, v2, v3, v4 in rows]


def _display6(a: str, b: str, c: str, d: str, e: str,
              f: str) -> Callable[[Iterable[Iterable[Any]]], list[dict[str, Any]]]:
    return lambda rows: [{a: v0, b: v1, c: v2, d: v3, e: v4, f: v5} for v0, v1, v2, v3, v4, v5 in rows]


def _display7(a: str, b: str, c: str, d: str, e: str, f: str,
              g: str) -> Callable[[Iterable[Iterable[Any]]], list[dict[str, Any]]]:
    return lambda rows: [{a: v0, b: v1, c: v2, d: v3, e: v4, f: v5, g: v6} for v0, v1, v2, v3, v4, v5, v6 in rows]


def _display8(a: str, b: str, c: str, d: str, e: str, f: str, g: str,
              h: str) -> Callable[[Iterable[Iterable[Any]]], list[dict[str, Any]]]:
    return lambda rows: [{a: v0, b: v1, c: v2, d: v3, e: v4, f: v5, g: v6, h: v7}
                         for v0, v1, v2, v3, v4, v5, v6, v7 in rows]


_DISPLAYS: dict[int, Callable[..., Callable[[Iterable[Iterable[Any]]], list[dict[str, Any]]]]] = {
    1: _display1, 2: _display2, 3: _display3, 4: _display4, 5: _display5, 6: _display6, 7: _display7, 8: _display8}


def _take(res: StepResult, pick: np.ndarray) -> StepResult:
    return StepResult(res.score[pick], res.threshold[pick], res.flagged[pick], res.learned[pick],
                      res.calibrated[pick], res.raw[pick], res.contributions[pick],
                      None if res.low is None else res.low[pick], None if res.high is None else res.high[pick],
                      *(None if v is None else v[pick]
                        for v in (res.anomaly_score, res.alert, res.episode, res.ended, res.hot)))


def build_engine(config: DetectionConfig | None = None) -> Engine:
    """The engine the pipeline runs (default settings when ``config`` is None)."""
    return Engine(config if config is not None else DetectionConfig())
