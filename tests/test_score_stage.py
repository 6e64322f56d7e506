"""The scoring stage: metric events to anomalies, and the end of each episode as a record for alerting."""

from __future__ import annotations

import numpy as np

from aiops.detectors.core.shapes import Event
from aiops.pipeline.config import parse_settings
from aiops.pipeline.stages import ScoreStage


def _events(values: np.ndarray) -> list[Event]:
    return [Event("metric", "cpu|host=a", {"host": "a"}, 1_800_000_000.0 + 10.0 * t, {"user": float(v)})
            for t, v in enumerate(values)]


class TestEpisodeEnds:
    def test_a_spike_gives_one_opening_anomaly_and_one_returned_end(self):
        """The spike's episode becomes anomalies, then an ``episode_end`` record saying it returned."""
        values = 50.0 + np.random.default_rng(2).normal(size=400)
        values[300] += 40.0
        stage = ScoreStage(parse_settings({}))
        out = stage.process(_events(values), now=1_800_010_000.0)
        assert out.scored == 400
        assert [a.time for a in out.anomalies][:1] == [1_800_000_000.0 + 3000.0]
        assert [(e["kind"], e["reason"]) for e in out.episode_ends] == [("episode_end", "returned")]
        assert out.episode_ends[0]["time"] > out.anomalies[-1].time

    def test_a_level_that_stays_is_accepted_within_the_horizon(self):
        """A permanent level shift ends as 'accepted' about an hour (the default horizon) after it opened."""
        values = 50.0 + np.random.default_rng(3).normal(size=1200)
        values[500:] += 15.0
        stage = ScoreStage(parse_settings({}))
        out = stage.process(_events(values), now=1_800_020_000.0)
        opened = out.anomalies[0].time
        [end] = out.episode_ends
        assert end["reason"] == "accepted" and 3600.0 <= end["time"] - opened <= 3700.0
