"""Stage: domains."""
