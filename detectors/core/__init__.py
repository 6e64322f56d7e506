"""The core every room builds on: event and score shapes, errors, registries, the state codec.

It imports nothing else of the project; detectors, models, alerting and the
pipeline import it (a test holds the import graph to that).
"""
