"""Storage: the one place SQL lives. Backends, migrations and per-concern stores."""

from homeserver.storage.database import Connection, Database, Row, StorageUnavailable, connect

__all__ = ["Connection", "Database", "Row", "StorageUnavailable", "connect"]
