"""The Grafana dashboards query what a real worker writes.

Every Flux query of the provisioned dashboards (panels, template variables,
annotations) is read for the measurements, fields, tag keys and tag values it
filters on; every PromQL expression for the metric names it uses. A real
worker, on a real broker, scores traffic with an injected spike and writes
its points and alerts to a real VictoriaMetrics through its InfluxDB v2 write
endpoint (``/api/v2/write``, where ``measurement,tags field=...`` becomes the
series ``measurement_field{tags}``): each name a dashboard uses must be among
what VictoriaMetrics received, and each metric name among the samples of the
worker's /metrics. The PromQL itself is parsed by ``promtool`` (as recording
rules), so a typo in a query fails here too.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.sinks.conftest import victoria_metrics  # noqa: F401 - the fixture
from tests.support.promtool import samples
from tests.support.tools import system_tool

DASHBOARDS = Path(__file__).resolve().parents[1] / "docker" / "grafana" / "provisioning" / "dashboards"
DATASOURCES = DASHBOARDS.parent / "datasources"

#: Series Prometheus makes itself for every target it scrapes (not in any /metrics).
PROMETHEUS_OWN = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}

PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
                "offset", "inf", "nan"}


# ---- what the dashboards use ------------------------------------------------------------------------------


def dashboards() -> dict[str, dict]:
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARDS.glob("*.json"))}


def _walk(node, key: str):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key and isinstance(v, str):
                yield v
            else:
                yield from _walk(v, key)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item, key)


def flux_queries(dashboard: dict) -> list[str]:
    return [q for q in _walk(dashboard, "query") if "from(bucket:" in q or "schema." in q]


def promql_exprs(dashboard: dict) -> list[str]:
    return list(_walk(dashboard, "expr"))


@dataclass
class FluxUse:
    """The names one Flux query depends on."""

    measurements: set[str] = field(default_factory=set)
    fields: set[str] = field(default_factory=set)
    field_patterns: set[str] = field(default_factory=set)
    tags: set[str] = field(default_factory=set)
    tag_values: set[tuple[str, str]] = field(default_factory=set)


def flux_use(query: str) -> FluxUse:
    """Measurements, fields, tag keys (filters, ``tag:``, group/keep columns) and literal tag values of a query.

    >>> use = flux_use('from(bucket: "b") |> filter(fn: (r) => r._measurement == "m" and r._field == "f" '
    ...                'and r.event == "open" and r["host"] =~ /x/) |> group(columns: ["service", "_field"])')
    >>> use.measurements, use.fields, sorted(use.tags), use.tag_values
    ({'m'}, {'f'}, ['event', 'host', 'service'], {('event', 'open')})
    """
    use = FluxUse()
    use.measurements = set(re.findall(r'r\._measurement\s*==\s*"([^"]+)"', query))
    use.fields = set(re.findall(r'r\._field\s*==\s*"([^"]+)"', query))
    use.field_patterns = set(re.findall(r"r\._field\s*=~\s*/((?:[^/\\]|\\.)*)/", query))
    refs = re.findall(r'\br\.([A-Za-z]\w*)', query) + re.findall(r'\br\["([^"]+)"\]', query)
    refs += re.findall(r'\btag:\s*"([^"]+)"', query)
    for columns in re.findall(r'\bcolumns:\s*\[([^\]]*)\]', query):
        refs += re.findall(r'"([^"]+)"', columns)
    use.tags = {name for name in refs if not name.startswith("_")}
    use.tag_values = {(k, v) for k, v in re.findall(r'\br\.([A-Za-z]\w*)\s*==\s*"([^"]+)"', query)}
    return use


def promql_metric_names(expr: str) -> set[str]:
    """The metric names of a PromQL expression (not functions, label names, keywords or numbers).

    >>> sorted(promql_metric_names('histogram_quantile(0.9, sum by (le) (rate(a_bucket{job="x"}[5m]))) / b'))
    ['a_bucket', 'b']
    """
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][\w:]*", text):
        after = text[match.end():].lstrip()
        if not after.startswith("(") and match.group().lower() not in PROMQL_WORDS:
            names.add(match.group())
    return names


def test_the_dashboards_use_the_provisioned_datasources():
    """Every panel, variable and annotation names a datasource that is provisioned, by uid."""
    provisioned = {d["uid"]: d["type"] for path in DATASOURCES.glob("*.yml")
                   for d in yaml.safe_load(path.read_text())["datasources"]}
    assert set(provisioned.values()) == {"influxdb", "prometheus"}
    for name, dashboard in dashboards().items():
        used = [d for d in _walk_dicts(dashboard, "datasource")]
        assert used, name
        for ds in used:
            assert provisioned.get(ds["uid"]) == ds["type"], (name, ds)
        assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"]), name


def _walk_dicts(node, key: str):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key and isinstance(v, dict):
                yield v
            else:
                yield from _walk_dicts(v, key)
    elif isinstance(node, list):
        for item in node:
            yield from _walk_dicts(item, key)


def test_the_series_dashboard_filters_every_query_on_its_host_and_service_variables():
    """The host and service variables are used: each Flux query of the series dashboard filters on both."""
    board = dashboards()["series.json"]
    names = {v["name"] for v in board["templating"]["list"]}
    assert {"host", "service", "series"} <= names
    for query in flux_queries(board):
        if "schema.tagValues" in query and 'tag: "host"' in query:
            continue
        assert "${host:regex}" in query, query
        if 'tag: "service"' not in query:
            assert "${service:regex}" in query, query


def test_every_promql_expression_parses(tmp_path):
    """promtool parses each expression (as a recording rule), with Grafana's interval variables filled in."""
    exprs = [e for board in dashboards().values() for e in promql_exprs(board)]
    assert len(exprs) >= 10
    rules = {"groups": [{"name": "dashboards", "rules": [
        {"record": f"dashboard:expr{i}", "expr": e.replace("$__rate_interval", "1m").replace("$__interval", "1m")}
        for i, e in enumerate(exprs)]}]}
    path = tmp_path / "dashboards.rules.yml"
    path.write_text(yaml.safe_dump(rules))
    done = subprocess.run([system_tool("promtool", "prometheus"), "check", "rules", str(path)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_flux_query_is_balanced():
    for name, board in dashboards().items():
        for query in flux_queries(board):
            text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', query)
            for open_, close in ("()", "[]", "{}"):
                assert text.count(open_) == text.count(close), (name, query)


# ---- what a real worker writes ----------------------------------------------------------------------------


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.read()


def vm_series(url: str) -> list[dict[str, str]]:
    """The label sets of every aiops_* series VictoriaMetrics holds."""
    _get(f"{url}/internal/force_flush")
    query = urllib.parse.urlencode({"match[]": '{__name__=~"aiops_.*"}', "start": "0"})
    return json.loads(_get(f"{url}/api/v1/series?{query}"))["data"]


def _traffic(start: float, hosts: list[str], services: list[str], points: int, spiked: tuple[str, str],
             spike_at: int) -> list[bytes]:
    """Telegraf-style JSON batches, one per second of event time, every (host, service) a series."""
    rng = random.Random(7)
    out = []
    for k in range(points):
        batch = []
        for host in hosts:
            for service in services:
                cpu = 40.0 + rng.gauss(0.0, 2.0)
                latency = 20.0 + rng.gauss(0.0, 1.0)
                if (host, service) == spiked and spike_at <= k < spike_at + 3:
                    cpu, latency = 99.0, 400.0
                batch.append({"name": "service", "tags": {"host": host, "service": service},
                              "fields": {"cpu": round(cpu, 2), "latency_ms": round(latency, 2)},
                              "timestamp": start + k})
        out.append(json.dumps(batch).encode())
    return out


def _wait(check, what: str, timeout_s: float = 90.0):
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"{what} not seen within {timeout_s}s")


@pytest.mark.integration
def test_every_name_the_dashboards_use_is_written_by_a_running_worker(broker, workers, victoria_metrics):  # noqa: F811
    run = uuid.uuid4().hex[:6]
    hosts, services = [f"h{run}-1", f"h{run}-2"], ["api", "db"]
    spiked = (hosts[1], "api")
    sink = {"type": "influxdb", "url": victoria_metrics.url, "token": "t0ken", "org": "aiops", "bucket": "aiops"}
    cfg = workers.config({
        "score_output": {"enabled": True, "url": victoria_metrics.url, "token": "t0ken", "flush_interval_s": 0.3},
        "alerting": {"route": {"receiver": "tsdb", "group_by": ["alertname", "series_id"], "group_wait_s": 0,
                               "group_interval_s": 1},
                     "receivers": [{"name": "tsdb", "sinks": [sink]}],
                     "api": {"public_metrics": True}},
    })
    worker = workers.start(cfg)
    points = 420
    traffic = _traffic(time.time() - 600, hosts, services, points, spiked, 360)
    broker.produce(cfg["topics"]["metrics"], [*traffic, b"{not json"])  # and a dead letter, for its panel
    worker.wait_for(lambda s: s["points_scored"] >= points * len(hosts) * len(services), timeout_s=120)

    mine = lambda rows: [r for r in rows if r.get("host") in hosts]  # noqa: E731 - other tests share no VM
    rows = _wait(lambda: (lambda got: got if {"aiops_episode_episode", "aiops_alert_firing"}
                          <= {r["__name__"] for r in got} else None)(mine(vm_series(victoria_metrics.url))),
                 "an episode and an alert written by the worker")
    rows = _wait(lambda: (lambda got: got if any(r["__name__"] == "aiops_episode_episode" and r.get("event") == "end"
                                                 for r in got) else None)(mine(vm_series(victoria_metrics.url))),
                 "the end of the episode")
    names = {r["__name__"] for r in rows}
    labels: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))  # measurement -> tag -> values
    spiked_series = f"service|host={spiked[0]},service={spiked[1]}"
    assert {r.get("series") for r in rows if r["__name__"] == "aiops_episode_episode"} == {spiked_series}

    uses = [(board, q, flux_use(q)) for board, d in dashboards().items() for q in flux_queries(d)]
    measurements = {m for _, _, use in uses for m in use.measurements}
    assert measurements >= {"aiops_value", "aiops_score", "aiops_episode", "aiops_alert"}
    for row in rows:
        for m in measurements:
            if row["__name__"].startswith(m + "_"):
                for key, value in row.items():
                    labels[m][key].add(value)
    for board, query, use in uses:
        where = f"{board}: {query}"
        assert use.measurements, f"a query without a measurement filter: {where}"
        fields = {n[len(m) + 1:] for m in use.measurements for n in names if n.startswith(m + "_")}
        for m in use.measurements:
            assert any(n.startswith(m + "_") for n in names), f"measurement {m} never written; {where}"
        for f in use.fields:
            assert f in fields, f"field {f} of {sorted(use.measurements)} never written; {where}"
        for pattern in use.field_patterns:
            assert any(re.search(pattern, f) for f in fields), f"no field matches /{pattern}/; {where}"
        for tag in use.tags:
            assert any(tag in labels[m] for m in use.measurements), f"tag {tag} never written; {where}"
        for tag, value in use.tag_values:
            assert any(value in labels[m].get(tag, ()) for m in use.measurements), f"{tag}={value}: {where}"

    total = points * len(hosts) * len(services)
    used = {n for d in dashboards().values() for e in promql_exprs(d) for n in promql_metric_names(e)}
    assert used >= {"aiops_messages_in_total", "aiops_dead_letters_total", "aiops_consumer_lag",
                    "aiops_ingest_to_score_latency_seconds_bucket", "aiops_score_output_written_total"}

    def scraped() -> dict | None:
        got = samples(_get(f"http://127.0.0.1:{worker.port}/metrics"))
        names = {name for name, _ in got}
        done = got[("aiops_score_output_written_total", ())] >= total and used - PROMETHEUS_OWN <= names
        return got if done else None

    try:
        got = _wait(scraped, "every scored point written and every metric the dashboards use")
    except AssertionError:
        names = {name for name, _ in samples(_get(f"http://127.0.0.1:{worker.port}/metrics"))}
        raise AssertionError(f"the dashboards use metrics the worker does not expose: "
                             f"{sorted(used - PROMETHEUS_OWN - names)}") from None
    assert got[("aiops_score_output_dropped_total", (("reason", "write_failed"),))] == 0
    consumed = {cfg["topics"]["metrics"], cfg["topics"]["events"], cfg["topics"]["anomalies"]}

    def caught_up() -> dict | None:
        lags = {labels: v for (name, labels), v in samples(_get(f"http://127.0.0.1:{worker.port}/metrics")).items()
                if name == "aiops_consumer_lag"}
        return lags if {dict(k)["topic"] for k in lags} >= consumed and not any(lags.values()) else None

    _wait(caught_up, "a lag of 0 on each topic the worker consumed")


def test_the_alerts_dashboard_link_opens_a_provisioned_dashboard_with_its_variables():
    """The worker's alerts link to the series dashboard: its uid exists and each var-NAME is one of its variables."""
    worker_yaml = yaml.safe_load((DASHBOARDS.parents[2] / "config" / "worker.yaml").read_text())
    link = urllib.parse.urlsplit(worker_yaml["alerting"]["policy"]["dashboard_url"])
    uid = link.path.rsplit("/", 1)[-1]
    board = next((b for b in dashboards().values() if b["uid"] == uid), None)
    assert board is not None, f"no provisioned dashboard has uid {uid}"
    variables = {v["name"] for v in board["templating"]["list"]}
    wanted = {k.removeprefix("var-") for k, _ in urllib.parse.parse_qsl(link.query)}
    assert wanted and wanted <= variables, (wanted, variables)
