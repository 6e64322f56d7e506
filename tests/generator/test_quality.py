"""The in-process quality run: generated traffic through the worker's own stages, then evaluated."""

from __future__ import annotations

from aiops.pipeline.tools.generator.config import GeneratorConfig
from aiops.pipeline.tools.generator.quality import main, measure


def test_spikes_are_found_by_the_default_detection():
    """Big spikes on one series, after clean history, are detected by the product's default stages."""
    config = GeneratorConfig(hosts=1, services=["api"], kinds=["spike"], anomaly_rate=6.0, warmup_s=0.0,
                             period_s=86_400.0, gap_s=5.0, seed=3, log_rate=0.5)
    report, figures = measure(config, history_s=120.0, live_s=90.0, grace_s=5.0)
    assert len(report.incidents) >= 3
    assert report.recall >= 0.5
    assert figures["events"] > 210


def test_command_prints_the_table(capsys):
    assert main(["--hosts", "1", "--services", "1", "--history", "60", "--live", "30", "--anomaly-rate", "4"]) == 0
    out = capsys.readouterr().out
    assert "events through normalise + score" in out and "recall" in out
