"""ScoreStage alone: it scores every point, flags the anomalous ones, opens one episode per incident and ends it."""

from __future__ import annotations

import numpy as np

from aiops.detectors.core.shapes import Event
from aiops.pipeline.config import parse_settings
from aiops.pipeline.stages import ScoreStage
from tests.pipeline.series import T0, series, two_spikes

NOW = T0 + 10_000.0


class TestScoring:
    def test_quiet_series_scores_every_point_and_flags_none(self):
        stage = ScoreStage(parse_settings({}))
        out = stage.process(series(50.0 + np.random.default_rng(1).normal(size=300)), now=NOW)
        assert out.scored == 300 and out.anomalies == [] and out.episode_ends == []

    def test_one_episode_opens_per_incident_and_each_ends_once(self):
        """Two spikes: two episodes, each opened by an anomaly at the spike and closed by one episode_end."""
        out = ScoreStage(parse_settings({})).process(series(two_spikes()), now=NOW)
        assert out.scored == 400
        openings = {}
        for anomaly in out.anomalies:
            openings.setdefault(anomaly.episode, anomaly)
            assert anomaly.series_id == "cpu|host=a" and anomaly.detected_time == NOW
        assert [a.time for a in openings.values()] == [T0 + 3000.0, T0 + 3500.0]
        ends = out.episode_ends
        assert [(e["series_id"], e["reason"]) for e in ends] == [("cpu|host=a", "returned")] * 2
        for episode, end in zip(openings, ends):
            last = max(a.time for a in out.anomalies if a.episode == episode)
            assert end["time"] > last

    def test_points_refused_by_the_learn_filter_are_scored_but_not_learnt(self):
        """A maintenance window (learn filter) keeps a level shift out of the baseline: learning, the detectors take
        the new level in and the episode returns; paused, it stays anomalous until the horizon accepts it."""
        values = 50.0 + np.random.default_rng(3).normal(size=1000)
        values[300:] += 15.0
        asked = []

        def before_the_shift(event: Event) -> bool:
            asked.append(event.time)
            return event.time < T0 + 3000.0

        learnt = ScoreStage(parse_settings({})).process(series(values), now=NOW)
        frozen = ScoreStage(parse_settings({}), learn_filter=before_the_shift).process(series(values), now=NOW)
        assert len(asked) == frozen.scored == learnt.scored == 1000
        assert [e["reason"] for e in learnt.episode_ends] == ["returned"]
        assert [e["reason"] for e in frozen.episode_ends] == ["accepted"]
        assert len(frozen.anomalies) > len(learnt.anomalies)

    def test_every_point_reaches_on_scored_when_wanted(self):
        got = []
        stage = ScoreStage(parse_settings({}), on_scored=lambda events, scores: got.append((len(events), scores)))
        out = stage.process(series(two_spikes()), now=NOW)
        [(n, scores)] = got
        assert n == 400 and all(s is not None for s in scores)
        assert sum(s.is_anomaly for s in scores) == len(out.anomalies)


class TestState:
    def test_a_restored_stage_scores_as_the_original(self):
        """export_dirty then import_states: the next points score the same, so a restart does not re-warm."""
        values = two_spikes()
        original = ScoreStage(parse_settings({}))
        original.process(series(values[:320]), now=NOW)
        states = original.export_dirty()
        assert set(states) == {"engine/cpu|host=a"} and original.dirty == set()
        restored = ScoreStage(parse_settings({}))
        assert restored.import_states(states) == 1
        rest = series(values[320:], start=320)
        a, b = original.process(rest, now=NOW), restored.process(list(rest), now=NOW)
        assert [x.to_dict() for x in a.anomalies] == [x.to_dict() for x in b.anomalies] and a.anomalies
        assert a.episode_ends == b.episode_ends

    def test_a_fresh_stage_differs_from_a_restored_one(self):
        """The check above could fail: without the state, the same points are scored as a cold start."""
        values = two_spikes()
        original = ScoreStage(parse_settings({}))
        original.process(series(values[:320]), now=NOW)
        rest = series(values[320:], start=320)
        cold = ScoreStage(parse_settings({})).process(list(rest), now=NOW)
        warm = original.process(rest, now=NOW)
        assert [x.to_dict() for x in cold.anomalies] != [x.to_dict() for x in warm.anomalies]
