"""Security detectors on attack traffic from the generator, scored against its ground truth."""

from __future__ import annotations

import structlog

from aiops.detectors.logs.config import LogsConfig
from aiops.detectors.logs.intelligence import LogIntelligence
from aiops.pipeline.config import IngestSettings
from aiops.pipeline.normalise.dispatch import normalise
from aiops.pipeline.normalise.guard import IngestGuard
from aiops.pipeline.tools.generator.config import GeneratorConfig
from aiops.pipeline.tools.generator.evaluate import evaluate
from aiops.pipeline.tools.generator.produce import TrafficGenerator

SECURITY_KINDS = {"auth_failure_burst", "password_spraying", "login_after_failures", "new_login_source",
                  "unusual_sudo"}


def run_fleet(kinds: list[str], *, live_s: int, seed: int):
    config = GeneratorConfig(hosts=3, services=["api"], seed=seed, anomaly_rate=6.0, warmup_s=60.0,
                             kinds=kinds, attacks=True, history_s=900.0, log_format="syslog")
    gen = TrafficGenerator(config)
    guard = IngestGuard(IngestSettings(max_past_s=86400.0))
    intel = LogIntelligence(LogsConfig())
    start = 1_800_000_000.0
    anomalies = []

    def consume(messages, now):
        events = []
        for topic, _key, value in messages:
            if topic == config.logs_topic:
                result = normalise("logs", value, now=now, guard=guard)
                assert not result.rejects, result.rejects[:1]
                events.extend(result.events)
        events.sort(key=lambda e: e.time)
        if events:
            anomalies.extend(a.to_dict() for a in intel.process(events, now=now).anomalies)

    consume(list(gen.history(start - config.history_s, start)), start)
    for due, messages in gen.live(start):
        if due - start > live_s:
            break
        consume(messages, due + 0.5)
    gen.finish(start + live_s)
    return gen.truth, anomalies, start


def test_brute_force_and_spraying_from_the_generator_are_found():
    """Every injected brute force and spraying run is reported; security findings outside them are rare."""
    with structlog.testing.capture_logs():
        truth, anomalies, start = run_fleet(["brute_force", "password_spraying"], live_s=420, seed=11)
    attacks = [t for t in truth if t["kind"] in ("brute_force", "password_spraying")]
    assert len({t["kind"] for t in attacks}) == 2, "the scenario must contain both attack kinds"
    security = [a for a in anomalies if a["kind"] in SECURITY_KINDS and a["time"] >= start]
    report = evaluate(attacks, security, grace_s=60.0)
    assert report.recall == 1.0, report.format()
    assert report.precision >= 0.8, report.format()
