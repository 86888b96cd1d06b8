"""The web process: opsbook's own health, the Alertmanager receiver; dashboard and status
page arrive with their issue."""
