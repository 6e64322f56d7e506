"""The NAB scoring method against scores worked out by hand from its formulas."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from aiops.detectors.evaluation.nab import (
    PROFILES,
    NabLabelsError,
    match_labels,
    nab_corpus,
    nab_file,
    probationary_length,
    raw_score,
    read_windows_file,
    sweep,
    windows_from_labels,
    windows_from_times,
)

STANDARD, LOW_FP, LOW_FN = PROFILES["standard"], PROFILES["reward_low_FP_rate"], PROFILES["reward_low_FN_rate"]


def sig(x: float) -> float:
    """NAB's scaled sigmoid, written out."""
    return -1.0 if x > 3 else 2.0 / (1.0 + math.exp(5.0 * x)) - 1.0


MAX_TP = sig(-1.0)


def detections(n: int, rows: list[int]) -> np.ndarray:
    s = np.zeros(n)
    s[rows] = 1.0
    return s


def corpus_raw(files, threshold, profile):
    """The raw score of a corpus at one threshold, from the file-prep path."""
    sw = sweep(files, np.array([threshold]))
    return float(sw.raw(profile)[0])


WINDOW = [(60, 69)]  # 10 rows in a 100-row file; probation: rows 0-14


class TestOneFile:
    """Raw scores of single files, each case's value computed from the published formulas."""

    def test_earliest_detection_earns_the_full_tp_weight(self):
        """A detection on a window's first row earns tp_weight (the sigmoid divided by its value at -1)."""
        s = detections(100, [60])
        assert raw_score(s, WINDOW, 0.5, STANDARD) == pytest.approx(1.0)
        assert corpus_raw([nab_file("f", s, WINDOW)], 0.5, STANDARD) == pytest.approx(1.0)

    def test_late_detection_earns_less(self):
        """On the window's last row the position is -1/10: sig(-0.1)/sig(-1)."""
        s = detections(100, [69])
        expected = sig(-0.1) / MAX_TP
        assert expected == pytest.approx(0.2482, abs=1e-4)
        assert raw_score(s, WINDOW, 0.5, STANDARD) == pytest.approx(expected)
        assert corpus_raw([nab_file("f", s, WINDOW)], 0.5, STANDARD) == pytest.approx(expected)

    def test_only_the_earliest_detection_in_a_window_counts(self):
        """Later detections in the same window neither add nor cost."""
        s = detections(100, [63, 64, 68])
        assert corpus_raw([nab_file("f", s, WINDOW)], 0.5, STANDARD) == pytest.approx(sig(-0.7) / MAX_TP)

    @pytest.mark.parametrize(("profile", "cost"), [(STANDARD, -1.0), (LOW_FP, -1.0), (LOW_FN, -2.0)])
    def test_missed_window_costs_fn_weight(self, profile, cost):
        """A window without a detection costs fn_weight: 2 in the low-FN profile."""
        s = np.zeros(100)
        assert corpus_raw([nab_file("f", s, WINDOW)], 0.5, profile) == pytest.approx(cost)

    @pytest.mark.parametrize(("profile", "cost"), [(STANDARD, -0.11), (LOW_FP, -0.22), (LOW_FN, -0.11)])
    def test_false_positive_before_any_window_costs_fp_weight(self, profile, cost):
        """With no window before it, a false positive costs the full fp_weight; the missed window costs too."""
        s = detections(100, [30])
        assert corpus_raw([nab_file("f", s, WINDOW)], 0.5, profile) == pytest.approx(cost - profile.fn)

    def test_false_positive_after_a_window_costs_by_distance(self):
        """Just after a window the cost is small; three widths past its end it is full."""
        near, far = detections(100, [60, 70]), detections(100, [60, 97])
        # row 70 is 1 row past the end of a 10-row window: position 1/(10-1)
        assert corpus_raw([nab_file("f", near, WINDOW)], 0.5, STANDARD) == pytest.approx(1.0 + 0.11 * sig(1 / 9))
        assert 1.0 + 0.11 * sig(1 / 9) > 1.0 - 0.11 * 0.3
        # row 97 is 28 rows past: position 28/9 > 3, the full cost
        assert corpus_raw([nab_file("f", far, WINDOW)], 0.5, STANDARD) == pytest.approx(1.0 - 0.11)
        assert raw_score(far, WINDOW, 0.5, STANDARD) == pytest.approx(1.0 - 0.11)

    def test_probationary_period_is_ignored(self):
        """Detections in the first 15% neither find windows nor cost; a window wholly inside it is not scored."""
        s = detections(100, [3, 10, 14])
        f = nab_file("f", s, [(5, 12), (60, 69)])
        assert f.probation == 15 and len(f.records) == 1
        assert corpus_raw([f], 0.5, STANDARD) == pytest.approx(-1.0)  # only the second window, missed
        assert raw_score(s, [(5, 12), (60, 69)], 0.5, STANDARD) == pytest.approx(-1.0)
        # a window that straddles the probation's end is found after it, weighted by its whole width
        g = nab_file("g", detections(100, [12, 16]), [(10, 19)])
        assert corpus_raw([g], 0.5, STANDARD) == pytest.approx(sig(-0.4) / MAX_TP)

    def test_probation_is_capped_at_750_rows(self):
        """15% of the rows, but never more than 15% of 5,000."""
        assert [probationary_length(n) for n in (0, 100, 5000, 6000, 100_000)] == [0, 15, 750, 750, 750]
        with pytest.raises(ValueError):
            probationary_length(-1)

    def test_fp_after_a_window_in_probation_is_weighted_by_it(self):
        """The window preceding a false positive counts even when it lies in the probationary period."""
        s = detections(100, [14, 16])
        f = nab_file("f", s, [(10, 13)])
        assert corpus_raw([f], 0.5, STANDARD) == pytest.approx(0.11 * sig(3 / 3))


class TestCorpus:
    """Normalisation and the threshold chosen over all files at once."""

    def test_normalised_between_null_and_perfect(self):
        """Two files, two windows: one found early, one late, one FP; 0 = never alarms, 100 = perfect."""
        a = np.zeros(100); a[60] = 0.9
        b = np.zeros(200); b[[100, 139, 199]] = [0.1, 0.8, 0.7]
        files = [nab_file("a", a, [(60, 69)]), nab_file("b", b, [(100, 139)])]
        sw = sweep(files, np.array([0.05, 0.7, 0.75, 0.85, np.inf]))
        # at 0.7: a's window at its start (1), b's at its last row (sig(-1/40)), and row 199 is a false positive
        # 60 rows past a 40-row window: position 60/39
        raw = 1.0 + sig(-1 / 40) / MAX_TP + 0.11 * sig(60 / 39)
        assert sw.raw(STANDARD)[1] == pytest.approx(raw)
        assert sw.normalised(STANDARD)[1] == pytest.approx(100 * (raw + 2) / 4)
        assert sw.normalised(STANDARD)[-1] == pytest.approx(0.0)
        # at 0.05 b's window is found at its first row (0.1): that threshold is the best of the five
        best = nab_corpus(files, thresholds=sw.thresholds)["standard"]
        assert (best.threshold, best.detected, best.false_positives) == (0.05, 2, 1)
        assert best.score == pytest.approx(100 * (2.0 + 0.11 * sig(60 / 39) + 2) / 4)

    def test_threshold_optimised_per_profile(self):
        """Catching a window at the price of several false positives pays in low-FN, not in low-FP."""
        s = np.zeros(400)
        s[100:112] = 0.6  # twelve false positives, no window before them: full cost each
        s[250] = 0.6  # the first window's first row
        s[360] = 0.9  # the second window's first row
        results = nab_corpus([nab_file("f", s, [(250, 259), (360, 369)])])
        # at 0.6 both windows are found at their start: 2 - 12 fp; at 0.9 one is missed: 1 - fn
        assert results["standard"].threshold == 0.6  # 2 - 1.32 > 0
        assert results["reward_low_FP_rate"].threshold == 0.9  # 2 - 2.64 < 0
        assert results["reward_low_FP_rate"].score == pytest.approx(100 * (0 + 2) / 4)
        assert results["reward_low_FN_rate"].threshold == 0.6  # 2 - 1.32 > 1 - 2
        assert results["reward_low_FN_rate"].score == pytest.approx(100 * (2 - 1.32 + 4) / 6)
        assert results["reward_low_FN_rate"].false_positives == 12

    def test_never_alarming_scores_zero_and_perfect_scores_hundred(self):
        """The normalisation's two ends."""
        y = np.zeros(1000, dtype=bool); y[[300, 700]] = True
        windows = windows_from_labels(y)
        perfect = np.zeros(1000); perfect[[w[0] for w in windows]] = 1.0
        assert nab_corpus([nab_file("p", perfect, windows)])["standard"].score == pytest.approx(100.0)
        silent = nab_corpus([nab_file("s", np.zeros(1000), windows)], thresholds=np.array([0.5]))
        assert silent["standard"].score == pytest.approx(0.0)

    def test_sweep_equals_the_row_by_row_reference(self):
        """At every threshold the vectorised sweep matches a plain reading of the method, file by file summed."""
        rng = np.random.default_rng(7)
        files, raw_files = [], []
        for n in (300, 1200, 6000):
            s = rng.random(n) ** 3
            y = rng.random(n) < 3 / n
            y[n // 2] = True
            windows = windows_from_labels(y)
            files.append(nab_file(str(n), s, windows))
            raw_files.append((s, windows))
        thresholds = np.array([0.0, 0.3, 0.6, 0.9, 0.97, 0.999])
        sw = sweep(files, thresholds)
        for profile in PROFILES.values():
            expected = [sum(raw_score(s, w, t, profile) for s, w in raw_files) for t in thresholds]
            assert sw.raw(profile) == pytest.approx(expected)

    def test_best_threshold_is_the_best_of_every_score(self):
        """The default sweep tries every distinct score: no threshold in between scores higher."""
        rng = np.random.default_rng(3)
        s = rng.random(2000)
        y = np.zeros(2000, dtype=bool); y[[500, 1500]] = True
        f = nab_file("f", s, windows_from_labels(y))
        best = nab_corpus([f])["standard"]
        grid = np.linspace(0.0, 1.0, 501)
        assert best.score >= sweep([f], grid).normalised(STANDARD).max() - 1e-9

    def test_bad_input(self):
        """Windows outside the file, overlapping windows and unsorted thresholds are refused."""
        with pytest.raises(ValueError, match="not inside"):
            nab_file("f", np.zeros(10), [(5, 10)])
        with pytest.raises(ValueError, match="overlap"):
            nab_file("f", np.zeros(10), [(1, 5), (5, 8)])
        with pytest.raises(ValueError, match="increasing"):
            sweep([nab_file("f", np.zeros(10), [])], np.array([0.5, 0.2]))
        with pytest.raises(ValueError, match="no files"):
            nab_corpus([])


class TestWindows:
    """Windows built from labels the NAB way, and read from a combined_windows.json."""

    def test_from_labels_centred_and_sized_by_count(self):
        """One anomaly: a window of 10% of the rows around it, clipped at the file's edges."""
        y = np.zeros(1000, dtype=bool); y[500] = True
        assert windows_from_labels(y) == [(450, 550)]
        y = np.zeros(1000, dtype=bool); y[[10, 990]] = True
        assert windows_from_labels(y) == [(0, 35), (965, 999)]
        assert windows_from_labels(np.zeros(50, dtype=bool)) == []

    def test_a_labelled_run_is_one_anomaly_at_its_start(self):
        """A run of labelled rows counts once, centred on its first row."""
        y = np.zeros(1000, dtype=bool); y[400:480] = True
        assert windows_from_labels(y) == [(350, 450)]

    def test_read_and_match_labels_file(self, tmp_path):
        """Windows are read in NAB's format, matched by relative path or file name, and mapped to rows."""
        path = tmp_path / "combined_windows.json"
        path.write_text(json.dumps({
            "realTraffic/speed.csv": [["2015-01-01 00:10:00.000000", "2015-01-01 00:20:00.000000"]],
            "realAWSCloudwatch/cpu.csv": [],
        }))
        table = read_windows_file(path)
        assert match_labels(tmp_path / "data" / "realTraffic" / "speed.csv", table) == "realTraffic/speed.csv"
        assert match_labels("elsewhere/cpu.csv", table) == "realAWSCloudwatch/cpu.csv"
        start = table["realTraffic/speed.csv"][0][0]
        times = start - 600 + 60.0 * np.arange(60)
        assert windows_from_times(times, table["realTraffic/speed.csv"]) == [(10, 20)]

    @pytest.mark.parametrize(("text", "match"), [
        ("not json", "not JSON"),
        ("[1, 2]", "expected an object"),
        ('{"a.csv": [["2015-01-01"]]}', "pairs"),
        ('{"a.csv": [["yesterday", "today"]]}', "cannot read time"),
        ('{"a.csv": [["2015-01-02", "2015-01-01"]]}', "ends before"),
    ])
    def test_bad_labels_files(self, tmp_path, text, match):
        """A malformed labels file is a NabLabelsError naming the problem."""
        path = tmp_path / "w.json"
        path.write_text(text)
        with pytest.raises(NabLabelsError, match=match):
            read_windows_file(path)
        with pytest.raises(NabLabelsError, match="cannot read"):
            read_windows_file(tmp_path / "missing.json")

    def test_ambiguous_file_name(self):
        """Two labelled files of the same name: a bare name cannot pick one."""
        with pytest.raises(NabLabelsError, match="several"):
            match_labels("x/cpu.csv", {"a/cpu.csv": [], "b/cpu.csv": []})
