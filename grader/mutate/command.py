"""``brokerlab mutate``: how much of the contract the hidden suites really check.

Each first-order mutant of a reference solution is a plausible wrong submission; a suite that
passes it would give a student full marks for that mistake. Survivors are either a hole in the
suite or reviewed as equivalent (``equivalent.yaml``, one line each saying why).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from grader.errors import UserError
from grader.paths import EXERCISE_FILES

HELP = "mutation-test the hidden suites against mutants of the reference solutions"


DEFAULT_EXERCISES = [e for e in EXERCISE_FILES if not e.startswith("amqp_")]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exercise", action="append", choices=list(EXERCISE_FILES),
                        help="only this exercise (repeatable; default: the SQS track's three, whose equivalents "
                             "are reviewed)")
    parser.add_argument("--jobs", type=int, help="mutants graded at a time (default: the CPUs available)")
    parser.add_argument("--seed", type=int, help="the course seed the suites run with (default: the course's)")
    parser.add_argument("--equivalents", type=Path, help="the reviewed equivalents file (default: the bundled one)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the full report as JSON")
    parser.add_argument("--fail-under", type=float, metavar="SCORE",
                        help="exit 1 if an exercise scores below SCORE percent, or a reviewed equivalent was killed")
    parser.add_argument("--limit", type=int, help="grade only the first N mutants of each exercise (a quick look)")


def run(args: argparse.Namespace) -> int:
    from grader import course
    from grader.mutate.generate import generate
    from grader.mutate.report import EQUIVALENTS, load_equivalents, render_text, summarise, to_json
    from grader.mutate.runner import grade_mutants

    seed = course.resolve_seed(args.seed)
    course.export_seed(seed)  # the bulk engine's Grader reads it
    exercises = args.exercise or DEFAULT_EXERCISES
    equivalents_path = args.equivalents or EQUIVALENTS
    if args.equivalents and not args.equivalents.is_file():
        raise UserError(f"{args.equivalents}: no such equivalents file")
    equivalents = load_equivalents(equivalents_path)
    mutants = []
    every_id: set[str] = set()
    for exercise in exercises:
        found = generate(exercise)
        every_id |= {m.id for m in found}
        mutants += found[:args.limit] if args.limit else found
    stale = sorted(i for i in equivalents if i.split(".", 1)[0] in exercises and i not in every_id)
    started = time.monotonic()
    done = [0]

    def progress(_verdict: object) -> None:
        done[0] += 1
        if sys.stderr.isatty():
            print(f"\r{done[0]}/{len(mutants)} mutants graded", end="", file=sys.stderr, flush=True)

    verdicts = grade_mutants(mutants, jobs=args.jobs, on_verdict=progress)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    summaries = summarise(verdicts, equivalents, exercises)
    report = to_json(summaries, equivalents, seed, time.monotonic() - started, stale)
    sys.stdout.write(render_text(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if args.fail_under is not None:
        low = [s for s in summaries if s.score < args.fail_under or s.killed_equivalents or s.errors]
        return 1 if low or stale else 0
    return 0
