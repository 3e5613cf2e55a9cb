"""Stage: agents."""
