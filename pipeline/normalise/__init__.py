"""Normalisers: raw Kafka payloads (JSON, line protocol, syslog) to events."""
