"""``brokerlab grade PATH``: grade one submission (folder or zip) and render the result.

``Grader`` keeps one warm sandbox zygote, so grading many submissions in one process (bulk
grading, the demo) pays for it once.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from grader.errors import UserError
from grader.paths import ANSWERS_FILE, EXERCISE_FILES, SUITES
from grader.render import FORMATS, render
from grader.results import SubmissionResult
from grader.sandbox import selfcheck
from grader.sandbox.client import Zygote
from grader.submission import Submission, UnreadableSubmission, open_submission

HELP = "grade one submission (folder or zip)"


class Grader:
    """Grades submissions with the hidden suites and the quizzes, one warm sandbox for all."""

    def __init__(self, suites: Path = SUITES, exercises: tuple[str, ...] = tuple(EXERCISE_FILES),
                 quizzes: bool = True, sandbox: str | None = None, broker: str = "lazy") -> None:
        """``broker="eager"`` starts the AMQP track's RabbitMQ now, in the background (a class run
        does, so that its forked children share one); lazily, the first AMQP test starts it."""
        self.suites, self.exercises, self.quizzes = suites, exercises, quizzes
        self.sandbox = selfcheck.settings(sandbox)  # SandboxUnavailable: refuse before any grading
        if broker == "eager" and any(e.startswith("amqp_") for e in exercises):
            from grader.amqp import service

            service.launch()  # never waits; a failure is said by each AMQP test
        self.zygote = Zygote()  # first: it warms up while pytest and moto are imported below
        if self.sandbox["isolate"]:
            try:
                selfcheck.require(self.zygote, self.sandbox)
            except BaseException:
                self.zygote.close()
                raise

    def grade(self, path: Path) -> SubmissionResult:
        """Grade the submission at ``path``; UnreadableSubmission if it cannot be opened at all."""
        return self.grade_submission(open_submission(path))

    def grade_submission(self, submission: Submission) -> SubmissionResult:
        from grader.runner import run_suites

        exercises = run_suites(submission, self.zygote, suites=self.suites, exercises=self.exercises,
                               sandbox=self.sandbox)
        if self.quizzes:
            exercises.update(grade_quizzes(submission))
        return SubmissionResult(exercises=exercises, status="empty" if submission.empty else "ok",
                                sandbox=self.sandbox["mode"])

    def close(self) -> None:
        self.zygote.close()

    def __enter__(self) -> "Grader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def grade_quizzes(submission: Submission) -> dict:
    data = submission.sources.get(ANSWERS_FILE)
    if data is None:
        return {}
    from grader.quiz.grading import grade_answers_file

    with tempfile.TemporaryDirectory(prefix="brokerlab-answers-") as folder:
        path = Path(folder) / ANSWERS_FILE
        path.write_bytes(data)
        return grade_answers_file(path)


def add_sandbox_option(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    parser.add_argument("--sandbox", choices=selfcheck.MODES, default=default,
                        help="full: every protection, refused where the host cannot give it (default); "
                             "weak: no isolation, marked in every result (trusted code only)")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, help="a submission folder or .zip")
    parser.add_argument("--format", choices=FORMATS, default="text", help="how to print the result (default: text)")
    parser.add_argument("--out", type=Path, help="write the result to this file instead of printing it")
    add_sandbox_option(parser)
    parser.add_argument("--manual-scores", type=Path, metavar="FILE",
                        help="YAML of points and comments for free-response questions (student, quiz, question)")


def run(args: argparse.Namespace) -> int:
    if args.manual_scores is not None and not args.manual_scores.is_file():
        raise UserError(f"{args.manual_scores}: no such manual-scores file")
    try:
        with Grader(sandbox=args.sandbox) as grader:
            submission = open_submission(args.path)
            result = grader.grade_submission(submission)
    except UnreadableSubmission as exc:
        raise UserError(str(exc)) from None
    if args.manual_scores is not None:
        from grader.quiz.grading import apply_manual_scores

        apply_manual_scores(result, submission.student_id, args.manual_scores)
    text = render(result, args.format)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0
