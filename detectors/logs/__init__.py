"""Log anomaly detectors and the log-intelligence settings."""
