"""JSON metric records: Telegraf's serializer and the simple one-value form."""

from __future__ import annotations

import pytest

from aiops.pipeline.normalise.metric_json import BadRecord, metric_record


class TestTelegrafJson:
    """Telegraf json serializer output: name, tags, fields, timestamp."""

    def test_documented_example(self) -> None:
        # the example of Telegraf's JSON serializer documentation
        record = {
            "fields": {"field_1": 30, "field_2": 4, "field_N": 59, "n_images": 660},
            "name": "docker",
            "tags": {"host": "raynor"},
            "timestamp": 1458229140,
        }
        name, labels, features, stamp = metric_record(record)
        assert (name, labels, stamp) == ("docker", {"host": "raynor"}, 1458229140)
        assert features == {"field_1": 30.0, "field_2": 4.0, "field_N": 59.0, "n_images": 660.0}

    def test_bools_count_strings_ignored(self) -> None:
        _, _, features, _ = metric_record({"name": "x", "fields": {"up": True, "down": False, "s": "txt"}})
        assert features == {"up": 1.0, "down": 0.0}

    def test_non_text_tags_become_text(self) -> None:
        _, labels, _, _ = metric_record({"name": "x", "tags": {"port": 80, "tls": True, "gone": None},
                                         "fields": {"v": 1}})
        assert labels == {"port": "80", "tls": "true"}


class TestSimpleForm:
    """{"metric"|"name", "value", host/labels/tags, timestamp|time|ts}."""

    @pytest.mark.parametrize("name_key", ["metric", "name"])
    @pytest.mark.parametrize("time_key", ["timestamp", "time", "ts"])
    def test_keys(self, name_key: str, time_key: str) -> None:
        record = {name_key: "cpu.user", "value": 1.2, "host": "web-1", time_key: 1_700_000_000_000}
        assert metric_record(record) == ("cpu.user", {"host": "web-1"}, {"value": 1.2}, 1_700_000_000_000)

    def test_labels_and_host_merge(self) -> None:
        record = {"metric": "req", "value": 3, "host": "a", "labels": {"dc": "eu"}, "tags": {"az": "1"}}
        assert metric_record(record)[1] == {"dc": "eu", "az": "1", "host": "a"}

    def test_numeric_text_value(self) -> None:
        assert metric_record({"metric": "m", "value": "2.5"})[2] == {"value": 2.5}

    def test_several_top_level_numbers(self) -> None:
        assert metric_record({"name": "disk", "used": 10, "free": 5, "path": "/"})[2] == {"used": 10.0, "free": 5.0}


class TestRejects:
    """What is not a metric is refused with the reason."""

    @pytest.mark.parametrize(
        ("record", "reason"),
        [
            ([1], "expected a JSON object, got an array"),
            ("cpu", "expected a JSON object, got text"),
            ({"value": 1}, "no metric name (name, metric, measurement)"),
            ({"name": "", "value": 1}, "metric name 'name' must be non-empty text"),
            ({"name": 5, "value": 1}, "metric name 'name' must be non-empty text"),
            ({"name": "cpu", "fields": {"s": "x"}}, "metric 'cpu' has no numeric field"),
            ({"name": "cpu", "host": "a"}, "metric 'cpu' has no numeric field"),
            ({"name": "cpu", "fields": [1]}, "'fields' must be an object, got an array"),
            ({"name": "cpu", "tags": "a=b", "value": 1}, "'tags' must be an object of text values, got text"),
            ({"name": "cpu", "tags": {"a": [1]}, "value": 1}, "label 'a' must be text, got an array"),
            ({"metric": "cpu", "value": "abc"}, "field value 'abc' is not a number"),
            ({"name": "cpu", "fields": {"v": 10**400}}, "field 'v' value is too large for a float"),
        ],
    )
    def test_reason(self, record: object, reason: str) -> None:
        with pytest.raises(BadRecord) as caught:
            metric_record(record)
        assert str(caught.value).startswith(reason)
