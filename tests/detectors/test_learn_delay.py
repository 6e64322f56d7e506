"""The engine's learn_delay: points are learned late, and not at all when a flagged point followed them."""

from __future__ import annotations

import numpy as np

from aiops.detectors.config import DetectionConfig
from aiops.detectors.engine import build_engine
from aiops.detectors.registry import BANKS


def engine(delay: int, detectors=("zscore",), **extra):
    return build_engine(DetectionConfig.model_validate(
        {"learn_delay": delay, "warmup": 30, "detectors": [{"type": d} for d in detectors], **extra}))


def run(eng, x: np.ndarray, sid: str = "s", learn=None):
    _, res = eng.score_series(sid, np.arange(len(x), dtype=float), x[:, None], ["v"], learn=learn)
    return res


def bank_state(eng, sid: str = "s"):
    group = next(iter(eng._groups.values()))
    return [m.bank.export_state(sid) for m in group.members]


def test_points_before_a_flag_are_never_learned():
    """Ten raised points lead into a spike: with the delay they are dropped, as a maintenance window would be."""
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(size=600), np.full(10, 2.5), [60.0], rng.normal(size=40)])
    paused = np.ones(len(x), dtype=bool)
    paused[600:611] = False
    dropped, skipped = engine(30), engine(30)
    res = run(dropped, x)
    run(skipped, x, learn=paused)
    assert res.hot[610] and not res.hot[600:610].any()
    assert all(np.array_equal(a["arrays"]["mean"], b["arrays"]["mean"])
               for a, b in zip(bank_state(dropped), bank_state(skipped)))
    learned_now = engine(0)
    run(learned_now, x)  # without the delay the raised points were learned: the baseline moved
    assert bank_state(learned_now)[0]["arrays"]["mean"][0] > bank_state(dropped)[0]["arrays"]["mean"][0] + 0.01


def test_a_young_series_learns_at_once():
    """Until a series had twice its calibration history (512 points), the delay does not apply."""
    x = np.random.default_rng(6).normal(size=512)
    late, now = engine(30), engine(0)
    a, b = run(late, x), run(now, x)
    assert np.array_equal(a.score, b.score)
    assert bank_state(late) and np.array_equal(bank_state(late)[0]["arrays"]["mean"], bank_state(now)[0]["arrays"]["mean"])
    _, more = late.score_series("s", np.array([512.0]), np.array([[0.5]]), ["v"])
    group = next(iter(late._groups.values()))
    assert group.store.arrays["lag_ok"][group.store.rows(["s"])[0]].sum() == 1  # the 513th point waits


def test_clean_points_are_all_learned_only_late():
    """On points that never flag, a delayed engine ends where an undelayed one was ``delay`` points earlier."""
    x = np.random.default_rng(5).normal(size=800)
    late, now = engine(25), engine(0)
    assert not run(late, x).flagged.any()
    run(now, x[:-25])
    assert np.allclose(bank_state(late)[0]["arrays"]["mean"], bank_state(now)[0]["arrays"]["mean"])
    assert np.allclose(bank_state(late)[0]["arrays"]["var"], bank_state(now)[0]["arrays"]["var"])


def test_a_slow_drift_is_found_sooner_with_the_delay():
    """A drift of 5 sd over 100 points: learned at once its first points pull the baseline along."""
    rng = np.random.default_rng(11)
    n_series, n, start = 12, 1400, 1200
    X = rng.normal(size=(n_series, n))
    X[:, start:start + 100] += np.linspace(0.0, 5.0, 100)
    X[:, start + 100:] += 5.0
    cfg = {"detectors": [{"type": "zscore"}, {"type": "cusum"}, {"type": "mewma"}]}
    delays = {}
    for delay in (0, 30):
        eng = build_engine(DetectionConfig.model_validate({**cfg, "learn_delay": delay}))
        items = [(f"s{i}", np.arange(n, dtype=float), X[i][:, None]) for i in range(n_series)]
        results = eng.score_many_series(items, ["v"])
        delays[delay] = [int(np.argmax(res.hot[start:])) if res.hot[start:].any() else 200
                         for _, res in results]
        assert all(not res.hot[1000:start].any() for _, res in results)
    assert np.median(delays[30]) < np.median(delays[0])
    assert sum(d < 200 for d in delays[30]) >= sum(d < 200 for d in delays[0])


def test_waiting_points_survive_a_snapshot():
    """Export in the middle of a series and import into a new engine: the rest scores as if never interrupted."""
    x = np.random.default_rng(8).normal(size=800)
    x[720:740] += 3.0
    whole, first, second = engine(30, ("zscore", "cusum", "mewma")), engine(30, ("zscore", "cusum", "mewma")), \
        engine(30, ("zscore", "cusum", "mewma"))
    expected = run(whole, x)
    run(first, x[:710])
    second.import_state(first.export_state(["s"]))
    group = next(iter(second._groups.values()))
    assert group.store.arrays["lag_ok"][group.store.rows(["s"])[0]].any()
    _, rest = second.score_series("s", np.arange(710, 800, dtype=float), x[710:, None], ["v"])
    assert np.array_equal(rest.score, expected.score[710:])
    assert np.array_equal(rest.hot, expected.hot[710:]) and np.array_equal(rest.flagged, expected.flagged[710:])
    assert np.array_equal(rest.anomaly_score, expected.anomaly_score[710:])


def test_a_new_delay_drops_the_waiting_points_and_keeps_the_rest():
    x = np.random.default_rng(9).normal(size=700)
    eng = engine(30)
    run(eng, x)
    before = bank_state(eng)
    eng.reconfigure(DetectionConfig.model_validate(
        {"learn_delay": 10, "warmup": 30, "detectors": [{"type": "zscore"}]}))
    assert np.array_equal(bank_state(eng)[0]["arrays"]["mean"], before[0]["arrays"]["mean"])
    group = next(iter(eng._groups.values()))
    assert not group.store.arrays["lag_ok"][group.store.rows(["s"])[0]].any()
    _, res = eng.score_series("s", np.arange(700, 740, dtype=float), x[:40, None], ["v"])
    assert np.isfinite(res.score).all()


def test_banks_without_late_learning_learn_at_once():
    """River's models (and the LSTM-AE) keep state that must move with every point: under a delay they still
    learn each unflagged point as it comes, so a River-only engine scores exactly as with no delay."""
    assert not hasattr(BANKS.load("river"), "learn_late") and not hasattr(BANKS.load("lstm_ae"), "learn_late")
    x = np.random.default_rng(4).normal(size=700)
    x[650] = 9.0
    late, now = engine(30, ("river",)), engine(0, ("river",))
    a, b = run(late, x), run(now, x)
    assert np.array_equal(a.score, b.score) and np.array_equal(a.flagged, b.flagged)
    assert next(iter(late._groups.values())).lag is None
