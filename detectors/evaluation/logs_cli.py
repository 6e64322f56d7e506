"""``aiops logs``: template grouping accuracy, BGL alert detection, security detectors on samples.

    aiops logs accuracy [--data DIR] [--sources FILE]   grouping accuracy on the 16 loghub samples
    aiops logs bgl [--data DIR] [--config FILE]         precision/recall/F1 of alert lines on BGL_2k with the
                                                        defaults: whole, halves, time splits; alerts per
                                                        1,000 lines on the other loghub samples, with reasons
    aiops logs backtest FILE --labels ...               the same figures for any labelled log file
    aiops logs security [--data DIR]                    what fires on the OpenSSH and Linux samples,
                                                        and on a synthetic attack scenario with ground truth
    aiops logs bench [--data DIR]                       lines/s of template mining and of all log detectors
"""

from __future__ import annotations

import argparse
import logging
import time
from collections import Counter
from pathlib import Path

import structlog
import yaml

from aiops.detectors.core.errors import ConfigError, InputError
from aiops.detectors.evaluation.datasets import DATA_DIR_ENV, LOGHUB

SHIPPED_SOURCES = Path(__file__).with_name("loghub_sources.yaml")

#: Where ``--data`` is looked for when not given.
LOGHUB_DEFAULT = f"default: ${DATA_DIR_ENV}/loghub if set, else ./data/loghub or ../shared/data/loghub"


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``logs`` subcommand with ``accuracy``, ``bgl`` and ``security``."""
    p = sub.add_parser("logs", help="log intelligence: template accuracy, BGL detection, security detectors")
    lsub = p.add_subparsers(dest="logs_command", required=True, metavar="ACTION")

    a = lsub.add_parser("accuracy", help="grouping accuracy of template mining on the loghub samples")
    a.add_argument("--data", type=Path, default=None, help=f"loghub folder ({LOGHUB_DEFAULT})")
    a.add_argument("--sources", type=Path, default=SHIPPED_SOURCES, help="mining settings (YAML, MiningConfig)")
    a.add_argument("--systems", nargs="*", default=None, help="only these systems")
    a.set_defaults(func=accuracy_command)

    b = lsub.add_parser("bgl", help="alert-line precision/recall/F1 on BGL_2k, online and unsupervised")
    b.add_argument("--data", type=Path, default=None, help=f"loghub folder or the BGL_2k.log file ({LOGHUB_DEFAULT})")
    b.add_argument("--config", type=Path, default=None, help="YAML with a LogsConfig (the 'logs' section)")
    b.add_argument("--show", type=int, default=0, help="BGL alerts printed with their reason")
    b.add_argument("--show-quiet", type=int, default=1000, help="alerts on the other samples printed with their reason")
    b.set_defaults(func=bgl_command)

    t = lsub.add_parser("backtest", help="score any labelled log file: F1, halves, time splits, alerts per 1,000")
    t.add_argument("file", type=Path, help="a log file: loghub structured CSV, BGL/Thunderbird lines, or plain lines")
    t.add_argument(
        "--labels", default=None,
        help="FILE (one label per line: '-', '0', 'normal' or empty for normal, anything else anomalous), "
             "'first-field' (the first word of each line, as in BGL), or 'column:NAME' for a CSV",
    )
    t.add_argument("--format", choices=("auto", "csv", "bgl", "lines"), default="auto")
    t.add_argument("--service", default=None, help="service label for plain lines (default: the file's stem)")
    t.add_argument("--config", type=Path, default=None, help="YAML with a LogsConfig (the 'logs' section)")
    t.add_argument("--show", type=int, default=20, help="alerts printed with their reason")
    t.set_defaults(func=backtest_command)

    s = lsub.add_parser("security", help="security detectors on the OpenSSH and Linux samples and a synthetic attack")
    s.add_argument("--data", type=Path, default=None, help=f"loghub folder ({LOGHUB_DEFAULT})")
    s.add_argument("--year", type=int, default=2017, help="year of the syslog samples (not in the lines)")
    s.add_argument("--show", type=int, default=3, help="examples printed per kind")
    s.add_argument("--config", type=Path, default=None, help="YAML with a LogsConfig (the 'logs' section)")
    s.set_defaults(func=security_command)

    n = lsub.add_parser("bench", help="lines/s of template mining and of the whole log intelligence")
    n.add_argument("--data", type=Path, default=None, help=f"loghub folder ({LOGHUB_DEFAULT})")
    n.add_argument("--repeat", type=int, default=3, help="passes over the 16 samples (32,000 lines each)")
    n.add_argument("--batch", type=int, default=1000)
    n.set_defaults(func=bench_command)


def _quiet() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def _load_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must hold a mapping")
    return data


def load_logs_config(path: Path | None):  # noqa: ANN201 - LogsConfig, imported lazily
    """A ``LogsConfig`` from a file holding either the whole settings or just the ``logs`` section."""
    from pydantic import ValidationError

    from aiops.detectors.logs.config import LogsConfig

    if path is None:
        return LogsConfig()
    data = _load_yaml(path)
    try:
        return LogsConfig.model_validate(data.get("logs", data))
    except ValidationError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def accuracy_command(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from aiops.detectors.evaluation.templates_accuracy import LOGHUB_SYSTEMS, system_accuracy
    from aiops.detectors.logs.templates_config import MiningConfig

    _quiet()
    data = LOGHUB.locate(args.data)
    try:
        config = MiningConfig.model_validate(_load_yaml(args.sources))
    except ValidationError as exc:
        raise ConfigError(f"{args.sources}: {exc}") from None
    systems = args.systems or list(LOGHUB_SYSTEMS)
    print(f"{'system':<12} {'lines':>6} {'true':>5} {'found':>6} {'accuracy':>9}")
    total = 0.0
    started = time.perf_counter()
    lines = 0
    for system in systems:
        r = system_accuracy(data, system, config)
        total += r.accuracy
        lines += r.lines
        print(f"{r.system:<12} {r.lines:>6} {r.true_templates:>5} {r.found_templates:>6} {r.accuracy:>9.4f}")
    elapsed = time.perf_counter() - started
    print(f"{'mean':<12} {'':>6} {'':>5} {'':>6} {total / len(systems):>9.4f}")
    print(f"({lines} lines in {elapsed:.2f}s: {lines / elapsed:,.0f} lines/s including file reading)")
    return 0


def _bgl_path(data: Path | None) -> Path:
    if data is not None and (data.is_file() or (data / "BGL_2k.log").is_file()):
        path = data
    else:
        path = LOGHUB.locate(data)
    if path.is_dir():
        path = path / "BGL" / "BGL_2k.log" if (path / "BGL").is_dir() else path / "BGL_2k.log"
    if not path.is_file():
        raise InputError(f"BGL sample not found at {path}")
    return path


#: Settings for sampled logs like BGL_2k (one line kept of thousands, minutes apart), chosen from
#: what sampling breaks, not from labels: consecutive lines are no longer consecutive events (no
#: sequence check) and windows of seconds hold a line or two, so windows count lines: error bursts
#: over 50 lines, and template bursts (error lines concentrated on one or two templates over the
#: last 50 lines of a source); new/rare templates only on error-level lines.
SAMPLED_PROFILE = {
    "template_burst": {"enabled": True, "window_lines": 50},
    "error_burst": {"window_lines": 50, "z_threshold": 3.0, "min_errors": 3},
    "rare_template": {"enabled": True, "levels": ["error", "critical"]},
    "sequence": {"enabled": False},
    "novelty": {"enabled": False},
}

#: Detector sets whose line verdicts are counted, the first being every line detector.
BGL_KIND_SETS = (
    None,
    ("template_burst",),
    ("template_burst", "new_template", "rare_template"),
    ("error_burst", "new_template", "rare_template"),
    ("error_burst",),
)


def _row(name: str, label: str, d, alerts: int) -> str:  # noqa: ANN001 - Detection
    per_k = 1000.0 / d.lines if d.lines else 0.0
    return (
        f"{name:<22} {label:<36} {d.flagged:>7} {d.true_positives:>4} {d.precision:>6.3f} {d.recall:>6.3f} "
        f"{d.f1:>6.3f} {alerts:>6} {alerts * per_k:>7.1f} {d.flagged * per_k:>7.1f}"
    )


_HEADER = (
    f"{'run':<22} {'kinds':<36} {'flagged':>7} {'TP':>4} {'P':>6} {'R':>6} {'F1':>6} {'alerts':>6} "
    f"{'al/1k':>7} {'fl/1k':>7}"
)


def score_labelled(title: str, truth: list[bool], events: list, config, show: int = 0) -> None:  # noqa: ANN001
    """The default report on one labelled stream: whole, each half fresh, and the time splits."""
    from aiops.detectors.evaluation.logs_bgl import LINE_KINDS, run_bgl

    half = len(events) // 2
    first, second = slice(0, half), slice(half, None)
    print(title)
    print("flagged: lines an episode opened on or that belong to one; alerts: episode openings (what pages)")
    print(_HEADER)
    reasons: list[str] = []
    started = time.perf_counter()
    whole = run_bgl(truth, events, config, reasons=reasons)
    elapsed = time.perf_counter() - started
    d = whole.detection(LINE_KINDS)
    print(_row("whole file", "all line detectors", d, sum(whole.alerts or [])))
    flagged_by = ", ".join(f"{k} {v}" for k, v in sorted(d.by_kind.items())) or "none"
    print(f"{'':<22} lines flagged per detector: {flagged_by}; {d.lines / elapsed:,.0f} lines/s")
    print(f"{'':<22} lines {d.lines}, labelled anomalous {d.alerts}")
    runs = (
        ("first half, fresh", truth[first], events[first], None),
        ("second half, fresh", truth[second], events[second], None),
        ("learn 1st, judge 2nd", truth[second], events[second], events[first]),
        ("learn 2nd, judge 1st", truth[first], events[first], events[second]),
    )
    for name, t, e, learn in runs:
        v = run_bgl(t, e, config, learn_from=learn)
        print(_row(name, "all line detectors", v.detection(LINE_KINDS), sum(v.alerts or [])))
    for reason in reasons[:show]:
        print(f"  alert: {reason}")
    if len(reasons) > show > 0:
        print(f"  ... and {len(reasons) - show} more alerts")


def bgl_command(args: argparse.Namespace) -> int:
    from aiops.detectors.evaluation.logs_bgl import LINE_KINDS, read_bgl, run_bgl
    from aiops.detectors.logs.config import LogsConfig

    _quiet()
    path = _bgl_path(args.data)
    config = load_logs_config(args.config)
    truth, events = read_bgl(path)
    name = "configured settings" if args.config else "default settings"
    score_labelled(
        f"BGL alert-line detection on {path}, {name} (online, unsupervised; labels read only to count)",
        truth, events, config, show=args.show,
    )
    if args.config is None:
        profile = LogsConfig.model_validate(SAMPLED_PROFILE)
        v = run_bgl(truth, events, profile)
        print("for comparison, the hand-picked sampled-log profile of before (not a default):")
        for kinds in BGL_KIND_SETS[:2]:
            label = "all line detectors" if kinds is None else "+".join(kinds)
            print(_row("sampled-log profile", label, v.detection(kinds or LINE_KINDS), sum(v.alerts or [])))
    _other_samples(path.parent.parent, config, show=args.show_quiet)
    return 0


def _other_samples(data: Path, config, *, show: int) -> None:  # noqa: ANN001 - LogsConfig
    """The same settings on the other loghub samples: their lines are (as far as labels tell) normal,
    so every alert there is a false alarm or a real fault the sample holds; each one's reason is printed."""
    from aiops.detectors.evaluation.logs_bgl import LINE_KINDS, run_bgl
    from aiops.detectors.evaluation.logs_loghub import read_sample
    from aiops.detectors.evaluation.templates_accuracy import LOGHUB_SYSTEMS

    present = [s for s in LOGHUB_SYSTEMS if s != "BGL" and (data / s).is_dir()]
    if not present:
        return
    print("other loghub samples, same settings (unlabelled but Thunderbird, whose lines are all normal):")
    print(f"{'system':<12} {'lines':>6} {'errors':>6} {'alerts':>6} {'flagged':>7} {'alerts/1k':>9} {'flagged/1k':>10}")
    explained: list[tuple[str, str]] = []
    total_alerts = total_flagged = total_lines = 0
    for system in present:
        truth, events = read_sample(data, system)
        reasons: list[str] = []
        v = run_bgl(truth, events, config, reasons=reasons)
        d = v.detection(LINE_KINDS)
        alerts = sum(v.alerts or [])
        errors = sum(1 for e in events if e.level in ("error", "critical"))
        per_k = 1000.0 / d.lines if d.lines else 0.0
        print(f"{system:<12} {d.lines:>6} {errors:>6} {alerts:>6} {d.flagged:>7} {alerts * per_k:>9.1f} "
              f"{d.flagged * per_k:>10.1f}")
        explained += [(system, r) for r in reasons]
        total_alerts, total_flagged, total_lines = total_alerts + alerts, total_flagged + d.flagged, total_lines + d.lines
    if total_lines:
        print(f"{'all':<12} {total_lines:>6} {'':>6} {total_alerts:>6} {total_flagged:>7} "
              f"{1000 * total_alerts / total_lines:>9.1f} {1000 * total_flagged / total_lines:>10.1f}")
    for system, reason in explained[:show]:
        print(f"  {system}: {reason}")
    if len(explained) > show:
        print(f"  ... and {len(explained) - show} more (--show-quiet N)")


def backtest_command(args: argparse.Namespace) -> int:
    """Score any labelled log file the way ``aiops logs bgl`` scores BGL."""
    from aiops.detectors.evaluation.logs_labelled import read_labelled

    _quiet()
    config = load_logs_config(args.config)
    truth, events = read_labelled(args.file, labels=args.labels, fmt=args.format, service=args.service)
    if not any(truth):
        print(f"note: no line of {args.file} is labelled anomalous: recall and F1 are 0 by definition; "
              "alerts and flagged lines per 1,000 are the false-alarm figures")
    score_labelled(
        f"{args.file}: {len(events)} lines, {sum(truth)} labelled anomalous (online, unsupervised)",
        truth, events, config, show=args.show,
    )
    return 0


def security_command(args: argparse.Namespace) -> int:
    from aiops.detectors.evaluation.security_report import run_scenario, security_findings

    _quiet()
    data = LOGHUB.locate(args.data)
    config = load_logs_config(args.config)
    for system in ("OpenSSH", "Linux"):
        path = data / system / f"{system}_2k.log"
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror}") from exc
        found = security_findings(lines, config=config, year=args.year)
        counts = Counter(a.kind for a in found)
        print(f"== {system} ({len(lines)} lines): " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing fired"))
        shown: Counter[str] = Counter()
        for a in found:
            if shown[a.kind] < args.show:
                shown[a.kind] += 1
                who = " ".join(f"{k}={a.labels[k]}" for k in ("user", "src_ip") if k in a.labels)
                print(f"   {a.kind:<22} {a.severity:<8} {who:<40} {a.reason}")
    result = run_scenario(config=config)
    print(
        f"== synthetic attack scenario: {len(result.detected)}/{len(result.expected)} attacks reported, "
        f"{len(result.false_alarms)} false alarms of {len(result.found)} reports"
    )
    for expected in result.expected:
        mark = "found " if expected in result.detected else "MISSED"
        print(f"   {mark} {expected.kind:<22} user={expected.user} src_ip={expected.src_ip}")
    for alarm in result.false_alarms:
        print(f"   FALSE  {alarm.kind:<22} {alarm.reason}")
    return 0


def bench_command(args: argparse.Namespace) -> int:
    """Template mining alone, then the full per-line work, over the loghub contents as live sources."""
    from aiops.detectors.core.shapes import Event, series_id_for
    from aiops.detectors.evaluation.templates_accuracy import LOGHUB_SYSTEMS, load_structured
    from aiops.detectors.logs.config import LogsConfig
    from aiops.detectors.logs.intelligence import LogIntelligence
    from aiops.detectors.logs.templates import TemplateMiners
    from aiops.detectors.logs.templates_config import MiningConfig

    _quiet()
    data = LOGHUB.locate(args.data)
    corpus = [(system, load_structured(data, system)[0]) for system in LOGHUB_SYSTEMS]
    lines = sum(len(c) for _, c in corpus) * args.repeat

    miners = TemplateMiners(MiningConfig())
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(args.repeat):
        for system, contents in corpus:
            for text in contents:
                miners.add(system, text)
    mining = lines / (time.perf_counter() - started)
    mining_cpu = lines / (time.process_time() - cpu)

    events = []
    for r in range(args.repeat):
        for system, contents in corpus:
            labels = {"host": f"h{r}", "service": system}
            sid = series_id_for("log", labels)
            events += [
                Event("log", sid, labels, 1_700_000_000.0 + i * 0.05, {}, message=text, level="info")
                for i, text in enumerate(contents)
            ]
    events.sort(key=lambda e: e.time)
    intelligence = LogIntelligence(LogsConfig())
    started, cpu = time.perf_counter(), time.process_time()
    anomalies = metrics = 0
    for start in range(0, len(events), args.batch):
        chunk = events[start : start + args.batch]
        result = intelligence.process(chunk, now=chunk[-1].time)
        anomalies += len(result.anomalies)
        metrics += len(result.metric_events)
    full = len(events) / (time.perf_counter() - started)
    full_cpu = len(events) / (time.process_time() - cpu)
    started = time.perf_counter()
    states = intelligence.export_state(intelligence.keys())
    export_s = time.perf_counter() - started
    size = sum(len(b) for b in states.values())
    print(f"template mining only:      {mining:>8,.0f} lines/s wall, {mining_cpu:>8,.0f} per CPU-second  "
          f"({lines} lines, 16 sources)")
    print(f"full log intelligence:     {full:>8,.0f} lines/s wall, {full_cpu:>8,.0f} per CPU-second  "
          f"({len(events)} lines, {len(states)} sources, batches of {args.batch}; "
          f"{anomalies} anomalies, {metrics} count events)")
    print(f"state export:              {len(states)} sources, {size / 1024:,.0f} KiB in {export_s * 1000:.0f} ms")
    return 0
