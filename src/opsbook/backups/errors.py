"""Why a backup operation did not go ahead or did not finish, in the domain's words."""

from __future__ import annotations


class BackupError(Exception):
    """The backup cannot go ahead as asked; nothing was changed."""


class BackupFailed(BackupError):
    """The backup started and failed: its catalog row says `failed`, its files are gone."""
