"""InfluxDB line protocol: Telegraf's real output, escaping, field types, and every error."""

from __future__ import annotations

import pytest

from aiops.pipeline.normalise.line_protocol import BadLine, field_value, parse_line


class TestTelegrafLines:
    """Lines as Telegraf's influx serializer writes them parse to name, tags, numbers, time."""

    def test_cpu_plugin_line(self) -> None:
        line = (
            "cpu,cpu=cpu-total,host=web-1 usage_guest=0,usage_guest_nice=0,usage_idle=97.59,"
            "usage_iowait=0.05,usage_irq=0,usage_nice=0,usage_softirq=0.05,usage_steal=0,"
            "usage_system=0.7,usage_user=1.6 1700000000000000000"
        )
        name, tags, fields, stamp = parse_line(line)
        assert name == "cpu"
        assert tags == {"cpu": "cpu-total", "host": "web-1"}
        assert fields["usage_idle"] == 97.59 and fields["usage_user"] == 1.6
        assert len(fields) == 10
        assert stamp == 1_700_000_000_000_000_000

    def test_mem_plugin_integers_and_unsigned(self) -> None:
        line = "mem,host=web-1 active=3276238848i,available_percent=71.2,free=1012076544u 1700000000000000000"
        _, _, fields, _ = parse_line(line)
        assert fields == {"active": 3276238848.0, "available_percent": 71.2, "free": 1012076544.0}

    def test_system_plugin_string_field_is_left_out(self) -> None:
        line = 'system,host=web-1 load1=0.78,n_cpus=8i,uptime_format=" 5 days,  3:05" 1700000000000000000'
        _, _, fields, _ = parse_line(line)
        assert fields == {"load1": 0.78, "n_cpus": 8.0}

    def test_net_response_booleans(self) -> None:
        for word, value in [("t", 1.0), ("T", 1.0), ("true", 1.0), ("True", 1.0), ("TRUE", 1.0),
                            ("f", 0.0), ("F", 0.0), ("false", 0.0), ("False", 0.0), ("FALSE", 0.0)]:
            assert parse_line(f"net_response,server=db up={word}")[2] == {"up": value}

    def test_no_tags_no_timestamp(self) -> None:
        assert parse_line("uptime seconds=42i") == ("uptime", {}, {"seconds": 42.0}, None)

    def test_float_forms(self) -> None:
        for text, value in [("1", 1.0), ("-1.5", -1.5), ("1e3", 1000.0), ("-2.5E-2", -0.025), (".5", 0.5),
                            ("+3", 3.0), ("1.", 1.0)]:
            assert field_value(text) == value

    def test_negative_timestamp_before_epoch(self) -> None:
        assert parse_line("m v=1 -1000")[3] == -1000


class TestEscaping:
    """Backslash escapes in measurement, tag keys/values, field keys, and string values."""

    def test_measurement_escapes_comma_and_space(self) -> None:
        assert parse_line(r"disk\ io\,total,host=a v=1")[0] == "disk io,total"

    def test_tag_key_and_value_escapes(self) -> None:
        name, tags, _, _ = parse_line(r"m,tag\ key\=x=value\,with\ space\=eq v=1")
        assert name == "m"
        assert tags == {"tag key=x": "value,with space=eq"}

    def test_field_key_escapes(self) -> None:
        assert parse_line(r"m field\ a\,b\=c=1i")[2] == {"field a,b=c": 1.0}

    def test_windows_path_backslash_is_literal(self) -> None:
        assert parse_line(r"win_disk,instance=C:\Windows free=1")[1] == {"instance": "C:\\Windows"}

    def test_string_field_with_quotes_commas_spaces_equals(self) -> None:
        line = r'syslog,host=a message="he said \"a=b, c d\" \\ done",severity_code=3i 1700000000000000000'
        name, tags, fields, stamp = parse_line(line)
        assert fields == {"severity_code": 3.0}
        assert stamp == 1_700_000_000_000_000_000

    def test_string_field_last_before_timestamp(self) -> None:
        assert parse_line('m v=1,s="x y" 5') == ("m", {}, {"v": 1.0}, 5)

    def test_unicode_names(self) -> None:
        assert parse_line("température,pièce=salon °C=21.5") == (
            "température", {"pièce": "salon"}, {"°C": 21.5}, None)


class TestErrors:
    """Every malformed line raises BadLine with a reason naming the problem."""

    @pytest.mark.parametrize(
        ("line", "reason"),
        [
            ("cpu load=abc", "field value 'abc' is not a number"),
            ("cpu load=1_000", "field value '1_000' is not a number"),
            ("cpu load=NaN", "field value 'NaN' is not a number"),
            ("cpu load=-1u", "field value '-1u' is not a number"),
            ("cpu load=1.5i", "field value '1.5i' is not a number"),
            ("cpu", "measurement 'cpu' has no fields"),
            ("cpu,host=a", "measurement 'cpu' has no fields"),
            (",host=a v=1", "measurement name is empty"),
            ("cpu,host v=1", "tag 'host' has no value"),
            ("cpu,host= v=1", "tag 'host' has no value"),
            ("cpu,=a v=1", "tag key is empty"),
            ("cpu load", "field 'load' has no value"),
            ("cpu load=", "field 'load' has no value"),
            ("cpu load=,b=1", "field 'load' has no value"),
            ("cpu =1", "field key is empty"),
            ("cpu v=1 12:00", "timestamp '12:00' is not an integer"),
            ("cpu v=1 1.7e18", "timestamp '1.7e18' is not an integer"),
            ('cpu msg="unterminated', "string field 'msg' has no closing quote"),
            ('cpu msg="only text"', "no numeric field (only text fields: msg)"),
        ],
    )
    def test_reason(self, line: str, reason: str) -> None:
        with pytest.raises(BadLine) as caught:
            parse_line(line)
        assert str(caught.value) == reason
