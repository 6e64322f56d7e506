"""evaluate(): hand-built truth and anomalies with known answers."""

from __future__ import annotations

import json
import math

import pytest

from aiops.detectors.core.errors import InputError
from aiops.detectors.core.shapes import Anomaly
from aiops.pipeline.tools.generator.evaluate import evaluate, main
from aiops.pipeline.tools.generator.truth import write_truth


def truth(ident: str, kind: str, series_id: str, host: str, service: str, start: float, end: float) -> dict:
    return {"id": ident, "kind": kind, "series_id": series_id, "labels": {"host": host, "service": service},
            "start": start, "end": end, "features": ["cpu"], "params": {}}


def anomaly(series_id: str, time: float, *, ingest: float | None = None, detected: float | None = None,
            labels: dict | None = None) -> dict:
    """A record exactly as the pipeline writes it to the anomalies topic."""
    ingest = time + 0.05 if ingest is None else ingest
    return Anomaly(id=f"{series_id}@{time}", source="metric", series_id=series_id, labels=labels or {},
                   time=time, values={"cpu": 99.0}, score=0.99, threshold=0.9, severity="error",
                   detectors={"zscore": 0.99}, contributions={"cpu": 1.0}, expected={"cpu": (10.0, 30.0)},
                   ingest_time=ingest, detected_time=ingest + 0.2 if detected is None else detected).to_dict()


API1 = "service|host=n1,service=api"
DB1 = "service|host=n1,service=db"
API2 = "service|host=n2,service=api"
SPIKE = truth("s1", "spike", API1, "n1", "api", 100.0, 102.0)
SHIFT = truth("l1", "level_shift", DB1, "n1", "db", 200.0, 260.0)
BURST = truth("b1", "log_error_burst", "log|host=n2,service=db", "n2", "db", 300.0, 340.0)
BRUTE = truth("a1", "brute_force", "log|host=n2,service=sshd", "n2", "sshd", 400.0, 450.0)


class TestMatching:
    def test_true_positive_false_positive_and_missed(self):
        """One hit on the spike, one stray anomaly, the level shift missed."""
        r = evaluate([SPIKE, SHIFT], [anomaly(API1, 101.0), anomaly(API2, 101.0)], grace_s=0.0)
        assert (r.anomalies, r.true_positives, r.false_positives) == (2, 1, 1)
        assert r.precision == 0.5 and r.recall == 0.5 and r.f1 == 0.5
        assert [i.detected for i in r.incidents] == [True, False]
        assert r.false_positive_series == {API2: 1}

    def test_grace_window(self):
        """An anomaly after the end counts only within grace_s."""
        late = [anomaly(DB1, 265.0)]
        assert evaluate([SHIFT], late, grace_s=10.0).true_positives == 1
        assert evaluate([SHIFT], late, grace_s=4.0).true_positives == 0

    def test_before_start_is_not_a_hit(self):
        """An anomaly on the right series before the incident starts is a false positive."""
        r = evaluate([SPIKE], [anomaly(API1, 99.5)], grace_s=30.0)
        assert r.true_positives == 0 and r.recall == 0.0

    def test_metric_kinds_need_the_exact_series(self):
        """Another service of the same host does not detect a metric incident."""
        assert evaluate([SPIKE], [anomaly(DB1, 101.0)], grace_s=5.0).true_positives == 0

    def test_log_kinds_match_log_and_count_series_of_the_service(self):
        """log|... and logs|... of the same host and service hit; another service or a metric series does not."""
        found = [anomaly("logs|host=n2,service=db", 310.0), anomaly("log|host=n2,service=db", 320.0),
                 anomaly("log|host=n2,service=api", 320.0), anomaly("service|host=n2,service=db", 320.0),
                 anomaly("logs|host=n2,level=error,service=db", 330.0)]
        r = evaluate([BURST], found, grace_s=5.0)
        assert r.true_positives == 3 and r.incidents[0].anomalies == 3

    def test_attacks_match_any_series_of_the_host(self):
        """An sshd attack is detected by any series of its host, not by another host's."""
        found = [anomaly("auth|host=n2", 410.0), anomaly("service|host=n2,service=api", 420.0),
                 anomaly("log|host=n1,service=sshd", 420.0)]
        r = evaluate([BRUTE], found, grace_s=5.0)
        assert r.true_positives == 2 and r.per_kind["brute_force"].detected == 1

    def test_labels_are_used_when_the_series_id_lacks_them(self):
        """The anomaly's labels name the host when its series id does not."""
        found = [anomaly("ssh_failures", 410.0, labels={"host": "n2"})]
        assert evaluate([BRUTE], found, grace_s=0.0).true_positives == 1

    def test_one_anomaly_may_confirm_two_incidents(self):
        """An anomaly inside two incidents of its host counts once as a true positive, for both."""
        shift_api = truth("l2", "level_shift", API2, "n2", "api", 400.0, 460.0)
        r = evaluate([BRUTE, shift_api], [anomaly(API2, 410.0)], grace_s=0.0)
        assert r.true_positives == 1 and r.recall == 1.0


class TestFigures:
    def test_detection_delay_is_first_hit_minus_start(self):
        """The delay uses the earliest true positive, whatever the order of the records."""
        r = evaluate([SHIFT], [anomaly(DB1, 230.0), anomaly(DB1, 212.0)], grace_s=0.0)
        assert r.incidents[0].delay_s == 12.0
        assert r.per_kind["level_shift"].delays == [12.0]

    def test_latency_percentiles(self):
        """Event-to-alert latency is detected_time - ingest_time over all scored anomalies."""
        found = [anomaly(API2, float(t), ingest=float(t), detected=t + d) for t, d in
                 zip(range(10, 20), (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 5.0))]
        lat = evaluate([], found, grace_s=0.0).latency()
        assert lat["p50"] == pytest.approx(0.55) and lat["max"] == pytest.approx(5.0)
        assert lat["p90"] == pytest.approx(0.9 + 0.1 * 4.1)

    def test_warmup_anomalies_are_ignored(self):
        """Anomalies before `since` count nowhere but in `ignored`."""
        r = evaluate([SPIKE], [anomaly(API2, 10.0), anomaly(API1, 101.0)], grace_s=0.0, since=50.0)
        assert (r.anomalies, r.ignored, r.precision) == (1, 1, 1.0)

    def test_nothing_to_count_is_nan(self):
        """No anomalies: precision is undefined (NaN), shown as n/a, and null in to_dict()."""
        r = evaluate([SPIKE], [], grace_s=0.0)
        assert math.isnan(r.precision) and r.recall == 0.0
        assert r.to_dict()["precision"] is None
        assert "n/a" in r.format()

    def test_format_lists_kinds_and_missed_incidents(self):
        """The table has a row per kind, the latency line, and the missed incidents by id."""
        r = evaluate([SPIKE, SHIFT, BRUTE], [anomaly(API1, 100.0), anomaly(API2, 5.0)], grace_s=1.0)
        text = r.format()
        for needle in ("spike", "level_shift", "brute_force", "latency", "missed:", "l1", "a1", API2):
            assert needle in text
        row = next(line for line in text.splitlines() if line.startswith("spike"))
        assert row.split()[:4] == ["spike", "1", "1", "1.000"]


class TestBadInput:
    def test_anomaly_without_time(self):
        with pytest.raises(InputError, match="anomaly 0"):
            evaluate([], [{"series_id": "x"}], grace_s=0.0)

    def test_truth_without_keys(self):
        with pytest.raises(InputError, match="missing keys"):
            evaluate([{"id": "x"}], [], grace_s=0.0)

    def test_negative_grace(self):
        with pytest.raises(InputError, match="grace_s"):
            evaluate([], [], grace_s=-1.0)


class TestCommandLine:
    def test_files_in_table_out(self, tmp_path, capsys):
        """truth.jsonl + anomalies.jsonl give the table, or JSON figures with --json."""
        write_truth(tmp_path / "truth.jsonl", [SPIKE, SHIFT])
        (tmp_path / "found.jsonl").write_text(json.dumps(anomaly(API1, 101.0)) + "\n\n")
        assert main([str(tmp_path / "truth.jsonl"), str(tmp_path / "found.jsonl"), "--grace", "5"]) == 0
        assert "level_shift" in capsys.readouterr().out
        assert main([str(tmp_path / "truth.jsonl"), str(tmp_path / "found.jsonl"), "--json"]) == 0
        figures = json.loads(capsys.readouterr().out)
        assert (figures["precision"], figures["recall"], figures["detected"]) == (1.0, 0.5, 1)

    def test_bad_file_exits_2(self, tmp_path, capsys):
        write_truth(tmp_path / "truth.jsonl", [SPIKE])
        (tmp_path / "found.jsonl").write_text("{oops\n")
        assert main([str(tmp_path / "truth.jsonl"), str(tmp_path / "found.jsonl")]) == 2
        assert "line 1: not JSON" in capsys.readouterr().err
