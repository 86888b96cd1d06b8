"""`opsbook status export DIR`: the page as static files with relative links, replaced
atomically; a bad DIR is refused with nothing changed; a killed export leaves the old site
whole."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from opsbook.cli import app
from opsbook.clock import FrozenClock
from opsbook.context import AppContext
from opsbook.incidents import service as incidents
from opsbook.status.export import MARKER
from opsbook.status.statuspage import DOCUMENTS
from opsbook.store import open_store
from tests.status.factories import config_data, outage, past_incident, status_config


def _setup(tmp_path: Path, clock: FrozenClock) -> tuple[Path, int]:
    url = f"sqlite:///{tmp_path / 'opsbook.db'}"
    path = tmp_path / "opsbook.yaml"
    path.write_text(yaml.safe_dump(config_data(url)))
    store = open_store(url)
    try:
        incident_id = outage(store, status_config(url), clock)
    finally:
        store.close()
    return path, incident_id


def _export(config: Path, clock: FrozenClock, *args: str) -> tuple[int, str]:
    context = AppContext(clock=clock)
    result = CliRunner().invoke(
        app, ["--config", str(config), "status", "export", *args], obj=context
    )
    return result.exit_code, result.output


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_export_writes_the_site_with_relative_links(tmp_path: Path, clock: FrozenClock) -> None:
    config, incident_id = _setup(tmp_path, clock)
    site = tmp_path / "site"

    code, output = _export(config, clock, str(site), "--json")

    assert code == 0, output
    done = json.loads(output)
    files = _files(site)
    assert done["files"] == len(files) and done["atomic"] is True
    expected = {
        "index.html", "history.atom", "status.css", MARKER, "history/1.html",
        f"incidents/i{incident_id}.html", "incidents/m1.html",
        *(f"api/v2/{path}" for path in DOCUMENTS),
    }  # fmt: skip
    assert set(files) == expected
    assert b"We are investigating failed logins." in files["index.html"]
    summary = json.loads(files["api/v2/summary.json"])
    assert summary["status"]["indicator"] == "critical"
    for name, body in files.items():
        if not name.endswith((".html", ".atom")):
            continue
        for link in re.findall(r'href="([^"]+)"', body.decode()):
            assert not link.startswith(("/", "http:", "https:")), (name, link)
            target = (site / name).parent / link.split("#")[0]
            assert link.startswith("#") or target.resolve().is_file(), (name, link)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".site.new-")]


def test_a_re_export_replaces_the_site_whole(tmp_path: Path, clock: FrozenClock) -> None:
    config, incident_id = _setup(tmp_path, clock)
    site = tmp_path / "site"
    assert _export(config, clock, str(site))[0] == 0
    (site / "stray.html").write_text("left from an older export")
    url = f"sqlite:///{tmp_path / 'opsbook.db'}"
    store = open_store(url)
    with store.session() as session:
        incidents.update(
            session, incident_id=incident_id, actor="t", clock=clock, status="monitoring",
            message="A fix is deployed.", public=True,
        )  # fmt: skip
    store.close()

    code, output = _export(config, clock, str(site))

    assert code == 0, output
    assert "exported the status page to" in output
    assert b"A fix is deployed." in (site / "index.html").read_bytes()
    assert not (site / "stray.html").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".site")) == [
        ".site.lock"
    ]


@pytest.mark.parametrize(
    "name", ["; rm -rf x", "$(touch pwned)", "[bold]site[red]", "quote'\"dir", "\x1b[31mred"]
)
def test_hostile_directory_names_are_paths(tmp_path: Path, clock: FrozenClock, name: str) -> None:
    config, _ = _setup(tmp_path, clock)
    code, output = _export(config, clock, str(tmp_path / name))
    assert code == 0, output
    assert (tmp_path / name / "index.html").is_file()
    assert not (tmp_path / "pwned").exists() and "\x1b" not in output
    if name.startswith("["):
        assert name in output  # shown as typed, not read as Rich markup


def test_bad_directories_are_refused_with_nothing_changed(
    tmp_path: Path, clock: FrozenClock
) -> None:
    config, _ = _setup(tmp_path, clock)
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("years of work")
    link = tmp_path / "link"
    link.symlink_to(home)
    before = _files(tmp_path)
    cases = {
        str(a_file): "is a file, not a directory",
        str(home): "holds files that are not a status export",
        str(link): "is a symbolic link",
        str(tmp_path): "holds",  # the store and the config are in it
        str(tmp_path / "missing" / "site"): "does not exist",
        str(a_file / "site"): "does not exist or is not a directory",
        "/": "root directory",
    }
    for target, words in cases.items():
        code, output = _export(config, clock, target)
        assert code == 2, (target, output)
        assert words in output, (target, output)
    assert _files(tmp_path) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write in any directory")
def test_an_unwritable_parent_is_refused(tmp_path: Path, clock: FrozenClock) -> None:
    config, _ = _setup(tmp_path, clock)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    code, output = _export(config, clock, str(locked / "site"))
    assert code == 2 and "cannot write in" in output


def _busy_store(tmp_path: Path, clock: FrozenClock) -> Path:
    """Two hundred past incidents: a site of some hundreds of files, long enough to write
    that a kill lands mid-export."""
    config, _ = _setup(tmp_path, clock)
    store = open_store(f"sqlite:///{tmp_path / 'opsbook.db'}")
    now = dt.datetime.now(dt.UTC)
    with store.session() as session:
        for n in range(200):
            at = now - dt.timedelta(days=2 * n + 1)
            past_incident(session, status_config("sqlite://"), at, f"Slow queries ({n}).")
    store.close()
    return config


def _complete(site: Path, names: set[str]) -> None:
    """The site is one whole export: every file there, each one whole."""
    files = _files(site)
    assert set(files) == names
    for name, body in files.items():
        if name.endswith(".html"):
            assert body.rstrip().endswith(b"</html>"), name
        elif name.endswith(".json"):
            json.loads(body)


@pytest.mark.slow
def test_a_killed_export_leaves_the_old_site_whole(tmp_path: Path, clock: FrozenClock) -> None:
    config = _busy_store(tmp_path, clock)
    site = tmp_path / "site"
    command = [sys.executable, "-m", "opsbook", "--config", str(config), "status", "export"]
    started = dt.datetime.now()
    subprocess.run([*command, str(site)], check=True, capture_output=True)
    took = (dt.datetime.now() - started).total_seconds()
    names = set(_files(site))
    assert len(names) > 200
    rng = random.Random()
    for _ in range(4):
        process = subprocess.Popen([*command, str(site)], stdout=subprocess.DEVNULL)
        delay = rng.uniform(0.3, took)
        try:
            process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
        _complete(site, names)
    subprocess.run([*command, str(site)], check=True, capture_output=True)
    _complete(site, names)
    assert not list(tmp_path.glob(".site.new-*"))  # a killed one's leftovers are gone


@pytest.mark.parametrize("name", ["*", "s?te", "[s]ite"])
def test_a_wildcard_name_leaves_other_exports_alone(
    tmp_path: Path, clock: FrozenClock, name: str
) -> None:
    """A killed export's leftovers are found by DIR's name taken literally: `*` is one
    directory, not every export's work in progress beside it."""
    config, _ = _setup(tmp_path, clock)
    in_progress = tmp_path / ".site.new-abc123"  # another export of ./site, under way
    in_progress.mkdir()
    (in_progress / "index.html").write_text("half written")

    code, output = _export(config, clock, str(tmp_path / name))

    assert code == 0, output
    assert (tmp_path / name / "index.html").is_file()
    assert (in_progress / "index.html").read_text() == "half written"
