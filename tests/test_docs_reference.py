"""The configuration reference (docker/config/REFERENCE.md): generated, complete, up to date, and true."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from aiops.alerting.sinks.registry import SINKS
from aiops.detectors.registry import BANKS
from aiops.pipeline.config import Settings, parse_settings
from aiops.pipeline.runner import RESTART_SECTIONS
from aiops.pipeline.tools.config_reference import (
    REFERENCE_COMMAND,
    REFERENCE_PATH,
    RELOADED_SECTIONS,
    reference_keys,
    reference_tables,
    render_reference,
)

ROOT = Path(__file__).resolve().parent.parent


def test_the_committed_reference_is_the_generated_one():
    """REFERENCE.md is exactly what the models generate; when a model changes, regenerate it."""
    assert REFERENCE_PATH == ROOT / "docker" / "config" / "REFERENCE.md"
    committed = REFERENCE_PATH.read_text()
    assert committed == render_reference(), (
        f"docker/config/REFERENCE.md is out of date with the configuration models: run `{REFERENCE_COMMAND}`")


def test_every_key_has_a_description():
    """No key is left undocumented: each Field carries a description (or its section model a docstring)."""
    missing = [k.path for k in reference_keys() if not k.description.strip()]
    assert missing == [], f"keys without a description (add description= to their Field): {missing}"


def test_the_command_writes_the_reference(tmp_path):
    """`aiops config reference --out FILE` writes the reference; without --out it prints it."""
    out = tmp_path / "REFERENCE.md"
    cli = [sys.executable, "-m", "aiops.pipeline.cli", "config", "reference"]
    written = subprocess.run([*cli, "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert written.returncode == 0, written.stderr
    assert out.read_text() == render_reference()
    printed = subprocess.run(cli, capture_output=True, text=True, timeout=120)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == out.read_text()


def test_every_section_and_plugin_variant_has_its_table():
    """Each top-level section, each sink type, each remediation action type and each detector's params."""
    paths = {t.path for t in reference_tables()}
    assert set(Settings.model_fields) <= paths
    for kind in SINKS.names():
        assert f"alerting.receivers[].sinks[type={kind}]" in paths, kind
    for kind in ("webhook", "command", "kubernetes"):
        assert f"alerting.remediation.actions.<name>[type={kind}]" in paths, kind
    for kind in BANKS.names():
        assert f"detection.detectors[type={kind}].params" in paths, kind


def test_keys_of_nested_models_carry_the_defaults_they_have_there():
    """A model used twice with different defaults shows each place's own (rate limits, content classes)."""
    keys = {k.path: k for k in reference_keys()}
    assert keys["alerting.remediation.per_target_limit.max_actions"].default == "1"
    assert keys["alerting.remediation.global_limit.max_actions"].default == "10"
    assert keys["logs.content.client.weight"].default == "-2.0"
    assert keys["alerting.receivers[].sinks[type=slack].webhook_url"].default == "required"
    assert keys["alerting.route.routes[].continue"].type == "bool"  # the alias, as written in the file


def test_every_key_listed_is_accepted_by_the_models():
    """The paths are real: a file setting a listed key with its documented default validates."""
    keys = {k.path: k for k in reference_keys()}
    for path in ("kafka.partitions", "ingest.default_timezone", "logs.novelty.accept_lines",
                 "alerting.delivery.max_wait_s", "detection.episodes.horizon_s"):
        section, name = path.split(".", 1)[0], path.rsplit(".", 1)[1]
        middle = path.split(".")[1:-1]
        doc = {name: yaml.safe_load(keys[path].default)}
        for part in reversed(middle):
            doc = {part: doc}
        parse_settings({section: doc})


def test_what_the_intro_says_about_the_environment_holds(tmp_path):
    """`${NAME}` works for any key (validated as its type) and secret keys are redacted in --show."""
    env = {"DOCS_PARTITIONS": "12", "DOCS_KAFKA_PASSWORD": "hunter2-not-shown"}
    os.environ.update(env)
    try:
        settings = parse_settings({"kafka": {"partitions": "${DOCS_PARTITIONS}",
                                             "sasl_password": "${DOCS_KAFKA_PASSWORD}"}})
        assert settings.kafka.partitions == 12
        config = tmp_path / "c.yaml"
        config.write_text("kafka: {sasl_password: '${DOCS_KAFKA_PASSWORD}'}\n")
        shown = subprocess.run([sys.executable, "-m", "aiops.pipeline.cli", "config", "validate", "--show",
                                str(config)], capture_output=True, text=True, timeout=120, env={**os.environ})
        assert shown.returncode == 0, shown.stderr
        assert "hunter2" not in shown.stdout + shown.stderr and "**********" in shown.stdout
    finally:
        for name in env:
            os.environ.pop(name, None)
    reference = render_reference()
    assert "- `kafka.sasl_password`" in reference and "- `alerting.receivers[].sinks[type=webhook].secret`" in reference


def test_the_variables_read_directly_are_read(tmp_path):
    """The API token and the state key come from the variables the reference names, or their files."""
    from aiops.alerting.auth import env_api_token
    from aiops.detectors.core.state_codec import state_key_from_env

    reference = render_reference()
    for name in ("AIOPS_API_TOKEN", "AIOPS_API_TOKEN_FILE", "AIOPS_STATE_KEY", "AIOPS_STATE_KEY_FILE"):
        assert f"`{name}`" in reference
    token_file = tmp_path / "token"
    token_file.write_text("token-from-a-file-0123456789\n")
    assert env_api_token({"AIOPS_API_TOKEN": "token-from-the-env-0123456789"}) == "token-from-the-env-0123456789"
    assert env_api_token({"AIOPS_API_TOKEN_FILE": str(token_file)}) == "token-from-a-file-0123456789"
    assert state_key_from_env({"AIOPS_STATE_KEY": "state-key-0123456789abcdef"})
    assert state_key_from_env({}) is None


def test_the_reload_paragraph_names_the_worker_sections():
    """Reloaded and restart sections are disjoint Settings sections, as the worker's reload applies them."""
    assert set(RELOADED_SECTIONS) <= set(Settings.model_fields)
    assert not set(RELOADED_SECTIONS) & set(RESTART_SECTIONS)
    assert "`kafka`, `topics`, `worker`, `ingest`" in render_reference()


@pytest.mark.parametrize("section", ["kafka", "alerting"])
def test_section_headings_are_level_two(section):
    """Top-level sections are `##` headings, so the file's outline is the configuration file's."""
    assert f"\n## `{section}`\n" in render_reference()
