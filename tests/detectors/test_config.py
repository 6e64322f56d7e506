"""Detection settings: defaults, validation errors that name the key, and their use by the whole settings file."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from aiops.detectors.config import DetectionConfig
from aiops.detectors.core.errors import ConfigError
from aiops.pipeline.config import parse_settings


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"treshold": 0.9}, "treshold"),
        ({"threshold": 1.5}, "threshold"),
        ({"ensemble": {"method": "median"}}, "ensemble.method"),
        ({"detectors": [{"type": "nope"}]}, "detectors.0"),
        ({"detectors": [{"type": "zscore", "params": {"alpah": 0.1}}]}, "params.alpah"),
        ({"detectors": [{"type": "cusum", "params": {"drift": -1}}]}, "params.drift"),
        ({"detectors": [{"type": "zscore"}, {"type": "zscore"}]}, "duplicate"),
        ({"profiles": [{"match": {"series": "("}}]}, "profiles.0.match.series"),
        ({"profiles": [{"match": {"labels": {"host": "[x"}}}]}, "host"),
        ({"pyod": {"model": "lof"}}, "pyod.model"),
        ({"detectors": [{"type": "pyod", "params": {"window_sise": 3}}]}, "params.window_sise"),
    ],
)
def test_errors_name_the_key(data, key):
    """Every invalid value fails validation with its key path in the message."""
    with pytest.raises(ValidationError) as err:
        DetectionConfig.model_validate(data)
    assert key in str(err.value)


def test_through_the_settings_file():
    """The whole settings file reports a bad detection key as a ConfigError naming it."""
    with pytest.raises(ConfigError, match="detection.warmup"):
        parse_settings({"detection": {"warmup": -1}})
    assert parse_settings({"detection": {"ensemble": {"method": "vote"}}}).detection.ensemble.method == "vote"


def test_digest_changes_with_settings():
    """The config hash logged on reload differs when any setting differs."""
    assert DetectionConfig().digest() == DetectionConfig().digest()
    assert DetectionConfig().digest() != DetectionConfig(threshold=0.99).digest()


def test_pyod_base_settings_feed_the_bank():
    """Top-level pyod settings are the base of every pyod detector's parameters."""
    cfg = DetectionConfig.model_validate({"pyod": {"window_size": 64},
                                          "detectors": [{"type": "pyod", "params": {"min_points": 16}}]})
    assert cfg.bank_params(cfg.detectors[0]) == {"window_size": 64, "min_points": 16}
