"""The web app's body limits and the Alertmanager receiver under hostile input, through
the real app on a real socket: nothing a sender writes earns a 5xx."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from opsbook.cli import app
from opsbook.clock import FrozenClock
from opsbook.config import load_config
from opsbook.serving import BackgroundServer
from opsbook.store import open_store
from opsbook.web.app import create_app
from tests.web.test_serve import am_alert, payload

TOKEN = "am-token-123456"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MiB = 1 << 20


@contextmanager
def serving(tmp_path: Path, store_url: str, extra: str = "") -> Iterator[str]:
    """The web app on a real socket; yields the receiver's URL."""
    path = tmp_path / "opsbook.yaml"
    path.write_text(f"store:\n  url: {store_url}\nalertmanager:\n  token: {TOKEN}\n{extra}")
    config = load_config(path)
    store = open_store(config.store.url.reveal())
    server = BackgroundServer(create_app(config, store, clock=FrozenClock(), schedule=False))
    server.start()
    try:
        yield f"{server.url}/api/v1/alertmanager"
    finally:
        server.stop()
        store.close()


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[str]:
    with serving(tmp_path, f"sqlite:///{tmp_path / 'opsbook.db'}") as url:
        yield url


def _alerts(tmp_path: Path) -> list[Any]:
    result = CliRunner().invoke(
        app, ["--config", str(tmp_path / "opsbook.yaml"), "status", "--json"]
    )
    assert result.exit_code == 0, result.output
    return list(json.loads(result.stdout)["alerts"])


def nested(depth: int) -> Any:
    """A JSON value `depth` levels deep, built without recursion."""
    value: Any = "bottom"
    for _ in range(depth):
        value = [value]
    return value


# --- size ------------------------------------------------------------------------------


def test_a_10_mb_payload_is_refused_413(receiver: str, tmp_path: Path) -> None:
    alert = am_alert("firing", "web-1")
    alert["annotations"]["summary"] = "x" * (10 * MiB)
    response = httpx.post(receiver, headers=AUTH, json=payload("firing", alert), timeout=30)
    assert response.status_code == 413
    assert response.json() == {
        "error": f"request body of {len(response.request.content)} bytes is over the limit"
        f" of {8 * MiB} bytes"
    }
    assert _alerts(tmp_path) == []


def _raw(url: str, head: bytes, body: bytes = b"") -> bytes:
    """Send a request's head (and maybe part of a body) on a socket and read the answer,
    never finishing the body: an answer proves the server did not wait for the rest."""
    parsed = httpx.URL(url)
    with socket.create_connection((parsed.host, parsed.port), timeout=10) as sock:
        sock.sendall(head + body)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


def test_a_declared_length_over_the_limit_is_refused_before_the_body(receiver: str) -> None:
    head = (
        b"POST /api/v1/alertmanager HTTP/1.1\r\nHost: opsbook\r\n"
        b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: 10485760\r\n\r\n"
    )
    answer = _raw(receiver, head, b'{"version": "4"')
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"over the limit of 8388608 bytes" in answer


def test_a_chunked_body_is_cut_off_once_past_the_limit(receiver: str) -> None:
    head = (
        b"POST /api/v1/alertmanager HTTP/1.1\r\nHost: opsbook\r\n"
        b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"10000\r\n" + b" " * 0x10000 + b"\r\n"  # 64 KiB of JSON whitespace
    answer = _raw(receiver, head, chunk * 129)  # 8 MiB + 64 KiB, and no last chunk
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"request body is over the limit of 8388608 bytes" in answer


def test_a_10_mb_chunked_stream_is_refused_413(receiver: str) -> None:
    def stream() -> Iterator[bytes]:
        yield b'{"version": "4", "padding": "'
        for _ in range(160):
            yield b"x" * 0x10000
        yield b'"}'

    response = httpx.post(receiver, headers=AUTH, content=stream(), timeout=30)
    assert response.status_code == 413


def test_the_limits_come_from_the_serve_section(tmp_path: Path) -> None:
    limits = "serve:\n  max_body: 2KiB\n  max_json_depth: 8\n"
    store = f"sqlite:///{tmp_path / 'opsbook.db'}"
    with serving(tmp_path, store, limits) as url:
        big = httpx.post(url, headers=AUTH, content=b" " * 3000)
        deep = httpx.post(url, headers=AUTH, json={"version": "4", "x": nested(8)})
    assert big.status_code == 413 and "limit of 2048 bytes" in big.json()["error"]
    assert deep.status_code == 400 and "nested deeper than 8 levels" in deep.json()["error"]


# --- depth -----------------------------------------------------------------------------


def test_json_100000_deep_is_refused_400(receiver: str) -> None:
    response = httpx.post(receiver, headers=AUTH, content=b"[" * 100_000 + b"]" * 100_000)
    assert (response.status_code, response.json()) == (
        400,
        {"error": "JSON nested deeper than 64 levels"},
    )


def test_unclosed_brackets_100000_deep_are_refused_400(receiver: str) -> None:
    response = httpx.post(receiver, headers=AUTH, content=b'{"a":' * 100_000)
    assert response.status_code == 400


def test_depth_64_is_the_limit(receiver: str, tmp_path: Path) -> None:
    body = payload("firing", am_alert("firing", "web-1"))
    body["extra"] = nested(63)  # inside the payload object: 64 levels
    assert httpx.post(receiver, headers=AUTH, json=body).status_code == 200
    body["extra"] = nested(64)
    deeper = httpx.post(receiver, headers=AUTH, json=body)
    assert deeper.status_code == 400
    # Brackets inside strings are text, not nesting.
    body["extra"] = "[" * 1000
    assert httpx.post(receiver, headers=AUTH, json=body).status_code == 200
    assert len(_alerts(tmp_path)) == 1


# --- hostile payloads ------------------------------------------------------------------


def _with(change: Any) -> bytes:
    body = payload("firing", am_alert("firing", "web-1"))
    change(body)
    return json.dumps(body).encode()


def _set(path: str, value: Any) -> Any:
    def change(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = body
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = value

    return change


HOSTILE: dict[str, tuple[bytes, str]] = {
    "malformed": (b'{"version": "4",', "body is not JSON"),
    "not utf-8": (b"\xff\xfe\xfa{}", "body is not JSON"),
    "empty": (b"", "body is not JSON"),
    "a list": (b"[]", "Input should be a valid dictionary"),
    "null": (b"null", "Input should be a valid dictionary"),
    "NaN": (_with(_set("truncatedAlerts", float("nan"))), "NaN is not a JSON number"),
    "Infinity": (_with(_set("alerts.0.startsAt", float("inf"))), "Infinity is not a JSON"),
    "huge count": (_with(_set("truncatedAlerts", 10**30)), "truncatedAlerts"),
    "negative count": (_with(_set("truncatedAlerts", -1)), "truncatedAlerts"),
    "5000 digits": (
        _with(_set("truncatedAlerts", 0)).replace(
            b'"truncatedAlerts": 0', b'"truncatedAlerts": ' + b"9" * 5000
        ),
        "body is not JSON",
    ),
    "huge timestamp": (_with(_set("alerts.0.startsAt", 10**30)), "alerts.0.startsAt"),
    "1e400 timestamp": (_with(_set("alerts.0.startsAt", "1e400")), "alerts.0.startsAt"),
    "labels not a map": (_with(_set("alerts.0.labels", ["a"])), "alerts.0.labels"),
    "label not text": (_with(_set("alerts.0.labels.instance", 10**30)), "alerts.0.labels"),
    "alerts not a list": (_with(_set("alerts", "all")), "alerts"),
    "no alerts": (_with(_set("alerts", [])), "alerts"),
    "unknown status": (_with(_set("alerts.0.status", "FIRING")), "alerts.0.status"),
    "lone surrogate": (
        _with(_set("alerts.0.labels.instance", "X")).replace(b'"X"', b'"\\ud800"'),
        "lone surrogate",
    ),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_payloads_are_refused_400(tmp_path: Path, store_url: str, case: str) -> None:
    body, problem = HOSTILE[case]
    with serving(tmp_path, store_url) as url:
        response = httpx.post(url, headers=AUTH, content=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "not an Alertmanager v4 payload"
    assert problem in response.json()["detail"]


AWKWARD: dict[str, Any] = {
    "a 500-character alertname": _set("alerts.0.labels.alertname", "A" * 500),
    "a 500-character component": _set("alerts.0.labels.component", "c" * 500),
    "a 1000-character group key": lambda body: (
        body["commonLabels"].clear(),
        body["alerts"][0]["labels"].pop("service"),
        body.update(groupKey="{}:{" + ",".join(f'l{i}="{i:04}"' for i in range(100)) + "}"),
    ),
    "a 500-character runbook": _set("alerts.0.annotations.runbook", "r" * 500),
    "a blank summary": _set("alerts.0.annotations.summary", "   "),
    "a summary that starts with ;": _set("alerts.0.annotations.summary", "; rm -rf /"),
    "terminal escapes and shell": _set(
        "alerts.0.labels.instance", "\x1b[31m'; rm -rf / $(reboot) \"`"
    ),
    "a 100 KiB label": _set("alerts.0.labels.instance", "i" * 100_000),
    "a huge fingerprint": _set("alerts.0.fingerprint", "f" * 10_000),
    # JSON may carry \u0000; refusing it with a 4xx would drop the alert for good, so it
    # is stored (as U+FFFD on a PostgreSQL store, which cannot hold NUL).
    "NUL in a label": _set("alerts.0.labels.instance", "web\x001"),
    "NUL in a label name": _set("alerts.0.labels.a\x00b", "x"),
    "NUL in the summary": _set("alerts.0.annotations.summary", "\x00"),
    "NUL in the group key": _set("groupKey", "g\x00"),
}


@pytest.mark.parametrize("case", AWKWARD)
def test_awkward_but_valid_payloads_are_taken(tmp_path: Path, store_url: str, case: str) -> None:
    with serving(tmp_path, store_url) as url:
        response = httpx.post(url, headers=AUTH, content=_with(AWKWARD[case]))
    assert response.status_code == 200, response.text
    assert response.json()["states"] == {"firing": 1}
    [alert] = _alerts(tmp_path)
    assert alert["state"] == "firing"
