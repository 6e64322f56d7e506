"""LogIntelligence, the one object the worker calls: enrichment, anomalies, metric events, state."""

from __future__ import annotations

import random

from aiops.detectors.core.shapes import Anomaly, Event, series_id_for
from aiops.detectors.logs.config import LogsConfig
from aiops.detectors.logs.intelligence import LogIntelligence

LABELS = {"host": "web-1", "service": "api"}
SERIES = series_id_for("log", LABELS)


def _event(t: float, message: str, level: str = "info", labels: dict[str, str] = LABELS) -> Event:
    return Event("log", series_id_for("log", labels), dict(labels), t, {}, message=message, level=level)


def _stream(seed: int = 3, n: int = 3000) -> list[Event]:
    """A service's lines: steady requests, a new failure template late, an error burst, a slow request."""
    rng = random.Random(seed)
    events = []
    for i in range(n):
        t = 1_700_000_000.0 + i * 0.5
        roll = rng.random()
        if i == 2500:
            events.append(_event(t, "database connection pool exhausted (max 50)", "critical"))
        elif 2600 <= i < 2640:
            events.append(_event(t, f"upstream timeout talking to 10.0.3.{rng.randint(1, 9)}:5432", "error"))
        elif i == 2800:
            events.append(_event(t, "GET /api/orders/77 200 in 98000ms"))
        elif roll < 0.7:
            events.append(_event(t, f"GET /api/orders/{rng.randint(1, 999)} 200 in {rng.randint(20, 60)}ms"))
        elif roll < 0.95:
            events.append(_event(t, f"POST /api/cart 201 in {rng.randint(30, 90)}ms"))
        else:
            events.append(_event(t, f"cache miss for key user:{rng.randint(1, 99)}", "warning"))
    return events


def _run(li: LogIntelligence, events: list[Event], batch: int = 250):
    anomalies: list[Anomaly] = []
    metrics: list[Event] = []
    scores: list[dict[str, float]] = []
    for start in range(0, len(events), batch):
        chunk = events[start : start + batch]
        result = li.process(chunk, now=chunk[-1].time)
        anomalies += result.anomalies
        metrics += result.metric_events
        scores += result.line_scores
    return anomalies, metrics, scores


def test_events_are_enriched_in_place() -> None:
    """Every log event leaves with its template id, text and parameters."""
    li = LogIntelligence(LogsConfig())
    events = [_event(0.0, "GET /api/orders/1 200 in 20ms"), _event(1.0, "GET /api/orders/2 200 in 35ms")]
    li.process(events, now=2.0)
    assert events[0].template_id == events[1].template_id == f"{SERIES}:1"
    assert events[1].template == "GET <PATH> <NUM> in <DURATION>"
    assert events[1].params == ["/api/orders/2", "200", "35ms"]


def test_injected_problems_are_found_and_explained() -> None:
    """The new failure template, the error burst and the slow request are reported, with readable reasons."""
    anomalies, _, _ = _run(LogIntelligence(LogsConfig()), _stream())
    kinds = {a.kind for a in anomalies}
    assert {"new_template", "error_burst", "parameter"} <= kinds
    new = [a for a in anomalies if a.kind == "new_template"]
    assert any("pool exhausted" in (a.message or "") for a in new)
    burst = [a for a in anomalies if a.kind == "error_burst"]
    assert len(burst) == 1 and 1_700_000_000.0 + 2600 * 0.5 <= burst[0].time <= 1_700_000_000.0 + 2640 * 0.5
    slow = [a for a in anomalies if a.kind == "parameter"]
    assert any(a.values["value"] == 98000.0 for a in slow)
    for a in anomalies:
        assert 0.0 <= a.score <= 1.0 and a.score >= a.threshold
        assert a.labels["host"] == "web-1" and a.labels["service"] == "api"
        assert a.reason and a.reason[0].isalnum() and a.detectors
        assert Anomaly.from_dict(a.to_dict()) == a


def test_few_false_alarms_on_steady_traffic() -> None:
    """Before the injected problems, the steady stream raises almost nothing."""
    anomalies, _, _ = _run(LogIntelligence(LogsConfig()), _stream()[:2500])
    assert len(anomalies) <= 3


def test_metric_events_carry_template_counts() -> None:
    """Each closed window becomes a metric event whose features are template counts summing to the total."""
    _, metrics, _ = _run(LogIntelligence(LogsConfig()), _stream())
    assert len(metrics) >= 20
    for m in metrics:
        assert m.source == "metric" and m.series_id == "templates|host=web-1,service=api"
        total = m.features.pop("total")
        assert abs(sum(m.features.values()) - total) < 1e-9 and total > 0
    assert metrics == sorted(metrics, key=lambda m: m.time)


def test_scoring_is_causal() -> None:
    """A line's verdict never depends on later lines: a prefix run gives the same verdicts."""
    events = _stream()
    _, _, full = _run(LogIntelligence(LogsConfig()), [e for e in _stream()])
    _, _, prefix = _run(LogIntelligence(LogsConfig()), events[:2620])
    assert prefix == full[:2620]


def test_restart_from_snapshot_continues_identically() -> None:
    """Export at a batch boundary, import into a fresh object: same anomalies, same ids, as without restart."""
    straight, _, _ = _run(LogIntelligence(LogsConfig()), _stream())
    first = LogIntelligence(LogsConfig())
    a1, _, _ = _run(first, _stream()[:1500])
    states = first.export_state(first.keys())
    assert set(states) == {SERIES} and all(isinstance(b, bytes) for b in states.values())
    second = LogIntelligence(LogsConfig())
    second.import_state(states)
    a2, _, _ = _run(second, _stream()[1500:])
    assert [a.id for a in a1 + a2] == [a.id for a in straight]


def test_sources_are_independent() -> None:
    """Two hosts of one service keep separate state keyed by their series ids."""
    li = LogIntelligence(LogsConfig())
    other = {"host": "web-2", "service": "api"}
    li.process([_event(0.0, "hello 1"), _event(0.0, "hello 2", labels=other)], now=1.0)
    assert li.keys() == [SERIES, series_id_for("log", other)]
    li.forget([SERIES])
    assert li.keys() == [series_id_for("log", other)]


def test_bad_events_are_rejected_not_fatal() -> None:
    """A metric event or a log event without a message is reported back; the rest of the batch goes on."""
    li = LogIntelligence(LogsConfig())
    bad = Event("metric", "cpu|host=a", {"host": "a"}, 0.0, {"x": 1.0})
    no_message = Event("log", SERIES, dict(LABELS), 0.0, {})
    good = _event(1.0, "fine")
    result = li.process([bad, no_message, good], now=2.0)
    assert [i for i, _ in result.rejected] == [0, 1]
    assert good.template_id is not None and len(result.line_scores) == 3


def test_source_label_setting() -> None:
    """With source_label=service, all hosts of a service share one miner."""
    li = LogIntelligence(LogsConfig(source_label="service"))
    li.process([_event(0.0, "x 1"), _event(0.0, "x 2", labels={"host": "b", "service": "api"})], now=1.0)
    assert li.keys() == ["api"]


def test_unreadable_snapshot_is_dropped_with_a_warning() -> None:
    """A corrupt state record does not stop the restore: that source starts afresh, the others load."""
    from structlog.testing import capture_logs

    first = LogIntelligence(LogsConfig())
    first.process([_event(0.0, "hello 1")], now=1.0)
    states = first.export_state(first.keys())
    states["log|host=x,service=y"] = b"garbage"
    second = LogIntelligence(LogsConfig())
    with capture_logs() as logs:
        second.import_state(states)
    assert second.keys() == [SERIES]
    dropped = [e for e in logs if e["event"] == "log state dropped"]
    assert len(dropped) == 1 and dropped[0]["source"] == "log|host=x,service=y"


def test_restored_state_takes_the_current_thresholds() -> None:
    """Thresholds changed between snapshot and restore apply; what was learned is kept."""
    first = LogIntelligence(LogsConfig())
    _run(first, _stream()[:1000])
    stricter = LogsConfig.model_validate(
        {"error_burst": {"min_errors": 99}, "security": {"unusual_sudo": {"allowed_users": ["root", "ops"]}}}
    )
    second = LogIntelligence(stricter)
    second.import_state(first.export_state(first.keys()))
    state = second._sources[SERIES]
    assert state.errors.config.min_errors == 99 and state.errors.history.n > 0
    assert state.novelty is not None and state.novelty.lines == 1000
    sudo = [d for d in state.security.detectors if d.name == "unusual_sudo"][0]
    assert sudo.config.allowed_users == ["root", "ops"]
