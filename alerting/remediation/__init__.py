"""Guarded auto-remediation: policies, guards, actions, audit."""
