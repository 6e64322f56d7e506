"""Log-window series (``logs|...``) are judged per feature by default: their small counts page rarely.

The per-window counts of a log series are small integers and ratios of them.
The default profile "log windows" scores them with the per-feature detectors
only; these tests bound the false-alarm episodes of quiet and busy log series
with the default configuration, require an error burst to open an episode,
and check that metric series keep the whole default stack.
"""

from __future__ import annotations

import numpy as np
import pytest

from aiops.detectors.config import DetectionConfig
from aiops.detectors.core.shapes import Event
from aiops.detectors.engine import build_engine

WINDOWS = 3000
SERIES = 4
BURST_AT, BURST_LEN = 2000, 5


def _run(config: DetectionConfig | None, lines: float, *, seed: int, burst: bool = False) -> tuple[float, int]:
    """(false-alarm episodes per 10k windows, episodes opened inside the burst) of log-window series."""
    engine = build_engine(config)
    rng = np.random.default_rng(seed)
    false = found = 0
    for t in range(WINDOWS):
        events = []
        for s in range(SERIES):
            count = int(rng.poisson(lines))
            bursting = burst and s == 0 and BURST_AT <= t < BURST_AT + BURST_LEN
            errors = int(rng.binomial(count, 0.5 if bursting else 0.05))
            features = {"count": float(count), "error_count": float(errors), "warning_count": 0.0,
                        "error_ratio": errors / count if count else 0.0}
            events.append(Event("metric", f"logs|host=h{s},service=api", {"host": f"h{s}", "service": "api"},
                                float(t * 60), features))
        for score in engine.process(events):
            if score is None or not score.alert:
                continue
            in_burst = burst and score.series_id == "logs|host=h0,service=api" and (
                BURST_AT <= score.time / 60 < BURST_AT + BURST_LEN)
            found += in_burst
            false += not in_burst
    return false / (SERIES * WINDOWS) * 1e4, found


@pytest.mark.parametrize(("lines", "bound"), [(3.0, 10.0), (20.0, 2.0)])
def test_quiet_and_busy_log_series_rarely_page(lines: float, bound: float) -> None:
    rate, _ = _run(None, lines, seed=1)
    with_joint = DetectionConfig.model_validate({"profiles": [{"name": "log windows"}]})  # the whole stack
    rate_joint, _ = _run(with_joint, lines, seed=1)
    print(f"{lines:g} lines a window: {rate:.1f} false-alarm episodes per 10k windows "
          f"({rate_joint:.1f} with the whole default stack)")
    assert rate <= bound
    assert rate < rate_joint


def test_an_error_burst_opens_an_episode() -> None:
    _, found = _run(None, 20.0, seed=2, burst=True)
    assert found == 1


def test_metric_series_keep_the_joint_detectors() -> None:
    engine = build_engine(None)
    features = {"a": 1.0, "b": 2.0}
    scores = engine.process([Event("metric", "service|host=h", {"host": "h"}, 0.0, features),
                             Event("metric", "logs|host=h", {"host": "h"}, 0.0, features)])
    names = {s.series_id: set(s.detectors) for s in scores}
    assert {"mahalanobis", "hst"} <= names["service|host=h"]
    assert names["logs|host=h"] == {"zscore", "cusum", "ewma"}


def test_profiles_given_come_first_and_keep_the_default() -> None:
    """A user's own profile does not silently drop the log-window one; a profile of that name replaces it."""
    assert [p.name for p in DetectionConfig().profiles] == ["log windows"]
    assert [p.name for p in DetectionConfig.model_validate({"profiles": []}).profiles] == ["log windows"]
    mine = {"name": "web", "match": {"series": r"http\|.*"}, "threshold": 0.999}
    config = DetectionConfig.model_validate({"profiles": [mine]})
    assert [p.name for p in config.profiles] == ["web", "log windows"]
    assert DetectionConfig.model_validate(config.model_dump()).profiles == config.profiles  # a round trip adds none
    features = {"a": 1.0, "b": 2.0}
    events = [Event("metric", "logs|host=h", {"host": "h"}, 0.0, features),
              Event("metric", "http|host=h", {"host": "h"}, 0.0, features)]
    scores = {s.series_id: set(s.detectors) for s in build_engine(config).process(events)}
    assert scores["logs|host=h"] == {"zscore", "cusum", "ewma"} and {"mahalanobis", "hst"} <= scores["http|host=h"]
    whole = DetectionConfig.model_validate({"profiles": [{"name": "log windows", "match": {"series": r"logs\|.*"}}]})
    assert [p.detectors for p in whole.profiles] == [None]  # the whole default stack for log windows
    assert {"mahalanobis", "hst"} <= set(build_engine(whole).process(events[:1])[0].detectors)
