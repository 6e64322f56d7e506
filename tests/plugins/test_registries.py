"""One registry per extension point: detector banks, log detectors and input formats list their built-ins and the
plugins installed, and the configuration checks a plugin's settings against its own model."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from aiops.detectors.config import DetectionConfig
from aiops.detectors.core.errors import ConfigError
from aiops.detectors.core.shapes import Event
from aiops.detectors.logs.config import LogsConfig
from aiops.detectors.logs.intelligence import LogIntelligence
from aiops.detectors.logs.registry import BUILT_IN, LOG_DETECTORS
from aiops.detectors.registry import BANKS
from aiops.pipeline.config import IngestSettings, parse_settings
from aiops.pipeline.normalise.dispatch import normalise
from aiops.pipeline.normalise.formats import INPUT_FORMATS
from aiops.pipeline.normalise.guard import IngestGuard
from tests.plugins.sample_plugins import install_samples, samples_active

NOW = 1_700_000_000.0


@pytest.fixture
def samples(tmp_path):
    """The sample plugins installed and in the registries for one test."""
    with samples_active(install_samples(tmp_path)):
        yield


class TestDetectorBanks:
    def test_a_plugin_bank_is_listed_and_its_params_checked(self, samples):
        """The plugin's bank joins the built-ins; its Params model checks its params."""
        assert {"zscore", "lstm_ae", "level"} <= set(BANKS.names())
        spec = DetectionConfig.model_validate({"detectors": [{"type": "level", "params": {"scale": 2.0}}]})
        assert spec.detectors[0].key == "level"
        with pytest.raises(ValidationError, match=r"params\.scael: unknown key"):
            DetectionConfig.model_validate({"detectors": [{"type": "level", "params": {"scael": 2.0}}]})
        with pytest.raises(ValidationError, match=r"params\.scale: Input should be greater than 0"):
            DetectionConfig.model_validate({"detectors": [{"type": "level", "params": {"scale": 0}}]})

    def test_without_the_plugin_its_name_is_unknown(self):
        """A config naming a bank nobody installed says which ones exist."""
        with pytest.raises(ValidationError, match=r"type: unknown detector 'level'; known: cusum, ewma, hst"):
            DetectionConfig.model_validate({"detectors": [{"type": "level"}]})


class TestLogDetectors:
    def test_built_ins_are_entries_with_their_config_models(self):
        """Each built-in log detector is found by name and carries the model of its logs.<name> section."""
        assert set(BUILT_IN) <= set(LOG_DETECTORS.names())
        for name in BUILT_IN:
            assert LOG_DETECTORS.load(name).Config is type(getattr(LogsConfig(), name))

    def test_a_plugin_log_detector_is_configured_by_name(self, samples):
        """logs.detectors.<name> takes the plugin's settings, defaults filled in from its model."""
        assert "keyword" in LOG_DETECTORS.names()
        cfg = LogsConfig.model_validate({"detectors": {"keyword": {"words": ["boom"]}}})
        assert cfg.detectors == {"keyword": {"words": ["boom"], "score": 0.99}}

    def test_bad_settings_name_the_key(self, samples):
        """An unknown or invalid key of a plugin's settings is named with its path."""
        with pytest.raises(ValidationError, match=r"keyword\.wrods: unknown key"):
            LogsConfig.model_validate({"detectors": {"keyword": {"wrods": ["boom"]}}})
        with pytest.raises(ValidationError, match=r"keyword\.score: Input should be less than 1"):
            LogsConfig.model_validate({"detectors": {"keyword": {"score": 2}}})

    def test_unknown_and_built_in_names_are_refused(self, samples):
        """A name no one registered lists the known ones; a built-in one points to its own section."""
        with pytest.raises(ValidationError, match=r"unknown log detector 'kyeword'; known: error_burst, keyword, "):
            LogsConfig.model_validate({"detectors": {"kyeword": {}}})
        with pytest.raises(ValidationError, match=r"sequence: a built-in log detector, set under logs\.sequence"):
            LogsConfig.model_validate({"detectors": {"sequence": {}}})

    def test_the_whole_file_error_names_the_key_path(self, samples):
        """parse_settings reports the plugin's bad key under logs.detectors."""
        with pytest.raises(ConfigError, match=r"logs\.detectors: Value error, keyword\.wrods: unknown key"):
            parse_settings({"logs": {"detectors": {"keyword": {"wrods": []}}}})

    def test_a_plugin_finding_becomes_an_anomaly_and_its_state_survives(self, samples):
        """The plugin sees every line with its template; its finding opens an episode; its state is snapshotted."""
        li = LogIntelligence(LogsConfig.model_validate({"detectors": {"keyword": {}}}))
        labels = {"host": "h1", "service": "core"}
        lines = [f"request {i} served" for i in range(20)] + ["reactor meltdown in sector 7"]
        events = [Event("log", "log|host=h1,service=core", labels, NOW + i, {}, message=m, level="info")
                  for i, m in enumerate(lines)]
        found = li.process(events, now=NOW + 30).anomalies
        keyword = [a for a in found if a.kind == "keyword"]
        assert len(keyword) == 1
        assert keyword[0].detectors == {"keyword": 0.99}
        assert "'meltdown' in template 'reactor meltdown in sector <NUM>'" in keyword[0].reason
        restored = LogIntelligence(li.config)
        restored.import_state(li.export_state(li.keys()))
        assert restored._sources[li.keys()[0]].plugins["keyword"].hits == 1

    def test_a_disabled_plugin_detector_is_not_built(self, samples):
        """Without logs.detectors the plugin is installed but does not run."""
        li = LogIntelligence(LogsConfig())
        event = Event("log", "log|host=h1", {"host": "h1"}, NOW, {}, message="meltdown", level="info")
        assert [a.kind for a in li.process([event], now=NOW).anomalies] == []


def metrics_guard(fmt: dict | None) -> IngestGuard:
    return IngestGuard(IngestSettings.model_validate({"max_past_s": 1e10, **({"formats": fmt} if fmt else {})}))


class TestInputFormats:
    def test_built_ins_and_the_plugin_are_listed(self, samples):
        """The four built-in formats and the plugin's."""
        assert INPUT_FORMATS.names() == ["csv", "line_protocol", "log_json", "metric_json", "syslog"]

    def test_a_plugin_format_reads_its_topic(self, samples):
        """With ingest.formats.metrics csv, the metrics topic's lines are CSV; a bad line is a reject with why."""
        guard = metrics_guard({"metrics": {"type": "csv", "params": {"labels": {"host": "a"}}}})
        r = normalise("metrics", b"cpu,1.5,1700000000\nmem,lots,1700000000\ncpu,2.5\n", now=NOW + 5, guard=guard)
        assert [(e.series_id, e.features, e.time) for e in r.events] == [
            ("cpu|host=a", {"value": 1.5}, NOW), ("cpu|host=a", {"value": 2.5}, NOW + 5)]
        assert [x.reason for x in r.rejects] == ["line 2: value 'lots' is not a number"]

    def test_a_payload_with_nothing_good_names_the_format(self, samples):
        """A whole bad payload is one reject saying which format it is not."""
        guard = metrics_guard({"metrics": {"type": "csv"}})
        r = normalise("metrics", b"cpu 1.5\ncpu 2.5\n", now=NOW, guard=guard)
        assert [x.reason for x in r.rejects] == ["not csv: line 1: expected name,value[,timestamp] "
                                                 "(and 1 more bad items)"]

    def test_auto_is_the_default_and_unchanged(self):
        """JSON and line protocol are still detected per payload on the metrics topic."""
        guard = metrics_guard(None)
        payload = b'{"name": "cpu", "tags": {"host": "a"}, "fields": {"u": 1}}\ncpu,host=a u=2\n'
        assert [e.features for e in normalise("metrics", payload, now=NOW, guard=guard).events] == [{"u": 1.0},
                                                                                                   {"u": 2.0}]

    def test_a_built_in_format_by_name_reads_only_that_format(self):
        """line_protocol by name takes no JSON; log_json by name reads a JSON array."""
        guard = metrics_guard({"metrics": {"type": "line_protocol"}, "logs": {"type": "log_json"}})
        r = normalise("metrics", b'{"name": "cpu", "fields": {"u": 1}}\ncpu,host=a u=2\n', now=NOW, guard=guard)
        assert [e.features for e in r.events] == [{"u": 2.0}]
        assert r.rejects[0].reason.startswith("line 1: ")
        r = normalise("logs", b'[{"message": "a", "host": "h", "level": "ERR"}, {"message": "b"}]', now=NOW,
                      guard=guard)
        assert [(e.message, e.level) for e in r.events] == [("a", "error"), ("b", "info")]

    def test_settings_are_checked_against_the_format(self, samples):
        """Unknown formats list the known ones; a format's params and its topic kind are checked."""
        with pytest.raises(ConfigError, match=r"ingest\.formats\.metrics: Value error, type: unknown input format "
                                              r"'cvs'; known: auto, csv, line_protocol"):
            parse_settings({"ingest": {"formats": {"metrics": {"type": "cvs"}}}})
        with pytest.raises(ConfigError, match=r"ingest\.formats\.metrics: Value error, params\.sep: unknown key"):
            parse_settings({"ingest": {"formats": {"metrics": {"type": "csv", "params": {"sep": ";"}}}}})
        with pytest.raises(ConfigError, match=r"logs\.type: input format 'csv' reads metrics, not logs"):
            parse_settings({"ingest": {"formats": {"logs": {"type": "csv"}}}})
        with pytest.raises(ConfigError, match=r"params: auto takes none"):
            parse_settings({"ingest": {"formats": {"logs": {"params": {"x": 1}}}}})


class TestReadmeExamples:
    def test_the_readme_plugins_install_and_run_as_written(self, tmp_path):
        """The README's log detector and input format, installed with its entry points, take its settings and run."""
        import tomllib

        import yaml

        from tests.support.plugin_dist import install_plugin, plugin_on_path
        from tests.support.readme_examples import examples

        found = examples()
        groups = tomllib.loads(found["plugin-entry-points"].text)["project"]["entry-points"]
        site = install_plugin(tmp_path, "readme-plugins", {
            "aiops_keyword.py": found["plugin-log-detector"].text, "aiops_csv.py": found["plugin-input-format"].text,
        }, groups)
        with plugin_on_path(site):
            for registry in (LOG_DETECTORS, INPUT_FORMATS):
                registry.refresh()
            try:
                settings = parse_settings(yaml.safe_load(found["plugin-settings"].text))
                guard = IngestGuard(settings.ingest.model_copy(update={"max_past_s": 1e10}))
                r = normalise("metrics", b"kiln.temp,812.5,1700000000\nkiln.temp,hot,1700000001\n", now=NOW,
                              guard=guard)
                li = LogIntelligence(settings.logs)
                line = Event("log", "log|host=plant-1", {"host": "plant-1"}, NOW, {}, message="core dumped",
                             level="info")
                anomalies = li.process([line], now=NOW).anomalies
            finally:
                for registry in (LOG_DETECTORS, INPUT_FORMATS):
                    registry.refresh()
        assert [(e.series_id, e.features) for e in r.events] == [("kiln.temp|host=plant-1", {"value": 812.5})]
        assert [x.reason for x in r.rejects] == ["line 2: value 'hot' is not a number"]
        assert [(a.kind, a.detectors) for a in anomalies] == [("keyword", {"keyword": 0.99})]
