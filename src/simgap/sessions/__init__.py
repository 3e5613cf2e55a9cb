"""Stage: sessions."""
