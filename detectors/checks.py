"""One check suite that every detector bank passes, as River's ``check_estimator`` does for its estimators.

``check_bank(name, params)`` builds the registered bank ``name`` with
``params`` (as the engine builds it from a detector's settings) and runs
every check of ``CHECKS``, raising ``BankCheckError`` that names the first
check that fails. A plugin author runs it on a bank in a test:

>>> from structlog.testing import capture_logs
>>> with capture_logs():
...     check_bank("zscore", {"alpha": 0.02})
>>> check_bank("zscore", {"alpha": 0.02}, only=["causal", "state_round_trip"])

The checks feed seeded noise of three correlated features
(``series_rows``), one step at a time (score, then learn), as the engine
does:

- ``declares_capabilities``: every capability of ``BankBase`` is declared on
  the class as a boolean (not set per instance), ``learns_late`` says
  whether there is a ``learn_late``, and ``applies_to`` answers a boolean;
- ``score_shapes``: one finite raw score per row, per-feature arrays of
  (rows, features), ``warm`` one boolean per series, also for a series never
  seen;
- ``score_is_pure``: scoring changes nothing (the same row scores the same
  after other rows were scored);
- ``causal``: a row's score never changes when later rows are appended;
- ``series_independent``: a series scores the same whether or not another
  series shares its steps (up to the rounding of batched float32 arithmetic);
- ``deterministic``: two banks built alike and fed alike give the same arrays,
  bit for bit (seeds come from the settings);
- ``state_round_trip``: exported state, turned into the state topic's bytes
  (``state_codec``) and imported into a fresh bank, gives the same later
  scores; a bank whose state is not ``portable_state`` round-trips in the
  process only;
- ``learn_late_splits_learning``: for a bank that ``learns_late``,
  ``learn(mask)`` leaves the state that ``learn(nothing)`` and then
  ``learn_late`` of the masked rows leave (what ``learn_delay`` relies on);
- ``forget``: a forgotten series exports nothing and is not warm;
- ``missing_values``: a NaN feature is scored and learned without poisoning
  the series (later scores finite, a shift of that feature still seen) when
  the bank ``accepts_missing``, and is refused with an
  ``InputError`` when it does not (the engine then fills gaps for it);
- ``engine_gaps``: through the engine with this detector alone, NaN features
  and missing keys give finite scores and leave the later raw scores
  following those of the same series without gaps;
- ``calibrated_spread``: through the engine with this detector alone, at most
  1 % of the calibrated scores of eight noisy series (the detector's, the ensemble's,
  ``anomaly_score``) sit at exactly 1.0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from aiops.detectors.base import CAPABILITIES, BankScores, state_from_bytes, state_to_bytes, undeclared
from aiops.detectors.config import DetectionConfig, DetectorSpec
from aiops.detectors.core import state_codec
from aiops.detectors.core.errors import InputError
from aiops.detectors.core.shapes import Event, Score
from aiops.detectors.engine import Engine, build_engine
from aiops.detectors.registry import BANKS

FEATURES = ("a", "b", "c")
#: At most this share of calibrated scores may sit at exactly 1.0 on a noisy series.
MAX_SHARE_AT_ONE = 0.01


class BankCheckError(AssertionError):
    """A bank breaks the detector contract; the message names the check and what it saw."""


@dataclass(frozen=True)
class BankCase:
    """A registered bank and the settings it is checked with."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    features: tuple[str, ...] = FEATURES

    def bank_class(self) -> type:
        return BANKS.load(self.name)

    def make(self) -> Any:
        """A fresh bank, built as the engine builds it."""
        return self.bank_class()(**dict(self.params))

    def engine(self) -> Engine:
        """An engine with the default settings and this detector alone."""
        return build_engine(DetectionConfig(detectors=[DetectorSpec(type=self.name, params=dict(self.params))]))


def series_rows(n: int, seed: int = 0, n_features: int = 3) -> np.ndarray:
    """``n`` rows of seeded noise: two correlated features, then independent ones around 5.

    >>> series_rows(4, n_features=3).shape
    (4, 3)
    """
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, 1))
    columns = [base, base + 0.3 * rng.normal(size=(n, 1))] + [5.0 + rng.normal(size=(n, 1))
                                                              for _ in range(n_features - 2)]
    return np.hstack(columns)[:, :n_features]


def feed(bank: Any, series: Sequence[str], rows: Sequence[np.ndarray], features: Sequence[str],
         start: int = 0) -> list[BankScores]:
    """Score then learn each step (one row per series in ``rows[k]``), as the engine does; the scores."""
    out = []
    ids = list(series)
    for k, X in enumerate(rows):
        t = np.full(len(ids), float(start + k))
        out.append(bank.score(ids, X, features, t))
        bank.learn(ids, X, features, t, np.ones(len(ids), dtype=bool))
    return out


def _raw(scores: Sequence[BankScores], row: int = 0) -> list[float]:
    return [float(s.raw[row]) for s in scores]


def _one(X: np.ndarray) -> list[np.ndarray]:
    """The rows of one series as steps."""
    return [X[i:i + 1] for i in range(len(X))]


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise BankCheckError(message)


def check_declares_capabilities(case: BankCase) -> None:
    cls = case.bank_class()
    missing = undeclared(cls)
    _require(not missing, f"capabilities not declared as booleans on the class: {missing} (inherit BankBase)")
    has_late = callable(getattr(cls, "learn_late", None))
    _require(cls.learns_late == has_late, f"learns_late is {cls.learns_late} but learn_late "
                                          f"{'exists' if has_late else 'does not exist'}")
    _require(not cls.learns_partial or cls.learns_late, "learns_partial without learns_late")
    applies = cls.applies_to(len(case.features), dict(case.params))
    _require(type(applies) is bool, f"applies_to answered {applies!r}, not a boolean")
    shadowed = set(CAPABILITIES) & set(getattr(case.make(), "__dict__", {}))
    _require(not shadowed, f"capabilities set per instance, not declared: {sorted(shadowed)}")


def check_score_shapes(case: BankCase) -> None:
    bank, f = case.make(), len(case.features)
    X = series_rows(60, n_features=f)
    feed(bank, ["s"], _one(X), case.features)
    scored = bank.score(["s", "new"], X[:2], case.features, np.array([60.0, 60.0]))
    _require(isinstance(scored, BankScores), f"score gave {type(scored).__name__}, not BankScores")
    raw = np.asarray(scored.raw)
    _require(raw.shape == (2,) and bool(np.isfinite(raw).all()), f"raw scores {raw!r}: not two finite values")
    for label, extra in zip(("per_feature", "expected_low", "expected_high"), scored[1:]):
        _require(extra is None or np.shape(extra) == (2, f), f"{label} has shape {np.shape(extra)}, not (2, {f})")
    warm = np.asarray(bank.warm(["s", "never-seen"]))
    _require(warm.dtype == bool and warm.shape == (2,) and not warm[1], f"warm gave {warm!r}")


def check_score_is_pure(case: BankCase) -> None:
    bank = case.make()
    feed(bank, ["s"], _one(series_rows(60, n_features=len(case.features))), case.features)
    probe = series_rows(2, seed=9, n_features=len(case.features))
    t = np.array([60.0])
    first = bank.score(["s"], probe[:1], case.features, t).raw
    bank.score(["s"], probe[1:2] * 50, case.features, t)
    again = bank.score(["s"], probe[:1], case.features, t).raw
    _require(np.array_equal(first, again), f"scoring changed the state: {first} then {again}")


def check_causal(case: BankCase) -> None:
    X = series_rows(80, n_features=len(case.features))
    first = _raw(feed(case.make(), ["s"], _one(X[:50]), case.features))
    whole = _raw(feed(case.make(), ["s"], _one(X), case.features))
    changed = [i for i, (a, b) in enumerate(zip(first, whole)) if a != b]
    _require(not changed, f"scores of rows {changed[:5]} changed when later rows were appended")


def check_series_independent(case: BankCase) -> None:
    f = len(case.features)
    X, other = series_rows(80, n_features=f), series_rows(80, seed=4, n_features=f) * 3.0
    alone = _raw(feed(case.make(), ["s"], _one(X), case.features))
    together = _raw(feed(case.make(), ["s", "t"], [np.vstack([X[i], other[i]]) for i in range(80)], case.features))
    # the same scores, up to the rounding of arithmetic batched across rows (float32 models)
    changed = np.flatnonzero(~np.isclose(alone, together, rtol=1e-5, atol=1e-12)).tolist()
    _require(not changed, f"series s scored differently at rows {changed[:5]} beside series t")


def check_deterministic(case: BankCase) -> None:
    f = len(case.features)
    X, other = series_rows(90, seed=2, n_features=f), series_rows(90, seed=6, n_features=f)
    steps = [np.vstack([X[i], other[i]]) for i in range(90)]
    first = feed(case.make(), ["s", "t"], steps, case.features)
    second = feed(case.make(), ["s", "t"], steps, case.features)
    for k, (a, b) in enumerate(zip(first, second)):
        for label, x, y in zip(BankScores._fields, a, b):
            same = (x is None and y is None) or (x is not None and y is not None
                                                  and np.array_equal(x, y, equal_nan=True))
            _require(same, f"two banks built and fed alike differ in {label} at step {k}")


def check_state_round_trip(case: BankCase) -> None:
    X = series_rows(90, n_features=len(case.features))
    bank, other = case.make(), case.make()
    feed(bank, ["s"], _one(X[:60]), case.features)
    _require(bank.export_state("never-seen") is None, "a series never seen exports a state")
    if bank.portable_state:
        try:
            blob = state_to_bytes(bank, "s")
        except state_codec.StateError as exc:
            raise BankCheckError(f"the exported state cannot be encoded for the state topic: {exc}") from None
        _require(blob is not None, "a known series exports no state")
        try:
            state_from_bytes(other, "s", blob)  # type: ignore[arg-type]
        except InputError as exc:
            raise BankCheckError(f"the exported state does not import into a fresh bank: {exc}") from None
    else:  # the state stays in this process: the engine never writes it to the state topic
        other.import_state("s", bank.export_state("s"))
    mine = _raw(feed(bank, ["s"], _one(X[60:]), case.features, start=60))
    theirs = _raw(feed(other, ["s"], _one(X[60:]), case.features, start=60))
    _require(mine == theirs, f"after a state round trip the next scores differ: {mine[:3]} ... vs {theirs[:3]} ...")
    _require(bool(bank.warm(["s"])[0]) == bool(other.warm(["s"])[0]), "warm differs after a state round trip")


def check_learn_late_splits_learning(case: BankCase) -> None:
    bank, twin = case.make(), case.make()
    if not bank.learns_late:
        return
    X = series_rows(90, n_features=len(case.features))
    feed(bank, ["s"], _one(X[:60]), case.features)
    feed(twin, ["s"], _one(X[:60]), case.features)
    for i in range(60, 90):
        row, t, keep = X[i:i + 1], np.array([float(i)]), np.array([i % 3 != 0])
        bank.learn(["s"], row, case.features, t, keep)
        twin.learn(["s"], row, case.features, t, np.array([False]))
        if keep[0]:
            twin.learn_late(["s"], row, case.features, t)
    same = state_codec.dumps(bank.export_state("s")) == state_codec.dumps(twin.export_state("s"))
    _require(same, "learn(mask) differs from learn(nothing) now plus learn_late of the masked rows")


def check_forget(case: BankCase) -> None:
    bank = case.make()
    feed(bank, ["s"], _one(series_rows(60, n_features=len(case.features))), case.features)
    bank.forget("s")
    _require(bank.export_state("s") is None, "a forgotten series still exports a state")
    _require(not bank.warm(["s"])[0], "a forgotten series is still warm")


def check_missing_values(case: BankCase) -> None:
    f = len(case.features)
    X = series_rows(200, n_features=f)
    row = X[150:151].copy()
    row[0, 1] = np.nan
    t = np.array([150.0])
    banks = [case.make(), case.make()]
    for bank in banks:
        feed(bank, ["s"], _one(X[:150]), case.features)
    if not banks[0].accepts_missing:
        try:
            banks[0].score(["s"], row, case.features, t)
        except InputError:
            return
        raise BankCheckError("a NaN feature was scored by a bank that does not declare accepts_missing")
    for bank in banks:
        _require(bool(np.isfinite(bank.score(["s"], row, case.features, t).raw).all()), "a NaN feature scored "
                                                                                          "non-finite")
        bank.learn(["s"], row, case.features, t, np.array([True]))
        later = _raw(feed(bank, ["s"], _one(X[151:180]), case.features, start=151))
        _require(bool(np.isfinite(later).all()), "learning a NaN feature made later scores non-finite")
    # the feature that was missing is still watched: shifting it (not learned) raises the score
    shifted = X[180:].copy()
    shifted[:, 1] += 10.0 * X[:, 1].std()
    ones = np.ones(1, dtype=bool)
    highest = []
    for bank, rows in zip(banks, (X[180:], shifted)):
        raws = []
        for i, x in enumerate(rows):
            ti = np.array([180.0 + i])
            raws.append(float(bank.score(["s"], x[None, :], case.features, ti).raw[0]))
            bank.learn(["s"], x[None, :], case.features, ti, ~ones)
        highest.append(max(raws))
    _require(highest[1] > highest[0], "after a NaN was learned, a shift of that feature no longer raises the score")


def _events(series_id: str, X: np.ndarray, features: Sequence[str]) -> list[Event]:
    return [Event("metric", series_id, {}, float(i), dict(zip(features, map(float, row))))
            for i, row in enumerate(X.tolist())]


def _numbers(score: Score) -> list[float]:
    return [score.score, score.anomaly_score, *score.detectors.values(), *score.raw.values()]


def check_engine_gaps(case: BankCase) -> None:
    X = series_rows(500, seed=3, n_features=len(case.features))
    clean = _events("gaps", X, case.features)
    gappy = _events("gaps", X, case.features)
    hole, dropped = case.features[1], case.features[-1]
    for i in range(200, 280, 4):
        gappy[i].features[hole] = float("nan")
    for i in range(202, 280, 5):
        del gappy[i].features[dropped]
    plain, holed = case.engine().process(clean), case.engine().process(gappy)
    bad = [i for i, s in enumerate(holed) if not np.isfinite(_numbers(s)).all()]
    _require(not bad, f"NaN features or missing keys gave non-finite scores at points {bad[:5]}")
    tail = slice(350, None)
    a = np.array([s.raw[case.name] for s in plain[tail]])
    b = np.array([s.raw[case.name] for s in holed[tail]])
    if np.array_equal(a, b):
        return
    _require(a.std() > 0 and b.std() > 0 and np.corrcoef(a, b)[0, 1] > 0.5,
             "70 points after the gaps the raw scores no longer follow those of the series without gaps")


def check_calibrated_spread(case: BankCase) -> None:
    f, n_series, steps = len(case.features), 8, 400
    events = [e for k in range(n_series) for e in _events(f"noise{k}", series_rows(steps, seed=5 + k, n_features=f),
                                                          case.features)]
    events.sort(key=lambda e: e.time)  # step by step, the series side by side, as a worker's batches come
    scores = case.engine().process(events)
    for label, values in (("the detector's calibrated score", [s.detectors[case.name] for s in scores]),
                          ("the ensemble score", [s.score for s in scores]),
                          ("anomaly_score", [s.anomaly_score for s in scores])):
        share = float(np.mean(np.asarray(values) == 1.0))
        _require(share <= MAX_SHARE_AT_ONE, f"{share:.1%} of {label} sit at exactly 1.0 on noise")


#: Every check, by name, in the order ``check_bank`` runs them.
CHECKS: dict[str, Callable[[BankCase], None]] = {
    "declares_capabilities": check_declares_capabilities,
    "score_shapes": check_score_shapes,
    "score_is_pure": check_score_is_pure,
    "causal": check_causal,
    "series_independent": check_series_independent,
    "deterministic": check_deterministic,
    "state_round_trip": check_state_round_trip,
    "learn_late_splits_learning": check_learn_late_splits_learning,
    "forget": check_forget,
    "missing_values": check_missing_values,
    "engine_gaps": check_engine_gaps,
    "calibrated_spread": check_calibrated_spread,
}


def check_bank(name: str, params: Mapping[str, Any] | None = None, *, only: Iterable[str] | None = None,
               features: Sequence[str] = FEATURES) -> None:
    """Run the checks (all, or those named in ``only``) on the registered bank ``name`` built with ``params``."""
    case = BankCase(name, dict(params or {}), tuple(features))
    for check in (CHECKS if only is None else list(only)):
        try:
            CHECKS[check](case)
        except BankCheckError as exc:
            raise BankCheckError(f"{name}: {check}: {exc}") from None

