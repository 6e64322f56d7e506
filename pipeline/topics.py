"""Creating the pipeline's topics and mapping a series to its partition.

Events are keyed by series id; the partition is computed here (not by the
client's partitioner) so that the events topic and the detector-state topic
put a series on the same partition number, and state moves with its events.

>>> partition_for("cpu|host=web-1", 4) == partition_for("cpu|host=web-1", 4)
True
>>> sorted({partition_for(f"s{i}", 4) for i in range(100)})
[0, 1, 2, 3]
"""

from __future__ import annotations

import zlib

import structlog
from confluent_kafka.admin import AdminClient, NewTopic

from aiops.pipeline.config import Settings

log = structlog.get_logger(__name__)

#: Topics whose records are "latest value per key" and may be compacted.
COMPACTED = ("state",)
#: Topics read in one place (policy needs every anomaly; audit is an ordered log).
SINGLE_PARTITION = ("anomalies", "alerts", "feedback", "actions", "audit")


def partition_for(series_id: str, partitions: int) -> int:
    return zlib.crc32(series_id.encode()) % partitions


def topic_layout(settings: Settings) -> dict[str, tuple[int, dict[str, str]]]:
    """Name -> (partitions, config) for every topic the pipeline uses."""
    layout = {}
    for field_name, name in settings.topics.model_dump().items():
        parts = 1 if field_name in SINGLE_PARTITION else settings.kafka.partitions
        config = {"cleanup.policy": "compact"} if field_name in COMPACTED else {}
        layout[name] = (parts, config)
    return layout


def ensure_topics(settings: Settings, *, timeout_s: float = 15.0) -> list[str]:
    """Create the missing topics; return the names created. Existing topics are left as they are."""
    admin = AdminClient(settings.kafka.confluent())
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    wanted = [
        NewTopic(name, num_partitions=parts, replication_factor=settings.kafka.replication_factor, config=config)
        for name, (parts, config) in topic_layout(settings).items()
        if name not in existing
    ]
    if not wanted:
        return []
    created = []
    for name, future in admin.create_topics(wanted, request_timeout=timeout_s).items():
        try:
            future.result()
            created.append(name)
        except Exception as exc:  # already created by a concurrent worker is fine
            if "already exists" not in str(exc).lower() and "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
    log.info("topics.created", topics=created)
    return created
