"""Stage: feedback."""
