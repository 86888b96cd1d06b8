"""`opsbook drill` on a real server: a drill of the rich database passes with the same
rows, checksums and schema, writes both reports, records itself and drops its scratch
database; a writer inserting during its backup changes nothing; a schema difference, an
older backup whose source has changed since, and an app that exits at once are each
named, exit 1 and open action items; Ctrl-C drops the scratch database too; the sandbox
app started on the restored copy passes; bad targets, commands and folders change
nothing."""

from __future__ import annotations

import json
import shlex
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from opsbook.backups import drill as drilling
from opsbook.backups import records
from opsbook.backups.actions import DrillInputs
from opsbook.config import load_config
from opsbook.incidents import service as incidents
from opsbook.postgres.cluster import TempCluster
from opsbook.registry import default_registry
from opsbook.runbooks.actions import ActionContext, ActionFailed
from opsbook.sandbox.schema import apply_schema
from opsbook.store import Store, open_store
from opsbook.store.audit import entries
from tests.backups.conftest import Backups
from tests.conftest import wait_for


@pytest.fixture
def store(backups: Backups) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{backups.config.parent / 'opsbook.db'}")
    yield opened
    opened.close()


def _scratch_left(url: str) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        found = conn.execute("select datname from pg_database where datname like 'opsbook_drill%'")
        return [row[0] for row in found]


def _drill(backups: Backups, *args: str, code: int = 0) -> dict[str, Any]:
    result = backups.opsbook("drill", *args, "--json")
    assert result.exit_code == code, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _service_drill(
    backups: Backups, store: Store, url: str, after_restore: Callable[[str], None]
) -> records.Drill:
    return drilling.run_drill(
        store=store,
        config=load_config(backups.config),
        ask=drilling.DrillAsk(source_url=url),
        root=backups.folder,
        report_dir=backups.folder / "drills",
        actor="alice",
        clock=backups.clock,
        after_restore=after_restore,
    )


@pytest.mark.slow
def test_a_drill_of_the_rich_database_passes_reports_and_is_recorded(
    backups: Backups, rich_db: str, store: Store
) -> None:
    done = _drill(backups)
    assert done["verdict"] == "passed" and done["problems"] == [], done
    assert [s["name"] for s in done["stages"]] == ["backup", "restore", "rows", "schema"]
    assert all(s["outcome"] == "passed" for s in done["stages"])
    assert done["rto_seconds"] is not None and done["rto_seconds"] > 0
    assert done["took_backup"] and done["target"].startswith(f"opsbook_drill_{done['backup']}_")
    assert "content checksums of 2" in " ".join(done["checked"])
    assert json.loads(Path(done["reports"]["json"]).read_text()) == done
    report = Path(done["reports"]["markdown"]).read_text()
    assert report.startswith("# DR drill 1: passed") and "| schema | passed |" in report
    assert _scratch_left(rich_db) == []
    listed = json.loads(backups.opsbook("drill", "list", "--json").stdout)
    assert [(d["id"], d["backup"], d["verdict"]) for d in listed] == [(1, done["backup"], "passed")]
    assert listed[0]["rto_seconds"] == done["rto_seconds"]
    with store.reading() as session:
        audit = [(e.action, e.outcome) for e in entries(session, action="backup.drill")]
    assert audit == [("backup.drill", "ok"), ("backup.drill", "started")]


@pytest.mark.slow
def test_a_writer_inserting_during_the_drills_own_backup_changes_nothing(
    backups: Backups, rich_db: str
) -> None:
    stop = threading.Event()
    written = [0]

    def write() -> None:
        with psycopg.connect(rich_db, autocommit=True) as conn:
            while not stop.is_set():
                conn.execute("insert into calls (org_id, mood) values (2, 'busy')")
                written[0] += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        wait_for(lambda: written[0] > 20)
        result = backups.opsbook("drill", "--json")
    finally:
        stop.set()
        writer.join()
    assert result.exit_code == 0, result.output
    done = json.loads(result.stdout)
    assert done["verdict"] == "passed", done["problems"]
    assert written[0] > 20


@pytest.mark.slow
def test_a_schema_difference_is_named_and_opens_action_items(
    backups: Backups, rich_db: str, store: Store
) -> None:
    def drop_trigger(url: str) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("drop trigger calls_touch on calls")

    done = _service_drill(backups, store, rich_db, drop_trigger)
    assert done.problems == ["trigger public.calls.calls_touch: missing in restore"]
    assert done.verdict == "failed" and done.rto_seconds is None
    assert [(s.name, s.outcome) for s in done.stages][-1] == ("schema", "failed")
    assert _scratch_left(rich_db) == []
    assert done.incident is not None
    with store.reading() as session:
        incident = incidents.get(session, incident_id=done.incident)
        assert incident.severity == "P3"
        items = [i.title for i in incidents.list_actions(session, incident_id=done.incident)]
        [past] = records.list_drills(session=session)
    assert "DR drill: trigger public.calls.calls_touch: missing in restore" in items
    assert (past.verdict, past.problems, past.incident) == ("failed", 1, done.incident)
    assert "trigger public.calls.calls\\_touch: missing in restore" in Path(past.report).read_text()


@pytest.mark.slow
def test_ctrl_c_after_the_restore_drops_the_scratch_database(
    backups: Backups, rich_db: str, store: Store
) -> None:
    def interrupt(_url: str) -> None:
        assert len(_scratch_left(rich_db)) == 1
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _service_drill(backups, store, rich_db, interrupt)
    assert _scratch_left(rich_db) == []
    with store.reading() as session:
        assert records.list_drills(session=session) == []
        audit = [e.outcome for e in entries(session, action="backup.drill")]
    assert audit == ["failed", "started"]


@pytest.mark.slow
def test_an_older_backup_is_compared_with_the_source_as_it_is_now(
    backups: Backups, rich_db: str
) -> None:
    created = backups.json("create", "--checksums")
    with psycopg.connect(rich_db, autocommit=True) as conn:
        conn.execute("alter table orgs add column region text")
        conn.execute("select nextval('ticket_numbers')")  # moved on: not a difference
    result = backups.opsbook("drill", "--backup", str(created["id"]))
    assert result.exit_code == 1, result.output
    assert "column public.orgs.region: missing in restore" in result.stderr
    assert "1 problem(s); action items on incident #1" in " ".join(result.stdout.split())
    assert _scratch_left(rich_db) == []


@pytest.mark.slow
def test_the_sandbox_app_on_the_restored_database_passes(backups: Backups, pg_url: str) -> None:
    apply_schema(pg_url)
    command = shlex.join([sys.executable, "-m", "opsbook", "sandbox", "run"])
    done = _drill(backups, "--app-cmd", command)
    assert done["verdict"] == "passed", done["problems"]
    [app] = [s for s in done["stages"] if s["name"] == "app"]
    assert app["outcome"] == "passed" and app["saw"].endswith('200 {"status":"ok"}')
    assert done["rto_seconds"] >= app["seconds"]
    assert _scratch_left(pg_url) == []


@pytest.mark.slow
def test_an_app_that_exits_at_once_fails_the_drill(backups: Backups, pg_url: str) -> None:
    command = shlex.join([sys.executable, "-c", "raise SystemExit(3)"])
    done = _drill(backups, "--app-cmd", command, code=1)
    [problem] = done["problems"]
    assert problem.startswith("app: the app exited with code 3 before it was healthy")
    assert done["rto_seconds"] is None and _scratch_left(pg_url) == []


@pytest.mark.slow
def test_the_runbook_action_runs_the_same_drill(backups: Backups, pg_url: str) -> None:
    action = default_registry().get("backup.drill")
    config = load_config(backups.config)
    store = open_store(config.store.url.reveal())
    try:
        context = ActionContext(config, store, backups.clock, "alice", timeout=600)
        output = action.run(context, DrillInputs())
        assert output["verdict"] == "passed" and output["id"] == 1
        failing = DrillInputs(app_cmd=shlex.join([sys.executable, "-c", "pass"]))
        with pytest.raises(ActionFailed, match="drill 2 found 1 problem"):
            action.run(context, failing)
    finally:
        store.close()
    assert _scratch_left(pg_url) == []


@pytest.fixture
def other_db(pg_cluster: TempCluster) -> Iterator[str]:
    url = pg_cluster.create_database("drill_target")
    yield url
    pg_cluster.drop_database("drill_target")


def test_bad_input_changes_nothing(backups: Backups, pg_url: str, other_db: str) -> None:
    with psycopg.connect(other_db, autocommit=True) as conn:
        conn.execute("create table keep_me (id int)")
    marker = backups.config.parent / "pwned"
    for args, said in [
        (["--target", other_db], "is not empty: it holds public.keep_me"),
        (["--target", pg_url], "is the production database"),
        (["--target", "; rm -rf /tmp/x"], "is not a PostgreSQL connection string"),
        (["--target", "host=a\x1b[31m dbname=x"], "holds a control character"),
        (["--backup", f"$(touch {marker})"], "a backup id"),
        (["--backup", "99999"], "no backup 99999"),
        (["--app-cmd", "run 'me"], "No closing quotation"),
        (["--app-cmd", "x", "--app-url", "javascript:[/x]"], "app URL"),
        (["--app-url", "http://127.0.0.1/"], "--app-url needs --app-cmd"),
        (["--report-dir", str(backups.config)], "the report folder"),
    ]:
        result = backups.opsbook("drill", *args)
        assert result.exit_code == 2, (args, result.output)
        assert said in " ".join(result.stderr.split()), (args, result.stderr)
        assert "nothing was changed" in result.stderr
    assert backups.json("list") == [] and not marker.exists()
    assert json.loads(backups.opsbook("drill", "list", "--json").stdout) == []
    assert _scratch_left(pg_url) == []


def test_a_report_that_cannot_be_written_keeps_the_drill_and_leaves_no_part(
    backups: Backups, pg_url: str
) -> None:
    drills = backups.folder / "drills"
    drills.mkdir(parents=True)
    stamp = f"{backups.clock.now():%Y%m%dT%H%M%SZ}"
    (drills / f"drill-1-{stamp}.json.part").symlink_to("/dev/full")  # a full disk
    result = backups.opsbook("drill", "--json")
    assert result.exit_code == 1, result.output
    done = json.loads(result.stdout)
    assert done["verdict"] == "passed" and done["reports"] == {}, done
    assert "No space left on device" in done["report_error"]
    assert str(drills) in done["report_error"]
    assert "the drill is recorded" in result.stderr
    assert list(drills.iterdir()) == []  # no empty or half-written report
    listed = json.loads(backups.opsbook("drill", "list", "--json").stdout)
    assert [(d["id"], d["verdict"], d["report"]) for d in listed] == [(1, "passed", "")]
    again = _drill(backups)
    assert again["id"] == 2 and again["report_error"] is None
    assert json.loads(Path(again["reports"]["json"]).read_text()) == again
    assert sorted(p.name for p in drills.iterdir()) == [
        Path(again["reports"]["json"]).name,
        Path(again["reports"]["markdown"]).name,
    ]


def test_ctrl_c_while_a_report_is_written_leaves_no_part_and_no_record(
    backups: Backups, pg_url: str, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_text = Path.write_text

    def interrupted(path: Path, text: str, *args: Any, **kwargs: Any) -> int:
        if path.name.endswith(".md.part"):
            write_text(path, text[:7], *args, **kwargs)  # begun, then Ctrl-C
            raise KeyboardInterrupt
        return write_text(path, text, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _service_drill(backups, store, pg_url, lambda _url: None)
    assert list((backups.folder / "drills").iterdir()) == []
    with store.reading() as session:
        assert records.list_drills(session=session) == []
