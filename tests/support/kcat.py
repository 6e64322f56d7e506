"""Debian's kcat, run against the librdkafka that ships in the confluent-kafka wheel.

Debian bookworm's kcat links librdkafka 2.0.2, which cannot parse the
ApiVersions v3 response of the embedded test broker (Tansu) and gives up
with "Read underflow". The confluent-kafka wheel carries librdkafka 2.16
with the same ABI (``librdkafka.so.1``), so the same kcat binary is pointed
at that library with LD_LIBRARY_PATH. Against Apache Kafka either works.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import confluent_kafka

from tests.support.tools import system_tool


def wheel_librdkafka() -> Path:
    libs = Path(confluent_kafka.__file__).resolve().parent.parent / "confluent_kafka.libs"
    found = sorted(libs.glob("librdkafka*.so*"))
    if not found:
        raise FileNotFoundError(f"no librdkafka in {libs}")
    return found[0]


def kcat_env() -> dict[str, str]:
    libdir = Path(tempfile.mkdtemp(prefix="kcat-lib-"))
    (libdir / "librdkafka.so.1").symlink_to(wheel_librdkafka())
    return {**os.environ, "LD_LIBRARY_PATH": str(libdir)}


def run_kcat(args: list[str], *, input: bytes | None = None, timeout: float = 30) -> subprocess.CompletedProcess:
    kcat = system_tool("kcat", "kcat")
    return subprocess.run([kcat, *args], input=input, capture_output=True, timeout=timeout, env=kcat_env())
