"""The compose stack publishes nothing beyond the host's loopback and gives the worker a token and a state key.

That docker-compose accepts the file is tests/test_compose.py's to check.
"""

from __future__ import annotations

from pathlib import Path

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

