"""Stage: users."""
