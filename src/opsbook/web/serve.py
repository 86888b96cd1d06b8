"""`opsbook serve`: the web app and the check scheduler in one process, on a real socket,
until SIGTERM or Ctrl-C (both exit 0 once the checks in flight have finished)."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time

import typer

from opsbook.bounds import MAX_PORT
from opsbook.console import VisibleFormatter, console, fail, safe
from opsbook.context import app_context
from opsbook.notify import mail_templates
from opsbook.routines.cli import refuse_bad_routines
from opsbook.serving import BackgroundServer
from opsbook.web.app import create_app

# Seconds a thread may hold the GIL while another waits for it (Python's default is 5 ms).
# The event loop answering the status page shares the process with threads storing check
# results and evaluating rules; at 5 ms a request arriving during a store flush waited for
# several whole intervals. bench/statuspage.py, 1,000 checks, 50 connections: /status p99
# 22.0 ms at the default, 12.6-17.2 ms at 0.2-0.5 ms, with more requests answered.
SWITCH_INTERVAL = 0.0002


def serve(
    ctx: typer.Context,
    host: str | None = typer.Option(None, "--host", help="Default: serve.host in the config."),
    port: int | None = typer.Option(
        None, "--port", min=1, max=MAX_PORT, help="Default: serve.port (8400)."
    ),
) -> None:
    """Run the checks on their schedule, evaluate rules, receive Alertmanager webhooks.

    Example: opsbook --config opsbook.yaml serve --port 8400
    """
    context = app_context(ctx)
    config = context.config(required=True)
    broken = mail_templates.problems(config)
    if broken:
        fail("customer email templates:\n" + "\n".join(broken))
    refuse_bad_routines(config)
    _log_to_stderr()
    sys.setswitchinterval(SWITCH_INTERVAL)
    app = create_app(config, context.store(person=False), clock=context.clock)
    bind_host, bind_port = host or config.serve.host, port or config.serve.port
    console.print(
        f"opsbook serving on http://{safe(bind_host)}:{bind_port}: {len(config.checks)} "
        f"checks, {len(config.alerts.rules)} rules (SIGTERM or Ctrl-C stops it)"
    )
    try:
        server = BackgroundServer(app, host=bind_host, port=bind_port, http=app.protocol())
        server.start()
    except OSError as exc:
        fail(f"cannot listen on {bind_host}:{bind_port}: {exc.strerror or exc}")
    _until_stopped(server)
    console.print("stopped")


def _until_stopped(server: BackgroundServer) -> None:
    """Wait for SIGTERM or SIGINT, then stop the server. The signals are ours, not uvicorn's
    (it runs in a thread), so a clean stop exits 0 instead of dying by the signal."""
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.stop()  # lets the scheduler finish the checks it started


def _log_to_stderr() -> None:
    """Alert transitions and failures, one timestamped UTC line each, for a terminal or the
    journal; what peers sent (an alert's summary, its labels) shows escaped, never raw."""
    handler = logging.StreamHandler(sys.stderr)
    formatter = VisibleFormatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%SZ")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    logger = logging.getLogger("opsbook")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
