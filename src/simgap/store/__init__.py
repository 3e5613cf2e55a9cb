"""Persistence: SQLAlchemy store (SQLite by default, PostgreSQL by URL) and importers."""

from simgap.store.store import SessionFilter, Store, StoreError, database_url

__all__ = ["SessionFilter", "Store", "StoreError", "database_url"]
