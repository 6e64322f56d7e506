"""docker/config/production.yaml: valid through `aiops config validate`, and as safe as it says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr

from aiops.alerting.auth import TokenBook, check_exposure
from aiops.alerting.routing import RouteTree
from aiops.pipeline.config import load_settings

PRODUCTION = Path(__file__).resolve().parent.parent / "docker" / "config" / "production.yaml"
REFERENCED = sorted(set(re.findall(r"\$\{([A-Z_]+)\}", PRODUCTION.read_text())))


@pytest.fixture
def env(monkeypatch) -> dict[str, str]:
    """A distinct value per variable the file references (tokens need 16 characters)."""
    values = {name: f"from-env-{name.lower()}-0123456789" for name in REFERENCED}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def run_validate(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aiops.pipeline.cli", "config", "validate", str(PRODUCTION)],
                          capture_output=True, text=True, timeout=120, env=env)


def test_validates_through_the_command(env):
    done = run_validate({**os.environ, **env})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{PRODUCTION}: valid (config hash ")


def test_without_its_environment_the_command_names_the_missing_variable():
    clean = {k: v for k, v in os.environ.items() if k not in REFERENCED}
    done = run_validate(clean)
    assert done.returncode == 1
    assert "environment variable 'KAFKA_PASSWORD' is not set" in done.stderr


def test_the_header_lists_every_variable_the_file_reads():
    header = PRODUCTION.read_text().split("\nkafka:", 1)[0]
    missing = [name for name in REFERENCED if name not in header]
    assert REFERENCED and missing == []


def _secrets(model: BaseModel, path: str = "") -> list[tuple[str, SecretStr]]:
    found = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        for index, item in (value.items() if isinstance(value, dict) else enumerate(value)
                            if isinstance(value, list) else [("", value)]):
            where = f"{path}.{name}" + (f"[{index}]" if index != "" else "")
            if isinstance(item, SecretStr):
                found.append((where, item))
            elif isinstance(item, BaseModel):
                found += _secrets(item, where)
    return found


def test_every_secret_comes_from_the_environment(env):
    settings = load_settings(PRODUCTION)
    secrets = [(where, value) for where, value in _secrets(settings) if value.get_secret_value()]  # "" is unset
    assert len(secrets) == 8  # kafka, a token, link key, slack twice, pagerduty, webhook url and key
    not_from_env = [where for where, value in secrets if value.get_secret_value() not in env.values()]
    assert not_from_env == []


def test_kafka_is_reached_over_tls_with_scram(env):
    kafka = load_settings(PRODUCTION).kafka
    assert (kafka.security_protocol, kafka.sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-512")
    assert kafka.ssl_cafile and kafka.replication_factor == 3
    conf = kafka.confluent()
    assert conf["security.protocol"] == "SASL_SSL" and conf["ssl.ca.location"] == kafka.ssl_cafile


def test_the_api_listens_beyond_loopback_only_behind_tokens(env):
    settings = load_settings(PRODUCTION)
    assert settings.worker.web_host == "0.0.0.0"
    book = TokenBook.from_config(settings.alerting.api, environ={})
    check_exposure(settings.worker.web_host, book)  # raises when nobody could be authenticated
    assert len(book) == 2
    assert settings.alerting.feedback.secret is not None  # links keep working across restarts and workers


def test_state_lives_on_the_persistent_directory(env):
    settings = load_settings(PRODUCTION)
    data = Path(settings.worker.data_dir)
    assert data.is_absolute()
    assert Path(settings.alerting.silences.path).parent == data


def test_remediation_is_dry_run_and_allow_listed(env):
    remediation = load_settings(PRODUCTION).alerting.remediation
    assert remediation.dry_run and remediation.require_approval and not remediation.kill_switch
    for name, action in remediation.actions.items():
        assert action.allowed_targets, name
        assert set(action.allowed_values) >= {"service"}, name


def test_routes_page_critical_alerts_and_send_logins_to_security(env):
    tree = RouteTree(load_settings(PRODUCTION).alerting.route)

    def receivers(**labels: str) -> list[str]:
        return [r.receiver for r in tree.match({"alertname": "AnomalyDetected", **labels})]

    assert receivers(severity="critical", service="checkout", source="metric") == ["oncall"]
    assert receivers(severity="error", service="checkout", source="metric") == ["team"]
    assert receivers(severity="error", service="sshd", source="log") == ["security"]
