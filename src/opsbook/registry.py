"""The one place that knows every domain's runbook actions.

`runbooks/actions.py` defines what an action is and is a leaf every domain imports; this
module, above all of them, assembles the registry, so imports keep pointing one way.
"""

from __future__ import annotations

from opsbook.backups import actions as backup_actions
from opsbook.incidents import actions as incident_actions
from opsbook.notify import actions as notify_actions
from opsbook.postgres import actions as postgres_actions
from opsbook.routines import actions as routine_actions
from opsbook.runbooks import step_actions
from opsbook.runbooks.actions import Registry


def default_registry() -> Registry:
    """Every domain's actions. Domains register here as their capabilities land."""
    # Imported here: deploy's stages judge with watch.rules, whose alerts route to
    # runbooks through runbooks.suggest, which asks this registry for its actions; the
    # watch's actions run checks, on the same side of that circle.
    from opsbook.deploy import actions as deploy_actions
    from opsbook.watch import actions as watch_actions

    registry = Registry()
    step_actions.register(registry)
    postgres_actions.register(registry)
    incident_actions.register(registry)
    notify_actions.register(registry)
    routine_actions.register(registry)
    deploy_actions.register(registry)
    backup_actions.register(registry)
    watch_actions.register(registry)
    return registry
