"""Settings of the security detectors: windows, thresholds and allow-lists."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FailureBurstConfig(_Section):
    """Authentication failures per user and per source IP within a sliding window."""

    enabled: bool = Field(True, description="run this detector")
    window_s: float = Field(300.0, gt=0, description="length of the sliding window")
    per_user: int = Field(5, ge=2, description="failures for one user in the window that fire")
    per_ip: int = Field(10, ge=2, description="failures from one source IP in the window that fire")


class SprayingConfig(_Section):
    """One source IP trying many distinct users."""

    enabled: bool = Field(True, description="run this detector")
    window_s: float = Field(600.0, gt=0, description="length of the sliding window")
    distinct_users: int = Field(5, ge=2,
            description="distinct users tried from one source IP in the window that fire")


class LoginAfterFailuresConfig(_Section):
    """A successful login for a user or from an IP that just had a failure burst."""

    enabled: bool = Field(True, description="run this detector")
    window_s: float = Field(600.0, gt=0, description="how long after the failures a login fires")
    min_failures: int = Field(3, ge=1, description="failures before the successful login that make it fire")


class NewLoginSourceConfig(_Section):
    """A login from a source IP never seen for that user, once the user's habits are learned."""

    enabled: bool = Field(True, description="run this detector")
    learning_logins: int = Field(3, ge=0, description="logins of a user learned before new sources fire")
    learning_s: float = Field(86400.0, ge=0, description="time since the user's first login before new sources fire")
    max_sources_per_user: int = Field(256, ge=1, description="source IPs remembered per user")


class UnusualSudoConfig(_Section):
    """sudo/su by a user not allowed and not seen doing it while learning."""

    enabled: bool = Field(True, description="run this detector")
    allowed_users: list[str] = Field(default_factory=lambda: ["root"],
            description="users whose sudo or su never fires")
    learning_s: float = Field(86400.0, ge=0, description="users seen escalating in this first period are normal")


class SecurityConfig(_Section):
    """All security detectors, plus IPs and users never reported."""

    failure_burst: FailureBurstConfig = FailureBurstConfig()
    spraying: SprayingConfig = SprayingConfig()
    login_after_failures: LoginAfterFailuresConfig = LoginAfterFailuresConfig()
    new_login_source: NewLoginSourceConfig = NewLoginSourceConfig()
    unusual_sudo: UnusualSudoConfig = UnusualSudoConfig()
    ignored_ips: list[str] = Field(default_factory=list, description="trusted scanners, bastions...")
    ignored_users: list[str] = Field(default_factory=list, description="users never reported (service accounts...)")
