"""The compose stack publishes nothing beyond the host's loopback and gives the worker a token and a state key."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "docker" / "docker-compose.yml"


def test_ports_are_published_on_loopback_only():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    published = [p for s in services.values() for p in s.get("ports", [])]
    assert published and all(str(p).startswith("127.0.0.1:") for p in published), published


def test_worker_reads_its_token_and_state_key_from_the_generated_files():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    env = services["worker"]["environment"]
    assert env["AIOPS_API_TOKEN_FILE"].startswith("/run/aiops/") and env["AIOPS_STATE_KEY_FILE"].startswith("/run/aiops/")
    assert services["worker"]["depends_on"]["secrets"] == {"condition": "service_completed_successfully"}


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose (Debian) not installed")
def test_compose_file_validates():
    done = subprocess.run(["docker-compose", "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
