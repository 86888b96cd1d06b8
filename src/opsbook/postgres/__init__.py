"""The target database: diagnostics, remediation, archival, views, migrations, clusters."""
