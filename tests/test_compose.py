"""The image and the compose stack users run: valid for docker-compose, and everything they name exists.

No Docker engine runs here: the compose file is checked with Debian's docker-compose (``config -q`` and
the resolved configuration it prints), the Dockerfile by reading it, and every ``aiops`` command the
stack runs against the real CLI's ``--help``.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path

import yaml

from tests.support.tools import system_tool

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "docker-compose.yml"
DOCKERFILE = DOCKER / "Dockerfile"
IMAGE_UID = 10001


def _compose(*args: str) -> subprocess.CompletedProcess:
    exe = system_tool("docker-compose", "docker-compose")
    return subprocess.run([exe, "-f", str(COMPOSE), *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)


@cache
def resolved() -> dict:
    """The configuration as docker-compose resolves it (anchors merged, paths absolute, ports parsed)."""
    done = _compose("config")
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def services() -> dict:
    return resolved()["services"]


def built_from_dockerfile() -> dict:
    return {name: s for name, s in services().items()
            if "build" in s and Path(s["build"]["context"], s["build"]["dockerfile"]).resolve() == DOCKERFILE}


def _port(spec) -> tuple[str, str, str]:
    """(host ip, host port, container port) of one published port, in either form docker-compose prints."""
    if isinstance(spec, dict):
        return str(spec.get("host_ip", "")), str(spec.get("published", "") or ""), str(spec["target"])
    parts = str(spec).split("/")[0].split(":")
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return "", "", parts[0]


# ---- the compose file


def test_compose_config_is_valid_for_docker_compose():
    done = _compose("config", "-q")
    assert done.returncode == 0, done.stderr


def test_two_worker_replicas_in_one_group():
    worker = services()["worker"]
    assert worker["deploy"]["replicas"] == 2
    assert "scale" not in worker, "scale and deploy.replicas together are refused"
    assert "container_name" not in worker, "a fixed container name allows one replica only"


def test_published_ports_are_loopback_only_and_never_clash():
    seen: dict[tuple[str, str], str] = {}
    for name, service in services().items():
        replicas = service.get("deploy", {}).get("replicas", 1)
        for spec in service.get("ports", []):
            host_ip, host_port, _ = _port(spec)
            assert host_ip == "127.0.0.1", (name, spec)
            if replicas > 1:
                assert not host_port, f"{name} has {replicas} replicas: a fixed host port {host_port} would clash"
            if host_port:
                assert (host_ip, host_port) not in seen, f"{name} and {seen[(host_ip, host_port)]} publish {host_port}"
                seen[(host_ip, host_port)] = name


def test_worker_healthcheck_asks_the_worker_and_waits_for_its_dependencies():
    worker = services()["worker"]
    check = " ".join(worker["healthcheck"]["test"])
    web_port = yaml.safe_load((DOCKER / "config" / "worker.yaml").read_text())["worker"]["web_port"]
    assert re.search(rf"http://127\.0\.0\.1:{web_port}/(health|ready)\b", check), check
    assert {_port(p)[2] for p in worker.get("ports", [])} <= {str(web_port)}
    for dependency, condition in worker["depends_on"].items():
        if condition["condition"] == "service_healthy":
            assert "healthcheck" in services()[dependency], dependency


def test_every_service_has_a_healthcheck_or_says_it_has_none():
    """The image's HEALTHCHECK asks the worker's API: services of the image that run something else turn it off."""
    for name, service in built_from_dockerfile().items():
        if service.get("command", [None])[0] == "worker" and "entrypoint" not in service:
            continue  # the image's own check, or the service's
        check = service.get("healthcheck", {})
        assert check.get("disable") is True or check.get("test") == ["NONE"], name  # docker-compose prints the latter
    for name in ("kafka", "influxdb", "alertmanager"):
        assert services()[name]["healthcheck"]["test"], name


def test_kafka_runs_in_kraft_mode_without_zookeeper():
    assert not any("zookeeper" in name or "zookeeper" in str(s.get("image", "")) for name, s in services().items())
    env = services()["kafka"]["environment"]
    assert "controller" in env["KAFKA_PROCESS_ROLES"] and "KAFKA_ZOOKEEPER_CONNECT" not in env


def test_every_file_the_stack_mounts_or_builds_from_is_in_the_repository():
    for name, service in services().items():
        if "build" in service:
            context = Path(service["build"]["context"])
            assert (context / service["build"]["dockerfile"]).is_file(), name
            assert context.resolve() == ROOT, name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source", "")
            if source.startswith("/"):  # a bind mount (named volumes have no slash)
                path = Path(source)
                assert path.exists() and path.resolve().is_relative_to(ROOT), (name, source)


def test_the_secrets_service_makes_files_the_worker_user_owns():
    secrets = services()["secrets"]
    script = secrets["command"][0] if isinstance(secrets["command"], list) else secrets["command"]
    assert secrets["entrypoint"] == ["python", "-c"]
    compile(script, "secrets", "exec")
    from aiops.alerting.auth import secret_file  # the helper the script imports

    assert callable(secret_file)
    assert re.search(rf"os\.chown\(path, {IMAGE_UID}, {IMAGE_UID}\)", script), script
    worker = services()["worker"]
    for env in ("AIOPS_API_TOKEN_FILE", "AIOPS_STATE_KEY_FILE"):
        assert any(worker["environment"][env].startswith(v.split(":")[1] + "/") for v in worker["volumes"]
                   if v.startswith("aiops-secrets:")), env


@cache
def _help(subcommand: str) -> str:
    aiops = Path(sys.executable).with_name("aiops")
    done = subprocess.run([str(aiops), subcommand, "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (subcommand, done.stderr)
    return done.stdout


def _image_commands() -> list[tuple[str, list[str]]]:
    cmd = re.search(r'^CMD\s+(\[.*\])\s*$', DOCKERFILE.read_text(), re.M)
    found = [("Dockerfile CMD", yaml.safe_load(cmd.group(1)))]
    for name, service in built_from_dockerfile().items():
        if "entrypoint" in service:
            continue  # not the aiops entry point
        command = service.get("command")
        if command:
            found.append((name, command if isinstance(command, list) else shlex.split(command)))
    return found


def test_every_aiops_command_of_the_stack_is_accepted_by_the_cli():
    commands = _image_commands()
    assert {c[0] for _, c in commands} >= {"worker", "generate"}
    for where, (subcommand, *args) in commands:
        text = _help(subcommand)
        for arg in args:
            if arg.startswith("-"):
                option = arg.split("=")[0]
                assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text), (where, option)


def test_every_config_file_the_commands_name_is_shipped_to_that_path():
    """``--config /etc/aiops/worker.yaml`` is a file the service mounts from docker/config."""
    for where, command in _image_commands():
        for i, arg in enumerate(command):
            if arg in ("--config", "-c"):
                path = command[i + 1]
                service = services().get(where) or services()["worker"]
                mounts = {v.split(":")[1]: v.split(":")[0] for v in service.get("volumes", []) if v.startswith("/")}
                assert path in mounts and Path(mounts[path]).is_file(), (where, path)


# ---- the image


def _stages() -> list[str]:
    return re.findall(r"^FROM\s+.*$", DOCKERFILE.read_text(), re.M)


def test_image_is_multi_stage_with_a_slim_runtime():
    text = DOCKERFILE.read_text()
    stages = _stages()
    assert len(stages) >= 2, stages
    assert re.search(r"ARG PYTHON_IMAGE=python:3\.\d+-slim", text)
    runtime = text[text.rindex("\nFROM "):]
    assert "COPY --from=build /wheels" in runtime and "pip wheel" not in runtime
    assert "COPY pipeline" not in runtime, "the runtime stage installs the wheel, not the sources"


def test_image_runs_as_a_numeric_uid():
    users = re.findall(r"^USER\s+(\S+)\s*$", DOCKERFILE.read_text(), re.M)
    assert users and users[-1] == f"{IMAGE_UID}:{IMAGE_UID}", users


def test_image_healthcheck_uses_the_worker_health_endpoint():
    text = DOCKERFILE.read_text()
    assert re.search(r"^HEALTHCHECK\s", text, re.M)
    web_port = yaml.safe_load((DOCKER / "config" / "worker.yaml").read_text())["worker"]["web_port"]
    assert f"AIOPS_HEALTH_URL=http://127.0.0.1:{web_port}/health" in text
    assert re.search(rf"^EXPOSE {web_port}$", text, re.M)


def test_image_installs_only_what_it_uses():
    text = DOCKERFILE.read_text()
    assert "kcat" not in text
    assert "apt-get install" not in text


def test_torch_comes_from_the_cpu_index_unless_a_build_argument_says_otherwise():
    text = DOCKERFILE.read_text()
    default = re.search(r"^ARG TORCH_INDEX=(\S+)$", text, re.M)
    assert default and default.group(1).startswith("https://") and default.group(1).endswith("/whl/cpu")
    assert re.search(r'pip install --index-url "\$\{TORCH_INDEX\}" torch==2\.13\.0', text)
    pinned = re.search(r'"torch==([\d.]+)"', (ROOT / "pyproject.toml").read_text())
    assert pinned and pinned.group(1) == "2.13.0", "the image's torch is the one pyproject.toml pins"
    assert text.index("--index-url") < text.index("pip install /wheels"), "torch before the wheel"
    assert "TORCH_INDEX" not in services()["worker"]["build"].get("args", {}), "the image's default: CPU-only"


def test_image_copies_only_files_of_the_repository():
    for line in re.findall(r"^COPY\s+(?!--from)(.+)$", DOCKERFILE.read_text(), re.M):
        *sources, _ = line.split()
        for source in sources:
            assert (ROOT / source).exists(), source


def test_the_build_context_keeps_what_the_image_copies_and_leaves_the_rest_out():
    rules = [line for line in (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()
             if line and not line.startswith("#")]
    assert rules[0] == "*"
    kept = {rule[1:] for rule in rules if rule.startswith("!")}
    for line in re.findall(r"^COPY\s+(?!--from)(.+)$", DOCKERFILE.read_text(), re.M):
        *sources, _ = line.split()
        assert set(sources) <= kept, sources


# ---- Prometheus


def _scrape_configs() -> list[dict]:
    prometheus = services()["prometheus"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in prometheus["volumes"] if v.startswith("/")}
    config_arg = next(a for a in prometheus["command"] if a.startswith("--config.file="))
    path = Path(mounts[config_arg.split("=", 1)[1]])
    done = subprocess.run([system_tool("promtool", "prometheus"), "check", "config", str(path)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    return yaml.safe_load(path.read_text())["scrape_configs"]


def test_prometheus_scrapes_every_worker_replica_by_the_service_name_and_the_worker_port():
    """A DNS A lookup of the worker service finds each replica; the port is the worker's web port, and
    /metrics answers without a token (Prometheus has none)."""
    worker_yaml = yaml.safe_load((DOCKER / "config" / "worker.yaml").read_text())
    web_port = worker_yaml["worker"]["web_port"]
    assert worker_yaml["alerting"]["api"]["public_metrics"] is True
    jobs = [job for job in _scrape_configs() if job.get("metrics_path", "/metrics") == "/metrics"]
    targets = [(name, sd["port"]) for job in jobs for sd in job.get("dns_sd_configs", [])
               if sd.get("type", "SRV") == "A" for name in sd["names"]]
    assert ("worker", web_port) in targets, targets
    assert all(name in services() for name, _ in targets), targets
    assert worker_yaml["worker"]["web_host"] == "0.0.0.0", "other containers must reach the worker's port"


def test_grafana_has_an_influxdb_and_a_prometheus_datasource_pointing_at_the_stack():
    provisioning = DOCKER / "grafana" / "provisioning" / "datasources"
    sources = {d["type"]: d for path in provisioning.glob("*.yml") for d in yaml.safe_load(path.read_text())["datasources"]}
    assert sources["prometheus"]["url"] == "http://prometheus:9090"
    assert sources["influxdb"]["url"] == "http://influxdb:8086"
    assert {"prometheus", "influxdb"} <= set(services()), "the datasources' hosts are services of the stack"
    assert _port(services()["prometheus"]["ports"][0])[2] == "9090"


def test_the_worker_writes_scores_to_the_stacks_influxdb_with_the_token_from_the_environment():
    worker_yaml = yaml.safe_load((DOCKER / "config" / "worker.yaml").read_text())
    output = worker_yaml["score_output"]
    influx = services()["influxdb"]["environment"]
    assert output["enabled"] is True and output["url"] == "http://influxdb:8086"
    assert (output["org"], output["bucket"]) == (influx["DOCKER_INFLUXDB_INIT_ORG"], influx["DOCKER_INFLUXDB_INIT_BUCKET"])
    assert output["token"] == "${INFLUXDB_TOKEN}"
    assert services()["worker"]["environment"]["INFLUXDB_TOKEN"] == influx["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"]


def test_the_generator_runs_for_ever_and_keeps_its_checkpoint_in_a_volume():
    generator = services()["generator"]
    command = generator["command"]
    assert command[command.index("--duration") + 1] == "0"
    checkpoint = command[command.index("--checkpoint") + 1]
    volumes = [v.split(":")[1] for v in generator["volumes"] if not v.startswith("/")]
    assert any(Path(checkpoint).is_relative_to(v) for v in volumes), (checkpoint, volumes)
    assert "/var/lib/aiops" in volumes, "a new volume takes the ownership of the image's directory (its user's)"
    assert generator["restart"] == "unless-stopped"
