"""Goal (issue 17, item 8): every command answers at once. `opsbook --help` and
`opsbook incident list` on a small SQLite store each take under 0.25 s of wall time.

Each figure is the median of --runs subprocess runs, taken in the same run as
`python -c pass` (the interpreter's own start), so that on a loaded machine the ratio
still says how much opsbook adds. `incident list` is timed twice: as it runs by default
(handed to the warm command server, `opsbook.cliserver`, which the first run started)
and in its own process (`OPSBOOK_SERVER=off`), what every command paid before the
server. The store holds --incidents incidents, opened through the CLI before timing
starts. Bytecode is cached (in a temporary folder) and one warm-up run precedes the timed
ones, as for an installed opsbook: with PYTHONDONTWRITEBYTECODE set, every run would
compile opsbook's modules again.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_S = 0.25
# The installed entry point, as a person runs it (`python -m opsbook` when there is none).
_SCRIPT = Path(sys.executable).with_name("opsbook")
OPSBOOK = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "opsbook"]


def _wall(command: list[str], *, cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def _prepare(folder: Path, incidents: int, env: dict[str, str]) -> None:
    (folder / "opsbook.yaml").write_text("store:\n  url: sqlite:///opsbook.db\n")
    for number in range(incidents):
        subprocess.run(
            [*OPSBOOK, "incident", "open", "--sev", "P2", "--title", f"Checkout slow {number}"],
            cwd=folder,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )


def _wait_for_server(run: Path) -> int:
    """The pid of the command server the preparing commands started, once it listens."""
    deadline = time.monotonic() + 120
    while not list(run.glob("opsbook/*.sock")):
        if time.monotonic() > deadline:
            sys.exit("the command server did not start")
        time.sleep(0.1)
    return int(next(run.glob("opsbook/*.lock")).read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15, help="Runs per command (median).")
    parser.add_argument("--incidents", type=int, default=5, help="Incidents in the store.")
    args = parser.parse_args()
    env = {**os.environ, "COLUMNS": "80"}
    for name in ("OPSBOOK_CONFIG", "PYTHONDONTWRITEBYTECODE", "OPSBOOK_SERVER"):
        env.pop(name, None)
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "opsbook --help": [*OPSBOOK, "--help"],
        "opsbook incident list": [*OPSBOOK, "incident", "list"],
        "  ... in its own process": [*OPSBOOK, "incident", "list"],
    }
    with tempfile.TemporaryDirectory(prefix="opsbook-startup-") as name:
        folder = Path(name)
        env["PYTHONPYCACHEPREFIX"] = str(folder / "pycache")
        env["XDG_RUNTIME_DIR"] = str(folder / "run")  # a server of this run's own
        (folder / "run").mkdir()
        envs = {label: env for label in commands}
        envs["  ... in its own process"] = {**env, "OPSBOOK_SERVER": "off"}
        _prepare(folder, args.incidents, env)  # also the warm-up: bytecode written
        server = _wait_for_server(folder / "run")
        times: dict[str, list[float]] = {label: [] for label in commands}
        try:
            for _ in range(args.runs):  # interleaved: a burst of load hits every command alike
                for label, command in commands.items():
                    times[label].append(_wall(command, cwd=folder, env=envs[label]))
        finally:
            os.kill(server, signal.SIGTERM)
    base = statistics.median(times["python -c pass"])
    print(f"{'command':<24}{'median s':>10}{'min s':>8}{'x python':>10}  goal")
    for label, measured in times.items():
        median = statistics.median(measured)
        timed = label.startswith("opsbook")  # the goal's figures; the rest for comparison
        verdict = ("ok" if median < GOAL_S else "MISSED") if timed else ""
        print(f"{label:<24}{median:>10.3f}{min(measured):>8.3f}{median / base:>10.1f}  {verdict}")
    print(f"goal: under {GOAL_S} s each; {args.runs} runs, {args.incidents} incidents")


if __name__ == "__main__":
    main()
