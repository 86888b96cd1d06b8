"""Goal (issue 17, item 8): every command answers at once. `opsbook --help` and
`opsbook incident list` on a small SQLite store each take under 0.25 s of wall time.

Each figure is the median of --runs subprocess runs, taken in the same run as
`python -c pass` (the interpreter's own start), so that on a loaded machine the ratio
still says how much opsbook adds. The store holds --incidents incidents, opened through
the CLI before timing starts. Bytecode is cached (in a temporary folder) and one warm-up
run precedes the timed ones, as for an installed opsbook: with PYTHONDONTWRITEBYTECODE
set, every run would compile opsbook's modules again.
"""

from __future__ import annotations

import argparse
import os
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15, help="Runs per command (median).")
    parser.add_argument("--incidents", type=int, default=5, help="Incidents in the store.")
    args = parser.parse_args()
    env = {**os.environ, "COLUMNS": "80"}
    env.pop("OPSBOOK_CONFIG", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "opsbook --help": [*OPSBOOK, "--help"],
        "opsbook incident list": [*OPSBOOK, "incident", "list"],
    }
    with tempfile.TemporaryDirectory(prefix="opsbook-startup-") as name:
        folder = Path(name)
        env["PYTHONPYCACHEPREFIX"] = str(folder / "pycache")
        _prepare(folder, args.incidents, env)  # also the warm-up: bytecode written
        times: dict[str, list[float]] = {label: [] for label in commands}
        for _ in range(args.runs):  # interleaved: a burst of load hits every command alike
            for label, command in commands.items():
                times[label].append(_wall(command, cwd=folder, env=env))
    base = statistics.median(times["python -c pass"])
    print(f"{'command':<24}{'median s':>10}{'min s':>8}{'x python':>10}  goal")
    for label, measured in times.items():
        median = statistics.median(measured)
        verdict = "" if label.startswith("python") else ("ok" if median < GOAL_S else "MISSED")
        print(f"{label:<24}{median:>10.3f}{min(measured):>8.3f}{median / base:>10.1f}  {verdict}")
    print(f"goal: under {GOAL_S} s each; {args.runs} runs, {args.incidents} incidents")


if __name__ == "__main__":
    main()
