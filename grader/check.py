"""``brokerlab check``: a student's self-check with the public tests, in the hidden suites' style."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grader.errors import UserError
from grader.grade import Grader
from grader.paths import EXERCISE_FILES, EXERCISES
from grader.render import render
from grader.submission import UnreadableSubmission, open_submission

HELP = "self-check your exercises with the public tests"
PUBLIC_TESTS = EXERCISES / "tests"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("exercise", nargs="?", choices=tuple(EXERCISE_FILES), help="check only this exercise")
    parser.add_argument("--path", type=Path, default=None,
                        help="the folder holding your files (default: ./exercises, else the bundled exercises/)")


def default_path() -> Path:
    local = Path("exercises")
    return local if local.is_dir() else EXERCISES


def run(args: argparse.Namespace) -> int:
    path = args.path or default_path()
    if not path.is_dir():
        raise UserError(f"{path}: no such folder")
    exercises = (args.exercise,) if args.exercise else tuple(EXERCISE_FILES)
    try:
        submission = open_submission(path)
    except UnreadableSubmission as exc:
        raise UserError(str(exc)) from None
    with Grader(suites=PUBLIC_TESTS, exercises=exercises, quizzes=False, sandbox="auto") as grader:
        result = grader.grade_submission(submission)
    sys.stdout.write(render(result, "text"))
    if result.score < result.max_score:
        print("These are the public checks only; the hidden tests check more (see exercises/README.md).")
    return 0
