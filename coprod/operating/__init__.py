"""Operating the service: what is waiting (`status`), whether it is configured (`health`), telemetry, and the
participation report for governance (`report`)."""
