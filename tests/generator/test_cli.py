"""The `aiops generate` command line: options, settings file, and clear errors for bad input."""

from __future__ import annotations

import argparse

import pytest

from aiops.detectors.core.errors import ConfigError
from aiops.pipeline.config import load_settings
from aiops.pipeline.tools.generator.cli import config_from_args, handler, producer_conf_from_args, register


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aiops")
    register(parser.add_subparsers(dest="command"))
    return parser


class TestCommandLine:
    def test_options_become_config(self):
        args = _parser().parse_args(["generate", "--hosts", "3", "--services", "api, web", "--interval", "0.5",
                                     "--period", "600", "--format", "json", "--log-format", "syslog",
                                     "--kinds", "spike,brute_force", "--no-attacks", "--seed", "9"])
        config = config_from_args(args)
        assert (config.hosts, config.services, config.interval_s, config.period_s) == (3, ["api", "web"], 0.5, 600)
        assert (config.metric_format, config.log_format, config.seed) == ("json", "syslog", 9)
        assert config.kind_weights() == {"spike": 3.0}
        assert (config.metrics_topic, config.logs_topic) == ("metrics.raw", "logs.raw")

    def test_services_by_count(self):
        args = _parser().parse_args(["generate", "--services", "4"])
        assert config_from_args(args).services == ["api", "db", "cache", "web"]

    def test_security_flags_override_the_settings_file(self, tmp_path):
        settings_file = tmp_path / "s.yaml"
        settings_file.write_text("kafka:\n  bootstrap_servers: k1:9093\n  security_protocol: SASL_SSL\n"
                                 "  sasl_mechanism: PLAIN\n  sasl_username: svc\n  sasl_password: pw\n")
        args = _parser().parse_args(["generate", "--sasl-username", "other", "--producer-option", "acks=all"])
        bootstrap, conf = producer_conf_from_args(args, load_settings(settings_file))
        assert bootstrap == "k1:9093"
        assert conf == {"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN", "sasl.username": "other",
                        "sasl.password": "pw", "acks": "all"}

    def test_bad_options_exit_2_with_a_reason(self, capsys):
        for argv, needle in ((["generate", "--services", "a b"], "services"),
                             (["generate", "--kinds", "spikes"], "spikes"),
                             (["generate", "--hosts", "0"], "hosts"),
                             (["generate", "--producer-option", "acks"], "KEY=VALUE"),
                             (["generate", "--producer-option", "no.such.option=1"], "no.such.option")):
            args = _parser().parse_args(argv)
            assert handler(args) == 2
            assert needle in capsys.readouterr().err

    def test_bad_config_file_exits_2(self, tmp_path, capsys):
        bad = tmp_path / "bad.yaml"
        bad.write_text("kafak: {}\n")
        args = _parser().parse_args(["generate", "--config", str(bad)])
        assert handler(args) == 2
        assert "kafak" in capsys.readouterr().err

    def test_config_error_type(self):
        args = _parser().parse_args(["generate", "--interval", "-1"])
        with pytest.raises(ConfigError, match="interval_s"):
            config_from_args(args)
