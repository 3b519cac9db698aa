"""Wall time of grading one full submission with `brokerlab grade` (and of a student's
`brokerlab check`), process start included.

Target (issue 2): under 3 s on the 2-core machine, despite the course's 30 s visibility timeouts,
5 s long polls and 2 s sleeps (all virtual). Runs the CLI as a user would, several times, and
prints the median and the worst.

    .venv/bin/python benchmarks/grade_one.py [--runs 5] [PATH]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=ROOT / "solutions")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "grader", "grade", str(args.path), "--format", "json"],
                              capture_output=True, text=True, cwd=ROOT)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            sys.exit(f"grading failed: {done.stderr.strip()}")
        score = json.loads(done.stdout)["score"]
    print(f"brokerlab grade {args.path.name}: score {score:g}; wall time over {args.runs} runs: "
          f"median {statistics.median(times):.2f} s, worst {max(times):.2f} s (target < 3 s)")
    checks = []
    for _ in range(args.runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "grader", "check", "--path", str(args.path)], capture_output=True,
                       cwd=ROOT, check=True)
        checks.append(time.perf_counter() - start)
    print(f"brokerlab check: median {statistics.median(checks):.2f} s, worst {max(checks):.2f} s (target < 3 s)")


if __name__ == "__main__":
    main()
