"""Builders for the remediation tests: alerts, configs, and a real program that records its argv."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from aiops.alerting.alert import Alert
from aiops.alerting.remediation.config import RemediationConfig
from aiops.alerting.remediation.remediator import Remediator


def alert(host: str = "web-1", *, severity: str = "error", starts_at: float = 0.0, **labels: str) -> Alert:
    return Alert.firing(labels={"alertname": "AnomalyDetected", "host": host, "series_id": f"cpu|host={host}",
                                **labels},
                        annotations={"summary": f"cpu on {host}"}, starts_at=starts_at, severity=severity,
                        score=0.97)


def argv_recorder(tmp_path: Path) -> tuple[str, Path]:
    """An executable that appends its arguments, as JSON, to a file; returns (program, output file)."""
    program = tmp_path / "record-argv"
    out = tmp_path / "argv.jsonl"
    program.write_text(f"#!{sys.executable}\n"
                       "import json, sys\n"
                       "with open(sys.argv[1], 'a') as f:\n"
                       "    f.write(json.dumps(sys.argv[2:]) + '\\n')\n")
    program.chmod(0o755)
    return str(program), out


def recorded(out: Path) -> list[list[str]]:
    return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []


def command_config(program: str, out: Path, **overrides: Any) -> RemediationConfig:
    """One command action ``restart`` running ``program out restart <host>`` for every error alert."""
    action = {"type": "command", "argv": [program, str(out), "restart", "{host}"], "allowed_targets": ["web-*"]}
    action.update(overrides.pop("action", {}))
    actions = {"restart": action, **overrides.pop("actions", {})}
    base: dict[str, Any] = {
        "allowed_programs": [program, "/bin/echo", "/bin/false"],
        "dry_run": False, "require_approval": False, "cooldown_s": 0,
        "per_target_limit": {"max_actions": 10, "window_s": 3600},
        "actions": actions,
        "policies": [{"name": "cpu", "matchers": ["alertname=AnomalyDetected"], "action": "restart",
                      **overrides.pop("policy", {})}],
    }
    base.update(overrides)
    return RemediationConfig.model_validate(base)


def remediator(program: str, out: Path, **overrides: Any) -> Remediator:
    return Remediator(command_config(program, out, **overrides))


def events(rem: Remediator) -> list[str]:
    return [r["event"] for r in rem.drain_audit()]
