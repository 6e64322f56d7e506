"""Alert sinks: one module per receiver kind."""
