"""All security detectors of one source, fed with the authentication event of each line.

>>> from aiops.detectors.security.config import SecurityConfig
>>> bank = SecurityBank(SecurityConfig())
>>> bank.observe("Failed password for root from 1.2.3.4 port 22 ssh2", 0.0, service="sshd")
[]
>>> SecurityBank(SecurityConfig(ignored_ips=["1.2.3.4"])).observe(
...     "Accepted password for root from 1.2.3.4 port 22 ssh2", 0.0)
[]
"""

from __future__ import annotations

from aiops.detectors.logs.finding import Finding
from aiops.detectors.security.auth_events import read_auth_event
from aiops.detectors.security.config import SecurityConfig
from aiops.detectors.security.failure_burst import FailureBurstDetector
from aiops.detectors.security.login_after_failures import LoginAfterFailuresDetector
from aiops.detectors.security.new_login_source import NewLoginSourceDetector
from aiops.detectors.security.spraying import SprayingDetector
from aiops.detectors.security.unusual_sudo import UnusualSudoDetector


class SecurityBank:
    """Reads the authentication event of a message and runs every enabled detector on it."""

    def __init__(self, config: SecurityConfig) -> None:
        self.config = config
        self.ignored_ips = set(config.ignored_ips)
        self.ignored_users = set(config.ignored_users)
        candidates = (
            (config.failure_burst.enabled, lambda: FailureBurstDetector(config.failure_burst)),
            (config.spraying.enabled, lambda: SprayingDetector(config.spraying)),
            (config.login_after_failures.enabled, lambda: LoginAfterFailuresDetector(config.login_after_failures)),
            (config.new_login_source.enabled, lambda: NewLoginSourceDetector(config.new_login_source)),
            (config.unusual_sudo.enabled, lambda: UnusualSudoDetector(config.unusual_sudo)),
        )
        self.detectors = [make() for enabled, make in candidates if enabled]

    def observe(self, message: str, time: float, *, service: str = "") -> list[Finding]:
        event = read_auth_event(message, time, service=service)
        if event is None or event.src_ip in self.ignored_ips or event.user in self.ignored_users:
            return []
        found: list[Finding] = []
        for detector in self.detectors:
            found.extend(detector.observe(event))
        return found
