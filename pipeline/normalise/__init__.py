"""Normalisers: raw Kafka payloads (JSON, line protocol, syslog) to events.

- ``dispatch.normalise(kind, payload, *, now, guard)``: the one call per message.
- ``guard.IngestGuard``: NaN/inf, freshness, duplicates and series-cap checks with counters.
- ``deadletter``: dead-letter records for rejects, and their parser.
- one module per format: ``line_protocol``, ``metric_json``, ``log_json``, ``syslog``;
  shared ``timestamps`` and ``levels``.
- ``bench``: ``python -m aiops.pipeline.tools.bench_normalise`` prints throughput per format.
"""
