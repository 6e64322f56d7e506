"""BGL alert-line evaluation and the ``aiops logs`` commands."""

from __future__ import annotations

import argparse

import pytest

from aiops.detectors.core.errors import InputError
from aiops.detectors.evaluation import logs_cli as cli
from aiops.detectors.evaluation.logs_bgl import LINE_KINDS, evaluate_bgl, parse_bgl_line, read_bgl, run_bgl
from aiops.detectors.logs.config import LogsConfig


def test_bgl_reaches_its_recorded_level(loghub) -> None:
    """With the default settings (no profile picked by hand), F1 >= 0.70 on BGL_2k."""
    path = loghub / "BGL" / "BGL_2k.log"
    d = evaluate_bgl(path, LogsConfig())
    assert d.lines == 2000 and d.alerts == 143
    assert d.f1 >= 0.70 and d.precision >= 0.8, d


def test_bgl_holds_on_each_half_and_across_time_splits(loghub) -> None:
    """Each half from a fresh state, and learn-one-half/judge-the-other, keep F1 >= 0.60."""
    truth, events = read_bgl(loghub / "BGL" / "BGL_2k.log")
    first, second = slice(0, 1000), slice(1000, None)
    for judged, learned in ((first, None), (second, None), (second, first), (first, second)):
        v = run_bgl(truth[judged], events[judged], LogsConfig(), learn_from=events[learned] if learned else None)
        d = v.detection(LINE_KINDS)
        assert d.f1 >= 0.60, (judged, learned, d)
        truth, events = read_bgl(loghub / "BGL" / "BGL_2k.log")  # fresh events: mining fills them in place


def test_one_alert_per_episode_on_bgl(loghub) -> None:
    """Storms of one template alert once: far fewer episode openings than flagged lines."""
    truth, events = read_bgl(loghub / "BGL" / "BGL_2k.log")
    v = run_bgl(truth, events, LogsConfig())
    flagged = sum(1 for k in v.kinds if k)
    assert v.alerts is not None and 0 < sum(v.alerts) <= flagged / 3
    assert all(k for k, a in zip(v.kinds, v.alerts) if a)  # an alerting line is a flagged line


def test_bgl_verdicts_ignore_the_label(loghub, tmp_path) -> None:
    """Relabelling every line as normal changes the counts, never which lines are flagged."""
    raw = (loghub / "BGL" / "BGL_2k.log").read_text().splitlines()[:400]
    original = tmp_path / "a.log"
    original.write_text("\n".join(raw))
    relabelled = tmp_path / "b.log"
    relabelled.write_text("\n".join("-" + line[line.index(" "):] for line in raw))
    config = LogsConfig()
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
    from aiops.detectors.core.errors import ConfigError

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
    from aiops.detectors.core.errors import ConfigError
    from aiops.pipeline.config import parse_settings

    s = parse_settings({"logs": {"security": {"spraying": {"distinct_users": 8}}, "sequence": {"order": 3}}})
    assert s.logs.security.spraying.distinct_users == 8 and s.logs.sequence.order == 3
    with pytest.raises(ConfigError, match="logs.mining.drain.simth: unknown key"):
        parse_settings({"logs": {"mining": {"drain": {"simth": 0.5}}}})
