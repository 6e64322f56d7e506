"""The line judge, its episodes, the content prior, sampled streams, replays and ``aiops logs backtest``."""

from __future__ import annotations

import argparse

from aiops.detectors.core.shapes import Event, series_id_for
from aiops.detectors.evaluation import logs_cli as cli
from aiops.detectors.logs.config import ContentConfig, LogsConfig, NoveltyConfig, StreamConfig
from aiops.detectors.logs.content import ContentPrior
from aiops.detectors.logs.intelligence import LogIntelligence
from aiops.detectors.logs.novelty import NoveltyJudge
from aiops.detectors.logs.stream_profile import StreamProfile

FAULT = 2.5  # "data TLB error interrupt": a fault word and a hardware term


def _warm(judge: NoveltyJudge, lines: int = 200, start: float = 0.0) -> float:
    for i in range(lines):
        judge.observe(f"ok{i % 8}", "info", start + i, content=0.0)
    return start + lines


class TestNoveltyJudge:
    def test_a_new_fault_opens_one_episode_and_its_storm_belongs_to_it(self) -> None:
        """The first line alerts; the same template again and again is flagged, never re-alerted."""
        judge = NoveltyJudge(NoveltyConfig())
        t = _warm(judge)
        verdicts = [judge.observe("tlb", "critical", t + i, content=FAULT) for i in range(40)]
        assert all(v is not None for v in verdicts)
        assert [v.opened for v in verdicts].count(True) == 1 and verdicts[0].kind == "new_template"
        assert {v.episode for v in verdicts} == {1}

    def test_a_recurring_error_among_ordinary_lines_is_accepted_as_normal(self) -> None:
        """Novelty settles: interleaved with the usual traffic, the pattern ends its episode as accepted."""
        judge = NoveltyJudge(NoveltyConfig())
        t = _warm(judge)
        flagged = []
        for i in range(60):
            flagged.append(judge.observe("err", "error", t + 3 * i, content=1.5) is not None)
            judge.observe(f"ok{i % 8}", "info", t + 3 * i + 1, content=0.0)
            judge.observe(f"ok{(i + 3) % 8}", "info", t + 3 * i + 2, content=0.0)
        assert flagged[0] and not any(flagged[10:])
        ended = judge.take_ended()
        assert [e.reason for e in ended] == ["accepted"]
        assert judge.observe("err", "error", t + 500, content=1.5) is None  # familiar now

    def test_a_long_storm_of_one_pattern_is_accepted_after_accept_lines(self) -> None:
        """It pages once; its first ``accept_lines`` lines are flagged, later ones are the new normal."""
        judge = NoveltyJudge(NoveltyConfig(accept_lines=25))
        t = _warm(judge)
        verdicts = [judge.observe("rm", "error", t + i, content=FAULT) for i in range(80)]
        flagged = [v is not None for v in verdicts]
        assert flagged == [True] * 25 + [False] * 55
        assert sum(v.opened for v in verdicts if v is not None) == 1
        assert [(e.template_id, e.reason, e.episode.lines) for e in judge.take_ended()] == [("rm", "accepted", 26)]
        assert "rm" in judge.accepted

    def test_a_time_bound_accepts_a_slow_storm_only_when_set(self) -> None:
        """``accept_s`` is off by default: a sampled storm of a line an hour stays one flagged episode."""
        for accept_s, expected in ((None, 10), (3 * 3600.0, 3)):
            judge = NoveltyJudge(NoveltyConfig(accept_s=accept_s, quiet_s=1e9))
            t = _warm(judge)
            verdicts = [judge.observe("tlb", "critical", t + i * 3600.0, content=FAULT) for i in range(10)]
            assert sum(v is not None for v in verdicts) == expected

    def test_an_episode_ends_when_quiet_and_a_return_opens_another(self) -> None:
        cfg = NoveltyConfig(quiet_lines=5, quiet_s=60)
        judge = NoveltyJudge(cfg)
        t = _warm(judge)
        first = judge.observe("panic", "critical", t, content=2.0)
        for i in range(10):  # ten lines but only ten seconds: not quiet yet
            judge.observe(f"ok{i % 8}", "info", t + 1 + i, content=0.0)
        assert judge.episodes
        judge.observe("ok1", "info", t + 100, content=0.0)
        assert [e.reason for e in judge.take_ended()] == ["quiet"]
        again = judge.observe("panic", "critical", t + 101, content=2.0)
        assert first.opened and again is not None and again.opened and again.kind == "rare_template"

    def test_info_lines_and_dumps_stay_quiet(self) -> None:
        """A new template alone is not enough: the level and the words must say something failed."""
        judge = NoveltyJudge(NoveltyConfig())
        t = _warm(judge)
        assert judge.observe("new-info", "info", t, content=0.0) is None
        assert judge.observe("dump", "critical", t + 1, content=-3.0) is None

    def test_a_level_every_line_carries_says_little(self) -> None:
        """A component logging everything as FATAL: the level's weight fades, content and novelty decide."""
        judge = NoveltyJudge(NoveltyConfig())
        for i in range(200):
            judge.observe(f"app{i % 8}", "critical", float(i), content=0.0)
        parts = judge.evidence("brand-new", "critical", 0.0)
        assert parts["level"] == 0.0 and parts["novelty"] > 0

    def test_young_sources_do_not_alert_on_their_first_lines(self) -> None:
        judge = NoveltyJudge(NoveltyConfig())
        assert judge.observe("x", "error", 0.0, content=2.0) is None

    def test_judge_false_only_learns(self) -> None:
        judge = NoveltyJudge(NoveltyConfig())
        t = _warm(judge)
        assert judge.observe("boom", "critical", t, content=FAULT, judge=False) is None
        assert judge.counts["boom"] == 1 and not judge.episodes


class TestContentPrior:
    def test_fault_words_hardware_terms_client_errors_and_dumps(self) -> None:
        prior = ContentPrior(ContentConfig())
        assert prior.weight("Lustre mount FAILED : bglio1 : point /p/gb1") >= 2.5
        assert prior.weight("Connection reset by peer") > prior.weight("connection accepted")
        assert prior.weight("open /etc/x failed: No such file or directory") < prior.weight("open /etc/x failed")
        assert prior.weight("machine check enable..............0") < 0

    def test_the_lexicon_is_overridable(self) -> None:
        """Weights and patterns are settings; extra classes add to them."""
        config = ContentConfig.model_validate(
            {"fault": {"pattern": r"\bboom\b", "weight": 4.0}, "extra": {"ours": {"pattern": "quota", "weight": 1.0}}}
        )
        prior = ContentPrior(config)
        assert prior.weight("it went boom") == 4.0 and prior.weight("an error") == 0.0
        assert prior.weight("quota exceeded") == 1.0 and prior.explain("quota") == ["ours: quota"]


class TestStreamProfile:
    def test_sampled_logs_are_told_from_continuous_ones(self) -> None:
        sparse, dense = StreamProfile(StreamConfig()), StreamProfile(StreamConfig())
        for i in range(50):
            sparse.observe(i * 3600.0)
            dense.observe(i * 0.2)
        assert sparse.sparse and not dense.sparse
        assert sparse.weights()["sequence"] == 0.0 and dense.weights()["error_burst"] == 1.0


def _event(i: int, message: str, level: str, time: float, service: str = "db") -> Event:
    labels = {"host": "h1", "service": service}
    return Event("log", series_id_for("log", labels), labels, time, {}, message=message, level=level)


class TestIntelligence:
    def test_sparse_sources_get_no_time_window_findings(self) -> None:
        """Hours between lines: error bursts and sequences are off; the judge still finds a new fault."""
        li = LogIntelligence(LogsConfig())
        events = [_event(i, f"job {i % 5} done", "info", i * 3600.0) for i in range(300)]
        events += [_event(300 + i, "disk I/O error on sda", "error", (300 + i) * 3600.0) for i in range(6)]
        result = li.process(events, now=events[-1].time)
        kinds = {k for scores in result.line_scores for k in scores}
        assert "new_template" in kinds and not kinds & {"error_burst", "sequence"}
        assert sum(result.line_alerts) == 1

    def test_a_replayed_history_is_learned_not_alerted(self) -> None:
        """Lines older than ``learn_only_older_than_s`` on arrival raise nothing and teach the detectors."""
        config = LogsConfig.model_validate({"learn_only_older_than_s": 10})
        li = LogIntelligence(config)
        now = 100_000.0
        history = [_event(i, f"request {i % 7} served", "info", now - 1000 + i) for i in range(300)]
        history += [_event(0, "disk I/O error on sda", "error", now - 500 + i) for i in range(30)]
        replay = li.process(history, now=now)
        assert not replay.anomalies and not any(replay.line_scores) and not any(replay.line_alerts)
        live = li.process([_event(0, "request 3 served", "info", now)], now=now + 0.1)
        assert not live.anomalies

    def test_an_accepted_storm_stops_being_flagged_by_every_detector(self) -> None:
        """Past ``accept_lines`` neither the judge nor the error-burst count flags the storm; both paged once."""
        li = LogIntelligence(LogsConfig.model_validate({"novelty": {"accept_lines": 30}}))
        events = [_event(i, f"request {i % 7} served", "info", i * 10.0) for i in range(300)]
        events += [_event(300 + i, "ERROR IN CONTACTING RM.", "error", 3000.0 + i * 2) for i in range(200)]
        result = li.process(events, now=events[-1].time)
        storm = result.line_scores[300:]
        assert [i for i, scores in enumerate(storm) if scores] == list(range(30))
        assert sorted(a.kind for a in result.anomalies if a.kind != "template_frequency") == ["error_burst", "new_template"]
        assert {(e.kind, e.reason) for e in result.episodes_ended} >= {("new_template", "accepted")}

    def test_episodes_survive_a_snapshot(self) -> None:
        li = LogIntelligence(LogsConfig())
        events = [_event(i, f"request {i % 7} served", "info", float(i)) for i in range(300)]
        events += [_event(300 + i, "rts panic! - stopping execution", "critical", 300.0 + i) for i in range(3)]
        first = li.process(events, now=events[-1].time)
        assert sum(first.line_alerts) == 1
        restored = LogIntelligence(LogsConfig())
        restored.import_state(li.export_state(li.keys()))
        more = restored.process([_event(303, "rts panic! - stopping execution", "critical", 303.0)], now=303.0)
        assert more.line_scores[0] and not more.anomalies  # still the same episode


    def test_a_snapshot_from_before_acceptance_restores_and_runs(self) -> None:
        """State saved without accepted templates, episode reasons or successor totals is completed on restore."""
        li = LogIntelligence(LogsConfig())
        events = [_event(i, f"request {i % 7} served", "info", float(i)) for i in range(300)]
        events += [_event(300 + i, "disk I/O error on sda", "error", 300.0 + i * 0.1) for i in range(20)]
        li.process(events, now=events[-1].time)
        for state in li._sources.values():
            del state.novelty.accepted
            del state.sequence.totals
            for book in state.books.values():
                del book.accepted
                for episode in book.open.values():
                    del episode.reason
        restored = LogIntelligence(LogsConfig())
        restored.import_state(li.export_state(li.keys()))
        more = [_event(320 + i, "disk I/O error on sda", "error", 302.0 + i * 0.1) for i in range(100)]
        result = restored.process(more, now=more[-1].time)
        assert not result.anomalies and not any(result.line_scores[60:])


def test_backtest_command_scores_a_labelled_file(tmp_path, capsys) -> None:
    """``aiops logs backtest FILE --labels FILE`` prints the same table as ``aiops logs bgl``."""
    lines = [f"2024-01-01 10:{i // 60:02d}:{i % 60:02d} INFO request {i % 6} served" for i in range(600)]
    lines += [f"2024-01-01 10:10:{i:02d} ERROR db: connection lost to primary" for i in range(5)]
    log = tmp_path / "app.log"
    log.write_text("\n".join(lines) + "\n")
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(["-"] * 600 + ["outage"] * 5) + "\n")
    parser = argparse.ArgumentParser(prog="aiops")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["logs", "backtest", str(log), "--labels", str(labels)])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("whole file"))
    flagged, tp, p, r, f1, alerts = row.split("all line detectors")[1].split()[:6]
    assert int(tp) == 5 and float(f1) == 1.0 and 1 <= int(alerts) <= 2  # one per detector kind at most
    assert "learn 1st, judge 2nd" in out and "alert: " in out and "connection lost" in out


def test_backtest_reads_bgl_lines(loghub, capsys) -> None:
    parser = argparse.ArgumentParser(prog="aiops")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["logs", "backtest", str(loghub / "BGL" / "BGL_2k.log"), "--show", "0"])
    assert args.func(args) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("whole file"))
    assert float(row.split("all line detectors")[1].split()[4]) >= 0.70
