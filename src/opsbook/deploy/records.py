"""Reading and writing deploy records: the few queries other domains may call."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, literal, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from opsbook.deploy.models import Deploy, DeployCheck


def same_commit(column: InstrumentedAttribute[str], commit: str) -> ColumnElement[bool]:
    """A stored commit and `commit` name one commit when either is a prefix of the other
    (`9b1d2e3` and the full id). Both are hex (checked before they are written), so
    neither can hold a LIKE wildcard."""
    return or_(column.startswith(commit), literal(commit).startswith(column))


def newest_at(session: Session, *, env: str, commit: str) -> Deploy | None:
    """The newest deploy record of `commit` in `env`, passed or not."""
    return session.scalar(
        select(Deploy)
        .where(Deploy.env == env, same_commit(Deploy.commit, commit))
        .order_by(Deploy.ended_at.desc(), Deploy.id.desc())
        .limit(1)
    )


def passed_check(session: Session, *, env: str, commit: str) -> DeployCheck | None:
    """The newest pre-deployment checklist of `commit` for `env` that passed, if any."""
    return session.scalar(
        select(DeployCheck)
        .where(
            DeployCheck.env == env,
            DeployCheck.verdict == "passed",
            same_commit(DeployCheck.commit, commit),
        )
        .order_by(DeployCheck.id.desc())
        .limit(1)
    )


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
