"""The command line explains itself: its version, quiet on a closed pipe, one line for a bad config or a broker
that is not there, log times in ISO 8601 UTC."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import structlog

from aiops.pipeline.cli import main
from aiops.pipeline.tools.embedded_broker import free_port

AIOPS = [sys.executable, "-m", "aiops.pipeline.cli"]
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*AIOPS, *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def valid_config(tmp_path: Path) -> Path:
    path = tmp_path / "ok.yaml"
    path.write_text("worker: {batch_size: 100}\n")
    return path


class TestVersion:
    def test_version_is_the_installed_distribution(self):
        """`aiops --version` prints the version pip installed, and exits 0."""
        done = run("--version")
        assert done.returncode == 0
        assert done.stdout.strip() == f"aiops {metadata.version('aiops-pipeline')}"


class TestClosedPipe:
    def test_reader_gone_before_the_first_line(self, tmp_path):
        """Writing into a pipe nobody reads ends quietly with 141 (128 + SIGPIPE), not a traceback."""
        proc = subprocess.Popen([*AIOPS, "config", "validate", str(valid_config(tmp_path)), "--show"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        proc.stdout.close()
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 141
        assert err == ""

    def test_piped_into_head(self, tmp_path):
        """`aiops config validate FILE --show | head -1` prints one line and nothing on stderr."""
        path = valid_config(tmp_path)
        cmd = " ".join([*AIOPS, "config", "validate", str(path), "--show"]) + " | head -1"
        done = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=60)
        lines = done.stdout.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"{path}: valid (config hash ")
        assert done.stderr == ""


class TestOneClearLine:
    def test_worker_with_a_bad_config_names_the_key(self, tmp_path):
        """A bad key stops the worker before it starts: exit 2, the key named, no traceback."""
        path = tmp_path / "bad.yaml"
        path.write_text("kafka: {bootstrap: kafka:9092}\n")
        done = run("worker", "--config", str(path))
        assert done.returncode == 2
        assert "Traceback" not in done.stderr
        assert done.stderr.splitlines() == ["aiops: configuration error: invalid configuration: "
                                            "kafka.bootstrap: unknown key"]

    def test_several_bad_keys_one_line_each(self, tmp_path):
        """Each bad key on its own indented line under one heading."""
        path = tmp_path / "bad.yaml"
        path.write_text("kafka: {bootstrap: kafka:9092}\nworker: {batch_size: -1}\n")
        done = run("config", "validate", str(path))
        assert done.returncode == 1
        assert done.stderr.splitlines() == [
            f"{path}: invalid configuration:", "  kafka.bootstrap: unknown key",
            "  worker.batch_size: Input should be greater than or equal to 1 (got: -1)"]

    def test_worker_with_no_broker_there_says_so_in_one_line(self, tmp_path):
        """Nothing listening at the bootstrap address: exit 1 and one line naming it, without the client
        library's reconnect noise or a traceback."""
        address = f"127.0.0.1:{free_port()}"
        path = tmp_path / "nobroker.yaml"
        path.write_text(f"kafka: {{bootstrap_servers: '{address}'}}\nworker: {{web_port: 0}}\n")
        done = run("worker", "--config", str(path), timeout=90)
        assert done.returncode == 1
        assert "Traceback" not in done.stderr and "%3|" not in done.stderr
        errors = [line for line in done.stderr.splitlines() if line.startswith("aiops:")]
        assert len(errors) == 1
        assert errors[0].startswith(f"aiops: cannot reach Kafka at {address} (PLAINTEXT): ")
        assert "KafkaError{" not in errors[0]


    def test_generator_with_no_broker_there_says_so_in_one_line(self, tmp_path):
        """The generator checks the broker first too: exit 2 and one line, not endless reconnect logs."""
        address = f"127.0.0.1:{free_port()}"
        done = run("generate", "--bootstrap", address, "--truth", str(tmp_path / "truth.jsonl"), timeout=90)
        assert done.returncode == 2
        assert "Traceback" not in done.stderr and "%3|" not in done.stderr
        assert done.stderr.strip().splitlines() == [
            line for line in done.stderr.strip().splitlines() if line.startswith("aiops generate: cannot reach")]
        assert address in done.stderr


class TestLogTimes:
    def test_command_logs_carry_iso_utc_times_on_stderr(self, tmp_path, capsys):
        """After the CLI starts, a log line goes to stderr stamped in ISO 8601 UTC; stdout stays for output."""
        assert main(["config", "validate", str(valid_config(tmp_path))]) == 0
        structlog.get_logger("test").warning("something.happened", n=1)
        out, err = capsys.readouterr()
        line = next(line for line in err.splitlines() if "something.happened" in line)
        assert ISO_UTC.match(line), line
        assert "something.happened" not in out
