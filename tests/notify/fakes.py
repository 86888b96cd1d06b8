"""Local stand-ins for the far sides of the channels, speaking their published formats and
counting what they received: a Slack incoming webhook, PagerDuty's Events API v2, a
receiver of opsbook's signed webhooks, and a real SMTP server (aiosmtpd).

Each HTTP fake answers from a script first (`answer_next`), then as the real service
would. `hold()` makes the next requests wait until `release()`: a delivery in flight."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from opsbook.clock import Clock
from opsbook.postgres.cluster import free_port
from opsbook.sandbox.fakes import pagerduty_errors
from opsbook.serving import BackgroundServer


@dataclass
class Reply:
    status: int
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False  # never answer (until released): the client's timeout fires


class FakeService:
    """What every HTTP fake shares: the script, the hold, the record of requests."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []  # every request, as received
        self.script: list[Reply] = []
        self.lock = threading.Lock()
        self.released = threading.Event()
        self.released.set()
        self.unhung = threading.Event()  # set by release(): hanging replies end
        self.holding = 0  # requests waiting on hold right now
        self.server: BackgroundServer | None = None

    def answer_next(self, *replies: Reply) -> None:
        with self.lock:
            self.script.extend(replies)

    def hold(self) -> None:
        self.released.clear()

    def release(self) -> None:
        self.released.set()
        self.unhung.set()

    async def scripted(self) -> Reply | None:
        with self.lock:
            reply = self.script.pop(0) if self.script else None
        if reply is not None and reply.hang:
            await asyncio.to_thread(self.unhung.wait, 30)
        if not self.released.is_set():
            with self.lock:
                self.holding += 1
            await asyncio.to_thread(self.released.wait, 60)
            with self.lock:
                self.holding -= 1
        return reply

    async def receive(self, request: Request) -> tuple[bytes, Any, Reply | None]:
        """Record the request; its body parsed (None if not JSON), and the scripted reply."""
        raw = await request.body()
        self.requests.append({"raw": raw, "headers": dict(request.headers)})
        reply = await self.scripted()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        return raw, parsed, reply

    def start(self, app: FastAPI) -> str:
        self.server = BackgroundServer(app).start()
        return self.server.url

    def stop(self) -> None:
        self.release()
        if self.server is not None:
            self.server.stop()


def _as_response(reply: Reply) -> Response:
    return PlainTextResponse(reply.body, status_code=reply.status, headers=reply.headers)


class FakeSlack(FakeService):
    """An incoming webhook: `ok` with 200; `invalid_payload` / `no_text` with 400."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[dict[str, Any]] = []  # accepted ones
        self.url = self.start(self._app())
        self.webhook_url = f"{self.url}/services/T000/B000/XXXXXXXX"

    def _app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/services/{team}/{bot}/{token}")
        async def post(request: Request) -> Response:
            _, body, reply = await self.receive(request)
            if reply is not None:
                return _as_response(reply)
            if not isinstance(body, dict):
                return PlainTextResponse("invalid_payload", status_code=400)
            if not body.get("text") and not body.get("blocks"):
                return PlainTextResponse("no_text", status_code=400)
            self.messages.append(body)
            return PlainTextResponse("ok")

        return app


class FakePagerDuty(FakeService):
    """`POST /v2/enqueue`: 202 with the dedup_key, or 400 with `errors` like PagerDuty."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict[str, Any]] = []  # accepted ones
        self.url = self.start(self._app())
        self.events_url = f"{self.url}/v2/enqueue"

    def _app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v2/enqueue")
        async def enqueue(request: Request) -> Response:
            _, event, reply = await self.receive(request)
            if reply is not None:
                return _as_response(reply)
            errors = pagerduty_errors(event)
            if errors:
                body = {"status": "invalid event", "message": "Event object is invalid"}
                return JSONResponse({**body, "errors": errors}, status_code=400)
            assert isinstance(event, dict)
            key = event.get("dedup_key") or f"generated-{len(self.events)}"
            self.events.append(event)
            return JSONResponse(
                {"status": "success", "message": "Event processed", "dedup_key": key},
                status_code=202,
            )

        return app

    def actions(self) -> list[tuple[str, str]]:
        return [(e["event_action"], e["dedup_key"]) for e in self.events]


class FakeWebhookReceiver(FakeService):
    """A receiver of opsbook's webhooks as FORMATS.md asks: refuses a bad signature or a
    `t` more than 5 minutes off (401), drops a repeated Idempotency-Key (200, not kept)."""

    def __init__(self, secret: str, clock: Clock) -> None:
        super().__init__()
        self.secret, self.clock = secret, clock
        self.accepted: list[dict[str, Any]] = []
        self.duplicates = 0
        self.keys: set[str] = set()
        self.url = self.start(self._app())

    def _verify(self, header: str, raw: bytes) -> bool:
        parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
        if not parts.get("t", "").isdigit():
            return False
        if abs(int(parts["t"]) - self.clock.now().timestamp()) > 300:
            return False
        mac = hmac.new(self.secret.encode(), f"{parts['t']}.".encode() + raw, hashlib.sha256)
        return hmac.compare_digest(mac.hexdigest(), parts.get("v1", ""))

    def _app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> Response:
            raw, body, reply = await self.receive(request)
            if reply is not None:
                return _as_response(reply)
            if not self._verify(request.headers.get("opsbook-signature", ""), raw):
                return PlainTextResponse("bad signature", status_code=401)
            key = request.headers.get("idempotency-key", "")
            with self.lock:
                repeat = key in self.keys
                self.keys.add(key)
            if repeat:
                self.duplicates += 1
                return PlainTextResponse("duplicate, dropped")
            self.accepted.append(body)
            return PlainTextResponse("accepted")

        return app


# --- email ---------------------------------------------------------------------------------


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's name
        content = envelope.original_content or b""
        parsed = message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


@dataclass
class FakeSmtp:
    """A real SMTP server on 127.0.0.1 (aiosmtpd); with `tls`, STARTTLS or implicit TLS
    and a login that must match."""

    controller: Controller
    mailbox: _Mailbox
    port: int

    @property
    def messages(self) -> list[EmailMessage]:
        return self.mailbox.messages


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made by openssl (no Python crypto needed)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@contextmanager
def smtp_server(
    *,
    mode: str = "none",
    cert: tuple[Path, Path] | None = None,
    login: tuple[str, str] | None = None,
) -> Iterator[FakeSmtp]:
    """`mode`: none (plain), starttls (required before AUTH/MAIL), or tls (implicit)."""
    mailbox = _Mailbox()
    port = free_port()
    kwargs: dict[str, Any] = {}
    context = None
    if cert is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert[0]), str(cert[1]))
    if mode == "starttls":
        kwargs.update(tls_context=context, require_starttls=True)
    elif mode == "tls":
        kwargs.update(ssl_context=context)
    if login is not None:

        def authenticate(
            server: Any, session: Any, envelope: Any, mechanism: str, data: Any
        ) -> AuthResult:
            ok = (
                isinstance(data, LoginPassword)
                and (
                    data.login.decode(),
                    data.password.decode(),
                )
                == login
            )
            # handled=False: aiosmtpd then answers 535 itself (True means "I replied").
            return AuthResult(success=ok, handled=False)

        kwargs.update(authenticator=authenticate, auth_require_tls=mode != "none")
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield FakeSmtp(controller, mailbox, port)
    finally:
        controller.stop()


class FakeSlackResponses(FakeService):
    """Slack's `response_url` of a button press: a JSON message (`text`, `response_type`,
    `replace_original`) answered `ok`, as Slack's "Handling user interaction" documents."""

    def __init__(self) -> None:
        super().__init__()
        self.replies: list[dict[str, Any]] = []
        self.url = self.start(self._app())
        self.response_url = f"{self.url}/actions/T000/1234567890/XXXXXXXX"

    def _app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/actions/{team}/{action}/{token}")
        async def respond(request: Request) -> Response:
            _, body, reply = await self.receive(request)
            if reply is not None:
                return _as_response(reply)
            if not isinstance(body, dict) or not body.get("text"):
                return PlainTextResponse("invalid_payload", status_code=400)
            self.replies.append(body)
            return PlainTextResponse("ok")

        return app
