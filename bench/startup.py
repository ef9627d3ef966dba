"""How long `cos` takes to start, against bare Python and bare click in the same run.

    .venv/bin/python bench/startup.py [--runs 7]

A worker that crashes in a loop, or a cron job running `cos campaign status`, pays this on
every start. Each figure is the median wall time of N fresh interpreters; the ratio is against
`python -c "import click"`, the least any click command can cost.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CASES = {
    "baseline: python -c 'import click'": ["-c", "import click"],
    "cos --help": ["-m", "cos.cli", "--help"],
    "cos --version": ["-m", "cos.cli", "--version"],
    "what `cos worker` imports": ["-c", "import cos.cli, pipeline.queues, pipeline.workers, "
                                        "pipeline.reconcile"],
    "what the web app imports": ["-c", "import forms, pipeline.checkin"],
}


def median_seconds(args: list[str], runs: int) -> float:
    """Return the median wall time of running the interpreter with these arguments."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, *args], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    """Print each case's median start time and its ratio to the baseline."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    figures = {name: median_seconds(args, runs) for name, args in CASES.items()}
    baseline = next(iter(figures.values()))
    print(f"start-up time, median of {runs} runs ({sys.executable})")
    for name, seconds in figures.items():
        print(f"  {name:<40} {seconds * 1000:7.0f} ms   {seconds / baseline:5.1f}x baseline")


if __name__ == "__main__":
    main()
