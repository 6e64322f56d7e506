"""The detector contract: a bank keeps one detector for many series and scores a whole time step at once.

The engine (``aiops.detectors.engine``) cuts a batch into steps (the k-th
point of each series is in step k), groups series that share a feature
layout, and for each step asks every bank of the group to ``score`` all the
group's rows together, then to ``learn`` them under a mask. Raw scores have
any scale (higher = more anomalous): calibration, thresholds and episodes
are the engine's, the same for every bank.

What a bank can and cannot do is declared once, as class attributes of
``BankBase`` that each bank inherits and overrides where it differs; the
engine reads them as they are declared (``CAPABILITIES`` names them). A
bank's exported state per series is plain data (numbers, strings, NumPy
arrays, lists and dicts of them) that ``aiops.detectors.core.state_codec``
turns into bytes for the state topic (``state_to_bytes``,
``state_from_bytes``); nothing read back is ever unpickled.
``aiops.detectors.checks.check_bank`` checks a bank against all of this.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Iterable, Mapping, NamedTuple, Protocol, Sequence

from aiops.detectors.core import state_codec
from aiops.detectors.core.errors import InputError

if TYPE_CHECKING:
    import numpy as np

    from aiops.detectors.config import DetectionConfig
    from aiops.detectors.core.shapes import Event, Score


class ScoringEngine(Protocol):
    """What the pipeline asks of the detection layer (built by ``aiops.detectors.engine.build_engine``).

    ``process`` is causal: each event is scored against the state learned from
    the events before it (its series' earlier events in this and earlier
    calls), then learned from, unless it was flagged anomalous or ``learn`` says
    no for it (maintenance windows). Events of many series may be mixed in one
    call; the result has one ``Score`` per event, in the same order.
    """

    def process(self, events: Sequence["Event"], *, learn: Sequence[bool] | None = None) -> list["Score"]: ...

    def process_notable(self, events: Sequence["Event"], *,
                        learn: Sequence[bool] | None = None) -> list["Score | None"]:
        """``process``, with None for the events neither in an anomaly episode nor ending one."""
        ...

    def export_state(self, series_ids: Iterable[str]) -> dict[str, bytes]: ...

    def import_state(self, states: Mapping[str, bytes]) -> None: ...

    def restore(self, states: Mapping[str, bytes]) -> dict[str, InputError]:
        """``import_state`` of many records: the refused ones with why instead of raising (the others load)."""
        ...

    def forget(self, series_ids: Iterable[str]) -> None: ...

    def series_ids(self) -> list[str]: ...

    def reconfigure(self, config: "DetectionConfig") -> None: ...

    def feedback(self, series_id: str, time: float, verdict: str) -> None: ...


class BankScores(NamedTuple):
    """Raw scores of one step of many series (one row per series).

    ``per_feature`` (n, f) says how much each feature contributed (any
    non-negative scale), ``expected_low``/``expected_high`` (n, f) the range
    the detector expected for each feature; each may be None when the
    detector cannot tell.
    """

    raw: "np.ndarray"
    per_feature: "np.ndarray | None" = None
    expected_low: "np.ndarray | None" = None
    expected_high: "np.ndarray | None" = None


class DetectorBank(Protocol):
    """One detector kept for many series at once, fed one time step at a time.

    Per step the engine calls ``score`` on the rows of every series of a
    group at once (each series at most once), combines, then ``learn`` with
    every row of the step and a mask of the rows to learn from (not flagged,
    not paused). ``score`` must not change state and a row's score must not
    depend on later rows. ``learn`` moves baselines on the masked rows only,
    while a sequential test's own statistic (a CUSUM sum, a smoothed residual)
    advances on every row, so that a finished alarm does not stay frozen in
    it. A bank that ``learns_late`` also has ``learn_late(series, X,
    features, times)``: the rows of ``learn(mask)``, learned steps later (its
    charts moved when they came). ``export_state`` gives a series' state as
    plain data (``state_codec`` encodes it), or None for an unknown series;
    ``import_state`` of it in a fresh bank scores the next rows identically.
    """

    name: str

    def score(self, series: Sequence[str], X: "np.ndarray", features: Sequence[str], times: "np.ndarray") -> BankScores: ...

    def learn(self, series: Sequence[str], X: "np.ndarray", features: Sequence[str], times: "np.ndarray", mask: "np.ndarray") -> None: ...

    def warm(self, series: Sequence[str]) -> "np.ndarray":
        """Boolean per series: has it seen enough points to be trusted?"""
        ...

    def export_state(self, series_id: str) -> object | None: ...

    def import_state(self, series_id: str, state: object) -> None: ...

    def forget(self, series_id: str) -> None: ...


#: The capabilities every bank declares (class attributes of ``BankBase``), all booleans.
CAPABILITIES = ("multivariate_only", "accepts_missing", "joint", "learns_late", "learns_partial",
                "abstains_when_cold", "portable_state", "shows_expected_range")


class BankBase:
    """What a bank declares about itself, with the defaults; the engine reads these and never guesses.

    >>> from aiops.detectors.registry import BANKS
    >>> zscore = BANKS.load("zscore")
    >>> zscore.accepts_missing, zscore.learns_late, zscore.shows_expected_range, zscore.multivariate_only
    (True, True, True, False)
    >>> undeclared(zscore), undeclared(object)[:2], undeclared(object)[-1]
    ([], ['multivariate_only', 'accepts_missing'], 'applies_to')
    """

    name: ClassVar[str] = "bank"
    #: scores rows of two features or more only: the engine leaves it out of one-feature groups
    multivariate_only: ClassVar[bool] = False
    #: scores NaN features and skips them in learning; else the engine fills them with the series' last values
    accepts_missing: ClassVar[bool] = False
    #: scores a row as a whole: on several features its flag opens an episode without the surprise track's consent
    joint: ClassVar[bool] = False
    #: has ``learn_late``: under ``learn_delay`` the engine learns its rows later; else it learns them at once
    learns_late: ClassVar[bool] = False
    #: ``learn_late`` of a row with NaN features moves only the others: the engine teaches it a flagged row's bystanders
    learns_partial: ClassVar[bool] = False
    #: until warm and calibrated it is left out of the ensemble, instead of saying 0.5 ("no opinion")
    abstains_when_cold: ClassVar[bool] = False
    #: its state goes to the state topic; else the engine saves the series without it and the bank re-learns
    portable_state: ClassVar[bool] = True
    #: its expected range is the one a ``Score`` shows (else the first bank giving one in the step)
    shows_expected_range: ClassVar[bool] = False

    @classmethod
    def applies_to(cls, n_features: int, params: Mapping[str, Any]) -> bool:
        """Whether a group of series with this many features gets this bank, with these settings (default: yes)."""
        return True


def undeclared(cls: type) -> list[str]:
    """The capabilities a bank class does not declare as booleans, and ``applies_to`` if it lacks it.

    The engine refuses a bank with anything missing here.
    """
    found = {}
    for klass in reversed(cls.__mro__):
        found.update({k: v for k, v in vars(klass).items() if k in CAPABILITIES})
    missing = [c for c in CAPABILITIES if type(found.get(c)) is not bool]
    return missing if callable(getattr(cls, "applies_to", None)) else [*missing, "applies_to"]


def state_to_bytes(bank: DetectorBank, series_id: str) -> bytes | None:
    """A series' exported state as the bytes the state topic carries (None: the bank does not know it)."""
    state = bank.export_state(series_id)
    return None if state is None else state_codec.dumps(state)


def state_from_bytes(bank: DetectorBank, series_id: str, blob: bytes) -> None:
    """Restore a series from ``state_to_bytes``; unreadable bytes raise ``InputError``."""
    try:
        state = state_codec.loads(blob)
    except state_codec.StateError as exc:
        raise InputError(f"{bank.name}: state of {series_id!r} cannot be read: {exc}") from None
    bank.import_state(series_id, state)


class BankInputError(InputError):
    """Rows handed to a bank do not match the series and feature names given with them."""


def check_rows(series: Sequence[str], X: "np.ndarray", features: Sequence[str], *,
               error: type[InputError] = BankInputError) -> "np.ndarray":
    """The rows as a float64 (n, f) array, or ``error`` naming what is wrong.

    >>> check_rows(["a"], [[1.0, 2.0]], ["x", "y"]).shape
    (1, 2)
    >>> try:
    ...     check_rows(["a"], [[float("nan")]], ["x"])
    ... except InputError as exc:
    ...     print(exc)
    non-finite feature values for series ['a']
    """
    import numpy as np

    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape != (len(series), len(features)):
        raise error(f"expected {len(series)} rows of {len(features)} features, got shape {X.shape}")
    bad = ~np.isfinite(X).all(axis=1)
    if bad.any():
        names = [series[i] for i in np.flatnonzero(bad)[:5]]
        raise error(f"non-finite feature values for series {names}")
    return X
