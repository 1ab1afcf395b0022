"""runstream ingest."""
