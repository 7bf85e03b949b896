"""Start-up of the commands a user types first: ``schedsim --help`` and ``schedsim check``.

Runs each command ``--rounds`` times, interleaved with the interpreter's floor (``python3 -c
pass``), with and without the package's compiled bytecode (``.pyc``, written on a user's
first run unless ``PYTHONDONTWRITEBYTECODE`` is set, as it is on some build hosts), and prints
the median and minimum wall time of each. Wall time, not CPU: the target of issue 18 is what a
user waits. The interpreter and the ``schedsim`` script are the real ones, not a version
manager's shims (pyenv's add about 60-100 ms of shell to each command here).
Usage: ``python bench/startup.py [--rounds 11] [--scenario scenarios/spot.yaml] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).resolve().parent.parent / "schedsim"


def drop_bytecode() -> None:
    for cache in PACKAGE.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)


def compile_bytecode() -> None:
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(PACKAGE)], check=True)


def wall(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=False)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=11)
    ap.add_argument("--scenario", default="scenarios/spot.yaml")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    schedsim = shutil.which("schedsim") or "schedsim"
    commands = {"python3 -c pass": [sys.executable, "-c", "pass"],
                "schedsim --help": [schedsim, "--help"],
                "schedsim check": [schedsim, "check", args.scenario]}
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # each arm keeps the bytecode state it set up
    times: dict[str, list[float]] = {f"{name} ({arm})": [] for name in commands
                                     for arm in ("pyc", "no pyc")}
    for _ in range(args.rounds):
        for arm in ("pyc", "no pyc"):
            compile_bytecode() if arm == "pyc" else drop_bytecode()
            for name, argv in commands.items():
                times[f"{name} ({arm})"].append(wall(argv, env))
    compile_bytecode()
    out: dict[str, Any] = {"rounds": args.rounds, "load_average": os.getloadavg(),
                           "results": {}}
    for key, values in times.items():
        med, low = statistics.median(values), min(values)
        out["results"][key] = {"median_s": med, "min_s": low, "all_s": values}
        print(f"{key:34s} median {med:.3f} s  min {low:.3f} s")
    print(f"load average {out['load_average'][0]:.2f}; ran {sys.executable} and {schedsim}")
    out["executables"] = [sys.executable, schedsim]
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
