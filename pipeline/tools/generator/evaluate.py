"""Compare the anomalies a pipeline found with the generator's ground truth.

An anomaly (``Anomaly.to_dict()`` form) is a true positive when it lies in
an incident's window ``[start, end + grace_s]`` and on the incident's series:
the same series for metric kinds; a ``log|...`` or ``logs|...`` series of the
same host and service for log kinds; any series of the same host for sshd
attacks. Precision counts anomalies, recall counts incidents.

>>> truth = [{"id": "a", "kind": "spike", "series_id": "service|host=n1,service=api",
...           "labels": {"host": "n1", "service": "api"}, "start": 100.0, "end": 101.0,
...           "features": ["cpu"], "params": {}}]
>>> found = [{"series_id": "service|host=n1,service=api", "time": 101.0, "ingest_time": 101.1,
...           "detected_time": 101.3, "kind": "point"},
...          {"series_id": "service|host=n2,service=api", "time": 50.0, "ingest_time": 50.0,
...           "detected_time": 50.2, "kind": "point"}]
>>> r = evaluate(truth, found, grace_s=5.0)
>>> r.precision, r.recall, r.incidents[0].delay_s
(0.5, 1.0, 1.0)
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiops.detectors.core.errors import InputError
from aiops.pipeline.tools.generator.anomalies import ATTACK_KINDS, LOG_KINDS
from aiops.pipeline.tools.generator.truth import check_record, read_truth

LOG_SERIES_NAMES = ("log", "logs")


def parse_series_id(series_id: str) -> tuple[str, dict[str, str]]:
    """Split a canonical series id back into its name and labels.

    >>> parse_series_id("logs|host=n1,service=db")
    ('logs', {'host': 'n1', 'service': 'db'})
    """
    name, _, tags = series_id.partition("|")
    labels = {}
    for part in tags.split(",") if tags else []:
        key, sep, value = part.partition("=")
        if sep:
            labels[key] = value
    return name, labels


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile ``q`` in [0, 100]; None for no values.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50), percentile([], 90)
    (2.5, None)
    """
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass(slots=True)
class Found:
    """The parts of an anomaly record the comparison needs."""

    series_id: str
    name: str
    labels: dict[str, str]
    time: float
    latency_s: float | None

    @classmethod
    def from_record(cls, record: Any, index: int) -> Found:
        if not isinstance(record, dict) or "series_id" not in record or "time" not in record:
            raise InputError(f"anomaly {index}: needs at least series_id and time")
        try:
            time = float(record["time"])
        except (TypeError, ValueError):
            raise InputError(f"anomaly {index}: time {record['time']!r} is not a number") from None
        name, parsed = parse_series_id(str(record["series_id"]))
        labels = {**parsed, **{k: str(v) for k, v in (record.get("labels") or {}).items()}}
        ingest, detected = record.get("ingest_time") or 0.0, record.get("detected_time") or 0.0
        latency = float(detected) - float(ingest) if ingest and detected else None
        return cls(str(record["series_id"]), name, labels, time, latency)


def series_match(truth: dict[str, Any], found: Found) -> bool:
    """Whether an anomaly's series is one where the incident shows."""
    host, service = truth["labels"].get("host"), truth["labels"].get("service")
    if truth["kind"] in ATTACK_KINDS:
        return found.labels.get("host") == host
    if truth["kind"] in LOG_KINDS:
        return (found.name in LOG_SERIES_NAMES and found.labels.get("host") == host
                and found.labels.get("service") == service)
    return found.series_id == truth["series_id"]


@dataclass(slots=True)
class IncidentResult:
    id: str
    kind: str
    series_id: str
    start: float
    end: float
    anomalies: int = 0
    first_time: float | None = None

    @property
    def detected(self) -> bool:
        return self.anomalies > 0

    @property
    def delay_s(self) -> float | None:
        return None if self.first_time is None else self.first_time - self.start


@dataclass(slots=True)
class KindStats:
    kind: str
    injected: int = 0
    detected: int = 0
    anomalies: int = 0
    delays: list[float] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return _ratio(self.detected, self.injected)


def _ratio(num: int, den: int) -> float:
    return num / den if den else math.nan


@dataclass(slots=True)
class EvalReport:
    """Precision over anomalies, recall over incidents, delays and event-to-alert latency.

    A ratio with nothing to count (no anomalies, no incidents) is NaN.
    """

    incidents: list[IncidentResult]
    per_kind: dict[str, KindStats]
    anomalies: int
    true_positives: int
    ignored: int
    latencies: list[float]
    false_positive_series: Counter

    @property
    def false_positives(self) -> int:
        return self.anomalies - self.true_positives

    @property
    def precision(self) -> float:
        return _ratio(self.true_positives, self.anomalies)

    @property
    def recall(self) -> float:
        return _ratio(sum(i.detected for i in self.incidents), len(self.incidents))

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        if math.isnan(p) or math.isnan(r) or p + r == 0:
            return math.nan
        return 2 * p * r / (p + r)

    def latency(self) -> dict[str, float | None]:
        """Event-to-alert latency (detected_time - ingest_time) percentiles, seconds."""
        return {f"p{q}": percentile(self.latencies, q) for q in (50, 90, 99)} | {
            "max": max(self.latencies) if self.latencies else None}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (undefined ratios become null)."""
        return _no_nan({
            "anomalies": self.anomalies, "true_positives": self.true_positives,
            "false_positives": self.false_positives, "ignored": self.ignored,
            "precision": self.precision, "recall": self.recall, "f1": self.f1,
            "incidents": len(self.incidents), "detected": sum(i.detected for i in self.incidents),
            "per_kind": {k: {"injected": s.injected, "detected": s.detected, "recall": s.recall,
                             "anomalies": s.anomalies, "delay_p50_s": percentile(s.delays, 50)}
                         for k, s in self.per_kind.items()},
            "latency_s": self.latency(),
        })

    def format(self) -> str:
        """A readable table."""
        lines = [
            f"incidents  {len(self.incidents):6d} injected {sum(i.detected for i in self.incidents):6d} detected"
            f"   recall    {_num(self.recall)}",
            f"anomalies  {self.anomalies:6d} scored   {self.true_positives:6d} true"
            f"       precision {_num(self.precision)}   F1 {_num(self.f1)}"
            + (f"   ({self.ignored} before the evaluation start ignored)" if self.ignored else ""),
            "",
            f"{'kind':<18}{'injected':>9}{'detected':>9}{'recall':>8}{'delay p50':>11}{'delay max':>11}{'anomalies':>11}",
        ]
        for kind in sorted(self.per_kind):
            s = self.per_kind[kind]
            worst = max(s.delays) if s.delays else None
            lines.append(f"{kind:<18}{s.injected:>9}{s.detected:>9}{_num(s.recall):>8}"
                         f"{_secs(percentile(s.delays, 50)):>11}{_secs(worst):>11}{s.anomalies:>11}")
        lat = self.latency()
        lines += ["", f"event-to-alert latency (n={len(self.latencies)}): "
                  + "  ".join(f"{k} {_secs(v)}" for k, v in lat.items())]
        missed = [i for i in self.incidents if not i.detected]
        if missed:
            lines += ["", "missed:"] + [f"  {i.id:<28} {i.kind:<18} {i.series_id}" for i in missed[:20]]
            if len(missed) > 20:
                lines.append(f"  ... and {len(missed) - 20} more")
        if self.false_positive_series:
            lines += ["", "false positives by series:"] + [
                f"  {n:6d}  {sid}" for sid, n in self.false_positive_series.most_common(10)]
        return "\n".join(lines)


def _no_nan(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _no_nan(v) for k, v in data.items()}
    if isinstance(data, float) and math.isnan(data):
        return None
    return data


def _num(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.3f}"


def _secs(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def evaluate(
    truth: list[dict[str, Any]], anomalies: list[dict[str, Any]], *, grace_s: float, since: float | None = None
) -> EvalReport:
    """Score ``anomalies`` against ``truth``; anomalies with time before ``since`` (warm-up) are ignored."""
    if grace_s < 0:
        raise InputError(f"grace_s must be >= 0 (got {grace_s})")
    records = [check_record(r) for r in truth]
    results = [IncidentResult(r["id"], r["kind"], r["series_id"], float(r["start"]), float(r["end"]))
               for r in records]
    per_kind: dict[str, KindStats] = {}
    for r in records:
        per_kind.setdefault(r["kind"], KindStats(r["kind"])).injected += 1
    found = [Found.from_record(a, i) for i, a in enumerate(anomalies)]
    kept = [f for f in found if since is None or f.time >= since]
    true_positives = 0
    fp_series: Counter = Counter()
    for f in kept:
        hit = False
        for record, result in zip(records, results):
            if result.start <= f.time <= result.end + grace_s and series_match(record, f):
                hit = True
                result.anomalies += 1
                per_kind[result.kind].anomalies += 1
                if result.first_time is None or f.time < result.first_time:
                    result.first_time = f.time
        if hit:
            true_positives += 1
        else:
            fp_series[f.series_id] += 1
    for result in results:
        if result.detected:
            per_kind[result.kind].detected += 1
            per_kind[result.kind].delays.append(result.delay_s)
    latencies = [f.latency_s for f in kept if f.latency_s is not None]
    return EvalReport(results, per_kind, len(kept), true_positives, len(found) - len(kept), latencies, fp_series)


def read_anomalies(path: str) -> list[dict[str, Any]]:
    """Anomaly records, one JSON object per line (as consumed from the anomalies topic)."""
    out = []
    try:
        with open(path) as stream:
            for number, line in enumerate(stream, 1):
                if line.strip():
                    try:
                        out.append(json.loads(line))
                    except json.JSONDecodeError as exc:
                        raise InputError(f"{path} line {number}: not JSON: {exc.msg}") from None
    except OSError as exc:
        raise InputError(f"cannot read anomalies file {path!r}: {exc.strerror}") from None
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m aiops.pipeline.tools.generator.evaluate",
                                description="Compare found anomalies with the generator's ground truth.")
    p.add_argument("truth", help="ground truth JSONL written by `aiops generate --truth`")
    p.add_argument("anomalies", help="anomaly records JSONL (Anomaly.to_dict() form)")
    p.add_argument("--grace", type=float, default=30.0, help="seconds after an incident's end still counted")
    p.add_argument("--since", type=float, help="ignore anomalies before this epoch time (warm-up)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = p.parse_args(argv)
    try:
        report = evaluate(read_truth(args.truth), read_anomalies(args.anomalies), grace_s=args.grace,
                          since=args.since)
    except InputError as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.format())
    return 0


if __name__ == "__main__":
    sys.exit(main())
