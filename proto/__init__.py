"""runstream proto."""
