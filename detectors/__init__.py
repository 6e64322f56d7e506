"""Online anomaly detectors, calibration and the scoring engine."""
