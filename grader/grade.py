"""``brokerlab grade PATH``: grade one submission (folder or zip) and render the result.

``Grader`` keeps one warm sandbox zygote, so grading many submissions in one process (bulk
grading, the demo) pays for it once. An assignment has one maximum: every exercise and every quiz
of the bank is in every result, at 0 when the submission left it out. The quizzes' results join
the code exercises' without ever replacing one: whatever keys a student's answers.yaml holds,
``producer``, ``consumer`` and ``payment`` are the hidden suites' verdicts.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from grader import course
from grader.bulk.cleanup import remove_stale
from grader.errors import UserError
from grader.paths import ANSWERS_FILE, EXERCISE_FILES, SUITES
from grader.render import FORMATS, render
from grader.results import ExerciseResult, Status, SubmissionResult, TestResult
from grader.sandbox import isolation, scratch, selfcheck
from grader.harness.seeded import Course
from grader.sandbox.client import SqsClient, Zygote
from grader.submission import Submission, UnreadableSubmission, open_submission

if TYPE_CHECKING:
    from grader.runner import PreparedRun

HELP = "grade one submission (folder or zip)"


class Grader:
    """Grades submissions with the hidden suites and the quizzes, one warm sandbox for all."""

    def __init__(self, suites: Path = SUITES, exercises: tuple[str, ...] = tuple(EXERCISE_FILES),
                 quizzes: bool = True, sandbox: str | None = None, seed: int | None = None,
                 broker: str = "lazy") -> None:
        """``broker="eager"`` starts the AMQP track's RabbitMQ now, in the background (a class run
        does, so that its forked children share one); lazily, the first AMQP test starts it."""
        self.suites, self.exercises, self.quizzes = suites, exercises, quizzes
        self._prepared: PreparedRun | None = None
        self.unprepared = ""  # why ``prepare`` could not prepare (its forks then grade on fresh runs)
        self.seed = course.resolve_seed(seed)
        self.sandbox = selfcheck.settings(sandbox)  # SandboxUnavailable: refuse before any grading
        remove_stale(Path(tempfile.gettempdir()), scratch.PREFIX)  # what killed graders left behind
        if self.sandbox["isolate"]:
            isolation.remove_stale_cgroups()  # and boxes whose keeper could not wait for their end
        if broker == "eager" and any(e.startswith("amqp_") for e in exercises):
            from grader.amqp import service

            service.launch()  # never waits; a failure is said by each AMQP test
        handed = [] if suites != SUITES else [(SqsClient(region=c.region, key=c.key), c.endpoint)
                                              for c in [Course.from_seed(self.seed)]]
        self.zygote = Zygote(handed)  # first: it warms up while pytest and moto are imported below
        if self.sandbox["isolate"]:
            try:
                selfcheck.require(self.zygote, self.sandbox)
            except BaseException:
                self.zygote.close()
                raise

    def prepare(self) -> None:
        """Configure pytest and collect the suites now, for the forks of this process to grade
        on (the class run's parent); this process itself still grades on a fresh run."""
        from grader.runner import PreparedRun

        try:
            self._prepared = PreparedRun(self.zygote, suites=self.suites, exercises=self.exercises,
                                         sandbox=self.sandbox, seed=self.seed if self.suites == SUITES else None)
        except Exception as exc:  # noqa: BLE001 - pytest's internals moved: every fork runs pytest.main instead
            self._prepared = None
            self.unprepared = f"{type(exc).__name__}: {exc}"

    def grade(self, path: Path) -> SubmissionResult:
        """Grade the submission at ``path``; UnreadableSubmission if it cannot be opened at all."""
        return self.grade_submission(open_submission(path))

    def grade_submission(self, submission: Submission) -> SubmissionResult:
        from grader.runner import run_suites

        if self._prepared is not None and self._prepared.usable:
            exercises = self._prepared.run(submission)
        else:
            exercises = run_suites(submission, self.zygote, suites=self.suites, exercises=self.exercises,
                                   sandbox=self.sandbox, seed=self.seed if self.suites == SUITES else None)
        if self.quizzes:
            exercises = merge_quizzes(exercises, grade_quizzes(submission))
        return SubmissionResult(exercises=exercises, status="empty" if submission.empty else "ok",
                                sandbox=self.sandbox["mode"], seed=self.seed)

    def close(self) -> None:
        if self._prepared is not None:
            self._prepared.close()
            self._prepared = None
        self.zygote.close()

    def __enter__(self) -> "Grader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def merge_quizzes(code: dict[str, ExerciseResult], quizzes: dict[str, ExerciseResult]) -> dict[str, ExerciseResult]:
    """The code exercises' results, then the quizzes' under keys that are not a code exercise's."""
    merged = dict(code)
    for key, result in quizzes.items():
        while key in merged or key in EXERCISE_FILES:
            key = f"{key} (in {ANSWERS_FILE})"
        merged[key] = result
    return merged


def grade_quizzes(submission: Submission) -> dict[str, ExerciseResult]:
    """Every quiz of the bank, answered or at 0; a failure of ours is a grader error, never a crash."""
    from grader.quiz.grading import every_quiz, grade_answers_file
    from grader.quiz.loader import load_bank

    data = submission.sources.get(ANSWERS_FILE)
    try:
        bank = load_bank()
        if data is None:
            return every_quiz({}, bank, found=False)
        with tempfile.TemporaryDirectory(prefix="brokerlab-answers-") as folder:
            path = Path(folder) / ANSWERS_FILE
            path.write_bytes(data)
            return every_quiz(grade_answers_file(path), bank)
    except Exception as exc:  # noqa: BLE001 - the code exercises are still graded and reported
        feedback = (f"The grader failed on {ANSWERS_FILE} ({type(exc).__name__}); "
                    "this is not your fault: your instructor has been told")
        return _grader_error_quizzes(feedback)


def _grader_error_quizzes(feedback: str) -> dict[str, ExerciseResult]:
    """Each quiz's questions as grader errors at 0 (out of their points, while the bank can be read)."""
    from grader.quiz.grading import question_test_name
    from grader.quiz.loader import load_bank

    try:
        bank = load_bank()
    except Exception:  # noqa: BLE001 - without a bank, one line at 0 says it
        test = TestResult(name=ANSWERS_FILE, score=0.0, max_score=0.0, status=Status.GRADER_ERROR, feedback=feedback)
        return {ANSWERS_FILE: ExerciseResult(kind="quiz", feedback=feedback, tests=[test])}
    return {quiz_id: ExerciseResult(kind="quiz", feedback=feedback, tests=[
        TestResult(name=question_test_name(q), score=0.0, max_score=q.points, status=Status.GRADER_ERROR,
                   feedback=feedback, concept=q.concept) for q in quiz.questions]) for quiz_id, quiz in bank.items()}


def add_seed_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, help="the course seed: which names, data and account the hidden suites "
                                                 "use (default: BROKERLAB_SEED, else brokerlab.yaml's seed, else 0)")


def add_sandbox_option(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    parser.add_argument("--sandbox", choices=selfcheck.MODES, default=default,
                        help="full: every protection, refused where the host cannot give it (default); "
                             "weak: no isolation, marked in every result (trusted code only)")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, help="a submission folder or .zip")
    parser.add_argument("--format", choices=FORMATS, default="text", help="how to print the result (default: text)")
    parser.add_argument("--out", type=Path, help="write the result to this file instead of printing it")
    add_sandbox_option(parser)
    add_seed_option(parser)
    parser.add_argument("--manual-scores", type=Path, metavar="FILE",
                        help="YAML of points and comments for free-response questions (student, quiz, question)")


def run(args: argparse.Namespace) -> int:
    if args.manual_scores is not None and not args.manual_scores.is_file():
        raise UserError(f"{args.manual_scores}: no such manual-scores file")
    try:
        with Grader(sandbox=args.sandbox, seed=args.seed) as grader:
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
