"""The streaming pipeline: ingestion, normalisation, Faust agents, CLI."""
