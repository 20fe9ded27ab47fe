"""History side: queue_log parsing, the store, ingest and reports."""
