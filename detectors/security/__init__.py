"""Security detectors over authentication and privilege logs."""
