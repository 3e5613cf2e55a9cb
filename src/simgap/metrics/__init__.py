"""Stage: metrics."""
