"""The sandbox's few HTML pages: just enough for smoke tests to click through."""

from __future__ import annotations

from html import escape


def layout(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(title)} · Voice AI Training (sandbox)</title></head>"
        f"<body><nav><a href=/dashboard>Dashboard</a> <a href=/scenarios>Scenarios</a> "
        f"<a href=/settings>Settings</a></nav><main><h1>{escape(title)}</h1>{body}</main>"
        "</body></html>"
    )


def sign_in() -> str:
    return layout(
        "Sign in",
        "<form method=post action=/sign-in><label>Email <input name=email type=email></label>"
        "<button type=submit>Sign in</button></form>",
    )


def dashboard(attempts_30d: int, completed_30d: int, avg_score: float | None) -> str:
    score = "—" if avg_score is None else f"{avg_score:.1f}"
    return layout(
        "Dashboard",
        f"<dl><dt>Attempts (30 days)</dt><dd id=attempts>{attempts_30d}</dd>"
        f"<dt>Completed</dt><dd id=completed>{completed_30d}</dd>"
        f"<dt>Average score</dt><dd id=score>{score}</dd></dl>",
    )


def scenarios(rows: list[tuple[int, str, str]]) -> str:
    items = "".join(
        f"<li data-id={sid}>{escape(title)} <small>{escape(level)}</small></li>"
        for sid, title, level in rows
    )
    return layout("Scenarios", f"<ul id=scenarios>{items}</ul>")


def settings(org_count: int) -> str:
    return layout("Settings", f"<p>Organisations: <span id=orgs>{org_count}</span></p>")


def session_expired() -> str:
    return layout("Session expired", "<p>Session expired. Please sign in again.</p>")
