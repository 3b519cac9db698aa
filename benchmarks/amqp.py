"""The AMQP track's figures: how long the private RabbitMQ takes to start, and, with it running,
the wall time of grading one full AMQP submission and of a class run per submission.

Targets (the issue): one submission in at most 2 s, a class run at most 0.5 s per submission, on
the 2-core machine. The broker is started once here and handed to the graders through
BROKERLAB_AMQP_URL, as an instructor's broker would be: the figures exclude its start, which is
printed on its own.

    .venv/bin/python benchmarks/amqp.py [--runs 5] [--class-size 40] [--jobs N]

The class run goes through ``brokerlab grade-all`` (its default jobs unless ``--jobs``), outputs
and report included, so its figure holds the run's fixed cost (start-up, the report) spread over
the class; it also prints the cost of one more submission (the run of a class twice the size,
less this one, per submission added), which a larger class approaches.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.amqp.node import Node  # noqa: E402

AMQP = ("amqp_producer", "amqp_consumer", "amqp_routing")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--class-size", type=int, default=40, help="a course section (default 40)")
    parser.add_argument("--jobs", type=int, help="parallel gradings (default: grade-all's for an AMQP class)")
    args = parser.parse_args()
    node = Node()
    endpoint = node.start()
    print(f"RabbitMQ private node: started in {node.started_in:.1f} s (ready: AMQP port open, management API answers)")
    os.environ["BROKERLAB_AMQP_URL"] = endpoint.amqp_url("")
    os.environ["BROKERLAB_AMQP_MANAGEMENT_URL"] = endpoint.management_url
    work = Path(tempfile.mkdtemp(prefix="brokerlab-bench-amqp-"))
    try:
        one_submission(args.runs, work)
        class_run(args.class_size, args.jobs, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        node.stop()


def _submission(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name in AMQP:
        shutil.copy(ROOT / "solutions" / f"{name}.py", folder / f"{name}.py")
    return folder


def one_submission(runs: int, work: Path) -> None:
    from grader.grade import Grader

    folder = _submission(work / "one")
    times = []
    with Grader(exercises=AMQP, quizzes=False) as grader:
        grader.grade(folder)  # the first grading also starts the sandbox's box for each exercise
        for _ in range(runs):
            start = time.perf_counter()
            result = grader.grade(folder)
            times.append(time.perf_counter() - start)
    print(f"one AMQP submission ({sum(len(e.tests) for e in result.exercises.values())} tests, score "
          f"{result.score:g}/{result.max_score:g}), broker running: median {statistics.median(times):.2f} s, "
          f"worst {max(times):.2f} s over {runs} runs (target <= 2 s)")


def class_run(size: int, jobs: int | None, work: Path) -> None:
    from grader.bulk.pool import default_jobs

    jobs = jobs or default_jobs(rabbitmq=True)
    took = {n: _grade_all(n, jobs, work / f"class-{n}") for n in (size, 2 * size)}
    print(f"class run of {size} AMQP submissions, {jobs} at a time, broker running: {took[size]:.1f} s, "
          f"{took[size] / size:.2f} s per submission (target <= 0.5 s)")
    print(f"one more submission in a class run: {(took[2 * size] - took[size]) / size:.2f} s "
          f"({2 * size} submissions took {took[2 * size]:.1f} s)")


def _grade_all(size: int, jobs: int, work: Path) -> float:
    source = work / "class"
    for i in range(size):
        _submission(source / f"student{i:03d}")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "grader", "grade-all", str(source), "--out", str(work / "out"),
                           "--jobs", str(jobs)], capture_output=True, text=True, cwd=ROOT)
    took = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"grade-all failed: {done.stderr.strip()[-500:]}")
    return took


if __name__ == "__main__":
    main()
