"""Synthetic fleet traffic with injected, labelled anomalies.

- ``fleet``: seeded metrics of hosts x services (load cycle, AR(1) noise with
  heavy tails, latency following cpu).
- ``applogs`` / ``hostlogs``: application log lines from templates with
  parameters; host syslog (sshd, CRON, systemd, kernel).
- ``anomalies``: the incident kinds and the seeded schedule that places them.
- ``truth``: the ground-truth JSONL records; ``evaluate``: found anomalies
  against the truth.
- ``encode`` / ``messages``: line protocol, Telegraf JSON, Vector JSON,
  RFC 5424 / 3164 syslog, batched into Kafka messages keyed by host.
- ``produce``: ``TrafficGenerator`` (history, live, truth) and ``run`` (to
  Kafka); ``cli``: ``aiops generate``; ``bench``: throughput; ``quality``:
  detection quality through the worker's stages in simulated time.
"""
