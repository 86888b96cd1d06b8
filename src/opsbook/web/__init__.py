"""The web process: opsbook's own health, the Alertmanager receiver, and `opsbook serve`
running it with the check scheduler; dashboard and status page arrive with their issue."""
