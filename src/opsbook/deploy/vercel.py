"""The `vercel` provider: Vercel's REST API with a bearer token (FORMATS.md).

List: `GET /v6/deployments?projectId=...&target=production&state=READY` (newest first;
`uid`, `url`, `state`, `created` in ms, `meta.githubCommitSha`). Promote: `POST
/v10/projects/{projectId}/promote/{deploymentId}`, asynchronous (201/202 accepted, 409 on
conflict), what `vercel promote <url> --yes` does. Team-scoped calls add `teamId`.
A promote that got no answer (a timeout, a dropped connection) or a 5xx may still have
been acted on by Vercel: it is reported as "may have been promoted" with `acted`, so the
rollback is recorded (failed at promote) rather than said to have changed nothing.
Everything the API returns is data: ids and URLs are bounded and kept only when they are
plain text, a commit only when it is hex, and its words are cut and stripped of the
token before anyone sees them."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import quote, urlencode

from opsbook.config.rollback import VercelSettings
from opsbook.config.secrets import mask_text
from opsbook.deploy.providers import Candidate, ProviderError
from opsbook.watch.checks.fetch import Answer, NotConnected, Unreachable, request, short
from opsbook.watch.probe import ProbeContext

_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")
_COMMIT = re.compile(r"[0-9a-fA-F]{4,64}")
_PLAIN = re.compile(r"[^\s\x00-\x1f\x7f-\x9f]{1,2000}")


class Vercel:
    name = "vercel"

    def __init__(self, settings: VercelSettings, probe: ProbeContext) -> None:
        self.settings, self.probe = settings, probe

    async def deployments(self) -> list[Candidate]:
        query = {"projectId": self.settings.project, "target": "production", "state": "READY"}
        answer = await self._call("GET", "/v6/deployments", query, what="list deployments")
        try:
            body = answer.json()
        except ValueError:
            raise ProviderError(
                "Vercel's deployment list is not JSON within bounds (256 KiB, 64 levels deep)"
            ) from None
        listed = body.get("deployments") if isinstance(body, dict) else None
        if not isinstance(listed, list):
            raise ProviderError("Vercel's answer holds no `deployments` list")
        found = [c for c in map(_candidate, listed) if c is not None]
        return sorted(
            found, key=lambda c: c.created or dt.datetime.min.replace(tzinfo=dt.UTC), reverse=True
        )

    async def promote(self, target: Candidate) -> str:
        path = (
            f"/v10/projects/{quote(self.settings.project, safe='')}"
            f"/promote/{quote(target.id, safe='')}"
        )
        answer = await self._call("POST", path, {}, what=f"promote {target.id}", acts=True)
        return f"Vercel accepted the promote ({answer.status})"

    async def _call(
        self, method: str, path: str, query: dict[str, str], *, what: str, acts: bool = False
    ) -> Answer:
        """The API's 2xx answer; ProviderError otherwise, `acted` when the request `acts`
        and was sent without a clear refusal (no answer, or a 5xx)."""
        if self.settings.team:
            query = {**query, "teamId": self.settings.team}
        url = self.settings.api_url + path + (f"?{urlencode(query)}" if query else "")
        headers = {"Authorization": f"Bearer {self.settings.token.reveal()}"}
        try:
            answer = await request(
                self.probe,
                method,
                url,
                timeout=self.settings.timeout.total_seconds(),
                headers=headers,
                payload={} if method == "POST" else None,
                follow_redirects=False,
            )
        except NotConnected as exc:
            raise ProviderError(f"cannot reach Vercel at {self.settings.api_url}: {exc}") from None
        except Unreachable as exc:
            said = f"Vercel at {self.settings.api_url} did not answer: {exc}"
            raise ProviderError(_unsure(said, what) if acts else said, acted=acts) from None
        if 200 <= answer.status < 300:
            return answer
        if acts and answer.status >= 500:
            raise ProviderError(_unsure(self._refusal(answer, what), what), acted=True)
        raise ProviderError(self._refusal(answer, what))

    def _refusal(self, answer: Answer, what: str) -> str:
        said = self._said(answer)
        if answer.status in (401, 403):
            scope = f" in team {self.settings.team}" if self.settings.team else ""
            return (
                f"Vercel refused deploy.vercel.token ({answer.status}): it is missing, wrong,"
                f" expired or without access to project {self.settings.project}{scope}{said}"
            )
        return f"Vercel could not {what}: it answered {answer.status}{said}"

    def _said(self, answer: Answer) -> str:
        try:
            body = answer.json()
        except ValueError:
            body = None
        error = body.get("error") if isinstance(body, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        if not isinstance(message, str) or not message.strip():
            return ""
        return f" ({short(mask_text(message, [self.settings.token.reveal()]), 200)})"


def _unsure(said: str, what: str) -> str:
    return (
        f"{said}; it may have acted ({what} may have been promoted): check with"
        " `opsbook deploy list` and in Vercel's dashboard"
    )


def _candidate(item: Any) -> Candidate | None:
    """A listed deployment as a Candidate; None when it is not READY production or its
    id is not an id."""
    if not isinstance(item, dict):
        return None
    uid = item.get("uid")
    if not isinstance(uid, str) or not _ID.fullmatch(uid):
        return None
    if item.get("state", "READY") != "READY" or item.get("target", "production") != "production":
        return None
    url, meta, created = item.get("url"), item.get("meta"), item.get("created")
    sha = meta.get("githubCommitSha") if isinstance(meta, dict) else None
    return Candidate(
        id=uid,
        url=url if isinstance(url, str) and _PLAIN.fullmatch(url) else "",
        commit=sha.lower() if isinstance(sha, str) and _COMMIT.fullmatch(sha) else None,
        created=_when(created),
    )


def _when(ms: Any) -> dt.datetime | None:
    if isinstance(ms, bool) or not isinstance(ms, int) or not 0 <= ms < 2**53:
        return None
    try:
        return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None
