"""Stage: study."""
