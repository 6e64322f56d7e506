"""From anomalies to alerts: policy, sinks and guarded remediation."""
