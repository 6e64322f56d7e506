"""The command line and the configuration file, as a user meets them."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from aiops.detectors.core.errors import ConfigError
from aiops.pipeline.cli import SUBCOMMAND_MODULES, build_parser, main
from aiops.pipeline.config import load_settings, parse_settings

ROOT = Path(__file__).resolve().parent.parent


class TestConfigValidate:
    def test_valid_file_reports_its_hash(self, tmp_path, capsys):
        """A valid file passes and prints the hash that the worker logs when it applies it."""
        path = tmp_path / "ok.yaml"
        path.write_text("kafka: {bootstrap_servers: 'k1:9092,k2:9092', partitions: 8}\n")
        assert main(["config", "validate", str(path)]) == 0
        out = capsys.readouterr().out
        assert load_settings(path).digest() in out

    def test_unknown_key_is_named(self, tmp_path, capsys):
        """A typo is refused, naming the full key path."""
        path = tmp_path / "bad.yaml"
        path.write_text("kafka: {bootstrap_server: 'k:9092'}\n")
        assert main(["config", "validate", str(path)]) == 1
        err = capsys.readouterr().err
        assert "kafka.bootstrap_server: unknown key" in err

    def test_wrong_type_is_named_with_the_value(self, tmp_path, capsys):
        path = tmp_path / "bad.yaml"
        path.write_text("worker: {batch_size: many}\n")
        assert main(["config", "validate", str(path)]) == 1
        err = capsys.readouterr().err
        assert "worker.batch_size" in err and "'many'" in err

    def test_not_yaml(self, tmp_path, capsys):
        path = tmp_path / "bad.yaml"
        path.write_text("kafka: [unclosed\n")
        assert main(["config", "validate", str(path)]) == 1
        assert "not valid YAML" in capsys.readouterr().err

    def test_missing_file(self, capsys):
        assert main(["config", "validate", "/nonexistent/aiops.yaml"]) == 1
        assert "cannot read configuration" in capsys.readouterr().err


class TestSecrets:
    def test_environment_reference_is_resolved_and_redacted(self, monkeypatch, tmp_path, capsys):
        """${NAME} comes from the environment; --show never prints the secret."""
        monkeypatch.setenv("AIOPS_TEST_KAFKA_PASSWORD", "hunter2-secret")
        path = tmp_path / "c.yaml"
        path.write_text("kafka: {security_protocol: SASL_SSL, sasl_mechanism: PLAIN, sasl_username: u,"
                        " sasl_password: '${AIOPS_TEST_KAFKA_PASSWORD}'}\n")
        settings = load_settings(path)
        assert settings.kafka.confluent()["sasl.password"] == "hunter2-secret"
        assert main(["config", "validate", str(path), "--show"]) == 0
        assert "hunter2-secret" not in capsys.readouterr().out

    def test_unset_variable_is_an_error_naming_it(self):
        with pytest.raises(ConfigError, match="AIOPS_TEST_UNSET_VAR"):
            parse_settings({"kafka": {"sasl_password": "${AIOPS_TEST_UNSET_VAR}"}})

    def test_file_reference(self, tmp_path):
        secret = tmp_path / "pw"
        secret.write_text("from-a-file\n")
        s = parse_settings({"kafka": {"sasl_password": f"${{file:{secret}}}"}})
        assert s.kafka.sasl_password.get_secret_value() == "from-a-file"


class TestCommandLine:
    def test_every_subsystem_adds_its_commands(self):
        """Every listed subcommand module exists and registers; a packaging slip fails here."""
        for name in SUBCOMMAND_MODULES:
            assert hasattr(importlib.import_module(name), "register"), name
        commands = set(build_parser()._subparsers._group_actions[0].choices)
        assert {"worker", "demo", "generate", "backtest", "config", "bench", "train", "logs",
                "silence", "feedback", "actions"} <= commands

    def test_console_script_runs(self):
        proc = subprocess.run([sys.executable, "-m", "aiops.pipeline.cli", "--help"],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and "worker" in proc.stdout


class TestShippedFiles:
    def test_compose_stack_is_valid_yaml_with_the_demo_services(self):
        compose = yaml.safe_load((ROOT / "docker" / "docker-compose.yml").read_text())
        assert {"kafka", "worker", "generator", "influxdb", "alertmanager", "grafana"} <= set(compose["services"])

    def test_worker_config_shipped_for_compose_validates(self, monkeypatch):
        monkeypatch.setenv("INFLUXDB_TOKEN", "compose-token")
        settings = load_settings(ROOT / "docker" / "config" / "worker.yaml")
        assert settings.kafka.bootstrap_servers == "kafka:9092"
        assert "compose-token" not in json.dumps(settings.model_dump(mode="json"))
