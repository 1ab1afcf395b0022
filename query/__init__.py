"""runstream query."""
