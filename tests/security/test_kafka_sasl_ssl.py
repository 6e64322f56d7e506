"""Scoring end to end over SASL_SSL: TLS and SCRAM required in front of the embedded broker.

Every client of the product goes through it: the worker (Faust/aiokafka for the agents, confluent-kafka for
topic creation and state reads), the generator's producer, and plain confluent-kafka producers and consumers.
A wrong password or a broker certificate signed by another CA stops a command with one clear line.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
import uuid

import pytest
import yaml
from confluent_kafka import Consumer, Producer, TopicPartition

from aiops.detectors.core.shapes import series_id_for
from aiops.pipeline.config import parse_settings
from aiops.pipeline.tools.embedded_broker import broker_binary, free_port, wait_for_port
from aiops.pipeline.topics import ensure_topics
from tests.integration.test_pipeline_e2e import SPIKED, history_batches
from tests.support.kafka_gateway import KafkaSecurityGateway, ScramUser
from tests.support.worker import WorkerProcess, isolated_config

pytestmark = pytest.mark.integration

USERS = {"aiops-worker": ("worker-password-0123456789", "SCRAM-SHA-512"),
         "telegraf": ("shipper-password-0123456789", "SCRAM-SHA-256")}


def openssl(*args: str, cwd) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(folder, name: str) -> None:
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem",
            "-days", "2", "-subj", f"/CN={name}", cwd=folder)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """A CA, a broker certificate it signed for 127.0.0.1, and an unrelated CA."""
    folder = tmp_path_factory.mktemp("tls")
    make_ca(folder, "ca")
    make_ca(folder, "other-ca")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker.key", "-out", "broker.csr",
            "-subj", "/CN=localhost", cwd=folder)
    (folder / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "broker.pem", "-days", "2", "-extfile", "ext.cnf", cwd=folder)
    return folder


@pytest.fixture(scope="module")
def secure_kafka(certificates):
    """Tansu behind a gateway that requires TLS and SCRAM; yields the gateway's bootstrap address."""
    inner, outer = free_port(), free_port()
    broker = subprocess.Popen([broker_binary(), "broker", "--listener-url", f"tcp://127.0.0.1:{inner}",
                               "--advertised-listener-url", f"tcp://127.0.0.1:{outer}",
                               "--storage-engine", "memory://tansu/"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificates / "broker.pem", certificates / "broker.key")
    gateway = None
    try:
        wait_for_port("127.0.0.1", inner, 15)
        gateway = KafkaSecurityGateway(outer, ("127.0.0.1", inner),
                                       {u: ScramUser(p, m) for u, (p, m) in USERS.items()},
                                       ssl_context=context).start()
        yield gateway
    finally:
        if gateway is not None:
            gateway.stop()
        broker.terminate()
        broker.wait(10)


def kafka_section(gateway, certificates, user: str = "aiops-worker", *, cafile: str = "ca.pem") -> dict:
    return {"bootstrap_servers": f"127.0.0.1:{gateway.port}", "security_protocol": "SASL_SSL",
            "sasl_mechanism": USERS[user][1], "sasl_username": user, "sasl_password": "${AIOPS_TEST_KAFKA_PASSWORD}",
            "ssl_cafile": str(certificates / cafile)}


def client_conf(gateway, certificates, user: str) -> dict:
    password, mechanism = USERS[user]
    return {"bootstrap.servers": f"127.0.0.1:{gateway.port}", "security.protocol": "SASL_SSL",
            "sasl.mechanism": mechanism, "sasl.username": user, "sasl.password": password,
            "ssl.ca.location": str(certificates / "ca.pem"), "log_level": 0}


def run_aiops(args: list[str], env_password: str, timeout_s: float = 90) -> subprocess.CompletedProcess:
    env = dict(os.environ, AIOPS_TEST_KAFKA_PASSWORD=env_password)
    return subprocess.run([sys.executable, "-m", "aiops.pipeline.cli", *args], capture_output=True, text=True,
                          timeout=timeout_s, env=env, stdin=subprocess.DEVNULL)


def test_scoring_end_to_end_over_sasl_ssl(secure_kafka, certificates, tmp_path, monkeypatch):
    """A spike produced over SCRAM-SHA-256 is scored by a worker on SCRAM-SHA-512, and read back over TLS."""
    gateway = secure_kafka
    monkeypatch.setenv("AIOPS_TEST_KAFKA_PASSWORD", USERS["aiops-worker"][0])
    prefix = f"sec{uuid.uuid4().hex[:6]}"
    sink = {"type": "kafka", "topic": f"{prefix}.alerts.out", **{k: v for k, v in kafka_section(
        gateway, certificates, "telegraf").items()}, "sasl_password": "${AIOPS_TEST_SINK_PASSWORD}"}
    monkeypatch.setenv("AIOPS_TEST_SINK_PASSWORD", USERS["telegraf"][0])
    alerting = {"route": {"receiver": "bus", "group_wait_s": 0}, "receivers": [{"name": "bus", "sinks": [sink]}]}
    config = isolated_config(gateway.host + f":{gateway.port}", prefix,
                             {"kafka": kafka_section(gateway, certificates), "worker": {"data_dir": str(tmp_path)},
                              "alerting": alerting})
    ensure_topics(parse_settings(config))  # confluent-kafka admin over SASL_SSL
    port = free_port()
    config["worker"]["web_port"] = port
    path = tmp_path / "worker.yaml"
    path.write_text(yaml.safe_dump(config))
    worker = WorkerProcess(path, port, tmp_path / "worker.log")
    try:
        worker.wait_healthy(90)
        producer = Producer(client_conf(gateway, certificates, "telegraf"))
        for value in history_batches(time.time() - 400, 380, spike_at=350):
            producer.produce(config["topics"]["metrics"], value=value)
        assert producer.flush(30) == 0
        stats = worker.wait_for(lambda s: s["anomalies"] >= 1 and s["points_scored"] >= 1500, timeout_s=120)
        assert stats["dead_letters"] == 0
        anomalies = read_all(client_conf(gateway, certificates, "telegraf"), config["topics"]["anomalies"])
        spiked = series_id_for("app", {"host": SPIKED})
        assert spiked in {a["series_id"] for a in anomalies}
        notifications = read_all(client_conf(gateway, certificates, "telegraf"), sink["topic"], timeout_s=60)
        assert any(a["labels"].get("series_id") == spiked for n in notifications for a in n["alerts"]), notifications
    finally:
        worker.stop()
    assert gateway.authenticated >= 4 and gateway.refused == 0


def read_all(conf: dict, topic: str, timeout_s: float = 30.0) -> list[dict]:
    consumer = Consumer(conf | {"group.id": f"t-{uuid.uuid4().hex[:6]}", "enable.auto.commit": False})
    deadline = time.monotonic() + timeout_s
    partitions: list[int] = []
    while not partitions and time.monotonic() < deadline:  # a topic a sink creates appears on its first record
        partitions = sorted(consumer.list_topics(topic, timeout=5).topics[topic].partitions)
        if not partitions:
            time.sleep(0.5)
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    out: list[dict] = []
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                if out:
                    break
                continue
            if not msg.error():
                out.append(json.loads(msg.value()))
    finally:
        consumer.close()
    return out


def test_generator_produces_over_sasl_ssl(secure_kafka, certificates, tmp_path):
    gateway = secure_kafka
    config = {"kafka": kafka_section(gateway, certificates, "telegraf")}
    path = tmp_path / "gen.yaml"
    path.write_text(yaml.safe_dump(config))
    done = run_aiops(["generate", "--config", str(path), "--duration", "1", "--history", "5", "--hosts", "1",
                      "--metrics-topic", f"gen{uuid.uuid4().hex[:6]}.metrics", "--logs-topic",
                      f"gen{uuid.uuid4().hex[:6]}.logs"], USERS["telegraf"][0])
    assert done.returncode == 0, done.stderr[-2000:]
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert counts["delivery_errors"] == 0 and sum(v for k, v in counts.items() if k.endswith("messages")) > 0, counts


@pytest.mark.parametrize("case", ["wrong password", "untrusted certificate"])
@pytest.mark.parametrize("command", ["worker", "generate"])
def test_refused_access_is_one_clear_line(secure_kafka, certificates, tmp_path, case, command):
    gateway = secure_kafka
    failed_before = gateway.failed
    user = "aiops-worker" if command == "worker" else "telegraf"
    section = kafka_section(gateway, certificates, user, cafile="other-ca.pem" if case != "wrong password" else "ca.pem")
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"kafka": section, "worker": {"data_dir": str(tmp_path), "web_port": 0}}))
    password = "not-the-password" if case == "wrong password" else USERS[user][0]
    args = ["worker", "--config", str(path)] if command == "worker" else \
        ["generate", "--config", str(path), "--duration", "1", "--history", "1"]
    done = run_aiops(args, password, timeout_s=60)
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip() and '"level": "info"' not in line]
    assert len(lines) == 1 and "%3|" not in done.stderr, done.stderr  # no client-library reconnect noise
    expected = "refused SASL" if case == "wrong password" else "certificate verify failed"
    assert expected in lines[0] and "not-the-password" not in done.stderr
    if case == "wrong password":
        assert gateway.failed > failed_before
