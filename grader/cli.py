"""The ``brokerlab`` command line: one verb, one module.

Each verb's module exposes ``HELP`` (one line), ``configure(parser)`` and ``run(args) -> int``.
Only the chosen verb's module is imported, so ``brokerlab check`` does not pay for nbgrader.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from grader.errors import UserError

# verb -> (module, one-line help). Keep this table the only place a verb is named.
COMMANDS: dict[str, tuple[str, str]] = {
    "grade": ("grader.grade", "grade one submission (folder or zip)"),
    "check": ("grader.check", "self-check your exercises with the public tests"),
    "demo": ("grader.demo", "grade the bundled example submissions and print their reports"),
    "grade-all": ("grader.bulk.command", "grade a whole class into a gradebook, feedback and a report"),
    "quiz": ("grader.quiz.command", "take, grade or export the quizzes"),
    "release": ("grader.release", "write the student bundle (stubs, public tests, quizzes without keys)"),
    "gradescope": ("grader.integrations.gradescope", "build a Gradescope autograder zip"),
    "nbgrader": ("grader.integrations.nbgrader.command", "make an nbgrader course from the exercises"),
    "lms": ("grader.integrations.lms", "push a graded class's scores and feedback comments to an LMS (Canvas)"),
    "serve": ("grader.lab.serve", "run a local SQS-compatible broker"),
    "lab": ("grader.lab.command", "run the hands-on lab: producer and consumers on a live broker"),
    "doctor": ("grader.doctor", "show which sandbox protections work on this host"),
    "mutate": ("grader.mutate.command", "mutation-test the hidden suites against mutants of the reference solutions"),
}


def build_parser(verb: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="brokerlab",
        description="Broker Lab: exercises, hidden suites and quizzes for the message brokers module.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")
    sub = parser.add_subparsers(dest="verb", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        if name == verb:
            module = importlib.import_module(module_name)
            module.configure(sp)
            sp.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verb = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(verb if verb in COMMANDS else None)
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except UserError as exc:
        print(f"brokerlab {args.verb}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"brokerlab {args.verb}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug of ours: one line for the user, the traceback on request
        if args.debug or os.environ.get("BROKERLAB_DEBUG"):
            raise
        print(f"brokerlab {args.verb}: internal error: {type(exc).__name__}: {exc} "
              "(run with --debug for the traceback)", file=sys.stderr)
        return 70


if __name__ == "__main__":
    raise SystemExit(main())
