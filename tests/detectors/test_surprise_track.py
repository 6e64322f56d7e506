"""The surprise track on its own: state round trips, older records, and what its evidence adds up."""

from __future__ import annotations

import numpy as np
import pytest

from aiops.detectors.surprise import FORECASTS, SurpriseTrack


def _run(track: SurpriseTrack, x: np.ndarray, t0: float = 0.0, sid: str = "s") -> tuple[np.ndarray, np.ndarray]:
    S, E = [], []
    for i, v in enumerate(x):
        s, e, _ = track.step([sid], np.array([[v]]), np.array([t0 + 10.0 * i]))
        S.append(s[0])
        E.append(e[0])
    return np.array(S), np.array(E)


@pytest.fixture
def series() -> np.ndarray:
    rng = np.random.default_rng(7)
    x = 50 + rng.normal(size=800)
    x[600:] += 6.0
    return x


def test_a_restored_series_scores_as_if_it_had_never_stopped(series):
    whole = SurpriseTrack()
    expected, _ = _run(whole, series)
    first = SurpriseTrack()
    _run(first, series[:500])
    second = SurpriseTrack()
    second.load("s", first.export("s"), 1)
    rest, _ = _run(second, series[500:], t0=5000.0)
    np.testing.assert_array_equal(rest, expected[500:])


def test_a_record_from_before_the_forecasts_kept_their_own_counts_loads(series):
    track = SurpriseTrack()
    _run(track, series[:500])
    old = {k: v for k, v in track.export("s").items() if k != "judged"}
    restored = SurpriseTrack()
    restored.load("s", old, 1)
    assert restored.export("s")["judged"].tolist() == [[500] * len(FORECASTS)]
    S, _ = _run(restored, series[500:], t0=5000.0)
    assert S[100] > 4 and S[:100].max() < 4  # the shift at row 600 is still the most surprising point


def test_a_record_missing_other_fields_is_refused(series):
    track = SurpriseTrack()
    _run(track, series[:50])
    broken = {k: v for k, v in track.export("s").items() if k != "tail"}
    with pytest.raises(ValueError, match="lacks"):
        SurpriseTrack().load("s", broken, 1)


def test_two_spikes_together_are_not_a_sustained_shift():
    """On a series with a spike every 30 points or so, two spikes in a row leave the CUSUM's evidence low."""
    rng = np.random.default_rng(3)
    x = 100 + rng.normal(size=3000)
    spikes = rng.random(3000) < 1 / 30
    x[spikes] += rng.uniform(8, 15, size=int(spikes.sum()))
    x[2000:2002] += 12.0  # a pair of spikes
    _, evidence = _run(SurpriseTrack(), x)
    assert evidence[2000:2004].max() < 4.0


def test_a_sustained_small_shift_adds_up():
    """A shift of 2 sd, which no single point shows, reaches 4 decades of evidence within 40 points.

    The score rises to that evidence at the point where it crosses the bar, then halves a point: the onset of
    the change as the track saw it, not a plateau. No point before the crossing scores near it.
    """
    rng = np.random.default_rng(5)
    x = 20 + rng.normal(size=2000)
    x[1500:] += 2.0
    S, evidence = _run(SurpriseTrack(), x)
    crossing = 1500 + int(np.argmax(evidence[1500:1540] >= 4.0))
    assert evidence[crossing] >= 4.0 and evidence[1500:crossing].max() < 4.0
    assert S[crossing] >= evidence[crossing]
    assert S[1500:crossing].max() < 3.0 and S[crossing + 1] < S[crossing] and S[crossing + 3:1540].max() < 2.0


def test_a_record_with_wide_visit_counts_loads_capped(series):
    """Records written when visits were 32-bit integers load, their counts capped where the weight stops changing."""
    from aiops.detectors.surprise import VISITS_CAP

    track = SurpriseTrack()
    _run(track, series[:100])
    record = track.export("s")
    record["dvisits"] = np.full(record["dvisits"].shape, 5000, dtype=np.int32)
    restored = SurpriseTrack()
    restored.load("s", record, 1)
    assert restored.export("s")["dvisits"].max() == VISITS_CAP


def _square_wave(rng: np.random.Generator, n: int) -> np.ndarray:
    """Idle at 10 and busy at 50 for 100 points each, a sample straddling every other switch somewhere between."""
    x = np.where((np.arange(n) // 100) % 2, 50.0, 10.0)
    x[np.arange(100, n, 200)] = rng.uniform(18.0, 42.0, size=len(range(100, n, 200)))
    return x


def test_a_state_between_two_known_ones_is_news_within_a_few_points():
    """After 15 switches, 60 points at a level never seen (between the two known ones) reach 5 decades in 4 points."""
    rng = np.random.default_rng(11)
    x = _square_wave(rng, 1600)
    x[1500:1560] = 30.0
    _, evidence = _run(SurpriseTrack(), x + rng.normal(size=len(x)))
    assert evidence[600:1500].max() < 4.0  # switches and straddling samples are what this series does
    assert evidence[1500:1504].max() >= 5.0


def test_a_new_level_that_stays_is_news_once():
    """A level never seen is judged on its first points; staying there does not keep the evidence up."""
    rng = np.random.default_rng(11)
    x = 50 + rng.normal(size=2500)
    x[1500:] += 30.0
    _, evidence = _run(SurpriseTrack(), x)
    assert evidence[1500] > 5.0
    assert evidence[1520:].max() < 4.0


def test_a_run_is_measured_against_the_runs_before_it():
    """The ordinary novelty peak is the previous runs', so a run's own first points do not make it ordinary."""
    rng = np.random.default_rng(11)
    x = _square_wave(rng, 1600)
    x[1500:1560] = 30.0
    track = SurpriseTrack()
    _run(track, (x + rng.normal(size=len(x)))[:1504])
    record = track.export("s")
    assert record["nrun"][0] >= 5.0 > record["npeak"][0]


def test_a_record_from_before_novelty_runs_kept_their_peak_loads(series):
    """Records without the run's peak, length and the typical novelty load; the run goes on from its CUSUM."""
    track = SurpriseTrack()
    _run(track, series[:500])
    record = track.export("s")
    old = {k: v for k, v in record.items() if k not in ("nrun", "ntypical", "nlen")}
    restored = SurpriseTrack()
    restored.load("s", old, 1)
    assert restored.export("s")["nrun"].tolist() == record["novelty"].tolist()
    S, _ = _run(restored, series[500:], t0=5000.0)
    assert S[100] > 4 and S[:100].max() < 4


def _three_states(rng: np.random.Generator, n: int) -> np.ndarray:
    """A worker switching at random between idle (10), half (50) and busy (90), dwelling 30-240 points each."""
    levels, row, state = [], 0, 0
    order = [0, 1, 2]
    while row < n:
        state = order.pop(0) if order else int(rng.choice([s for s in range(3) if s != state]))
        dwell = int(rng.integers(30, 240))
        levels.extend([10.0 + 40.0 * state] * dwell)
        row += dwell
    return np.array(levels[:n]) + rng.normal(size=n)


def test_a_jump_into_a_known_state_is_not_a_surprising_point():
    """Once the three states are known, a jump straight from idle to busy (twice any jump before) is ordinary;
    one into a state never seen is news within a few points."""
    rng = np.random.default_rng(4)
    x = _three_states(rng, 2000)
    x[1990:] = 10.0 + rng.normal(size=10)
    x[1995:] = 90.0 + rng.normal(size=5)  # idle -> busy: a jump of 80
    known, evidence = _run(SurpriseTrack(), x)
    assert known[1995] < 2.0 and evidence[1995:].max() < 4.0
    y = x.copy()
    y[1995:] = 130.0 + rng.normal(size=5)  # a jump into a state never seen
    new, evidence = _run(SurpriseTrack(), y)
    assert new[1995] > known[1995] + 1.0 and evidence[1995:].max() >= 5.0


def _spiky(rng: np.random.Generator, n: int, raised: slice | None = None) -> np.ndarray:
    """Latency with a GC spike (8-15 sd) in about 1 of 30 points, three times as often in ``raised``."""
    x = 100 + rng.normal(size=n)
    rate = np.full(n, 1 / 30)
    if raised is not None:
        rate[raised] *= 3.0
    spikes = rng.random(n) < rate
    x[spikes] += rng.uniform(8, 15, size=int(spikes.sum()))
    return x


def test_spikes_three_times_as_often_add_up_to_news():
    """No spike is news on its own (5 decades, which opens an episode alone, is never reached on 20 series);
    a tripled spike rate reaches 4 decades in most of them, in some 150 points (median), and stays there."""
    series = [f"s{i}" for i in range(20)]
    X = np.array([_spiky(np.random.default_rng(i), 2540, raised=slice(2000, 2540)) for i in range(20)]).T
    track, evidence = SurpriseTrack(), np.zeros_like(X)
    for t, row in enumerate(X):
        evidence[t] = track.step(series, row[:, None], np.full(len(series), 10.0 * t))[1]
    assert evidence[1000:2000].max() < 5.0
    hit = evidence[2000:] >= 4.0
    found = hit.any(axis=0)
    first = hit.argmax(axis=0)[found]
    assert found.sum() >= 16 and np.median(first) <= 200
    held = [hit[f:, i].mean() for i, f in zip(np.flatnonzero(found), first)]
    assert np.median(held) > 0.9  # an excursion's evidence holds until it ends: one episode, not one per spike


def test_an_accepted_spike_rate_is_the_new_normal():
    """Once an episode about the raised rate is accepted, the same rate is no longer evidence; unaccepted, it is."""
    rng = np.random.default_rng(2)
    x = _spiky(rng, 4000, raised=slice(2000, 4000))
    accepted, kept = SurpriseTrack(), SurpriseTrack()
    for track in (accepted, kept):
        _, before = _run(track, x[:2600])
        assert before[2300:2600].max() >= 4.0
    accepted.accept(["s"])
    _, after = _run(accepted, x[2600:], t0=26_000.0)
    _, still = _run(kept, x[2600:], t0=26_000.0)
    assert still[:5].min() >= 4.0 and after[:5].max() < 4.0
    assert (after >= 4.0).mean() < 0.05 and after.max() < 5.0


def test_a_record_from_before_spike_rates_were_followed_loads(series):
    track = SurpriseTrack()
    _run(track, series[:500])
    rate_fields = ("srate", "srecent", "sover", "scusum", "srun", "speak", "jumps")
    old = {k: v for k, v in track.export("s").items() if k not in rate_fields}
    restored = SurpriseTrack()
    restored.load("s", old, 1)
    assert restored.export("s")["srate"].tolist() == [0.0]
    S, _ = _run(restored, series[500:], t0=5000.0)
    assert S[100] > 4 and S[:100].max() < 4


def test_a_single_spike_scores_alone_and_leaves_no_echo():
    """A spike's surprise is its own point's: the points after it score as ordinary points do."""
    rng = np.random.default_rng(6)
    x = 20 + rng.normal(size=1200)
    x[1000] += 12.0
    S, _ = _run(SurpriseTrack(), x)
    assert S[1000] > 6.0 and S[1001:1010].max() < 3.0


def test_a_record_from_before_crossings_were_scored_loads_and_scores_on(series):
    """A record without the last evidence and its pulse loads as if nothing had crossed; then it scores as a whole."""
    whole = SurpriseTrack()
    expected, _ = _run(whole, series)
    track = SurpriseTrack()
    _run(track, series[:500])
    old = {k: v for k, v in track.export("s").items() if k not in ("eprev", "epulse")}
    restored = SurpriseTrack()
    restored.load("s", old, 1)
    S, _ = _run(restored, series[500:], t0=5000.0)
    np.testing.assert_allclose(S, expected[500:])


def test_a_spike_into_the_range_of_a_slow_wave_is_news():
    """A wave meets every level of its range, but never jumps: a spike to a level it passes through is surprising."""
    t = np.arange(800, dtype=float)
    x = 10 * np.sin(t / 40) + np.random.default_rng(1).normal(size=800) * 0.3
    x[700] += 8.0
    S, _ = _run(SurpriseTrack(), x)
    assert S[700] > 5.0 and S[100:700].max() < 3.0


def test_a_weekly_ramp_inside_an_hour_is_not_a_sustained_shift():
    """Logins at 5 minutes rise from 40 to 250 over a working morning, and a tenth of that at weekends.

    The weekly profile keeps an hour per bucket. Read as a staircase, each hour of the ramp makes 12 errors of
    one sign that add up to a "sustained shift" (evidence 10 decades on Monday mornings). Read as a line through
    the buckets, the clean weeks after the first stay under the bar that opens an episode.
    """
    rng = np.random.default_rng(2)
    t = np.arange(21 * 288) * 300.0
    hours = (t % 86_400) / 3600
    ramp = np.clip((hours - 6) / 4, 0, 1) * np.clip((21 - hours) / 4, 0, 1)
    weekend = (t // 86_400).astype(int) % 7 >= 5
    x = (40 + 210 * ramp * np.where(weekend, 0.15, 1.0)) * (1 + 0.04 * rng.normal(size=t.size))
    track = SurpriseTrack()
    evidence = np.array([track.step(["s"], np.array([[v]]), np.array([ti]))[1][0] for ti, v in zip(t, x)])
    assert evidence[8 * 288:].max() < 4.0
