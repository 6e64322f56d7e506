"""Template mining: one miner per source, parameters, snapshots, grouping accuracy on loghub."""

from __future__ import annotations

import pytest

from aiops.detectors.core.errors import InputError
from aiops.detectors.evaluation.logs_cli import SHIPPED_SOURCES, _load_yaml
from aiops.detectors.evaluation.templates_accuracy import LOGHUB_SYSTEMS, grouping_accuracy, system_accuracy
from aiops.detectors.logs.templates import TemplateMiners, TemplateStateError
from aiops.detectors.logs.templates_config import MiningConfig


def test_sources_do_not_share_templates() -> None:
    """The same text in two sources gets two templates, numbered by each source's own miner."""
    miners = TemplateMiners(MiningConfig())
    a = miners.add("nginx", "worker process 12 exited")
    b = miners.add("postgres", "worker process 12 exited")
    assert a.template_id == "nginx:1" and b.template_id == "postgres:1"
    assert miners.keys() == ["nginx", "postgres"]


def test_variable_tokens_become_wildcards_and_params() -> None:
    """Differing digit-bearing tokens merge into one template; their values come back as params."""
    miners = TemplateMiners(MiningConfig())
    miners.add("app", "job r17 finished after 3 retries on node7")
    m = miners.add("app", "job r9 finished after 12 retries on node2")
    assert m.template == "job r<*> finished after <NUM> retries on node<*>"
    assert m.params == ["9", "12", "2"]
    assert m.standalone == (1,)  # only the retry count is a quantity; r9 and node2 are names
    assert not m.is_new


def test_messages_masked_alike_keep_their_own_params_and_follow_template_changes() -> None:
    """A masked string seen before joins its cluster with this message's values; a generalised template shows."""
    miners = TemplateMiners(MiningConfig())
    first = miners.add("app", "job 12 done on node3 in 5 ms")
    again = miners.add("app", "job 99 done on node3 in 7 ms")
    assert again.template_id == first.template_id and not again.is_new
    assert again.params == ["99", "7"] and first.params == ["12", "5"]
    miners.add("app", "job 13 done on node4 in 5 ms")  # generalises node3 into node<*>
    later = miners.add("app", "job 14 done on node3 in 8 ms")
    assert later.template == "job <NUM> done on node<*> in <NUM> ms"
    assert later.params == ["14", "3", "8"]
    drain = miners.miner("app").drain
    assert [c.size for c in drain.clusters] == [4]


def test_different_words_make_different_templates() -> None:
    """'VM Started' and 'VM Paused' are different events, not one template with a parameter."""
    miners = TemplateMiners(MiningConfig())
    a = miners.add("nova", "[instance: 4f1c9b7e-5a1d-4c8e-9d7a-2b6f0e3c1a55] VM Started (Lifecycle Event)")
    b = miners.add("nova", "[instance: 9a2e7c41-0d3b-4f5e-8a6c-1b2d3e4f5a6b] VM Paused (Lifecycle Event)")
    c = miners.add("nova", "[instance: 0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e] VM Started (Lifecycle Event)")
    assert a.template_id != b.template_id and a.template_id == c.template_id


def test_snapshot_restores_the_same_tree() -> None:
    """After export/import, the next messages get exactly the ids and templates they would have had."""
    lines = [f"GET /api/item/{i} status {200 if i % 7 else 500} in {i % 13}ms" for i in range(50)]
    lines += [f"user u{i} logged in from 10.0.0.{i % 9}" for i in range(50)]
    straight = TemplateMiners(MiningConfig())
    expected = [straight.add("web", line) for line in lines]

    first = TemplateMiners(MiningConfig())
    for line in lines[:60]:
        first.add("web", line)
    blob = first.export_state(["web"])
    assert isinstance(blob["web"], bytes)
    second = TemplateMiners(MiningConfig())
    second.import_state(blob)
    assert [second.add("web", line) for line in lines[60:]] == expected[60:]


def test_corrupt_snapshot_is_an_input_error() -> None:
    """Unreadable state bytes raise TemplateStateError (an InputError), never a bare exception."""
    miners = TemplateMiners(MiningConfig())
    with pytest.raises(TemplateStateError):
        miners.import_state({"web": b"not a snapshot"})
    assert issubclass(TemplateStateError, InputError)


def test_non_text_message_is_an_input_error() -> None:
    miners = TemplateMiners(MiningConfig())
    with pytest.raises(InputError):
        miners.add("web", None)  # type: ignore[arg-type]


def test_grouping_accuracy_counts_exact_groups_only() -> None:
    """A line is correct only when its predicted group is exactly its true group."""
    assert grouping_accuracy(["a", "a", "b"], [1, 1, 2]) == 1.0
    assert grouping_accuracy(["a", "a", "b"], [1, 1, 1]) == 0.0
    assert grouping_accuracy(["a", "a", "b", "b"], [1, 2, 3, 3]) == 0.5


def test_loghub_grouping_accuracy(loghub) -> None:
    """One general configuration plus the shipped per-source masking rules: mean >= 0.95 over 16 systems."""
    config = MiningConfig.model_validate(_load_yaml(SHIPPED_SOURCES))
    results = {s: system_accuracy(loghub, s, config).accuracy for s in LOGHUB_SYSTEMS}
    assert results["HDFS"] >= 0.95
    assert min(results.values()) >= 0.65  # Linux: its corrected truth splits templates by user name
    assert sum(results.values()) / len(results) >= 0.95
