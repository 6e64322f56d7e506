"""Plugin sinks and actions: one file and one entry point, found by the registries and validated by their models."""

from __future__ import annotations

import json
import threading
import time
import tomllib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from structlog.testing import capture_logs

from aiops.alerting.alert import Alert, Notification
from aiops.alerting.remediation.registry import ACTIONS
from aiops.alerting.remediation.remediator import Remediator
from aiops.alerting.sinks.registry import SINKS, build_sink
from aiops.detectors.core.errors import ConfigError, PermanentDeliveryError, RetryableDeliveryError
from aiops.detectors.core.registry import Registry
from aiops.detectors.core.shapes import series_id_for
from aiops.pipeline.config import parse_settings
from tests.integration.test_pipeline_e2e import SPIKED, history_batches
from tests.support.plugin_dist import install_plugin, plugin_on_path
from tests.support.readme_examples import examples

PLUGIN = r'''"""A plugin package's one file: a sink and an action, each class carrying its config model."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Literal

from aiops.alerting.remediation.action import Plan
from aiops.alerting.remediation.config import ActionConfig
from aiops.alerting.sinks.base import SinkConfig


class JsonLinesSinkConfig(SinkConfig):
    type: Literal["jsonl"] = "jsonl"
    path: str
    tag: str = "plugin"


class JsonLinesSink:
    """Appends one JSON line per notification to a file."""

    kind = "jsonl"
    config_model = JsonLinesSinkConfig

    def __init__(self, config: JsonLinesSinkConfig) -> None:
        self.config = config

    async def send(self, notification) -> None:
        line = json.dumps({"tag": self.config.tag, **notification.to_dict()})
        await asyncio.to_thread(self._append, line)

    def _append(self, line: str) -> None:
        with open(self.config.path, "a") as out:
            out.write(line + "\n")

    async def close(self) -> None:
        return None


class MarkerActionConfig(ActionConfig):
    type: Literal["marker"] = "marker"
    folder: str


class MarkerAction:
    """Writes a marker file named after the alert's host."""

    kind = "marker"
    config_model = MarkerActionConfig

    def __init__(self, name: str, config: MarkerActionConfig) -> None:
        self.name = name
        self.config = config

    def prepare(self, alert) -> Plan:
        return Plan(target=alert.labels.get("host", ""), details={"folder": self.config.folder})

    async def execute(self, plan: Plan) -> dict:
        marker = Path(plan.details["folder"]) / f"{plan.target}.done"
        marker.write_text(plan.target)
        return {"marker": str(marker)}


class NoModelSink:
    kind = "no_model"
'''

ENTRY_POINTS = {
    "aiops.sink": {"jsonl": "alerting_plugin:JsonLinesSink", "no_model": "alerting_plugin:NoModelSink"},
    "aiops.action": {"marker": "alerting_plugin:MarkerAction"},
}


@pytest.fixture
def plugin_site(tmp_path):
    """The plugin installed, as pip would, under tmp_path/site."""
    return install_plugin(tmp_path, "alerting-plugin", {"alerting_plugin.py": PLUGIN}, ENTRY_POINTS)


@pytest.fixture
def installed(plugin_site):
    """The plugin on sys.path, and the registries read again before and after."""
    with plugin_on_path(plugin_site):
        SINKS.refresh()
        ACTIONS.refresh()
        yield plugin_site
    SINKS.refresh()
    ACTIONS.refresh()


def settings_with(tmp_path, sink: dict, action: dict | None = None, **remediation):
    alerting = {"route": {"receiver": "ops"}, "receivers": [{"name": "ops", "sinks": [sink]}]}
    if action is not None:
        alerting["remediation"] = {"actions": {"mark": action},
                                   "policies": [{"name": "any", "action": "mark", "min_severity": "info"}],
                                   **remediation}
    return parse_settings({"alerting": alerting})


class TestPluginConfig:
    def test_plugin_entries_are_validated_by_their_own_models(self, installed, tmp_path):
        """The sink and action a plugin registers are configured like built-ins, keys and defaults included."""
        settings = settings_with(tmp_path, {"type": "jsonl", "path": str(tmp_path / "out.jsonl")},
                                 {"type": "marker", "folder": str(tmp_path), "allowed_targets": ["web-*"]})
        sink = settings.alerting.receivers[0].sinks[0]
        action = settings.alerting.remediation.actions["mark"]
        assert (type(sink).__name__, sink.tag, sink.timeout_s) == ("JsonLinesSinkConfig", "plugin", 10.0)
        assert (type(action).__name__, action.target, action.allowed_targets) == (
            "MarkerActionConfig", "{host}", ["web-*"])
        dumped = settings.alerting.model_dump()
        assert dumped["receivers"][0]["sinks"][0]["path"] == str(tmp_path / "out.jsonl")
        assert dumped["remediation"]["actions"]["mark"]["folder"] == str(tmp_path)

    @pytest.mark.parametrize(("sink", "message"), [
        ({"type": "jsonl", "path": "/tmp/x", "pth": 1}, "alerting.receivers.0.sinks.0.pth: unknown key"),
        ({"type": "jsonl"}, "alerting.receivers.0.sinks.0.path: Field required"),
        ({"type": "jsonl", "path": "/tmp/x", "timeout_s": 0}, "alerting.receivers.0.sinks.0.timeout_s: "
                                                              "Input should be greater than 0"),
    ])
    def test_a_bad_plugin_sink_config_names_the_key(self, installed, tmp_path, sink, message):
        """The plugin's model checks the entry, and the error says where."""
        with pytest.raises(ConfigError, match=f"^invalid configuration: {message}"):
            settings_with(tmp_path, sink)

    def test_a_bad_plugin_action_config_names_the_key(self, installed, tmp_path):
        """An action's unknown key and its missing one are both reported with their paths."""
        with pytest.raises(ConfigError) as caught:
            settings_with(tmp_path, {"type": "console"}, {"type": "marker", "foldr": "/tmp"})
        assert str(caught.value).splitlines()[1:] == [
            "  alerting.remediation.actions.mark.folder: Field required",
            "  alerting.remediation.actions.mark.foldr: unknown key"]

    def test_an_unknown_type_lists_the_known_ones_plugins_included(self, installed, tmp_path):
        """The message names the bad type and every type that would do."""
        with pytest.raises(ConfigError, match=r"sinks\.0\.type: unknown sink 'jsnl'; known: alertmanager, console, "
                                              r"email, influxdb, jsonl, kafka, no_model, pagerduty, slack, webhook"):
            settings_with(tmp_path, {"type": "jsnl"})
        with pytest.raises(ConfigError, match=r"actions\.mark\.type: unknown action 'markr'; "
                                              r"known: command, kubernetes, marker, webhook"):
            settings_with(tmp_path, {"type": "console"}, {"type": "markr"})

    def test_without_the_plugin_its_type_is_unknown(self, tmp_path):
        """Nothing of the plugin leaks once it is gone."""
        with pytest.raises(ConfigError, match="unknown sink 'jsonl'; known: alertmanager, console, email, influxdb, "
                                              "kafka, pagerduty, slack, webhook"):
            settings_with(tmp_path, {"type": "jsonl", "path": "/tmp/x"})

    def test_a_plugin_class_without_a_config_model_is_a_clear_error(self, installed, tmp_path):
        """The plugin author reads what is missing."""
        with pytest.raises(ConfigError, match="sinks.0.type: sink 'no_model' needs a config_model: a subclass of "
                                              "SinkConfig with a 'type' field"):
            settings_with(tmp_path, {"type": "no_model"})

    def test_the_deprecated_plural_group_still_registers_a_sink(self, tmp_path):
        """A plugin of the aiops.sinks group is found, with a warning naming aiops.sink."""
        site = install_plugin(tmp_path / "old", "old-sink-plugin", {"old_sink_plugin.py": "from alerting_plugin "
                              "import JsonLinesSink as OldSink\n"}, {"aiops.sinks": {"jsonl": "old_sink_plugin:OldSink"}})
        with plugin_on_path(site), plugin_on_path(install_plugin(tmp_path, "alerting-plugin",
                                                                 {"alerting_plugin.py": PLUGIN}, {})):
            SINKS.refresh()
            with pytest.warns(DeprecationWarning, match="'aiops.sinks' is deprecated; use 'aiops.sink'"):
                assert SINKS.load("jsonl").__name__ == "JsonLinesSink"
        SINKS.refresh()
        assert "jsonl" not in SINKS.names()


class TestPluginsRunInProcess:
    async def test_the_plugin_sink_delivers_a_notification(self, installed, tmp_path):
        """build_sink makes the plugin's class from its validated config; send writes the line."""
        out = tmp_path / "out.jsonl"
        settings = settings_with(tmp_path, {"type": "jsonl", "path": str(out), "tag": "t1"})
        sink = build_sink(settings.alerting.receivers[0].sinks[0])
        alert = Alert.firing(labels={"host": "web-1"}, annotations={}, starts_at=0, severity="error", score=0.9)
        await sink.send(Notification("ops", "g", {"host": "web-1"}, [alert]))
        line = json.loads(out.read_text())
        assert (line["tag"], line["receiver"], line["alerts"][0]["labels"]) == ("t1", "ops", {"host": "web-1"})

    async def test_the_plugin_action_runs_under_the_guards(self, installed, tmp_path):
        """Allowed target: the marker is written; any other target is refused and nothing is written."""
        settings = settings_with(tmp_path, {"type": "console"},
                                 {"type": "marker", "folder": str(tmp_path), "allowed_targets": ["web-*"]},
                                 dry_run=False, require_approval=False)
        remediator = Remediator(settings.alerting.remediation)
        with capture_logs():
            [done] = await remediator.handle(Alert.firing(labels={"host": "web-1"}, annotations={}, starts_at=0,
                                                          severity="error", score=0.9), now=10)
            [refused] = await remediator.handle(Alert.firing(labels={"host": "db-1"}, annotations={}, starts_at=0,
                                                             severity="error", score=0.9), now=11)
        assert (done.status, done.kind, done.result) == ("executed", "marker",
                                                          {"marker": str(tmp_path / "web-1.done")})
        assert (tmp_path / "web-1.done").read_text() == "web-1"
        assert refused.status == "refused" and not (tmp_path / "db-1.done").exists()


class TestRegistryRefresh:
    def test_a_plugin_installed_after_the_first_look_up_is_found_after_refresh(self, tmp_path):
        """Entry points are read once; refresh() reads them again."""
        registry = Registry("demo_refresh", {})
        assert registry.names() == []
        site = install_plugin(tmp_path, "late-plugin", {"late_plugin.py": "VALUE = 7\n"},
                              {"aiops.demo_refresh": {"late": "late_plugin:VALUE"}})
        with plugin_on_path(site):
            assert registry.names() == []
            registry.refresh()
            assert registry.load("late") == 7
        registry.refresh()
        with pytest.raises(ConfigError, match="unknown demo_refresh 'late'; known: $"):
            registry.load("late")

    def test_refresh_keeps_built_ins_and_registered_objects(self):
        """Only what entry points gave is forgotten."""
        registry = Registry("demo_keep", {"json": "json:JSONDecoder"})
        registry.register("number", 42)
        registry.refresh()
        assert registry.names() == ["json", "number"]
        assert registry.load("number") == 42

    def test_a_deprecated_group_is_read_with_a_warning(self, tmp_path):
        """Old plural groups still work, and say which group to use instead."""
        registry = Registry("demo_new", {}, deprecated_groups=("aiops.demo_olds",))
        site = install_plugin(tmp_path, "old-plugin", {"old_plugin.py": "VALUE = 3\n"},
                              {"aiops.demo_olds": {"old": "old_plugin:VALUE"}})
        with plugin_on_path(site), pytest.warns(DeprecationWarning, match="'aiops.demo_olds' is deprecated"):
            assert registry.load("old") == 3


@pytest.mark.integration
def test_a_worker_delivers_to_the_plugin_sink_and_runs_the_plugin_action(broker, workers, plugin_site, tmp_path):
    """A real worker, with the plugin on its path only, pages through the plugin sink and acts through the action."""
    out, markers = tmp_path / "alerts.jsonl", tmp_path / "markers"
    markers.mkdir()
    cfg = workers.config()  # topics made; the alerting section below is read by the worker only
    cfg["alerting"] = {
        "route": {"receiver": "plugin", "group_by": ["alertname", "series_id"], "group_wait_s": 0,
                  "group_interval_s": 5},
        "receivers": [{"name": "plugin", "sinks": [{"type": "jsonl", "path": str(out), "tag": "from-worker"}]}],
        "remediation": {"dry_run": False, "require_approval": False,
                        "actions": {"mark": {"type": "marker", "folder": str(markers), "allowed_targets": ["web-*"]}},
                        "policies": [{"name": "any-anomaly", "action": "mark", "min_severity": "info"}]},
    }
    worker = workers.start(cfg, env={"PYTHONPATH": str(plugin_site)})
    start = time.time() - 400
    broker.produce(cfg["topics"]["metrics"], history_batches(start, 380, spike_at=350))
    spiked = series_id_for("app", {"host": SPIKED})
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not (out.exists() and (markers / f"{SPIKED}.done").exists()):
        assert worker.proc.poll() is None, worker.logs()[-3000:]
        time.sleep(0.3)
    lines = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    alerts = [a for n in lines for a in n["alerts"] if a["labels"].get("series_id") == spiked]
    assert alerts, f"the plugin sink got no alert of {spiked}: {lines}\n{worker.logs()[-3000:]}"
    assert lines[0]["tag"] == "from-worker" and lines[0]["status"] == "firing"
    assert (markers / f"{SPIKED}.done").read_text() == SPIKED, sorted(p.name for p in markers.iterdir())
    assert sorted(p.name for p in markers.iterdir()) == [f"{SPIKED}.done"]


class _Hook(BaseHTTPRequestHandler):
    """Answers every POST with the server's ``status`` and keeps the JSON bodies in ``server.bodies``."""

    def do_POST(self):  # noqa: N802 - http.server's naming
        self.server.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(self.server.status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def hook():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    server.bodies, server.status = [], 204
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


class TestReadmePluginExample:
    async def test_the_readme_sink_installs_from_its_two_blocks_and_posts(self, tmp_path, hook):
        """The README's one-file sink, with its entry point, validates, posts, and classifies failures."""
        blocks = examples()
        entry_points = tomllib.loads(blocks["plugin-sink-entry-point"].text)["project"]["entry-points"]
        site = install_plugin(tmp_path, "aiops-teams", {"aiops_teams.py": blocks["plugin-sink"].text}, entry_points)
        url = f"http://127.0.0.1:{hook.server_address[1]}/teams"
        alert = Alert.firing(labels={"host": "web-1"}, annotations={"summary": "cpu high"}, starts_at=0,
                             severity="error", score=0.9)
        notification = Notification("ops", "g", {"host": "web-1"}, [alert])
        with plugin_on_path(site):
            SINKS.refresh()
            try:
                settings = settings_with(tmp_path, {"type": "teams", "url": url, "timeout_s": 2})
                sink = build_sink(settings.alerting.receivers[0].sinks[0])
                await sink.send(notification)
                hook.status = 503
                with pytest.raises(RetryableDeliveryError, match="teams: 503"):
                    await sink.send(notification)
                hook.status = 400
                with pytest.raises(PermanentDeliveryError, match="teams: 400"):
                    await sink.send(notification)
            finally:
                SINKS.refresh()
        assert hook.bodies[0] == {"text": "[firing] cpu high"} and len(hook.bodies) == 3
