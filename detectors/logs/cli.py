"""``aiops logs``: template grouping accuracy, BGL alert detection, security detectors on samples.

    aiops logs accuracy [--data DIR] [--sources FILE]   grouping accuracy on the 16 loghub samples
    aiops logs bgl [--data DIR] [--config FILE]         precision/recall/F1 of alert lines on BGL_2k
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

from aiops.pipeline.errors import ConfigError, InputError

SHIPPED_SOURCES = Path(__file__).with_name("loghub_sources.yaml")


def default_loghub() -> Path:
    """The shared data folder beside the project's checkout."""
    return Path(__file__).resolve().parents[2].parent / "shared" / "data" / "loghub"


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``logs`` subcommand with ``accuracy``, ``bgl`` and ``security``."""
    p = sub.add_parser("logs", help="log intelligence: template accuracy, BGL detection, security detectors")
    lsub = p.add_subparsers(dest="logs_command", required=True, metavar="ACTION")

    a = lsub.add_parser("accuracy", help="grouping accuracy of template mining on the loghub samples")
    a.add_argument("--data", type=Path, default=None, help="loghub folder (default: ../shared/data/loghub)")
    a.add_argument("--sources", type=Path, default=SHIPPED_SOURCES, help="mining settings (YAML, MiningConfig)")
    a.add_argument("--systems", nargs="*", default=None, help="only these systems")
    a.set_defaults(func=accuracy_command)

    b = lsub.add_parser("bgl", help="alert-line precision/recall/F1 on BGL_2k, online and unsupervised")
    b.add_argument("--data", type=Path, default=None, help="loghub folder or the BGL_2k.log file")
    b.add_argument("--config", type=Path, default=None, help="YAML with a LogsConfig (the 'logs' section)")
    b.set_defaults(func=bgl_command)

    s = lsub.add_parser("security", help="security detectors on the OpenSSH and Linux samples and a synthetic attack")
    s.add_argument("--data", type=Path, default=None, help="loghub folder")
    s.add_argument("--year", type=int, default=2017, help="year of the syslog samples (not in the lines)")
    s.add_argument("--show", type=int, default=3, help="examples printed per kind")
    s.add_argument("--config", type=Path, default=None, help="YAML with a LogsConfig (the 'logs' section)")
    s.set_defaults(func=security_command)

    n = lsub.add_parser("bench", help="lines/s of template mining and of the whole log intelligence")
    n.add_argument("--data", type=Path, default=None, help="loghub folder")
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

    from aiops.pipeline.templates_accuracy import LOGHUB_SYSTEMS, system_accuracy
    from aiops.pipeline.templates_config import MiningConfig

    _quiet()
    data = args.data or default_loghub()
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
    path = data or default_loghub()
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
    "rare_template": {"levels": ["error", "critical"]},
    "sequence": {"enabled": False},
}

#: Detector sets whose line verdicts are counted, the first being every line detector.
BGL_KIND_SETS = (
    None,
    ("template_burst",),
    ("template_burst", "new_template", "rare_template"),
    ("error_burst", "new_template", "rare_template"),
    ("error_burst",),
)


def bgl_command(args: argparse.Namespace) -> int:
    from aiops.detectors.logs.bgl import LINE_KINDS, read_bgl, run_bgl
    from aiops.detectors.logs.config import LogsConfig

    _quiet()
    path = _bgl_path(args.data)
    runs = [("configured" if args.config else "defaults", load_logs_config(args.config))]
    if args.config is None:
        runs.append(("sampled-log profile", LogsConfig.model_validate(SAMPLED_PROFILE)))
    truth, events = read_bgl(path)
    print(f"BGL alert-line detection on {path} (online, unsupervised; label read only to count)")
    print(f"{'settings':<22} {'kinds':<44} {'flagged':>7} {'TP':>4} {'P':>6} {'R':>6} {'F1':>6}")
    for name, config in runs:
        started = time.perf_counter()
        verdicts = run_bgl(truth, events, config)
        elapsed = time.perf_counter() - started
        for kinds in BGL_KIND_SETS:
            d = verdicts.detection(kinds or LINE_KINDS)
            label = "all line detectors" if kinds is None else "+".join(kinds)
            print(
                f"{name:<22} {label:<44} {d.flagged:>7} {d.true_positives:>4} "
                f"{d.precision:>6.3f} {d.recall:>6.3f} {d.f1:>6.3f}"
            )
            if kinds is None:
                flagged_by = ", ".join(f"{k} {v}" for k, v in sorted(d.by_kind.items()))
                print(f"{'':<22} lines flagged per detector: {flagged_by}; {d.lines / elapsed:,.0f} lines/s")
        print(f"{'':<22} lines {d.lines}, alert lines {d.alerts}")
    config = runs[-1][1]
    half = len(events) // 2
    print(f"each half alone, from a fresh state ({runs[-1][0]}, template_burst):")
    for name, part in (("first half", slice(0, half)), ("second half", slice(half, None))):
        d = run_bgl(truth[part], events[part], config).detection(("template_burst",))
        print(
            f"{name:<22} {'template_burst':<44} {d.flagged:>7} {d.true_positives:>4} "
            f"{d.precision:>6.3f} {d.recall:>6.3f} {d.f1:>6.3f}   (alert lines {d.alerts} of {d.lines})"
        )
    _other_samples(path.parent.parent, runs[-1])
    return 0


def _other_samples(data: Path, run: tuple[str, object]) -> None:
    """The same settings on the other loghub samples: flagged lines bound the false alarms."""
    from aiops.detectors.logs.loghub_check import SYSTEMS, sample_flags

    name, config = run
    present = [s for s in SYSTEMS if (data / s).is_dir()]
    if not present:
        return
    print(f"other loghub samples ({name}; only Thunderbird is labelled, all its lines normal):")
    print(f"{'system':<12} {'lines':>6} {'error lines':>11} {'alerts':>6} {'template_burst':>14} {'all line detectors':>18}")
    for system in present:
        f = sample_flags(data, system, config, ("template_burst",))
        print(f"{system:<12} {f.lines:>6} {f.error_lines:>11} {f.alert_lines:>6} {f.flagged:>14} {f.flagged_by_any:>18}")


def security_command(args: argparse.Namespace) -> int:
    from aiops.detectors.security.report import run_scenario, security_findings

    _quiet()
    data = args.data or default_loghub()
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
    from aiops.detectors.logs.config import LogsConfig
    from aiops.detectors.logs.intelligence import LogIntelligence
    from aiops.pipeline.shapes import Event, series_id_for
    from aiops.pipeline.templates import TemplateMiners
    from aiops.pipeline.templates_accuracy import LOGHUB_SYSTEMS, load_structured
    from aiops.pipeline.templates_config import MiningConfig

    _quiet()
    data = args.data or default_loghub()
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
