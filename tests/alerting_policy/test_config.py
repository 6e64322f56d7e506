"""The alerting section of the configuration file: a full example validates, mistakes name their key."""

from __future__ import annotations

import pytest
import yaml

from aiops.detectors.core.errors import ConfigError
from aiops.pipeline.config import parse_settings

EXAMPLE = """
alerting:
  api_url: https://aiops.example.com
  policy:
    identifying_labels: [host, service]
    resolve_after_s: 300
    dashboard_url: "https://grafana/d/x?var-host={host}"
    runbook_url: "https://runbooks.example.com/{service}"
    flapping: {max_changes: 4, window_s: 3600}
  route:
    receiver: sre
    group_by: [host]
    routes:
      - matchers: ["severity=critical"]
        receiver: pager
        continue: true
      - matchers: ['service=~"db|cache"']
        receiver: dba
        group_wait_s: 10
  receivers:
    - name: sre
      sinks: [{type: slack, webhook_url: "https://hooks.slack.com/services/T/B/X"}]
    - name: pager
      sinks: [{type: pagerduty, routing_key: "0123456789abcdef0123456789abcdef"}]
    - name: dba
      sinks: [{type: console}]
  inhibit_rules:
    - source_matchers: ["kind=host_down"]
      target_matchers: ["kind!=host_down"]
      equal: [host]
  maintenance:
    - {name: patch-night, matchers: ["service=db"], days: [sat], start: "02:00", duration: 2h, tz: Europe/Paris}
    - {name: backups, cron: "30 1 * * 1-5", duration: 30m}
  silences: {path: var/aiops/silences.json}
  feedback: {secret: "a-long-enough-secret", suppress_repeat_s: 3600}
  remediation:
    dry_run: false
    allowed_programs: [/usr/local/bin/restart-service]
    actions:
      restart:
        type: command
        argv: [/usr/local/bin/restart-service, "{service}", "--host", "{host}"]
        allowed_targets: ["web-*"]
      rollout:
        type: kubernetes
        operation: restart
        namespace: shop
        deployment: "{service}"
        allowed_targets: ["shop/*"]
    policies:
      - {name: web-cpu, matchers: ["service=web"], min_severity: critical, min_firing_s: 300, action: restart}
"""


def test_full_example_validates():
    settings = parse_settings(yaml.safe_load(EXAMPLE))
    alerting = settings.alerting
    assert [r.name for r in alerting.receivers] == ["sre", "pager", "dba"]
    assert type(alerting.receivers[1].sinks[0]).__name__ == "PagerdutySinkConfig"
    assert alerting.route.routes[0].continue_ is True
    assert alerting.maintenance[0].duration == 7200.0
    assert alerting.remediation.actions["rollout"].operation == "restart"


@pytest.mark.parametrize(("patch", "key"), [
    ({"inhibit_rules": [{"source_matchers": ["host=~("], "target_matchers": ["a=b"]}]},
     "alerting.inhibit_rules.0.source_matchers"),
    ({"route": {"receiver": "sre", "group_wiat_s": 3}}, "alerting.route.group_wiat_s: unknown key"),
    ({"receivers": [{"name": "sre", "sinks": [{"type": "carrier-pigeon"}]}]}, "alerting.receivers.0.sinks.0"),
    ({"remediation": {"actions": {"x": {"type": "command", "argv": ["/bin/sh", "-c", "{host}"]}}}},
     "not in allowed_programs"),
    ({"remediation": {"actions": {"x": {"type": "command", "argv": ["/bin/sh", "-c", "{cmd}"]}}}},
     r"alerting.remediation.actions.x: .*\{cmd\} .* is not a trusted label"),
    ({"remediation": {"policies": [{"name": "p", "action": "missing"}]}}, "unknown action 'missing'"),
])
def test_mistakes_name_their_key(patch, key):
    with pytest.raises(ConfigError, match=key.replace("(", r"\(")):
        parse_settings({"alerting": {"receivers": [{"name": "sre"}], "route": {"receiver": "sre"}, **patch}})
