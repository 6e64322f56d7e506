"""Synthetic fleet traffic with injected, labelled anomalies."""
