"""Reading and writing deploy records: the few queries other domains may call."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from opsbook.deploy.models import Deploy


def last_verified_commit(session: Session, *, env: str) -> str | None:
    """The commit of the newest deploy that passed verification in `env`, if any."""
    return session.scalar(
        select(Deploy.commit)
        .where(Deploy.env == env, Deploy.verdict == "passed")
        .order_by(Deploy.ended_at.desc(), Deploy.id.desc())
        .limit(1)
    )


def newest(session: Session, *, env: str | None = None, limit: int = 100) -> Sequence[Deploy]:
    """Deploy records, newest first; only `env`'s when given."""
    query = select(Deploy).order_by(Deploy.started_at.desc(), Deploy.id.desc()).limit(limit)
    if env is not None:
        query = query.where(Deploy.env == env)
    return session.scalars(query).all()


def good_commits(session: Session, *, env: str, limit: int = 100) -> list[str]:
    """Commits that passed verification in `env`, newest first, each once: what the
    command provider may roll back to."""
    found = session.scalars(
        select(Deploy.commit)
        .where(Deploy.env == env, Deploy.verdict == "passed")
        .order_by(Deploy.ended_at.desc(), Deploy.id.desc())
        .limit(limit * 10)
    ).all()
    return list(dict.fromkeys(found))[:limit]
