"""The prometheus check against a local server speaking Prometheus' query API: NaN and
infinities, empty answers, several series, strings, hostile answers, and credentials.
(tests/watch/test_prometheus_real.py runs the same check against a real Prometheus.)"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from opsbook.cli import app
from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.jsonout import dumps
from opsbook.serving import BackgroundServer
from opsbook.watch.result import CheckResult
from opsbook.watch.runner import run_checks
from tests.watch.fakes import FakePrometheus

TOKEN = "s3cr3t-t0ken-9f8e7d6c5b4a"
PASSWORD = "pa55-w0rd-77aa88bb"


@pytest.fixture
def prom() -> Iterator[tuple[FakePrometheus, str]]:
    fake = FakePrometheus()
    server = BackgroundServer(fake.app).start()
    try:
        yield fake, server.url
    finally:
        server.stop()


def vector(*series: tuple[dict[str, str], str]) -> dict[str, Any]:
    result = [{"metric": labels, "value": [1772443800.5, value]} for labels, value in series]
    return {"resultType": "vector", "result": result}


def up(instance: str, value: str) -> tuple[dict[str, str], str]:
    return {"__name__": "up", "instance": instance, "job": "node"}, value


def one(url: str, clock: FrozenClock, query: str, **fields: Any) -> CheckResult:
    check = {"name": "c", "kind": "prometheus", "url": url, "query": query, "metric": "m"}
    config = Config.model_validate({"checks": [{**check, **fields}]})
    [result] = asyncio.run(run_checks(config, config.checks, clock=clock))
    return result


def strict_loads(text: str) -> Any:
    """RFC 8259: the bare words NaN, Infinity and -Infinity are not JSON."""

    def refuse(word: str) -> Any:
        raise ValueError(f"{word} is not JSON")

    return json.loads(text, parse_constant=refuse)


# --- NaN and infinities (issue #12, item 10) ----------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"), [("NaN", "m = NaN"), ("+Inf", "m = +Inf"), ("-Inf", "m = -Inf")]
)
def test_nan_and_infinities_are_never_ok(
    prom: tuple[FakePrometheus, str], clock: FrozenClock, value: str, shown: str
) -> None:
    fake, url = prom
    fake.data["q"] = {"resultType": "scalar", "result": [1772443800.5, value]}
    result = one(url, clock, "q")
    assert result.state == "error"
    assert result.summary.startswith(shown) and "no measurement" in result.summary
    assert result.metrics == {}  # no sample a rule window could choke on
    document = strict_loads(dumps(result.as_dict(), default=str))
    assert document["details"]["series"] == [{"labels": {}, "value": None, "state": "error"}]


def test_a_value_past_the_largest_float_is_infinite(
    prom: tuple[FakePrometheus, str], clock: FrozenClock
) -> None:
    fake, url = prom
    fake.data["q"] = vector(({}, "1e999"))
    result = one(url, clock, "q")
    assert result.state == "error" and "m = +Inf" in result.summary


# --- empty answers (item 11) ----------------------------------------------------------------


@pytest.mark.parametrize("on_empty", ["ok", "degraded", "down", None])
def test_on_empty_decides_an_empty_answer(
    prom: tuple[FakePrometheus, str], clock: FrozenClock, on_empty: str | None
) -> None:
    fake, url = prom
    fake.data["sum(up) < 10"] = vector()
    fields = {} if on_empty is None else {"on_empty": on_empty}
    result = one(url, clock, "sum(up) < 10", **fields)
    assert result.state == (on_empty or "degraded")
    assert result.summary == "m: the query returned no data"


def test_with_on_empty_ok_every_series_returned_is_firing(
    prom: tuple[FakePrometheus, str], clock: FrozenClock
) -> None:
    fake, url = prom
    fake.data["sum(up) < 10"] = vector(({}, "7"))
    result = one(url, clock, "sum(up) < 10", on_empty="ok")
    assert result.state == "down"
    assert result.summary.startswith("m = 7 (firing")


# --- several series (item 12) -----------------------------------------------------------------


def test_the_worst_series_decides_and_is_named(
    prom: tuple[FakePrometheus, str], clock: FrozenClock
) -> None:
    fake, url = prom
    fake.data["up"] = vector(up("a:9100", "1"), up("b:9100", "0"), up("c:9100", "1"))
    result = one(url, clock, "up", crit=1, direction="below")
    assert result.state == "down"
    assert result.summary == (
        'up{instance="b:9100",job="node"} = 0 (below crit 1) (1 of 3 series failing)'
    )
    assert result.metrics == {"m": 0.0}
    assert result.details["count"] == 3
    assert result.details["series"][0]["labels"]["instance"] == "b:9100"


def test_warn_and_crit_grade_each_series(
    prom: tuple[FakePrometheus, str], clock: FrozenClock
) -> None:
    fake, url = prom
    fake.data["lag"] = vector(({"db": "a"}, "3"), ({"db": "b"}, "12"), ({"db": "c"}, "30"))
    warned = one(url, clock, "lag", warn=10, crit=60)
    assert warned.state == "degraded"
    assert warned.summary == 'm{db="c"} = 30 (above warn 10); m{db="b"} = 12 (above warn 10)' + (
        " (2 of 3 series failing)"
    )
    assert warned.metrics == {"m": 30.0}
    fine = one(url, clock, "lag", crit=60)
    assert fine.state == "ok" and fine.summary == '3 series ok; highest m{db="c"} = 30'


def test_a_nan_series_fails_beside_healthy_ones(
    prom: tuple[FakePrometheus, str], clock: FrozenClock
) -> None:
    fake, url = prom
    fake.data["ratio"] = vector(({"route": "/a"}, "0.01"), ({"route": "/b"}, "NaN"))
    result = one(url, clock, "ratio", crit=0.05)
    assert result.state == "error"
    assert result.summary.startswith('m{route="/b"} = NaN (not a number')
    assert "(1 of 2 series failing)" in result.summary


def test_many_failing_series_are_counted_not_all_named(
    prom: tuple[FakePrometheus, str], clock: FrozenClock
) -> None:
    fake, url = prom
    fake.data["up"] = vector(*(up(f"h{i}:9100", "0") for i in range(8)))
    result = one(url, clock, "up", crit=1, direction="below")
    assert result.summary.count("up{") == 3
    assert "; and 5 more (8 of 8 series failing)" in result.summary
    assert len(result.details["series"]) == 8


@pytest.mark.parametrize(
    ("aggregate", "value"),
    [("min", 0.0), ("max", 1.0), ("sum", 2.0), ("avg", 2 / 3), ("any", 1.0), ("all", 0.0)],
)
def test_aggregate_judges_one_value_of_all_series(
    prom: tuple[FakePrometheus, str], clock: FrozenClock, aggregate: str, value: float
) -> None:
    fake, url = prom
    fake.data["up"] = vector(up("a:9100", "1"), up("b:9100", "0"), up("c:9100", "1"))
    result = one(url, clock, "up", aggregate=aggregate)
    assert result.state == "ok"
    assert result.metrics == {"m": pytest.approx(value)}
    assert result.summary.startswith(f"{aggregate}(m) over 3 series = ")


def test_aggregate_below_a_threshold_fails(
    prom: tuple[FakePrometheus, str], clock: FrozenClock
) -> None:
    fake, url = prom
    fake.data["up"] = vector(up("a:9100", "1"), up("b:9100", "0"))
    result = one(url, clock, "up", aggregate="all", crit=1, direction="below")
    assert result.state == "down"
    assert result.summary == "all(m) over 2 series = 0 (below crit 1)"


def test_aggregate_of_a_nan_series_is_that_series(
    prom: tuple[FakePrometheus, str], clock: FrozenClock
) -> None:
    fake, url = prom
    fake.data["q"] = vector(({"i": "a"}, "1"), ({"i": "b"}, "NaN"))
    result = one(url, clock, "q", aggregate="max")
    assert result.state == "error" and result.summary.startswith('m{i="b"} = NaN')


def test_huge_sums_are_infinite_not_a_crash(
    prom: tuple[FakePrometheus, str], clock: FrozenClock
) -> None:
    fake, url = prom
    fake.data["q"] = vector(({"i": "a"}, "1e308"), ({"i": "b"}, "1e308"))
    result = one(url, clock, "q", aggregate="sum")
    assert result.state == "error" and "= +Inf" in result.summary


def test_strings_and_range_vectors_say_so(
    prom: tuple[FakePrometheus, str], clock: FrozenClock
) -> None:
    fake, url = prom
    fake.data['"hello"'] = {"resultType": "string", "result": [1772443800.5, "hello"]}
    fake.data["up[1m]"] = {"resultType": "matrix", "result": []}
    text = one(url, clock, '"hello"')
    assert text.state == "error"
    assert text.summary == "m: the query returned a string ('hello'), not a number"
    matrix = one(url, clock, "up[1m]")
    assert matrix.state == "error" and "range vector" in matrix.summary


# --- hostile answers ----------------------------------------------------------------------------


def test_hostile_labels_are_shown_escaped_and_cut(
    prom: tuple[FakePrometheus, str], clock: FrozenClock
) -> None:
    fake, url = prom
    label = 'a"b\\c\n[/x][bold]\x1b[31m$(rm -rf /); rm\x00'
    fake.data["q"] = vector(({"who": label}, "0"), ({"long": "x" * 5000}, "0"))
    result = one(url, clock, "q", crit=1, direction="below")
    assert 'who="a\\"b\\\\c\\n[/x][bold]\x1b[31m$(rm -rf /); rm\x00"' in result.summary
    assert len(result.summary) < 600


def test_hostile_labels_reach_the_terminal_inert(
    prom: tuple[FakePrometheus, str], tmp_path: Path
) -> None:
    fake, url = prom
    fake.data["q"] = vector(({"who": "[/x][bold red]\x1b[2J\x1b]0;pwned\x07\u202e"}, "0"))
    config = _config_file(tmp_path, url, query="q", on_empty="ok")
    table = CliRunner().invoke(app, ["--config", str(config), "check"])
    assert table.exit_code == 1
    assert "\x1b" not in table.stdout and "\x07" not in table.stdout
    assert "\u202e" not in table.stdout
    assert "[/x][bold" in table.stdout and "\\x1b" in table.stdout  # shown as typed
    as_json = CliRunner().invoke(app, ["--config", str(config), "check", "--json"])
    [document] = strict_loads(as_json.stdout)
    assert document["details"]["series"][0]["labels"]["who"].startswith("[/x][bold red]\x1b")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (
            '{"status":"success","data":{"resultType":"vector","result":[{"metric":{},'
            '"value":[1,"; rm -rf /"]}]}}',
            "not a number: '; rm -rf /'",
        ),
        (
            '{"status":"success","data":{"resultType":"vector","result":[{"metric":{},'
            '"value":[1,true]}]}}',
            "not a number: True",
        ),
        ('{"status":"success","data":{"resultType":"vector","result":{"a":1}}}', "unknown"),
        ('{"status":"success","data":{"resultType":"vector","result":[7]}}', "without labels"),
        (
            '{"status":"success","data":{"resultType":"vector","result":[{"metric":{}}]}}',
            "[time, value]",
        ),
        ('{"status":"success","data":"x"}', "without data"),
        ("[" * 100_000 + "]" * 100_000, "JSON nested deeper than 64 levels"),
        ('{"status":"success"' + " " * 400_000 + "}", "without JSON"),
        ("<html>$(reboot)</html>", "without JSON"),
        ('{"status":"error","error":"[/x] ' + "e" * 1000 + '"}', "failed: [/x] eee"),
        ('{"detail":"Not Found"}', 'failed: HTTP 200: {"detail":"Not Found"}'),
    ],
)
def test_hostile_answers_are_errors_with_a_sentence(
    prom: tuple[FakePrometheus, str], clock: FrozenClock, body: str, words: str
) -> None:
    fake, url = prom
    fake.raw["q"] = body
    result = one(url, clock, "q")
    assert result.state == "error"
    assert words in result.summary
    assert len(result.summary) < 400
    assert not result.summary.startswith("the check itself failed")


def test_the_query_travels_as_data(prom: tuple[FakePrometheus, str], clock: FrozenClock) -> None:
    fake, url = prom
    query = "up{job=\"$(reboot)\"} ; rm -rf / && echo 'x' # [/x]"
    fake.data[query] = vector(({}, "1"))
    assert one(url, clock, query).state == "ok"


# --- credentials (item 13) -----------------------------------------------------------------------


def test_bearer_token_and_headers_are_sent(
    prom: tuple[FakePrometheus, str], clock: FrozenClock
) -> None:
    fake, url = prom
    fake.data["up"] = vector(up("a:9100", "1"))
    result = one(url, clock, "up", bearer_token=TOKEN, headers={"X-Scope-OrgID": "tenant-1"})
    assert result.state == "ok"
    [sent] = fake.headers
    assert sent["authorization"] == f"Bearer {TOKEN}"
    assert sent["x-scope-orgid"] == "tenant-1"


def test_basic_auth_is_sent(prom: tuple[FakePrometheus, str], clock: FrozenClock) -> None:
    fake, url = prom
    fake.data["up"] = vector(up("a:9100", "1"))
    one(url, clock, "up", basic_auth={"username": "opsbook", "password": PASSWORD})
    # base64("opsbook:pa55-w0rd-77aa88bb"), as RFC 7617 writes it
    assert fake.headers[0]["authorization"] == "Basic b3BzYm9vazpwYTU1LXcwcmQtNzdhYTg4YmI="


def _config_file(tmp_path: Path, url: str, **fields: Any) -> Path:
    check = {"name": "prom", "kind": "prometheus", "url": url, "metric": "m", **fields}
    path = tmp_path / "opsbook.yaml"
    path.write_text(
        json.dumps({"store": {"url": f"sqlite:///{tmp_path / 's.db'}"}, "checks": [check]})
    )
    return path


def test_secrets_never_reach_output_or_logs(
    prom: tuple[FakePrometheus, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake, url = prom
    # A proxy that echoes what it was sent back in its error, and a header of our own.
    fake.raw["up"] = json.dumps(
        {"status": "error", "error": f"denied: token {TOKEN} password {PASSWORD}"}
    )
    runner = CliRunner()
    caplog.set_level(logging.DEBUG)
    for secret, fields in (
        (TOKEN, {"bearer_token": TOKEN}),
        (PASSWORD, {"basic_auth": {"username": "u", "password": PASSWORD}}),
        (TOKEN, {"headers": {"X-Api-Key": TOKEN}}),
    ):
        config = _config_file(tmp_path, url, query="up", **fields)
        outputs = []
        caplog.clear()  # each config's own secrets: the others' are text to this one
        for args in (["check", "--json"], ["check"], ["config", "check", "--json"]):
            result = runner.invoke(app, ["--config", str(config), *args])
            outputs.append(result.stdout + result.stderr)
        everything = "\n".join(outputs) + caplog.text
        assert secret not in everything, fields
        assert "***" in outputs[0]
    assert len(fake.headers) == 6  # two checks per config: the secrets were sent


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"bearer_token": TOKEN + "\r\nX-Evil: 1"}, "bearer_token: the value holds a control"),
        ({"headers": {"X-A": "v\nX-Evil: 1"}}, "the value holds a control character"),
        ({"headers": {"X A\n": "v"}}, "a header name is letters"),
        (
            {"bearer_token": TOKEN, "basic_auth": {"username": "u", "password": "p"}},
            "bearer_token and basic_auth both set the credential",
        ),
        (
            {"bearer_token": TOKEN, "headers": {"authorization": "Basic x"}},
            "both set the credential",
        ),
        ({"basic_auth": {"username": "a:b", "password": "p"}}, "cannot hold a colon"),
        ({"on_empty": "maybe"}, "on_empty"),
        ({"aggregate": "median"}, "aggregate"),
        ({"crit": "nan"}, "crit"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(
    tmp_path: Path, fields: dict[str, Any], words: str
) -> None:
    config = _config_file(tmp_path, "http://127.0.0.1:9", query="up", **fields)
    result = CliRunner().invoke(app, ["--config", str(config), "check", "--json"])
    assert result.exit_code == 2
    assert words in result.stderr
    assert "checks" in result.stderr  # located: which check
    assert TOKEN not in result.stdout + result.stderr
    assert result.stdout == ""


def test_check_json_is_strict_json_with_nan(
    prom: tuple[FakePrometheus, str], tmp_path: Path
) -> None:
    fake, url = prom
    fake.data["0/0"] = {"resultType": "scalar", "result": [1772443800.5, "NaN"]}
    config = _config_file(tmp_path, url, query="0/0")
    result = CliRunner().invoke(app, ["--config", str(config), "check", "--json"])
    assert result.exit_code == 1
    [document] = strict_loads(result.stdout)
    assert document["state"] == "error" and document["ok"] is False
    assert document["details"]["series"][0]["value"] is None
    assert document["metrics"] == {}
