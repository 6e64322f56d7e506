"""BGL alert-line evaluation and the ``aiops logs`` commands."""

from __future__ import annotations

import argparse

import pytest

from aiops.detectors.logs import cli
from aiops.detectors.logs.bgl import evaluate_bgl, parse_bgl_line
from aiops.detectors.logs.config import LogsConfig
from aiops.pipeline.errors import InputError


def test_bgl_reaches_its_recorded_level(loghub) -> None:
    """With the sampled-log profile, bursts and new error templates find most alert lines (F1 >= 0.55)."""
    path = loghub / "BGL" / "BGL_2k.log"
    config = LogsConfig.model_validate(cli.SAMPLED_PROFILE)
    d = evaluate_bgl(path, config, kinds=("error_burst", "new_template", "rare_template"))
    assert d.lines == 2000 and d.alerts == 143
    assert d.recall >= 0.7 and d.f1 >= 0.55
    everything = evaluate_bgl(path, config)
    assert everything.recall >= d.recall and everything.f1 >= 0.45


def test_bgl_verdicts_ignore_the_label(loghub, tmp_path) -> None:
    """Relabelling every line as normal changes the counts, never which lines are flagged."""
    raw = (loghub / "BGL" / "BGL_2k.log").read_text().splitlines()[:400]
    original = tmp_path / "a.log"
    original.write_text("\n".join(raw))
    relabelled = tmp_path / "b.log"
    relabelled.write_text("\n".join("-" + line[line.index(" "):] for line in raw))
    config = LogsConfig.model_validate(cli.SAMPLED_PROFILE)
    a, b = evaluate_bgl(original, config), evaluate_bgl(relabelled, config)
    assert a.flagged == b.flagged and a.by_kind == b.by_kind and b.alerts == 0


def test_bgl_bad_line() -> None:
    with pytest.raises(InputError):
        parse_bgl_line("- not a bgl line")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aiops")
    cli.register(parser.add_subparsers(dest="command", required=True))
    return parser


def test_accuracy_command_prints_the_table(loghub, capsys) -> None:
    args = _parser().parse_args(["logs", "accuracy", "--data", str(loghub), "--systems", "HDFS", "Apache"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "HDFS" in out and "Apache" in out and "mean" in out
    mean = float(next(line for line in out.splitlines() if line.startswith("mean")).split()[-1])
    assert mean >= 0.99


def test_security_command_prints_what_fires(loghub, capsys) -> None:
    args = _parser().parse_args(["logs", "security", "--data", str(loghub), "--show", "1"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "== OpenSSH" in out and "auth_failure_burst" in out and "password_spraying" in out
    assert "7/7 attacks reported, 0 false alarms" in out


def test_bad_config_file_is_a_config_error(tmp_path) -> None:
    bad = tmp_path / "logs.yaml"
    bad.write_text("logs: {rare_template: {warmup_events: -1}}")
    from aiops.pipeline.errors import ConfigError

    with pytest.raises(ConfigError, match="warmup_events"):
        cli.load_logs_config(bad)


def test_missing_bgl_file_is_an_input_error(tmp_path) -> None:
    with pytest.raises(InputError):
        cli._bgl_path(tmp_path)


def test_logs_command_through_the_main_entry_point(capsys) -> None:
    """``aiops logs accuracy`` is wired into the main CLI and finds the shared data by default."""
    from aiops.pipeline.cli import main

    assert main(["logs", "accuracy", "--systems", "Apache"]) == 0
    assert "Apache" in capsys.readouterr().out


def test_logs_settings_compose_into_the_whole_configuration() -> None:
    """The ``logs`` section validates with the rest; an unknown key is named."""
    from aiops.pipeline.config import parse_settings
    from aiops.pipeline.errors import ConfigError

    s = parse_settings({"logs": {"security": {"spraying": {"distinct_users": 8}}, "sequence": {"order": 3}}})
    assert s.logs.security.spraying.distinct_users == 8 and s.logs.sequence.order == 3
    with pytest.raises(ConfigError, match="logs.mining.drain.simth: unknown key"):
        parse_settings({"logs": {"mining": {"drain": {"simth": 0.5}}}})
