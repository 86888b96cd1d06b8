"""opsbook's own state: engine, migrations, the audit log."""

from opsbook.store.session import Store, open_store

__all__ = ["Store", "open_store"]
