"""Every sandbox route that takes input, fed hostile values over real HTTP against a real
database: each answer is a 4xx naming the value (or, where the value is fine as data, a
success that stores it verbatim), never a 5xx."""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import quote

import httpx
import psycopg

from opsbook.bodies import shown
from opsbook.sandbox.faults import FAULTS
from tests.conftest import RunningSandbox
from tests.sandbox.test_app import _a_user_and_scenario, _sandbox_backends

TEXT: dict[str, str] = {
    "NUL": "\x00",
    "NUL inside": "on\x00",
    "not a number": "many",
    "100,000 digits": "9" * 100_000,
    "shell": "; rm -rf /",
    "substitution": "$(reboot)",
    "quotes": "'\"`",
    "terminal escape": "\x1b[31mred\x1b[0m",
    "rich markup": "[/]",
}
HOSTILE: dict[str, Any] = {
    **TEXT,
    "10**30": 10**30,
    "-1": -1,
    "NaN": math.nan,  # httpx writes NaN and Infinity, as sloppy clients do
    "Infinity": math.inf,
    "-Infinity": -math.inf,
    "a list": [],
    "an object": {},
}


def as_json(body: Any) -> bytes:
    """JSON as sloppy clients write it: NaN and Infinity included (httpx's json= refuses)."""
    return json.dumps(body).encode()


def named(value: Any) -> str:
    """How an error names the value: NaN and infinities as JSON spells them, the rest as
    the sandbox quotes them (escaped, cut short)."""
    if isinstance(value, float) and not math.isfinite(value):
        return {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}[str(value)]
    return shown(value)[:30]


def _refused(response: httpx.Response, value: Any, case: str = "") -> None:
    assert response.status_code in (400, 422), (case, response.text)
    assert named(value) in response.json()["error"], (case, response.text)


# --- fault switches -------------------------------------------------------------------
# One sandbox per test, and loops inside: each case is a request, not a database clone.


def test_every_fault_refuses_hostile_values(sandbox: RunningSandbox) -> None:
    with httpx.Client(headers=sandbox.admin, timeout=30) as client:
        for name in FAULTS:
            url = f"{sandbox.url}/_sandbox/faults/{name}"
            for value in HOSTILE.values():
                response = client.put(url, content=as_json({"value": value}))
                _refused(response, value, name)
                assert response.json()["error"].startswith(f"{name}: ")
        listing = client.get(f"{sandbox.url}/_sandbox/faults").json()
    assert listing["faults"] == {}  # nothing was switched on
    assert _sandbox_backends(sandbox.database_url, "idle") == 0  # nor left open


def test_fault_bodies_that_are_not_a_value_are_400(sandbox: RunningSandbox) -> None:
    url = f"{sandbox.url}/_sandbox/faults/latency"
    bodies = [b"[", b"[1]", b"null", b'"on"', b"\xff\xfe", b"[" * 100_000, b'{"value": 1e400}']
    with httpx.Client(headers=sandbox.admin) as client:
        for body in bodies:
            response = client.put(url, content=body)
            assert response.status_code == 400, (body[:10], response.text)


def test_hostile_names_in_paths_are_404(sandbox: RunningSandbox) -> None:
    names = [v for v in TEXT.values() if len(v) < 10_000] + ["x" * 5000]
    with httpx.Client(headers=sandbox.admin, follow_redirects=True) as client:
        for name in names:
            segment = quote(name, safe="")
            for response in (
                client.put(f"{sandbox.url}/_sandbox/faults/{segment}", json={"value": 1}),
                client.delete(f"{sandbox.url}/_sandbox/faults/{segment}"),
                client.get(f"{sandbox.url}/_providers/{segment}/api/v2/summary.json"),
            ):
                assert response.status_code == 404, (name[:10], response.text)
                if "/" not in name:  # a "/" splits the path: the router answers, not a route
                    assert shown(name)[:30] in response.json()["error"]
            # A webhook route that is not deployed, in Vercel's words.
            assert client.post(f"{sandbox.url}/api/webhooks/{segment}").status_code == 404


# Header values as HTTP carries them: no NUL and under 16 KiB (uvicorn's parser answers
# 400 itself for those, before the app).
HEADER_TEXT = [v for v in TEXT.values() if "\x00" not in v and len(v) < 10_000]
HEADER_TEXT += ["x" * 5000, "\xe9\xff"]


def refusals(value: str) -> set[int]:
    """401 from the app; a header holding a control character may be refused earlier, as
    RFC 9110 allows, by the HTTP parser itself (httptools answers 400): refused either way."""
    if any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in value):
        return {400, 401}
    return {401}


def test_hostile_tokens_are_401(sandbox: RunningSandbox) -> None:
    with httpx.Client() as client:
        for token in HEADER_TEXT:
            headers = {b"Authorization": f"Bearer {token}".encode("latin-1")}
            response = client.delete(f"{sandbox.url}/_sandbox/faults", headers=headers)
            assert response.status_code in refusals(token), token[:10]


# --- attempts ---------------------------------------------------------------------------


def _attempts(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("select count(*) from scenario_attempts").fetchone()
    assert row is not None
    return int(row[0])


def test_attempts_refuse_hostile_values(sandbox: RunningSandbox) -> None:
    user_id, scenario_id = _a_user_and_scenario(sandbox.database_url)
    before = _attempts(sandbox.database_url)
    with httpx.Client() as client:
        for field in ("user_id", "scenario_id", "score"):
            for value in HOSTILE.values():
                body = {"user_id": user_id, "scenario_id": scenario_id, "score": 50, field: value}
                response = client.post(f"{sandbox.url}/api/attempts", content=as_json(body))
                _refused(response, value, field)
    assert _attempts(sandbox.database_url) == before


def test_attempt_recording_paths_are_data(sandbox: RunningSandbox) -> None:
    """Any text but NUL is a recording path, stored verbatim and never interpreted;
    anything but text is refused."""
    user_id, scenario_id = _a_user_and_scenario(sandbox.database_url)
    url = f"{sandbox.url}/api/attempts"
    with httpx.Client() as client:
        for value in HOSTILE.values():
            body = {"user_id": user_id, "scenario_id": scenario_id, "recording_path": value}
            response = client.post(url, content=as_json(body))
            if isinstance(value, str) and "\x00" not in value:
                assert response.status_code == 201, response.text
                with psycopg.connect(sandbox.database_url) as conn:
                    row = conn.execute(
                        "select recording_path from scenario_attempts where id = %s",
                        (response.json()["id"],),
                    ).fetchone()
                assert row == (value,)
            else:
                _refused(response, value)


def test_attempt_bodies_that_are_not_json_are_400(sandbox: RunningSandbox) -> None:
    with httpx.Client() as client:
        for body in (b"", b"{", b"\xff", b"[" * 100_000, b'{"a": NaN}'):
            response = client.post(f"{sandbox.url}/api/attempts", content=body)
            assert response.status_code == 400, (body[:10], response.text)


# --- webhooks ---------------------------------------------------------------------------


def _events(database_url: str) -> list[Any]:
    with psycopg.connect(database_url) as conn:
        return [r[0] for r in conn.execute("select payload from webhook_events order by id")]


def test_signed_webhooks_store_hostile_text_as_data(sandbox: RunningSandbox) -> None:
    headers = {"X-Vapi-Secret": sandbox.settings.vapi_secret}
    url = f"{sandbox.url}/api/webhooks/vapi"
    stored = []
    with httpx.Client(headers=headers) as client:
        for value in HOSTILE.values():
            response = client.post(url, content=as_json({"type": value, "data": {"note": value}}))
            if isinstance(value, float) and not math.isfinite(value):
                assert response.status_code == 400, response.text
                assert named(value) in response.json()["error"]
            elif isinstance(value, str) and "\x00" in value:
                assert response.status_code == 422, response.text
                assert response.json()["error"].startswith("body.")
                assert shown(value) in response.json()["error"]
            else:
                assert response.status_code == 200, response.text
                stored.append({"type": value, "data": {"note": value}})
        lone = client.post(url, content=b'{"type": "\\ud800"}')
        deep = client.post(url, content=b"[" * 100_000)
    assert (lone.status_code, lone.json()) == (
        422,
        {"error": "body.type: '\\ud800' contains a lone surrogate"},
    )
    assert deep.status_code == 400
    assert _events(sandbox.database_url) == stored


SIGNATURE_TEXT = [*HEADER_TEXT, "9" * 4000, "\xe9"]  # 4,000 digits parse, then overflow


def test_hostile_signature_headers_are_401(sandbox: RunningSandbox) -> None:
    """Each header of each scheme made hostile in turn, the others well formed (a timestamp
    of now), so that every comparison the verifiers make meets the hostile value."""
    now = str(int(sandbox.clock.now().timestamp())).encode()
    with httpx.Client() as client:
        for value in SIGNATURE_TEXT:
            raw = value.encode("latin-1")
            svix = {b"svix-id": b"msg_1", b"svix-timestamp": now, b"svix-signature": b"v1,x"}
            attempts = [
                ("clerk", svix | {b"svix-id": raw}),
                ("clerk", svix | {b"svix-timestamp": raw}),
                ("clerk", svix | {b"svix-signature": b"v1," + raw}),
                ("stripe", {b"stripe-signature": b"t=" + raw + b",v1=ab"}),
                ("stripe", {b"stripe-signature": b"t=" + now + b",v1=" + raw}),
                ("stripe", {b"stripe-signature": raw}),
            ]
            for provider, headers in attempts:
                response = client.post(
                    f"{sandbox.url}/api/webhooks/{provider}", content=b"{}", headers=headers
                )
                assert response.status_code in refusals(value), (provider, value[:20])
    assert _events(sandbox.database_url) == []
