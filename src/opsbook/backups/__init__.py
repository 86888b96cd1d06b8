"""Backups of the target database: a consistent logical dump with a manifest, the catalog
in opsbook's store, and retention."""
