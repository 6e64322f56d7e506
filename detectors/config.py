"""Settings of the detection layer: detectors, calibration, ensemble, thresholds, profiles.

Every model rejects unknown keys, and a detector's ``params`` are checked
against that detector's own parameter model, so a typo fails at start-up with
the key path in the message.

>>> c = DetectionConfig()
>>> [d.key for d in c.detectors], c.ensemble.method, c.threshold
(['zscore', 'cusum', 'mahalanobis', 'hst', 'ewma'], 'max', 0.99995)
>>> DetectionConfig.model_validate({"detectors": [{"type": "zscore", "params": {"alpah": 0.1}}]})
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for DetectionConfig
detectors.0
  Value error, params.alpah: unknown key ...
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from aiops.detectors.core.registry import Registry
from aiops.detectors.pyod_window import PyODConfig

#: Parameter models of banks whose module is heavy to import (torch, PyOD): validating a config then
#: loads only the model. A plugin adds one under the ``aiops.detector_params`` entry-point group;
#: every other bank describes its parameters with a ``Params`` attribute.
PARAMS_MODELS = Registry("detector_params", {"pyod": "aiops.detectors.pyod_window:PyODConfig"})


def params_model(bank_type: str) -> type[BaseModel] | None:
    """The model that checks a detector's ``params``: its registered one, else its bank's ``Params``.

    >>> params_model("pyod").__name__, params_model("zscore").__name__
    ('PyODConfig', 'ZScoreParams')
    """
    from aiops.detectors.registry import BANKS

    if bank_type in PARAMS_MODELS.names():
        return PARAMS_MODELS.load(bank_type)
    return getattr(BANKS.load(bank_type), "Params", None)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def describe_problems(exc: ValidationError, prefix: str) -> list[str]:
    """One ``prefix.key.path: why`` per problem of a validation error (an extra key says "unknown key")."""
    parts = []
    for err in exc.errors():
        path = ".".join([prefix, *(str(p) for p in err["loc"])])
        parts.append(f"{path}: unknown key" if err["type"] == "extra_forbidden" else f"{path}: {err['msg']}")
    return parts


def _describe(exc: ValidationError, prefix: str) -> str:
    return "; ".join(describe_problems(exc, prefix))


class DetectorSpec(_Section):
    """One detector of the ensemble: which bank (``type``), its label, weight and parameters."""

    type: str = Field(
            description="the detector bank: zscore, cusum, mahalanobis, mewma, hst, ewma, river, pyod, lstm_ae, or one "
                        "installed as a plugin")
    name: str | None = Field(None, description="label in scores (default: the type)")
    weight: float = Field(1.0, ge=0.0, description="weight in weighted_mean and vote")
    params: dict[str, Any] = Field(default_factory=dict,
            description="the bank's parameters (its keys are listed per type below)")

    @property
    def key(self) -> str:
        return self.name or self.type

    def digest(self) -> str:
        """A short hash of what defines this detector's state (type and params)."""
        raw = json.dumps([self.type, self.params], sort_keys=True, default=str)
        return hashlib.sha256(raw.encode()).hexdigest()[:12]

    @model_validator(mode="after")
    def _check_type_and_params(self) -> DetectorSpec:
        from aiops.detectors.core.errors import ConfigError

        try:
            model = params_model(self.type)
        except ConfigError as exc:
            raise ValueError(f"type: {exc}") from None
        except ImportError as exc:
            raise ValueError(f"type: detector {self.type!r} cannot be imported: {exc}") from None
        if model is not None:
            try:
                model.model_validate(self.params)
            except ValidationError as exc:
                raise ValueError(_describe(exc, "params")) from None
        return self


class CalibrationConfig(_Section):
    """How a detector's raw score becomes a probability-like value in [0, 1).

    Each detector keeps, per series, a ring of its last ``window`` raw scores
    on learned points (two bytes each: a score is kept within 0.4 %, its order
    exactly; see ``ring_keys``); a new score maps to its mid-rank ``(rank + 0.5)/(n + 1)``
    in that ring, and beyond the ring's maximum a tail that tends to 1 without
    reaching it. Above the ring's ``tail_k``-th largest score, a Pareto tail
    fitted to the excesses streamed over the series' whole history (weight
    ``tail_rate``) takes over once ``tail_min`` of them were seen.
    """

    window: int = Field(256, ge=8, le=65536, description="raw scores remembered per detector and series")
    min_history: int = Field(20, ge=1, description="below this many scores the detector says 0.5 (no opinion)")
    tail_k: int = Field(16, ge=3, description="top scores of the ring above which the tail takes over")
    tail_min: int = Field(16, ge=2, description="excesses streamed before the fitted Pareto tail replaces the ring's")
    tail_shape_max: float = Field(
        0.45, ge=0.0, lt=0.5, description="largest Pareto shape fitted (0: exponential tails only; never below 0, "
                                          "so light tails are not extrapolated as bounded)")
    tail_rate: float = Field(0.005, gt=0.0, le=1.0, description="weight of a new excess in the streamed tail moments")


class EnsembleConfig(_Section):
    """How the detectors' calibrated scores combine into one."""

    method: Literal["max", "mean", "weighted_mean", "vote"] = Field("max",
            description="how the detectors' calibrated scores combine: the largest, the mean, the weighted mean, or a "
                        "weighted vote (see quorum)")
    quorum: float = Field(
        0.5, gt=0.0, le=1.0, description="vote: share of total weight that must agree (score = the level they reach)"
    )


class FeedbackConfig(_Section):
    """How SRE verdicts move one series' threshold."""

    notch: float = Field(0.5, gt=0.0, lt=1.0, description="a false positive multiplies the tail (1 - threshold) by this")
    max_notches: int = Field(6, ge=0, description="most notches false positives may move one series' threshold")


class EpisodeConfig(_Section):
    """When an anomaly episode opens (one alert), stays open and ends (returned to baseline, or accepted)."""

    horizon_s: float = Field(3600.0, gt=0.0, description="an episode this long is the new normal: it ends as "
                                                          "'accepted' and the series' detectors re-base on it")
    close_after: int = Field(3, ge=1, description="points in a row neither flagged nor surprising that end an "
                                                   "episode as 'returned'")
    open_surprise: float = Field(4.0, ge=0.0, description="evidence (decades, -log10 p) a point flagged by per-feature "
                                                          "detectors needs to open an episode (a joint detector's "
                                                          "flag on a multivariate series needs none)")
    strong_surprise: float = Field(5.0, ge=0.0, description="evidence that opens an episode on its own")
    stay_surprise: float | None = Field(None, ge=0.0, description="evidence that keeps an open episode going besides "
                                                                  "flags (null: only flags do)")


class SurpriseConfig(_Section):
    """The forecasts behind ``anomaly_score`` (see ``aiops.detectors.surprise``)."""

    alpha_slow: float = Field(0.02, gt=0.0, le=1.0, description="weight of a point in the slow level")
    alpha_fast: float = Field(0.3, gt=0.0, le=1.0, description="weight of a point in the fast level")
    alpha_season: float = Field(0.15, gt=0.0, le=1.0, description="weight of a day's point in its phase's profile")
    rebase_run: int = Field(4, ge=2, description="errors in a row on one side that re-base the slow level")
    tail_quantile: float = Field(0.95, gt=0.5, lt=1.0, description="where the streamed Pareto tail of errors starts")


class MatchRule(_Section):
    """Which series a profile applies to; every given condition must hold (regexes, full match)."""

    series: str | None = Field(None, description="regex on the series id")
    source: Literal["metric", "log"] | None = Field(None,
            description="only events of this source, metric or log (null: both)")
    labels: dict[str, str] = Field(default_factory=dict, description="label name -> regex on its value")

    @field_validator("series")
    @classmethod
    def _series_regex(cls, value: str | None) -> str | None:
        if value is not None:
            _compile(value)
        return value

    @field_validator("labels")
    @classmethod
    def _label_regexes(cls, value: dict[str, str]) -> dict[str, str]:
        for name, pattern in value.items():
            try:
                _compile(pattern)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        return value

    def matches(self, series_id: str, labels: dict[str, str], source: str) -> bool:
        if self.source is not None and source != self.source:
            return False
        if self.series is not None and not re.fullmatch(self.series, series_id):
            return False
        return all(re.fullmatch(p, labels.get(k, "")) is not None for k, p in self.labels.items())


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regex {pattern!r}: {exc}") from None


class Profile(_Section):
    """Overrides for the series a rule matches; unset fields keep the top-level value."""

    name: str | None = Field(None, description="a label for the profile")
    match: MatchRule = MatchRule()
    detectors: list[DetectorSpec] | None = Field(None,
            description="the detectors of the matched series (null: detection.detectors)")
    threshold: float | None = Field(None, gt=0.0, lt=1.0,
            description="the threshold of the matched series (null: detection.threshold)")
    warmup: int | None = Field(None, ge=0, description="the warm-up of the matched series (null: detection.warmup)")
    ensemble: EnsembleConfig | None = None


def _default_profiles() -> list[Profile]:
    # the per-window counts of a log series (count, error_count, warning_count, error_ratio; see
    # ``aiops.pipeline.log_windows``) are small integers and ratios of them: mostly 0, now and then 1 of 3 lines.
    # The joint detectors (mahalanobis, hst) read each rare-but-ordinary combination as a new region: with 3 lines
    # a window and 5 % errors, 60 false-alarm episodes per 10k windows with them, 5.0 without; with 20 lines a
    # window, 10.0 and 0 (``tests/detectors/test_log_window_profile.py``). The per-feature detectors still find
    # an error burst, and the log detectors (error_burst, templates) judge the lines themselves.
    return [Profile(name="log windows", match=MatchRule(series=r"logs\|.*"),
                    detectors=[DetectorSpec(type="zscore"), DetectorSpec(type="cusum"), DetectorSpec(type="ewma")])]


def _default_detectors() -> list[DetectorSpec]:
    # mewma left the default once the surprise track's CUSUM and episodes found the sustained shifts it was there
    # for (``aiops quality`` without it: 3-sd level shift 20/20, delay 4 instead of 3; drift of 5 sd over 100
    # points 20/20, delay 40 instead of 38; variance x3 16/20 instead of 17/20). Without it 12 of 16 scenario
    # families hold instead of 11, false-alarm episodes per 10k fall on Student-t3 (2.8 -> 2.3) and four
    # correlated features (0.88 -> 0.53), SKAB online rises 0.8003 -> 0.805 while 400 rows trained falls
    # 0.816 -> 0.788, and the engine is faster (``aiops ablation``, row "no mewma")
    # hst (multivariate series only) adds what the others miss on SKAB, F1 0.589 -> 0.639 (0.581 -> 0.658 purely
    # online), at the same false alarm rate on the clean four-feature series
    # ewma (per feature, scaled by its own swing) finds the slow valve ramps SKAB's point tests see late: with
    # partial_learning, F1 0.774 -> 0.819 (400 rows trained; 0.809 purely online), four correlated features
    # 0.70 -> 1.23 false alarms per 10k, the rest of ``aiops quality`` unchanged
    # lstm_ae stays opt-in: added on multivariate groups only (min_features 2), abstaining until trained, it finds
    # nothing the others miss (SKAB F1 0.8163 -> 0.8151 with 400 rows trained, 0.8003 -> 0.8002 online, 0.8001
    # with each file alone; windows 4-16, first training at 400-2,000 windows or a checkpoint of SKAB's
    # anomaly-free file 0.8172 / 0.8002; the whole window scored 0.8064 / 0.7984) while false-alarm episodes on
    # four correlated features rise 1.05 -> 1.58 per 10k (``aiops ablation``, row "+ lstm_ae")
    return [DetectorSpec(type="zscore"), DetectorSpec(type="cusum"), DetectorSpec(type="mahalanobis"),
            DetectorSpec(type="hst"), DetectorSpec(type="ewma")]


class DetectionConfig(_Section):
    """The whole detection section of the configuration file."""

    detectors: list[DetectorSpec] = Field(default_factory=_default_detectors, min_length=1,
            description="the detector ensemble every series is scored with; each item picks a bank by type")
    ensemble: EnsembleConfig = EnsembleConfig()
    # 0.99995 with the streamed Pareto tail, the default detectors and learn_delay 30, measured as flagged points
    # before episodes existed (``python -m aiops.detectors.evaluation.quality``, 3 x 20k points per case; it now counts
    # episodes, gated by ``episodes``): false alarms per 10k points 0.53 iid Gaussian, 2.1 AR(1),
    # 6.7 Student-t3 (mostly points beyond 8 sd, as rare as the threshold says per detector), 0 seasonal, 1.23 four
    # correlated features; faults found: 6-sigma spike 17/20 (delay 0), level shift 20/20, variance x3 20/20, drift
    # 20/20, correlation break 20/20. 0.9999 doubles to quadruples those false alarms, 0.9995 flags 3-70 per 10k.
    # SKAB gains nothing from lower thresholds: F1 0.819 (400 rows trained) against 0.818 at 0.9999 and 0.788
    # at 0.9995 (``aiops backtest --sweep`` shows the trade-off on your own labelled data).
    threshold: float = Field(0.99995, gt=0.0, lt=1.0, description="calibrated ensemble score from which a point is anomalous")
    # no hysteresis by default: release 0.9 let runs of false alarms feed themselves on clean noise (27% of
    # iid Gaussian points flagged at threshold 0.9995), since flagged points are not learned
    release: float | None = Field(
        None, gt=0.0, lt=1.0,
        description="hysteresis: once flagged, a series stays flagged while its score is at least this")
    warmup: int = Field(60, ge=0, description="points of a series scored but never flagged")
    adapt_after: int | None = Field(
        1000, ge=1, description="after this many flagged points in a row, learn anyway (the new normal); "
                                "never later than the number of points the series had before the run"
    )
    learn_delay: int = Field(
        30, ge=0, le=1024,
        description="a point is learned this many points after it was scored, and only if no flagged point came "
                    "in between: the onset of an anomaly is not absorbed before it is flagged (0: learn at once); "
                    "applies once a series has had 2 x calibration.window points")
    partial_learning: float | None = Field(
        0.5, gt=0.0, le=1.0,
        description="a flagged point still teaches the features that did not make it unusual: all but the smallest "
                    "set, largest contribution first, that explains this share of it (in the banks that can learn "
                    "some features of a row); null: a flagged point teaches nothing")
    learn_only_older_than_s: float | None = Field(
        None, gt=0.0, description="an event this much older than its ingest time (replayed history) is scored and "
                                  "learned but opens no episode; a flagged one is learned unless the surprise "
                                  "track finds it surprising (null: every event may open one)")
    calibration: CalibrationConfig = CalibrationConfig()
    episodes: EpisodeConfig = EpisodeConfig()
    surprise: SurpriseConfig = SurpriseConfig()
    feedback: FeedbackConfig = FeedbackConfig()
    profiles: list[Profile] = Field(
        default_factory=_default_profiles,
        description="first match wins; the default holds one, 'log windows' (series logs|...), which follows the "
                    "profiles given here unless one of them has its name (and replaces it)")
    pyod: PyODConfig | None = Field(None, description="base settings of every 'pyod' detector (its params override)")
    lstm_ae: dict[str, Any] | None = Field(
        None, description="base settings of every 'lstm_ae' detector: the keys of its params")

    @field_validator("profiles")
    @classmethod
    def _keep_default_profiles(cls, given: list[Profile]) -> list[Profile]:
        """The profiles given, then each default one none of them is named after (first match wins).

        >>> mine = {"name": "db", "match": {"series": "db[|].*"}, "threshold": 0.999}
        >>> [p.name for p in DetectionConfig.model_validate({"profiles": [mine]}).profiles]
        ['db', 'log windows']
        >>> [p.detectors for p in DetectionConfig.model_validate({"profiles": [{"name": "log windows"}]}).profiles]
        [None]
        """
        named = {p.name for p in given}
        return [*given, *(p for p in _default_profiles() if p.name not in named)]

    @field_validator("lstm_ae")
    @classmethod
    def _check_lstm_ae(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        from aiops.detectors.core.errors import ConfigError

        if value is None:
            return None
        try:
            model = params_model("lstm_ae")
        except (ConfigError, ImportError) as exc:
            raise ValueError(f"the lstm_ae detector is not installed: {exc}") from None
        try:
            checked = model.model_validate(value) if model is not None else None
        except ValidationError as exc:
            raise ValueError(_describe(exc, "lstm_ae")) from None
        return checked.model_dump(exclude_unset=True) if checked is not None else dict(value)

    def bank_params(self, spec: DetectorSpec) -> dict[str, Any]:
        """The keyword arguments a detector's bank is built with."""
        base = getattr(self, spec.type, None) if spec.type in ("pyod", "lstm_ae") else None
        if isinstance(base, BaseModel):
            return {**base.model_dump(exclude_unset=True), **spec.params}
        if isinstance(base, dict):
            return {**base, **spec.params}
        return dict(spec.params)

    @model_validator(mode="after")
    def _unique_keys(self) -> DetectionConfig:
        for where, specs in [("detectors", self.detectors)] + [
            (f"profiles.{i}.detectors", p.detectors) for i, p in enumerate(self.profiles) if p.detectors
        ]:
            keys = [s.key for s in specs]
            dupes = sorted({k for k in keys if keys.count(k) > 1})
            if dupes:
                raise ValueError(f"{where}: duplicate detector name(s) {', '.join(dupes)}; set 'name' to tell them apart")
        return self

    def digest(self) -> str:
        """A short hash of the effective detection settings (logged when applied)."""
        dumped = json.dumps(self.model_dump(mode="json"), sort_keys=True, default=str)
        return hashlib.sha256(dumped.encode()).hexdigest()[:12]
