"""The scoring engine: causality, batching, learning rules, feedback, state, hot reload, explanations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import structlog
from structlog.testing import capture_logs

from aiops.detectors.config import DetectionConfig
from aiops.detectors.core.errors import InputError
from aiops.detectors.core.shapes import Event
from aiops.detectors.engine import build_engine


def events_for(sid: str, X: np.ndarray, features: list[str], start: int = 0, labels=None) -> list[Event]:
    return [Event("metric", sid, dict(labels or {}), float(start + i), dict(zip(features, map(float, row))))
            for i, row in enumerate(X)]


def sensors(n: int, seed: int = 0) -> np.ndarray:
    """Three correlated sensors with mild noise."""
    rng = np.random.default_rng(seed)
    base = np.sin(np.arange(n) / 20.0)[:, None] + 0.1 * rng.normal(size=(n, 1))
    return np.hstack([base + 10.0, 2.0 * base + 0.05 * rng.normal(size=(n, 1)), 1.0 + 0.1 * rng.normal(size=(n, 1))])


FEATS = ["a", "b", "c"]


def as_tuple(s):
    return (s.series_id, s.time, s.score, s.threshold, s.is_anomaly, s.detectors, s.raw, s.contributions,
            s.expected, s.learned, s.anomaly_score, s.alert, s.episode, s.ended)


class TestOnline:
    def test_one_score_per_event_in_order(self):
        """process returns one Score per event, in the order given, for mixed series."""
        engine = build_engine()
        evs = [Event("metric", f"s{i % 3}", {}, float(i // 3), {"v": float(i)}) for i in range(30)]
        scores = engine.process(evs)
        assert [(s.series_id, s.time) for s in scores] == [(e.series_id, e.time) for e in evs]
        assert all(0.0 <= s.score < 1.0 for s in scores)

    def test_causal_first_half_equals_whole(self):
        """Scores of a file's first half do not change when the second half is scored too."""
        X = sensors(400)
        X[300, 1] += 5.0
        first = build_engine().process(events_for("s", X[:200], FEATS))
        whole = build_engine().process(events_for("s", X, FEATS))
        assert [as_tuple(s) for s in first] == [as_tuple(s) for s in whole[:200]]

    def test_batch_equals_one_at_a_time(self):
        """Any batching of the same events gives identical scores: all at once, one by one, uneven chunks."""
        evs = []
        for sid, seed in (("x", 1), ("y", 2), ("z", 3)):
            X = sensors(150, seed)
            X[120, 0] += 4.0
            evs += events_for(sid, X, FEATS)
        evs.sort(key=lambda e: (e.time, e.series_id))
        together = build_engine().process(evs)
        one_by_one_engine = build_engine()
        one_by_one = [one_by_one_engine.process([e])[0] for e in evs]
        chunked_engine, chunked = build_engine(), []
        for start in range(0, len(evs), 37):
            chunked += chunked_engine.process(evs[start:start + 37])
        assert [as_tuple(s) for s in together] == [as_tuple(s) for s in one_by_one] == [as_tuple(s) for s in chunked]

    def test_array_path_equals_process(self):
        """score_series (the backtest's path) gives exactly what process gives."""
        X = sensors(200)
        X[150, 2] += 3.0
        scores = build_engine().process(events_for("s", X, FEATS))
        names, res = build_engine().score_series("s", np.arange(200.0), X, FEATS)
        assert res.score.tolist() == [s.score for s in scores]
        assert res.flagged.tolist() == [s.is_anomaly for s in scores]
        assert [dict(zip(names, row)) for row in res.calibrated.tolist()] == [s.detectors for s in scores]

    def test_warmup_never_flags(self):
        """A huge spike inside the warm-up is scored but not flagged."""
        X = sensors(100)
        X[40, 0] += 1000.0
        scores = build_engine(DetectionConfig(warmup=60)).process(events_for("s", X, FEATS))
        assert not any(s.is_anomaly for s in scores[:60])

    def test_spike_flagged_and_not_learned(self):
        """A flagged point is not learned: the next point's baselines are as if the spike never happened.

        Only the sequential charts (CUSUM sums, the smoothed residuals of MEWMA and EWMA) saw it, as they see
        every point.
        """
        X = sensors(302)
        spiked = X.copy()
        spiked[300, 0] += 50.0
        whole = DetectionConfig(partial_learning=None)
        seen = build_engine(whole)
        scores = seen.process(events_for("s", spiked, FEATS))
        assert scores[300].is_anomaly and not scores[300].learned
        clean = build_engine(whole)
        clean.process(events_for("s", X[:300], FEATS))
        after_clean = clean.process(events_for("s", X[301:], FEATS, start=301))[0]
        charts = {"cusum", "ewma"}
        assert {k: v for k, v in scores[301].raw.items() if k not in charts} == \
            {k: v for k, v in after_clean.raw.items() if k not in charts}
        assert set(after_clean.raw) > charts

    def test_flagged_point_teaches_its_bystanders(self):
        """With partial learning, a spike in one sensor still teaches the others: their baselines move as if
        the point were normal, the spiked sensor's as if it never came."""
        X = sensors(302)
        spiked = X.copy()
        spiked[300, 0] += 50.0
        partial = build_engine().process(events_for("s", spiked, FEATS))
        frozen = build_engine(DetectionConfig(partial_learning=None)).process(events_for("s", spiked, FEATS))
        clean = build_engine().process(events_for("s", X, FEATS))
        assert partial[300].is_anomaly and not partial[300].learned
        assert partial[300].contributions["a"] > 0.5
        after, before = partial[301].expected, partial[300].expected
        assert after["a"] == frozen[301].expected["a"] == before["a"]
        for f in ("b", "c"):
            assert after[f] == clean[301].expected[f] != frozen[301].expected[f]

    def test_young_series_does_not_lock_in(self):
        """A level a young series never saw is flagged, then learned after as many points as it had before.

        Flagged points are not learned, so without this bound a baseline fresh out of warm-up would flag a new
        level for ``adapt_after`` points (1,000 by default).
        """
        rng = np.random.default_rng(5)
        X = rng.normal(size=(400, 1)) + np.where(np.arange(400) >= 80, 10.0, 0.0)[:, None]
        scores = build_engine(DetectionConfig(warmup=30)).process(events_for("s", X, ["v"]))
        flagged = np.array([s.is_anomaly for s in scores])
        assert flagged[80] and not flagged[:80].any()
        assert 40 < flagged[80:].sum() < 200
        assert not flagged[-100:].any()

    def test_learn_flags_pause_learning(self):
        """learn=False (maintenance) rows are scored but not learned from."""
        X = sensors(200)
        engine = build_engine()
        flags = [True] * 150 + [False] * 50
        scores = engine.process(events_for("s", X, FEATS), learn=flags)
        assert all(s.learned == (not s.is_anomaly) for s in scores[:150])
        assert not any(s.learned for s in scores[150:])
        with pytest.raises(InputError):
            engine.process(events_for("s", X[:3], FEATS), learn=[True])


class TestExplanation:
    def test_spiked_feature_gets_top_contribution(self):
        """The feature that jumped carries the largest share; shares sum to 1."""
        X = sensors(301)
        X[300, 2] += 2.0
        score = build_engine().process(events_for("s", X, FEATS))[300]
        assert score.is_anomaly
        assert max(score.contributions, key=score.contributions.get) == "c"
        assert math.isclose(sum(score.contributions.values()), 1.0, rel_tol=1e-9)

    def test_expected_range_contains_normal_values(self):
        """Normal points fall inside the expected range the engine reports for them (nearly always)."""
        X = sensors(400)
        scores = build_engine().process(events_for("s", X, FEATS))
        inside = [lo <= X[i, f] <= hi for i, s in enumerate(scores[100:], 100)
                  for f, (lo, hi) in ((FEATS.index(k), v) for k, v in s.expected.items())]
        assert len(inside) == 300 * 3 and np.mean(inside) > 0.97


class TestBadInput:
    @pytest.mark.parametrize("features", [{}, {"v": "high"}, {"v": float("inf")}, {"v": True}])
    def test_bad_event_is_input_error(self, features):
        """Empty, non-numeric or infinite features raise InputError and change nothing."""
        engine = build_engine()
        with pytest.raises(InputError):
            engine.process([Event("metric", "s", {}, 0.0, {"v": 1.0}), Event("metric", "s", {}, 1.0, features)])
        assert engine.series_ids() == []

    def test_missing_and_extra_features(self):
        """A later event missing a feature still scores (finite); unknown extra features are ignored."""
        X = sensors(100)
        engine = build_engine()
        engine.process(events_for("s", X, FEATS))
        partial = engine.process([Event("metric", "s", {}, 100.0, {"a": 10.0, "c": 1.0, "zz": 3.0})])[0]
        assert math.isfinite(partial.score) and set(partial.contributions) == set(FEATS)


class TestFeedbackAndState:
    def test_feedback_moves_only_that_series(self):
        """A false positive raises one series' threshold a notch, a true positive lowers it back; others unchanged."""
        engine = build_engine()
        engine.process(events_for("a", sensors(80), FEATS) + events_for("b", sensors(80, 1), FEATS))
        base = engine.threshold_of("a")
        engine.feedback("a", 79.0, "false_positive")
        raised = engine.threshold_of("a")
        assert raised > base and engine.threshold_of("b") == base
        assert engine.process(events_for("a", sensors(1), FEATS, start=80))[0].threshold == raised
        restored = build_engine()
        restored.import_state(engine.export_state(["a"]))
        assert restored.threshold_of("a") == raised
        engine.feedback("a", 80.0, "true_positive")
        assert engine.threshold_of("a") == base
        with pytest.raises(InputError):
            engine.feedback("nope", 0.0, "false_positive")
        with pytest.raises(InputError):
            engine.feedback("a", 0.0, "maybe")

    def test_state_round_trip_identical_scores(self):
        """Export, import into a fresh engine: the following scores are identical; state stays small."""
        X = sensors(500)
        X[450, 1] += 3.0
        engine = build_engine()
        engine.process(events_for("m", X[:300], FEATS) + events_for("u", X[:300, :1], ["v"]))
        states = engine.export_state(["m", "u", "unknown"])
        assert set(states) == {"m", "u"}
        assert len(states["u"]) <= 20_000
        other = build_engine()
        other.import_state(states)
        assert other.series_ids() == ["m", "u"]
        rest = events_for("m", X[300:], FEATS, 300) + events_for("u", X[300:, :1], ["v"], 300)
        assert [as_tuple(s) for s in other.process(rest)] == [as_tuple(s) for s in engine.process(rest)]
        with pytest.raises(InputError):
            other.import_state({"m": b"not a pickle"})

    def test_forget(self):
        """A forgotten series starts from scratch."""
        engine = build_engine()
        engine.process(events_for("s", sensors(50), FEATS))
        engine.forget(["s", "never"])
        assert engine.series_ids() == [] and engine.export_state(["s"]) == {}

    def test_reconfigure_keeps_unchanged_detectors(self):
        """A hot reload keeps the state of detectors whose settings did not change; changed ones restart."""
        X = sensors(400)
        cfg = DetectionConfig()
        kept, reference = build_engine(cfg), build_engine(cfg)
        for e in (kept, reference):
            e.process(events_for("s", X[:300], FEATS))
        new = DetectionConfig.model_validate({"threshold": 0.999, "detectors": [
            {"type": "zscore", "params": {"alpha": 0.2}}, {"type": "cusum"}, {"type": "mahalanobis"}]})
        structlog.reset_defaults()  # info level, so the reload message is captured
        with capture_logs() as logs:
            kept.reconfigure(new)
        assert [entry["config_hash"] for entry in logs if entry["event"] == "detection config applied"] == [
            new.digest()]
        a = kept.process(events_for("s", X[300:310], FEATS, 300))
        b = reference.process(events_for("s", X[300:310], FEATS, 300))
        assert [s.raw["cusum"] for s in a] == [s.raw["cusum"] for s in b]
        assert [s.raw["mahalanobis"] for s in a] == [s.raw["mahalanobis"] for s in b]
        assert [s.raw["zscore"] for s in a] != [s.raw["zscore"] for s in b]
        assert a[0].threshold == 0.999

    def test_reconfigure_keeps_an_open_episode(self):
        """A reload that changes a detector does not forget that the series is inside an episode."""
        x = 20.0 + np.random.default_rng(5).normal(size=700)
        x[600:] += 12.0  # a level that stays: its episode is open until the horizon
        engine = build_engine()
        _, before = engine.score_series("s", np.arange(650.0), x[:650, None], ["v"])
        assert before.flagged[-1] and before.alert[600:].sum() == 1
        engine.reconfigure(DetectionConfig.model_validate({"detectors": [
            {"type": "zscore", "params": {"alpha": 0.2}}, {"type": "cusum"}, {"type": "ewma"}]}))
        _, after = engine.score_series("s", np.arange(650.0, 700.0), x[650:, None], ["v"])
        assert after.alert.sum() == 0 and after.episode[0] == before.episode[-1]


class TestProfiles:
    def test_first_matching_profile_wins(self):
        """Series matching a profile get its detectors and threshold; others the top-level ones."""
        cfg = DetectionConfig.model_validate({"profiles": [
            {"match": {"labels": {"service": "db.*"}}, "threshold": 0.9, "detectors": [{"type": "zscore"}]},
            {"match": {"series": "db.*"}, "threshold": 0.95},
        ]})
        engine = build_engine(cfg)
        x = sensors(1)
        first = engine.process(events_for("db-1", x, FEATS, labels={"service": "db-main"}))[0]
        second = engine.process(events_for("db-2", x, FEATS, labels={"service": "api"}))[0]
        other = engine.process(events_for("web", x, FEATS))[0]
        assert (first.threshold, set(first.detectors)) == (0.9, {"zscore"})
        assert second.threshold == 0.95 and other.threshold == cfg.threshold
        assert set(other.detectors) == {"zscore", "cusum", "mahalanobis", "hst", "ewma"}

    def test_univariate_series_skip_multivariate_banks(self):
        """A one-feature series runs the per-feature detectors only."""
        score = build_engine().process([Event("metric", "u", {}, 0.0, {"v": 1.0})])[0]
        assert set(score.detectors) == {"zscore", "cusum", "ewma"}


def _steps_of(n_series: int, n_steps: int, seed: int = 7, features=("v",)) -> list[list[Event]]:
    """One batch per step, every series once in it: the batches the single-step path takes."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(n_steps, n_series, len(features)))
    values[n_steps - 5, 1, 0] += 12.0
    return [[Event("metric", f"s{i}", {}, float(t), dict(zip(features, map(float, values[t, i]))))
             for i in range(n_series)] for t in range(n_steps)]


class TestSingleStepPath:
    """Batches of known series of one group, each once, skip the general path; nothing they give may differ."""

    @pytest.mark.parametrize("features", [("v",), ("a", "b", "c")])
    def test_same_scores_as_the_general_path(self, features):
        """Step batches give the very Score objects two-step batches (the general path) give."""
        steps = _steps_of(6, 160, features=features)
        single = build_engine(DetectionConfig(warmup=20))
        general_calls = []
        by_group = single._process_by_group
        single._process_by_group = lambda *args: general_calls.append(1) or by_group(*args)
        fast = [s for batch in steps for s in single.process(batch)]
        assert len(general_calls) == 1  # only the first batch, which registers the series
        paired = build_engine(DetectionConfig(warmup=20))
        general = [s for a, b in zip(steps[::2], steps[1::2]) for s in paired.process(a + b)]
        assert fast == general
        assert [(s.series_id, s.time) for s in fast if s.alert] == [("s1", 155.0)]
        assert [s.time for s in fast if s.is_anomaly] == [155.0, 156.0, 157.0]  # returned after close_after points
        assert all(len(s.expected) == len(features) and set(s.contributions) == set(features) for s in fast[200:])

    def test_dicts_are_not_shared(self):
        """Every Score has dicts of its own, so a consumer changing one changes no other."""
        engine = build_engine()
        for batch in _steps_of(3, 5):
            scores = engine.process(batch)
        parts = [id(part) for s in scores for part in (s.detectors, s.raw, s.contributions, s.expected)]
        assert len(set(parts)) == len(parts) == 12

    @pytest.mark.parametrize("value", [float("inf"), float("-inf"), "3", True, None])
    def test_bad_value_in_a_known_batch(self, value):
        """A bad value among known series still raises InputError, naming the event, and changes nothing."""
        steps = _steps_of(4, 40)
        engine, reference = build_engine(), build_engine()
        for batch in steps[:30]:
            engine.process(batch)
            reference.process(batch)
        bad = list(steps[30])
        bad[2] = Event("metric", "s2", {}, 30.0, {"v": value})
        with pytest.raises(InputError, match="event 2"):
            engine.process(bad)
        assert [engine.process(b) for b in steps[30:]] == [reference.process(b) for b in steps[30:]]

    @pytest.mark.parametrize("time", [float("nan"), float("inf"), "30", False])
    def test_bad_time_in_a_known_batch(self, time):
        """A time that is not a finite number raises InputError on the single-step path too."""
        engine = build_engine()
        steps = _steps_of(3, 5)
        engine.process(steps[0])
        bad = list(steps[1])
        bad[1] = Event("metric", "s1", {}, time, {"v": 1.0})
        with pytest.raises(InputError, match="event 1"):
            engine.process(bad)

    def test_numpy_numbers_score_as_floats(self):
        """Values and times that are numpy floats (not plain floats) score exactly as the same plain floats."""
        steps = _steps_of(3, 60)
        plain, numpy_fed = build_engine(), build_engine()
        for batch in steps:
            as_numpy = [Event(e.source, e.series_id, e.labels, np.float64(e.time), {"v": np.float64(e.features["v"])})
                        for e in batch]
            assert [as_tuple(s) for s in numpy_fed.process(as_numpy)] == [as_tuple(s) for s in plain.process(batch)]

    def test_extra_and_missing_features_in_a_known_batch(self):
        """An extra feature is warned about once per series and ignored; a missing one is imputed, as before."""
        steps = _steps_of(3, 40, features=("a", "b"))
        engine, reference = build_engine(), build_engine()
        for batch in steps[:30]:
            engine.process(batch)
            reference.process(batch)
        odd = [Event(e.source, e.series_id, e.labels, e.time, {**e.features, "zz": 1.0}) if e.series_id == "s0"
               else e for e in steps[30]]
        with capture_logs() as logs:
            assert engine.process(odd) == reference.process(steps[30])
            engine.process([Event(e.source, e.series_id, e.labels, e.time, {**e.features, "zz": 2.0})
                            for e in steps[31]])
        warned = [entry for entry in logs if entry["event"] == "features not in the series layout are ignored"]
        assert [(w["series_id"], w["extra"]) for w in warned] == [("s0", ["zz"]), ("s1", ["zz"]), ("s2", ["zz"])]
        partial = engine.process([Event("metric", "s0", {}, 32.0, {"a": 0.1})])[0]
        assert math.isfinite(partial.score) and set(partial.contributions) == {"a", "b"}

    def test_mixed_groups_in_one_batch(self):
        """Series of two feature layouts in one batch, each once, score as they do in batches of their own."""
        uni, tri = _steps_of(3, 50), _steps_of(2, 50, seed=9, features=("a", "b", "c"))
        mixed, apart = build_engine(), build_engine()
        tri = [[Event(e.source, "m" + e.series_id, e.labels, e.time, e.features) for e in batch] for batch in tri]
        together = [s for u, t in zip(uni, tri) for s in mixed.process(u + t)]
        separate = [s for u, t in zip(uni, tri) for s in apart.process(u) + apart.process(t)]
        assert together == separate


class TestReplayedHistory:
    """Events much older than their ingest time (a replayed history) teach the detectors and page nobody."""

    def _events(self, start: int, stop: int, ingest_lag: float, spike_at: int) -> list[Event]:
        rng = np.random.default_rng(4)
        return [Event("metric", "cpu|host=a", {"host": "a"}, float(t),
                      {"user": 10.0 + rng.normal() + (30.0 if t == spike_at else 0.0)}, ingest_time=t + ingest_lag)
                for t in range(start, stop)]

    def test_replayed_spike_opens_no_episode_but_a_live_one_does(self):
        engine = build_engine(DetectionConfig(warmup=30, learn_only_older_than_s=10.0))
        history = engine.process(self._events(0, 400, ingest_lag=600.0, spike_at=300))
        assert history[300].anomaly_score > 0.7 and not any(s.alert or s.is_anomaly for s in history)
        live = engine.process(self._events(400, 500, ingest_lag=0.5, spike_at=450))
        assert [s.time for s in live if s.alert] == [450.0]

    def test_a_shift_inside_the_history_is_learned_so_live_traffic_at_its_level_pages_nobody(self):
        """History is the past as it was: a level it moved to is the baseline live traffic is judged against.

        Its flagged points are learned once the surprise track finds them ordinary. Were none learned, as in live
        traffic, the joint detectors' baseline would stay at the old level: the first live point would open an
        episode that lasts as long as the live traffic.
        """
        engine = build_engine(DetectionConfig(warmup=30, learn_only_older_than_s=10.0))
        rng = np.random.default_rng(5)

        def events(start: int, stop: int, lag: float) -> list[Event]:
            return [Event("metric", "svc|host=a", {"host": "a"}, float(t),
                          {"cpu": 10.0 + rng.normal() + (8.0 if t >= 300 else 0.0),
                           "mem": 50.0 + rng.normal() + (5.0 if t >= 300 else 0.0)}, ingest_time=t + lag)
                    for t in range(start, stop)]

        history = engine.process(events(0, 400, lag=600.0))
        unlearned = [int(s.time) for s in history if not s.learned]
        assert unlearned and min(unlearned) >= 300 and max(unlearned) < 330  # only the shift's first points
        live = engine.process(events(400, 500, lag=0.5))
        assert not any(s.alert or s.is_anomaly for s in live)

    def test_without_the_setting_history_pages_as_live_traffic_does(self):
        engine = build_engine(DetectionConfig(warmup=30))
        history = engine.process(self._events(0, 400, ingest_lag=600.0, spike_at=300))
        assert [s.time for s in history if s.alert] == [300.0]


class TestAnomalyScore:
    """anomaly_score is a bounded, ranked surprise: never exactly 1, highest at an onset, lower as the model adapts."""

    def test_no_score_reaches_one_on_wild_series(self):
        """Heavy tails, huge outliers, a constant that steps, a series that jumps by 1e12: no score is 1.0."""
        rng = np.random.default_rng(9)
        n = 3000
        wild = {
            "cauchy": rng.standard_cauchy(n),
            "outliers": np.where(rng.random(n) < 0.01, 1e9, rng.normal(size=n)),
            "steps": np.repeat([5.0, 5.0, 1e6, 1e6, -1e12, 7.0], n // 6),
            "counts": rng.poisson(rng.gamma(0.3, 10.0, n)).astype(float),
        }
        engine = build_engine()
        items = [(name, np.arange(n, dtype=float) * 60.0, x[:, None]) for name, x in wild.items()]
        for (name, _, _), (_, res) in zip(items, engine.score_many_series(items, ["v"])):
            assert res.anomaly_score.max() < 1.0 and res.anomaly_score.min() >= 0.0, name

    def test_a_level_shift_scores_highest_at_its_onset_then_decays(self):
        """The onset outranks everything before it; ten points on, the new level scores like ordinary points."""
        x = 20.0 + np.random.default_rng(2).normal(size=800)
        x[600:] += 10.0
        _, res = build_engine().score_series("s", np.arange(800.0) * 60.0, x[:, None], ["v"])
        before = res.anomaly_score[100:600].max()
        assert res.anomaly_score[600:603].max() > before
        assert res.anomaly_score[620:].max() < before
        assert res.alert[600:603].sum() == 1 and res.alert[603:].sum() == 0


class TestNotableScores:
    """process_notable builds only the Scores of points in an episode or ending one; nothing else may differ."""

    @pytest.mark.parametrize("batching", ["steps", "pairs of steps"])
    def test_same_scores_and_state_as_process(self, batching):
        """The Scores it keeps are process's, None stands exactly for the rest, and the state after is the same."""
        steps = _steps_of(6, 200)
        batches = steps if batching == "steps" else [a + b for a, b in zip(steps[::2], steps[1::2])]
        full, notable = build_engine(DetectionConfig(warmup=20)), build_engine(DetectionConfig(warmup=20))
        every = [s for batch in batches for s in full.process(batch)]
        kept = [s for batch in batches for s in notable.process_notable(batch)]
        assert [s if s.is_anomaly or s.ended else None for s in every] == kept
        assert any(s is not None and s.ended for s in kept) and any(s is not None and s.alert for s in kept)
        ids = full.series_ids()
        assert full.export_state(ids) == notable.export_state(ids)

    def test_learn_flags_are_honoured(self):
        """learn=False for a batch leaves the state as process with the same flags leaves it."""
        steps = _steps_of(3, 40)
        full, notable = build_engine(), build_engine()
        for batch in steps:
            flags = [i % 2 == 0 for i in range(len(batch))]
            full.process(batch, learn=flags)
            notable.process_notable(batch, learn=flags)
        assert full.export_state(full.series_ids()) == notable.export_state(notable.series_ids())
