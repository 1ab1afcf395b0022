"""runstream producer."""
