"""Reports: records (or rows pre-aggregated by an engine) in, rows out. No files, HTTP or OpenTelemetry."""
