"""runstream infra."""
